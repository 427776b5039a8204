"""What every export shares: binding named inputs, the serving-module base and
the atomic TF Serving version layout.

Every graph (``graph.InferenceGraph``, ``graph.DreamGraph``) has ``input_specs(batch, height, width)`` (named
TensorSpecs) and ``outputs(**inputs)`` (named tensors). :func:`bind` is the
one place that turns named specs into a ``tf.function``: the serving
signatures and the TFLite conversion both use it, so an input can only ever
reach the argument of its own name.

Model: TF Model Garden ``official/vision/serving/export_base.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfsem.layers.graph_target import graph_target

__all__ = ["DEFAULT_MAX_PIXELS", "ServingModule", "bind", "next_version", "precision_asset",
           "sample_input", "write_version"]

DEFAULT_MAX_PIXELS = 4096 * 4096


def _rank_checked(spec: tf.TensorSpec, value):
    """``value`` after a run-time check of its rank. TF Serving (and a loaded
    SavedModel's signature function) feeds tensors of any rank into a
    signature, where a wrong rank would fail deep inside with an internal
    message ("slice index 2 of dimension 0 out of bounds"). The check is a
    ``cond`` whose output every later op consumes, so nothing runs before it
    (a control dependency alone can be rewired by Grappler)."""
    rank = spec.shape.rank
    if rank is None:
        return value
    names = ["batch", "height", "width"] if rank == 3 else ["batch"] + ["?"] * (rank - 1)
    dims = ", ".join(str(d) if d and i else names[i] for i, d in enumerate(spec.shape))
    message = f"{spec.name} must have rank {rank} ([{dims}])"

    def refuse():
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return tf.zeros([1] * rank, value.dtype)

    # The signature's placeholder has the spec's static rank, which constant folding
    # takes for the truth (Rank, Size of Shape fold to it): the rank is counted from
    # the run-time shape's entries instead, which nothing can fold.
    runtime_rank = tf.reduce_sum(tf.cast(tf.shape(value) >= 0, tf.int32))
    return tf.cond(tf.equal(runtime_rank, rank), lambda: tf.identity(value), refuse)


def bind(specs: Sequence[tf.TensorSpec], fn: Callable[..., Dict[str, tf.Tensor]],
         check_ranks: bool = False):
    """A ``tf.function`` with ``specs`` as its input signature that calls
    ``fn(**{spec.name: arg})``: inputs are passed by name, never by position.
    ``check_ranks`` (serving signatures): each input's rank is checked at run time."""
    specs = list(specs)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"input specs need distinct names, got {names}")

    def run(*args):
        if check_ranks:
            args = [_rank_checked(spec, arg) for spec, arg in zip(specs, args)]
        return fn(**dict(zip(names, args)))

    # autograph off, as Keras' own exports: the inference paths branch with tf.cond,
    # and converting every function they call costs seconds of tracing per export
    return tf.function(run, input_signature=specs, autograph=False)


def sample_input(specs: Sequence[tf.TensorSpec], index: int, rng, given=None) -> dict:
    """One batch-1 input dict for ``specs`` (calibration / fidelity inputs):
    ``given`` values by name, float inputs ~ N(0, I) from ``rng``, int inputs
    (``cluster``) = ``index``."""
    given = given or {}
    item = {}
    for spec in specs:
        if spec.name in given:
            item[spec.name] = given[spec.name]
        elif spec.dtype == tf.float32:
            item[spec.name] = rng.standard_normal(spec.shape).astype(np.float32)
        else:
            item[spec.name] = np.array([index], np.int32)
    return item


class ServingModule(tf.Module):
    """Base of the served modules: ``serving_default`` is ``serve(**inputs)``
    over ``input_specs()``; ``extra_signatures()`` adds others (name ->
    (specs, function of named inputs))."""

    def input_specs(self) -> List[tf.TensorSpec]:
        raise NotImplementedError

    def serve(self, **inputs) -> Dict[str, tf.Tensor]:
        raise NotImplementedError

    def extra_signatures(self) -> Dict[str, Tuple[List[tf.TensorSpec], Callable]]:
        return {}

    def signatures(self) -> dict:
        out = {"serving_default": bind(self.input_specs(), self.serve,
                                       check_ranks=True).get_concrete_function()}
        for name, (specs, fn) in self.extra_signatures().items():
            out[name] = bind(specs, fn, check_ranks=True).get_concrete_function()
        return out


def precision_asset(model, renderer=None) -> dict:
    """``assets/precision.json``: what the exported graph computes in (outputs
    are uint8 / int32 in every precision)."""
    from tfsem.precision import model_precision

    asset = {"compute": model_precision(model)}
    if renderer is not None:
        asset["renderer_compute"] = model_precision(renderer)
    return asset


def next_version(base: str) -> int:
    """1 + the largest numeric version dir under ``base`` (1 if none)."""
    if not os.path.isdir(base):
        return 1
    versions = [int(d) for d in os.listdir(base) if d.isdigit()]
    return max(versions, default=0) + 1


def write_version(base: str, version: Optional[int], module: ServingModule,
                  assets: dict) -> str:
    """Saves ``module`` with its signatures to ``base/<version>`` (default: the
    next free number) through a temporary dir and a rename, so a server
    watching ``base`` never loads a half-written version; ``assets``: file
    name -> JSON data for ``assets/``. Returns the version dir."""
    version = next_version(base) if version is None else int(version)
    if version < 1:
        raise ValueError(f"--version must be >= 1, got {version}")
    final = os.path.join(base, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final}: this version exists; choose another --version")
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base)
    try:
        with graph_target("saved_model"):  # no XLA clusters for TF Serving
            tf.saved_model.save(module, tmp, signatures=module.signatures())
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        for name, data in assets.items():
            with open(os.path.join(tmp, "assets", name), "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
