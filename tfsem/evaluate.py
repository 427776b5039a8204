"""``python -m tfsem.evaluate --model RUN [RUN ...] [--config CONFIG] [--split val] [--num N]
[--out metrics.json]``.

SemGAN and its colour baseline (label maps from noise): samples ``--num``
maps (seeds ``--seed``..) and compares them with as many real maps of the
split (``tfsem.metrics.label_maps``): valid-pixel fraction (the baseline:
also the share of pixels within ``--tolerance`` of a palette colour before
snapping), total-variation distance of the class histograms, connected
regions per map and their mean size, isolated pixels (boundary noise) and
diversity (pixels differing between two samples), each next to the value of
the data. Several runs (``--model A B``) are printed side by side.

Label-to-photo models: generates images from a split's label maps and
reports, as printed lines and JSON:

* ``toy_oracle`` (toy_streets data): the nearest-colour oracle segments the
  generated photos; mIoU and pixel accuracy against the input label maps
  (exact, no weights needed), with the same scores of the real photos as the
  ceiling;
* ``fid``, ``kid`` against the split's real photos, from InceptionV3 pool3
  features (``--inception PATH`` or the Keras cache; the output names the
  weights used); skipped with a message when no weights are found;
* ``segmentation``: mIoU and pixel accuracy of a user-supplied segmenter
  (``--segmenter``: a SavedModel dir or ``.keras`` file) on the generated
  photos; ``--segmenter-classes train_id`` compares in Cityscapes trainIds
  (ignore 255), ``index`` in the label space's class indices (its ignore ids
  ignored).
"""

from __future__ import annotations

import argparse
import json
import sys

from tfsem import cli, precision
from tfsem.fileio import atomic_write_text

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.evaluate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, nargs="+",
                        help="run directory or .keras file; several SemGAN/baseline runs are "
                             "compared side by side")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument("--num", type=int, default=64, help="examples (default 64)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the metrics JSON here")
    parser.add_argument("--inception", default=None,
                        help="FID graph (.pb) or Keras InceptionV3 notop (.h5); default: Keras cache")
    parser.add_argument("--segmenter", default=None, help="segmentation SavedModel dir or .keras")
    parser.add_argument("--segmenter-classes", choices=["index", "train_id"], default="index")
    parser.add_argument("--seed", type=int, default=0,
                        help="SemGAN: first sample's seed (default 0)")
    parser.add_argument("--tolerance", type=float, default=10.0,
                        help="SemGAN baseline: colour distance (0..255 RGB) that still counts as "
                             "a palette colour (default 10)")
    parser.add_argument("--segmenter-input", choices=["minus1_1", "0_1", "0_255"],
                        default="minus1_1", help="pixel range the segmenter expects")
    cli.add_label_format_arguments(parser)
    precision.add_argument(parser)
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.metrics import evaluate as E

    if args.num < 2:
        raise ValueError(f"--num must be >= 2, got {args.num}")
    if len(args.model) > 1:
        result = E.evaluate_label_map_runs(args.model, split=args.split, num=args.num,
                                           seed=args.seed, tolerance=args.tolerance,
                                           precision=args.precision,
                                           label_format=args.label_format,
                                           color_map=args.color_map)
    else:
        result = E.evaluate_model(args.model[0], config_path=args.config, split=args.split,
                                  num=args.num, batch_size=args.batch_size,
                                  inception=args.inception, segmenter=args.segmenter,
                                  segmenter_classes=args.segmenter_classes,
                                  segmenter_input=args.segmenter_input, seed=args.seed,
                                  tolerance=args.tolerance, precision=args.precision,
                                  label_format=args.label_format, color_map=args.color_map)
    if args.out:
        atomic_write_text(args.out, json.dumps(E.json_safe(result), indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
