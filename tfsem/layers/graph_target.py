"""Where the graph being traced will run, so layers pick kernels that exist there.

* ``keras`` (default): this process (training, generate, evaluate, the
  Python studio, benchmarks). Every fast path: the fused instance norm,
  Winograd 3x3 convolutions with XLA-compiled transforms.
* ``saved_model``: a SavedModel for TF Serving. No XLA: TF Serving compiles
  XLA clusters only with ``--xla_cpu_compilation_enabled``, off by default,
  and fails a request on them otherwise.
* ``tflite``: the TFLite converter, builtin ops only: plain convolutions and
  instance norm as reductions (TFLite has no training-mode fused batch norm;
  ``int8_float_norm`` keeps exactly those reductions in float).

The exporters trace inside ``graph_target("saved_model")`` /
``graph_target("tflite")``; the values are the same in all three (tested),
only the kernels differ.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["GRAPH_TARGETS", "current_graph_target", "graph_target"]

GRAPH_TARGETS = ("keras", "saved_model", "tflite")
_STATE = threading.local()


@contextlib.contextmanager
def graph_target(target: str):
    """Traces inside it are for ``target`` (one of :data:`GRAPH_TARGETS`)."""
    if target not in GRAPH_TARGETS:
        raise ValueError(f"graph target must be one of {GRAPH_TARGETS}, got {target!r}")
    previous = current_graph_target()
    _STATE.target = target
    try:
        yield
    finally:
        _STATE.target = previous


def current_graph_target() -> str:
    return getattr(_STATE, "target", "keras")
