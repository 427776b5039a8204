"""``python -m tfsem.encode_styles --model RUN [--labels L --images I | --split S]
[--out FILE] [--mean-out FILE]``.

SEAN: the region style codes of photos, each over its own label map (the
official ``test.py`` saving ``style_codes/<image>/<class>/ACE.npy``), in one
file ``--out`` (default ``RUN/style_codes.npz``: codes [N, S, L], which
classes each photo holds, the photos' stems), and the per-class mean over the
photos holding each class (the official ``calculate_mean_style_code.py``) in
``--mean-out`` (default ``RUN/mean_codes.npz``). ``python -m tfsem.generate``
takes both (``--style-codes``, ``--mean-codes``; the mean by default).

Photos: ``--labels`` (a label-id PNG or folder) with ``--images`` (a photo or
folder, paired by stem), or the run's dataset (``--split``, default the
config's).
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.encode_styles",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="SEAN run directory or .keras file")
    parser.add_argument("--labels", default=None, help="label-id PNG or folder of them")
    parser.add_argument("--images", default=None,
                        help="photo or folder of photos (.png/.jpg, paired with --labels by stem)")
    parser.add_argument("--split", default=None, help="without --labels: the run's data split")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--out", default=None, help="codes file (default RUN/style_codes.npz)")
    parser.add_argument("--mean-out", default=None,
                        help="mean codes file (default RUN/mean_codes.npz)")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.data.readers import map_stem
    from tfsem.fileio import check_outputs
    from tfsem.inference import style_codes as S
    from tfsem.inference.files import png_files
    from tfsem.pipeline import Pipeline

    if (args.labels is None) != (args.images is None):
        raise ValueError("--labels and --images go together (photos paired with their maps)")
    pipe = Pipeline.from_run(args.model, config=args.config)
    if pipe.style_code_shape is None:
        raise ValueError(f"{args.model}: a {pipe.name} model takes no region style codes; "
                         "encode_styles is for SEAN models")
    default_out, default_mean = S.default_codes_paths(args.model)
    out, mean_out = args.out or default_out, args.mean_out or default_mean
    if args.labels:
        images = {}
        for path in png_files(args.images, "photos", (".png", ".jpg", ".jpeg")):
            images.setdefault(map_stem(path), path)
        pairs = []
        for path in png_files(args.labels, "label maps"):
            stem = map_stem(path)
            if stem not in images:
                raise FileNotFoundError(f"{path}: no photo with the stem {stem!r} in "
                                        f"{args.images}")
            pairs.append((stem, path, images[stem]))
        check_outputs([(out, "the codes"), (mean_out, "the mean codes")],
                      [p for _, a, b in pairs for p in (a, b)])
        styles = S.encode_file_styles(pipe, pairs, pipe.config.data.label_space)
    else:
        styles = S.encode_dataset_styles(pipe, pipe.config, args.split, args.max_examples)
    S.write_styles(out, styles, mean_out)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
