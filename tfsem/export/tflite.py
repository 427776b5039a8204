"""TFLite variants of every family's graph, with one size/latency/fidelity report.

Each ``.tflite`` is a fixed-shape model (batch 1) of a graph's
``outputs(**inputs)``, bound by name (``tfsem.export.base.bind``):

* label-to-photo (``tfsem.export.graph.InferenceGraph``: the task's own
  ``infer``, at the chosen H x W): ``label_map`` int32 [1, H, W] of RAW label ids (+ ``instance_map``
  when the model uses instances, + ``z`` float32 [1, z_dim] for VAE models,
  + ``cluster`` int32 [1] for pix2pixHD with instance features) ->
  ``image`` uint8 [1, H, W, 3], like the SavedModel's ``serving_default``.
  The id -> class mapping, one-hot and instance edges are in the graph, so
  the on-device caller only decodes PNGs. The graph has no asserts (they are
  not TFLite builtins): ``tools/tflite_demo.py`` checks ids against
  ``label_space.json`` before invoking.
* SemGAN (the same ``InferenceGraph``): ``z`` -> ``label_map`` int32 +
  ``color`` uint8 (+ the baseline's ``raw_color``); dream (``DreamGraph``):
  ``z`` (+ ``style_z``, + ``cluster``) -> ``label_map`` + ``image``. A style
  SemGAN also takes ``truncation_psi`` float32 [], ``mix_z`` float32
  [1, z_dim] and ``mix_layer`` int32 [] (the graph's ``device_specs``; psi 1
  and ``mix_layer`` = the generator's ``num_ws``: z's own style).

Variants (``VARIANTS``), all builtin ops only (conversion fails rather than
pulling in Flex ops):

* ``fp32``: plain conversion.
* ``fp16``: float16 weights, float compute (GPU delegates run it in fp16).
* ``dynamic_int8``: int8 weights, float activations (dynamic-range).
* ``int8``: full integer, int8 weights and activations, calibrated on a
  representative set of label maps (toy_streets or the training data).
* ``int8_float_norm``: full integer except the instance-norm statistics
  (mean, variance, rsqrt) kept in float: the selective quantisation studied
  in docs/benchmarks.md.
* ``int8_per_tensor``: full integer with ONE weight scale per tensor
  instead of per output channel (for comparison: what per-channel buys).

TFLite's int16-activation mode ("16x8") was tried and does not convert: its
calibrator wants float ranges for the int32 label-map inputs.

:func:`export_tflite` measures each file: size, median latency of the LiteRT
interpreter, and fidelity against the float32 TensorFlow graph (what a
float32 SavedModel's ``serving_default`` computes):
PSNR, max and mean absolute error of an ``image`` output, the share of equal
pixels of a ``label_map`` output.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfsem.export.base import bind
from tfsem.fileio import atomic_write_bytes, atomic_write_text
from tfsem.layers.graph_target import graph_target

__all__ = ["VARIANTS", "check_builtin_only", "check_variants", "convert", "export_tflite",
           "parse_variants", "psnr", "run_tflite", "tflite_function"]

VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8", "int8_per_tensor", "int8_float_norm")

# Ops kept in float by ``int8_float_norm``: the instance-norm statistics (mean,
# variance, rsqrt), the ops with the widest dynamic range.
_FLOAT_NORM_OPS = ("MEAN", "SQUARE", "SQUARED_DIFFERENCE", "RSQRT")


def tflite_function(graph, height: Optional[int] = None, width: Optional[int] = None):
    """The batch-1 concrete function of ``graph.outputs`` for the converter;
    ``height`` x ``width`` for graphs that take any size (label maps). Traced
    for TFLite's builtin ops (``graph_target("tflite")``)."""
    with graph_target("tflite"):
        return bind(graph.device_specs(1, height, width), graph.outputs).get_concrete_function()


