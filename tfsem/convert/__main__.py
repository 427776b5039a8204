"""``python -m tfsem.convert --checkpoint DIR_or_FILE --out RUN_DIR [--family spade|sean|pix2pixhd|pix2pix]
[--label-space NAME|PATH] [--image-size H W] [--data-root DIR]``.

Converts an official NVlabs/SPADE, ZPdesu/SEAN, NVIDIA/pix2pixHD or pix2pix
(junyanz/pytorch-CycleGAN-and-pix2pix, U-Net generators) checkpoint
(``latest_net_G.pth``, with ``_D`` / ``_E`` and ``opt.txt`` beside it when
present) into a tfsem run directory for ``tfsem.generate``, ``tfsem.export``,
``tfsem.evaluate``, ``tfsem.dream --renderer`` and ``train.init_from``.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli
from tfsem.convert.converter import FAMILIES

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.convert",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True,
                        help="folder with latest_net_G.pth (or the *_net_G.pth file itself)")
    parser.add_argument("--out", required=True, help="run directory to write (must not exist)")
    parser.add_argument("--family", choices=FAMILIES, default=None,
                        help="check the checkpoint is of this family (default: detected)")
    parser.add_argument("--label-space", default=None,
                        help="cityscapes, coco_stuff, ade20k, celebamask_hq or a label-space JSON "
                             "(default: from opt.txt or the channel count)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="size the model renders at (default: opt.txt or the dataset's)")
    parser.add_argument("--data-root", default=None,
                        help="dataset folder written into the run's config (for evaluate / "
                             "fine-tuning; default: opt.txt's dataroot or datasets/<dataset>)")
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.convert import convert_checkpoint

    convert_checkpoint(args.checkpoint, args.out, family=args.family,
                       label_space=args.label_space, image_size=args.image_size,
                       data_root=args.data_root)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
