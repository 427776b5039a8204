"""``export_run``: a trained run (or .keras) to a SavedModel in the TF Serving
layout and, on request, its TFLite variants with their report; the library
behind ``python -m tfsem.export``. Every task goes through the same path
(``tfsem.export.saved_model``: the task's own ``infer``); with ``renderer``
a SemGAN run and a label-to-photo run become one dream model. Reports go to
the ``tfsem.export`` logger."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Optional

from tfsem.data.labels import load_label_space
from tfsem.export import saved_model
from tfsem.export.base import DEFAULT_MAX_PIXELS, precision_asset
from tfsem.export.tflite import export_tflite, parse_variants
from tfsem.inference.feature_clusters import run_clusters_for
from tfsem.precision import in_precision
from tfsem.runs import load_run

__all__ = ["export_run"]

log = logging.getLogger("tfsem.export")


def export_run(model_path: str, out: str, *, version: Optional[int] = None,
               config_path: Optional[str] = None, max_pixels: Optional[int] = None,
               features: Optional[str] = None, tflite: Optional[str] = None,
               height: Optional[int] = None, width: Optional[int] = None,
               calibration_examples: int = 32, eval_examples: int = 8,
               threads: Optional[int] = None, renderer: Optional[str] = None,
               precision: str = "auto", color_map: Optional[str] = None) -> dict:
    """Exports ``model_path`` to ``out/<version>``; with ``tflite`` (``all`` or a
    comma-separated list of ``tfsem.export.tflite.VARIANTS``) also
    ``out/tflite/v<version>/``. Returns ``{"saved_model": path, "tflite": dir
    or None, "rows": report rows}``.

    ``precision`` (``tfsem.precision``) is what the SavedModel computes in
    (``assets/precision.json`` records it); the TFLite variants are always
    converted from the float32 model (their own fp16 / int8 variants cover
    low precision on phones). ``color_map``: a colour -> id JSON file for the
    ``predict_color_png`` signature of a label-to-photo export."""
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
    spec_names = [s.name for s in model.inference_specs()]
    takes_maps, takes_photos = "label_map" in spec_names, spec_names == ["image"]
    if color_map is not None and (renderer or not takes_maps):
        raise ValueError("--color-map is for label-to-photo exports (their predict_color_png)")
    if renderer:
        if takes_maps or takes_photos:
            raise ValueError(f"--renderer: {model_path} is a {type(model).__name__} model; a "
                             "dream model chains a SemGAN run (--model) and a renderer")
        renderer_config, renderer32 = load_run(renderer)
        renderer_model = in_precision(renderer_config, renderer32, precision)
        clusters = run_clusters_for(renderer_model, renderer, features)
        computes = precision_asset(model, renderer_model)

        def tflite_graph():
            return saved_model.dream_graph(model32, config, renderer32, renderer_config, clusters)

        def write():
            return saved_model.export_dream(model, config, renderer_model, renderer_config, out,
                                            version, clusters)
    else:
        clusters = run_clusters_for(model, model_path, features)
        computes = precision_asset(model)

        def tflite_graph():
            return saved_model.inference_graph(model32, config, clusters)

        def write():
            return saved_model.export_saved_model(
                model, config, out, version,
                DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels, clusters, color_map)
    if variants:  # the TFLite size (the graphs' tflite_size), refused before writing anything
        model32.inference_size(height, width)
    path = write()
    names = ("dream model; signature: serving_default: seed -> label_map, image" if renderer
             else "signatures: serving_default, predict_png, predict_color_png" if takes_maps
             else "signatures: serving_default: image -> image, predict_png" if takes_photos
             else "signatures: serving_default: seed -> label_map, color_png_bytes; from_z")
    log.info(f"exported {path} ({names}; computes in "
             f"{', '.join(dict.fromkeys(computes.values()))})")
    result = {"saved_model": path, "tflite": None, "rows": []}
    if not variants:
        return result
    out_dir = os.path.join(out, "tflite", f"v{os.path.basename(path)}")
    try:
        # (built after the SavedModel is written, as before: built first, its TFLite binding failed)
        graph = tflite_graph()
        height, width = graph.tflite_size(height, width)
        _tflite_variants(graph, config, variants, out_dir, height, width,
                         calibration_examples, eval_examples, threads, result)
    except BaseException:
        # the version is not published half-done: neither the SavedModel nor its TFLite
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
        log.info(f"export failed: removed {path}")
        raise
    return result


def _tflite_variants(graph, config, variants, out_dir, height, width,
                     calibration_examples, eval_examples, threads, result):
    def inputs(count, split, seed, skip=0):
        return saved_model.calibration_inputs(graph, config, count, split, seed=seed, skip=skip,
                                              height=height, width=width)

    calibration = inputs(calibration_examples, "train", 0)
    try:
        evaluation = inputs(eval_examples, "val", 1)
    except Exception:  # no val split: held-out training examples
        evaluation = inputs(eval_examples, "train", 1, skip=calibration_examples)
    result["rows"] = export_tflite(
        graph, out_dir, variants, calibration, evaluation,
        load_label_space(config.data.label_space).to_dict(), height=height, width=width,
        num_threads=threads, log=log.info)
    result["tflite"] = out_dir
    log.info(f"wrote {out_dir} (report.md: size, latency, fidelity per variant)")
    return result