def convert(concrete_fn, variant: str,
            representative: Optional[Callable[[], Iterable[Dict[str, np.ndarray]]]] = None,
            trackable_obj=None) -> bytes:
    """Converts with builtin ops only; ``representative`` (a generator factory
    of input dicts) is needed by the integer variants. ``trackable_obj`` (the
    function's owner) gives the .tflite a signature with the input names."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose from {', '.join(VARIANTS)}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn], trackable_obj)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant.startswith("int8"):
        if representative is None:
            raise ValueError(f"the {variant} variant needs a representative dataset")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if variant in ("int8", "int8_per_tensor"):
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter._experimental_disable_per_channel = variant == "int8_per_tensor"
        else:
            # Selective quantisation: the quantisation debugger's denylist keeps
            # the normalisation ops in float; everything else is int8.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                   tf.lite.OpsSet.TFLITE_BUILTINS]
            debug_options = tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=list(_FLOAT_NORM_OPS))
            with warnings.catch_warnings():  # the debugger uses the deprecated tf.lite.Interpreter
                warnings.simplefilter("ignore", UserWarning)
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=converter, debug_dataset=representative, debug_options=debug_options)
                return debugger.get_nondebug_quantized_model()
    with warnings.catch_warnings():  # int8 calibration uses the deprecated tf.lite.Interpreter
        warnings.simplefilter("ignore", UserWarning)
        return converter.convert()


def _interpreter(model_content: bytes, num_threads: Optional[int] = None):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_content, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def check_builtin_only(model_content: bytes) -> List[str]:
    """The op names of a .tflite; raises if any is a Flex or custom op."""
    interpreter = _interpreter(model_content)
    names = sorted({op["op_name"] for op in interpreter._get_ops_details()})
    bad = [n for n in names if n.startswith("Flex") or n == "CUSTOM"]
    if bad:
        raise ValueError(f"TFLite model uses non-builtin ops: {', '.join(bad)}")
    return names


def run_tflite(model_content: bytes, inputs: Dict[str, np.ndarray], num_threads=None,
               repeats: int = 1, output: Optional[str] = "image"):
    """(the ``output`` array, or all outputs as a dict with ``output=None``;
    median seconds per run) of a .tflite on ``inputs`` (by name)."""
    interpreter = _interpreter(model_content, num_threads)
    runner = interpreter.get_signature_runner()
    times, out = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        out = runner(**inputs)
        times.append(time.perf_counter() - start)
    return (out if output is None else out[output]), float(np.median(times))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def check_variants(variants: Sequence[str]) -> None:
    """A ValueError naming the variants that are not in ``VARIANTS``."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown TFLite variant(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(VARIANTS)}")


def parse_variants(text: str) -> List[str]:
    """The ``--tflite`` list ('all' or comma-separated names), checked."""
    variants = list(VARIANTS) if text == "all" else [v.strip() for v in text.split(",")
                                                     if v.strip()]
    try:
        check_variants(variants)
    except ValueError as err:
        raise ValueError(f"--tflite: {err} or 'all'") from None
    return variants


def _write_variants(fn, names, graph, variants, calibration, out_dir, log):
    """Converts ``fn`` (inputs ``names``) of ``graph`` to each variant, builtin
    ops only, into ``out_dir/<variant>.tflite`` (atomically); yields
    ``(variant, path, content, op names)``. Integer variants calibrate on the
    ``calibration`` input dicts."""
    def representative():
        for ex in calibration:
            yield {n: ex[n] for n in names}

    owner = tf.Module()  # a plain trackable owner gives the .tflite its signature
    owner.render = fn
    owner.tf_variables = graph.tf_variables
    os.makedirs(out_dir, exist_ok=True)
    for variant in variants:
        log(f"converting {variant} ...")
        content = convert(fn, variant, representative, owner)
        ops = check_builtin_only(content)
        path = os.path.join(out_dir, f"{variant}.tflite")
        atomic_write_bytes(path, content)
        yield variant, path, content, ops


