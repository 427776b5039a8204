"""``python -m tfsem.export --model RUN_or_.keras --out export/models/NAME [--version N] [--tflite fp32,fp16,dynamic_int8,int8] [--height H --width W]``.

Writes a SavedModel in the TF Serving layout (``<out>/<version>/``) and with
``--tflite`` fixed-shape TFLite variants plus their size/latency/fidelity
table in ``<out>/tflite/v<version>/``:

* label-to-photo models (SPADE/GauGAN, pix2pixHD): ``serving_default`` (int
  label maps -> uint8 images) and ``predict_png`` (PNG bytes -> PNG bytes)
  (``tfsem/export_lib.py``, ``tfsem/export_tflite.py``);
* SemGAN / its baseline: ``serving_default`` (``seed`` -> ``label_map`` +
  ``color_png_bytes``) and ``from_z``; with ``--renderer RUN`` (a SPADE or
  pix2pixHD run) the dream model, ``seed`` -> ``label_map`` + ``image``
  (``tfsem/export_label_maps.py``).
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

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
                        help="SemGAN: a SPADE/GauGAN or pix2pixHD run to chain into one dream model")
    args = parser.parse_args(argv)
    from tfsem.export_lib import DEFAULT_MAX_PIXELS, export_saved_model
    from tfsem.runs import load_run

    config, model = load_run(args.model, args.config)
    if getattr(model, "unconditional", False):
        return _export_label_maps(args, config, model)
    if args.renderer:
        raise ValueError(f"--renderer: {args.model} is a {type(model).__name__} model; a dream "
                         "model chains a SemGAN run (--model) and a renderer")
    clusters = None
    if getattr(model, "use_features", False):
        from tfsem.features import load_run_clusters

        clusters = load_run_clusters(args.model, args.features)
    path = export_saved_model(model, config, args.out, args.version,
                              args.max_pixels or DEFAULT_MAX_PIXELS, clusters)
    print(f"exported {path} (signatures: serving_default, predict_png)")
    if args.tflite:
        _export_tflite(args, config, model, path, clusters)
    return 0


def _export_label_maps(args, config, model):
    import os

    from tfsem import export_label_maps as E
    from tfsem.data.labels import load_label_space
    from tfsem.runs import load_run

    if args.height or args.width:
        raise ValueError("--height/--width: SemGAN generates at its training size only")
    graph = clusters = None
    if args.renderer:
        renderer_config, renderer = load_run(args.renderer)
        if getattr(renderer, "use_features", False):
            from tfsem.features import load_run_clusters

            clusters = load_run_clusters(args.renderer, args.features)
        path = E.export_dream(model, config, renderer, renderer_config, args.out, args.version,
                              clusters)
        print(f"exported {path} (dream model; signature: serving_default: seed -> label_map, "
              "image)")
        if args.tflite:
            graph = E.dream_graph(model, config, renderer, renderer_config, clusters)
    else:
        path = E.export_label_map_model(model, config, args.out, args.version)
        print(f"exported {path} (signatures: serving_default: seed -> label_map, "
              "color_png_bytes; from_z)")
        if args.tflite:
            space = load_label_space(config.data.label_space)
            graph = E.LabelMapGraph(model, space, config.data.dont_care)
    if graph is not None:
        variants = _variants(args.tflite)
        out_dir = os.path.join(args.out, "tflite", f"v{os.path.basename(path)}")
        E.export_label_map_tflite(
            graph, out_dir, variants, E.tflite_inputs(graph, args.calibration_examples, seed=0),
            E.tflite_inputs(graph, args.eval_examples, seed=1),
            load_label_space(config.data.label_space).to_dict(), num_threads=args.threads)
        print(f"wrote {out_dir} (report.md: size, latency, fidelity per variant)")
    return 0


def _variants(text):
    """The ``--tflite`` list ('all' or comma-separated names), checked."""
    from tfsem.export_tflite import VARIANTS, check_variants

    variants = list(VARIANTS) if text == "all" else [v.strip() for v in text.split(",")
                                                     if v.strip()]
    try:
        check_variants(variants)
    except ValueError as err:
        raise ValueError(f"--tflite: {err} or 'all'") from None
    return variants


def _export_tflite(args, config, model, saved_model_path, clusters):
    import os

    from tfsem import export_tflite
    from tfsem.data.labels import load_label_space
    from tfsem.export_lib import GeneratorGraph

    variants = _variants(args.tflite)
    height, width = model.image_size
    height, width = args.height or height, args.width or width
    space = load_label_space(config.data.label_space)
    calibration = export_tflite.sample_inputs(config, model, height, width,
                                              args.calibration_examples, "train")
    try:
        evaluation = export_tflite.sample_inputs(config, model, height, width,
                                                 args.eval_examples, "val", seed=1)
    except Exception:  # no val split: held-out training examples
        evaluation = export_tflite.sample_inputs(config, model, height, width, args.eval_examples,
                                                 "train", skip=args.calibration_examples, seed=1)
    version = os.path.basename(saved_model_path)
    out_dir = os.path.join(args.out, "tflite", f"v{version}")
    graph = GeneratorGraph(model, space.raw_to_index_table(config.data.dont_care), clusters)
    export_tflite.export_tflite(graph, out_dir, variants, height, width, calibration, evaluation,
                                space.to_dict(), num_threads=args.threads)
    print(f"wrote {out_dir} (report.md: size, latency, fidelity per variant)")


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
