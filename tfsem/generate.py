"""``python -m tfsem.generate --model RUN_or_.keras (--labels PNG_or_FOLDER | --num N) --out DIR``.

SemGAN (and its colour baseline): ``--num N --seed S`` samples N label maps,
one per seed S..S+N-1 (a seed always gives the same map, also in the
exported model), and writes ``label/sample_<seed>_gtFine_labelIds.png``
(raw label ids, the Cityscapes labelIds format: a ``folder`` dataset with
``folders.label_dir: "label"`` trains on them), ``color/sample_<seed>_gtFine_color.png``
and ``grid.png``. The baseline also writes its raw colour output
(``raw/``), before snapping to the nearest palette colour. A style generator
(``block: style``) also takes ``--truncation PSI`` and style mixing
(``--mix-seed S [--mix-layer L]``).

Label-to-photo models render photos from label maps (label-id PNGs, e.g. Cityscapes
``*_gtFine_labelIds.png`` at 2048x1024): each map is checked against the
model's label space, resized (nearest) to the model's training size, and
rendered. Writes ``<stem>.png`` per map and ``grid.png`` (label | generated).
Colour-coded label PNGs (``*_gtFine_color.png``): ``--label-format colors``.
Photo-to-photo models (``data.input: image``) translate ``--images PHOTO_or_FOLDER``.

Options: ``--instances`` (a PNG or a folder matched by stem; without it the
label map stands in, so edges follow class boundaries), ``--style IMAGE``
(VAE models: take the style of a photo, the encoder's mean; pix2pixHD models
with instance features: encode the photo's features over the label's
instances, the official ``--use_encoded_image``), ``--seed S`` (VAE models:
the random style). Otherwise pix2pixHD models with instance features take each instance's
features from the per-class clusters of ``python -m tfsem.encode_features``
(``--features FILE``, default ``RUN/features.npz``): ``--cluster K`` (the
same cluster for every instance) or ``--cluster random`` (per instance, from
``--seed``), and ``--variants N`` renders N different photos per map
(random clusters, seeds S..S+N-1).

SEAN models take one style code per region: ``--style PHOTO`` encodes the
photo over each rendered map (reconstruction when it is the map's own
photo); ``--style-codes FILE`` takes codes from ``python -m
tfsem.encode_styles`` (``--style-name STEM`` picks a photo of a file with
several); ``--mean-codes FILE`` (default ``RUN/mean_codes.npz`` when it
exists) styles the classes the base lacks; ``--style-from CLASS=SOURCE``
(repeatable; CLASS a name or label id, SOURCE a codes file or a photo)
replaces one class's style, blended by ``--alpha A`` (1: all of it);
``--interpolate SOURCE --steps N`` renders N photos from the styles asked
for to SOURCE's.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli, precision

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.generate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True,
                        help="run directory, .keras file or SavedModel export")
    parser.add_argument("--labels", default=None,
                        help="label-to-photo models: label-id PNG or folder of them")
    parser.add_argument("--images", default=None,
                        help="photo-to-photo models: input photo or folder of them")
    parser.add_argument("--num", type=int, default=None,
                        help="SemGAN: label maps to sample (seeds SEED..SEED+NUM-1)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--instances", default=None, help="instance-id PNG or folder (by stem)")
    parser.add_argument("--style", default=None,
                        help="style photo (VAE models; pix2pixHD with instance features: "
                             "its encoded features; SEAN: its region codes over each map)")
    parser.add_argument("--seed", type=int, default=0,
                        help="first sample's seed (SemGAN) / random style seed (VAE models)")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--features", default=None,
                        help="pix2pixHD: clusters file (default: RUN/features.npz)")
    parser.add_argument("--cluster", default="0",
                        help="pix2pixHD: cluster index for every instance, or 'random'")
    parser.add_argument("--variants", type=int, default=1,
                        help="pix2pixHD: photos per label map (random clusters)")
    from tfsem.inference.style_codes import add_style_arguments, style_recipe_from_args
    add_style_arguments(parser)
    cli.add_style_control_arguments(parser)
    cli.add_label_format_arguments(parser)
    precision.add_argument(parser)
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.inference import files
    from tfsem.pipeline import Pipeline

    files.check_generate_arguments(args.labels, args.num, args.cluster, cli.style_controls(args), args.images)
    if args.labels is not None:  # no output may overwrite an input: checked before loading
        files.precheck_label_outputs(args.labels, args.out, args.instances, args.variants, args.style)
    pipe = Pipeline.from_run(args.model, precision=args.precision, features=args.features, config=args.config)
    if args.num is not None:
        files.write_samples(pipe, out=args.out, seeds=range(args.seed, args.seed + args.num),
                            **cli.style_controls(args))
        return 0
    if args.images is not None:
        files.render_photo_files(pipe, images=args.images, out=args.out, model_path=args.model)
        return 0
    files.render_label_files(pipe, labels=args.labels, out=args.out, model_path=args.model,
                             instances=args.instances, style=args.style, seed=args.seed,
                             features=args.features, cluster=args.cluster,
                             variants=args.variants, styles=style_recipe_from_args(pipe, args),
                             label_format=args.label_format or "ids", color_map=args.color_map)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