def _fidelity(outputs: List[dict], references: List[dict]) -> dict:
    """The report's fidelity columns: ``image`` -> PSNR / max / mean abs error;
    ``label_map`` -> share of equal pixels."""
    row = {}
    if "label_map" in references[0]:
        row["label_agreement"] = float(np.mean([np.mean(o["label_map"] == r["label_map"])
                                                for o, r in zip(outputs, references)]))
    if "image" in references[0]:
        got = np.concatenate([o["image"] for o in outputs])
        ref = np.concatenate([r["image"] for r in references])
        diff = np.abs(got.astype(int) - ref.astype(int))
        row.update(psnr_db=psnr(got, ref), max_abs_err=int(diff.max()),
                   mean_abs_err=float(diff.mean()))
    return row


_COLUMNS = (  # (row key, title, format)
    ("label_agreement", "label pixels equal to TF", "{:.4f}"),
    ("psnr_db", "PSNR vs float32 TF (dB)", "{:.1f}"),
    ("max_abs_err", "max abs err", "{}"),
    ("mean_abs_err", "mean abs err", "{:.2f}"),
)


def _format_table(rows) -> str:
    columns = [c for c in _COLUMNS if rows and c[0] in rows[0]]
    lines = ["| variant | size (MB) | latency (ms) | " + " | ".join(t for _, t, _ in columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['size_bytes'] / 1e6:.2f} | {r['latency_ms']:.1f} | "
                     + " | ".join(f.format(r[k]) for k, _, f in columns) + " |")
    return "\n".join(lines) + "\n"


def export_tflite(graph, out_dir: str, variants: Sequence[str],
                  calibration: Sequence[Dict[str, np.ndarray]],
                  evaluation: Sequence[Dict[str, np.ndarray]], label_space: dict,
                  height: Optional[int] = None, width: Optional[int] = None,
                  num_threads: Optional[int] = None, repeats: int = 5,
                  log=print) -> List[dict]:
    """Writes ``<out_dir>/<variant>.tflite``, ``label_space.json`` and the
    report (``report.json``, ``report.md``) of any family's graph; returns the
    report rows.

    ``calibration`` / ``evaluation``: batch-1 input dicts for the integer
    variants' calibration and for the fidelity check (the export modules'
    ``calibration_inputs``). The reference is the same float32 graph run by
    TensorFlow (what a float32 SavedModel's ``serving_default`` computes; a
    bf16 SavedModel differs from it by its own precision, docs/benchmarks.md).
    """
    check_variants(variants)
    fn = tflite_function(graph, height, width)
    names = [spec.name for spec in fn.structured_input_signature[0]]
    references = [{k: v.numpy() for k, v in fn(*[tf.constant(ex[n]) for n in names]).items()}
                  for ex in evaluation]
    height, width = references[0][next(iter(references[0]))].shape[1:3]

    rows = []
    for variant, path, content, ops in _write_variants(fn, names, graph, variants, calibration,
                                                       out_dir, log):
        outputs, latency = [], None
        for i, ex in enumerate(evaluation):
            out, seconds = run_tflite(content, {n: ex[n] for n in names}, num_threads,
                                      repeats if i == 0 else 1, output=None)
            outputs.append(out)
            latency = seconds if i == 0 else latency
        row = {"variant": variant, "file": os.path.basename(path), "size_bytes": len(content),
               "latency_ms": 1000 * latency, **_fidelity(outputs, references),
               "input_names": names, "height": int(height), "width": int(width), "ops": ops}
        rows.append(row)
        log(f"  {variant}: {row['size_bytes'] / 1e6:.2f} MB, {row['latency_ms']:.1f} ms, "
            + ", ".join(f"{t} {f.format(row[k])}" for k, t, f in _COLUMNS if k in row))
    atomic_write_text(os.path.join(out_dir, "label_space.json"), json.dumps(label_space, indent=1))
    atomic_write_text(os.path.join(out_dir, "report.json"), json.dumps(rows, indent=2))
    header = (f"# TFLite variants, {height}x{width}, batch 1\n\n"
              f"Latency: median of {repeats} LiteRT runs, num_threads={num_threads or 'default'}. "
              f"Fidelity: outputs vs the float32 TensorFlow graph (a float32 SavedModel's "
              f"serving_default) "
              f"on {len(evaluation)} inputs.\n\n")
    atomic_write_text(os.path.join(out_dir, "report.md"), header + _format_table(rows))
    return rows
