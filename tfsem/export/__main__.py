"""``python -m tfsem.export --model RUN_or_.keras --out export/models/NAME [--version N]
[--tflite fp32,fp16,dynamic_int8,int8] [--height H --width W]``.

Writes a SavedModel in the TF Serving layout (``<out>/<version>/``) and with
``--tflite`` fixed-shape TFLite variants plus their size/latency/fidelity
table in ``<out>/tflite/v<version>/``:

* label-to-photo models (SPADE/GauGAN, pix2pixHD, pix2pix): ``serving_default``
  (int label maps -> uint8 images) and ``predict_png`` (PNG bytes -> PNG bytes);
* SemGAN / its baseline: ``serving_default`` (``seed`` -> ``label_map`` +
  ``color_png_bytes``) and ``from_z``; with ``--renderer RUN`` (a SPADE, pix2pix or
  pix2pixHD run) the dream model, ``seed`` -> ``label_map`` + ``image``.

Every signature runs the task's own ``infer`` (``tfsem/export/saved_model.py``).

TFLite variants of every family go through ``tfsem/export/tflite.py`` (one
conversion, one report); the steps are ``tfsem.export.export_run``.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli, precision

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory or .keras file")
    parser.add_argument("--out", required=True, help="model base path, e.g. export/models/spade")
    parser.add_argument("--version", type=int, default=None, help="default: next free number")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="largest label map (H*W) the server accepts")
    parser.add_argument("--features", default=None,
                        help="pix2pixHD with instance features: clusters file "
                             "(default: RUN/features.npz from python -m tfsem.encode_features)")
    parser.add_argument("--tflite", default=None,
                        help="comma-separated TFLite variants: fp32, fp16, dynamic_int8, int8, "
                             "int8_per_tensor, int8_float_norm (or 'all')")
    parser.add_argument("--height", type=int, default=None,
                        help="TFLite input height (default: the training size)")
    parser.add_argument("--width", type=int, default=None,
                        help="TFLite input width (default: the training size)")
    parser.add_argument("--calibration-examples", type=int, default=32,
                        help="label maps from the training split to calibrate int8 variants")
    parser.add_argument("--eval-examples", type=int, default=8,
                        help="label maps (val split when present) for the fidelity table")
    parser.add_argument("--threads", type=int, default=None, help="LiteRT threads for latency")
    parser.add_argument("--renderer", default=None,
                        help="SemGAN: a SPADE/GauGAN, pix2pixHD or pix2pix run to chain into one "
                             "dream model")
    parser.add_argument("--color-map", default=None, metavar="FILE",
                        help="label-to-photo: JSON of colour -> label id for the "
                             "predict_color_png signature (colours the palette shares between ids)")
    precision.add_argument(parser)
    args = parser.parse_args(argv)
    cli.report_to_stdout()
    from tfsem.export import export_run

    export_run(args.model, args.out, version=args.version, config_path=args.config,
               max_pixels=args.max_pixels, features=args.features, tflite=args.tflite,
               height=args.height, width=args.width,
               calibration_examples=args.calibration_examples,
               eval_examples=args.eval_examples, threads=args.threads, renderer=args.renderer,
               precision=args.precision, color_map=args.color_map)
    return 0



if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
