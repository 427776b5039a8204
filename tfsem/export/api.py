"""``export_run``: a trained run (or .keras) to a SavedModel in the TF Serving
layout and, on request, its TFLite variants with their report; the library
behind ``python -m tfsem.export``. The family's export module comes from
``tfsem.registry``; with ``renderer`` a SemGAN run and a label-to-photo run
become one dream model."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Optional

from tfsem import registry
from tfsem.data.labels import load_label_space
from tfsem.export import label_maps
from tfsem.export.base import DEFAULT_MAX_PIXELS, precision_asset
from tfsem.export.tflite import export_tflite, parse_variants
from tfsem.inference.feature_clusters import load_run_clusters
from tfsem.precision import in_precision
from tfsem.runs import load_run

__all__ = ["export_run"]


def export_run(model_path: str, out: str, version: Optional[int] = None,
               config_path: Optional[str] = None, max_pixels: Optional[int] = None,
               features: Optional[str] = None, tflite: Optional[str] = None,
               height: Optional[int] = None, width: Optional[int] = None,
               calibration_examples: int = 32, eval_examples: int = 8,
               threads: Optional[int] = None, renderer: Optional[str] = None,
               stream=None, precision: str = "auto") -> dict:
    """Exports ``model_path`` to ``out/<version>``; with ``tflite`` (``all`` or a
    comma-separated list of ``tfsem.export.tflite.VARIANTS``) also
    ``out/tflite/v<version>/``. Returns ``{"saved_model": path, "tflite": dir
    or None, "rows": report rows}``.

    ``precision`` (``tfsem.precision``) is what the SavedModel computes in
    (``assets/precision.json`` records it); the TFLite variants are always
    converted from the float32 model (their own fp16 / int8 variants cover
    low precision on phones)."""
    stream = stream or sys.stdout
    # The options are checked before anything is written, and a failure after the
    # SavedModel is written removes it: a failed export leaves no new version (TF
    # Serving would load it).
    variants = parse_variants(tflite) if tflite else None
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"--max-pixels must be >= 1, got {max_pixels}")
    for name, value in (("--calibration-examples", calibration_examples),
                        ("--eval-examples", eval_examples)):
        if variants and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    config, model32 = load_run(model_path, config_path)
    model = in_precision(config, model32, precision)
    if renderer:
        if model.conditional:
            raise ValueError(f"--renderer: {model_path} is a {type(model).__name__} model; a "
                             "dream model chains a SemGAN run (--model) and a renderer")
        renderer_config, renderer32 = load_run(renderer)
        renderer_model = in_precision(renderer_config, renderer32, precision)
        clusters = (load_run_clusters(renderer, features) if renderer_model.use_features
                    else None)
        exporter = label_maps

        def tflite_graph():
            return label_maps.dream_graph(model32, config, renderer32, renderer_config, clusters)

        def write():
            return label_maps.export_dream(model, config, renderer_model, renderer_config, out,
                                           version, clusters)
        names = "dream model; signature: serving_default: seed -> label_map, image"
    else:
        exporter = registry.family_of(config).export_module()
        clusters = load_run_clusters(model_path, features) if model.use_features else None

        def tflite_graph():
            return exporter.tflite_graph(model32, config, clusters)

        def write():
            return exporter.export_saved_model(
                model, config, out, version,
                DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels, clusters)
        names = ("signatures: serving_default: seed -> label_map, color_png_bytes; from_z"
                 if not model.conditional else "signatures: serving_default, predict_png")
    path = write()
    computes = precision_asset(model, renderer_model if renderer else None)
    print(f"exported {path} ({names}; computes in "
          f"{', '.join(dict.fromkeys(computes.values()))})", file=stream)
    result = {"saved_model": path, "tflite": None, "rows": []}
    if not variants:
        return result
    out_dir = os.path.join(out, "tflite", f"v{os.path.basename(path)}")
    try:
        # (built after the SavedModel is written, as before: built first, its TFLite binding failed)
        graph = tflite_graph()
        height, width = graph.tflite_size(height, width, model32.image_size)
        _tflite_variants(exporter, graph, config, variants, out_dir, height, width,
                         calibration_examples, eval_examples, threads, stream, result)
    except BaseException:
        # the version is not published half-done: neither the SavedModel nor its TFLite
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
        print(f"export failed: removed {path}", file=stream)
        raise
    return result


def _tflite_variants(exporter, graph, config, variants, out_dir, height, width,
                     calibration_examples, eval_examples, threads, stream, result):
    calibration = exporter.calibration_inputs(graph, config, calibration_examples, "train",
                                              seed=0, height=height, width=width)
    try:
        evaluation = exporter.calibration_inputs(graph, config, eval_examples, "val", seed=1,
                                                 height=height, width=width)
    except Exception:  # no val split: held-out training examples
        evaluation = exporter.calibration_inputs(graph, config, eval_examples, "train", seed=1,
                                                 skip=calibration_examples, height=height,
                                                 width=width)
    result["rows"] = export_tflite(
        graph, out_dir, variants, calibration, evaluation,
        load_label_space(config.data.label_space).to_dict(), height=height, width=width,
        num_threads=threads, log=lambda text: print(text, file=stream))
    result["tflite"] = out_dir
    print(f"wrote {out_dir} (report.md: size, latency, fidelity per variant)", file=stream)
    return result
