"""Kernel choices measured on the machine that runs them (cuDNN's autotuner, for
the CPU).

Where tfsem has several ways to compute the same op (``tfsem.layers.conv3x3``:
oneDNN's convolution, an im2col GEMM, Winograd F(2x2) and F(4x4)), which one
is fastest depends on the CPU (AVX2 or AVX-512, bf16, AMX), the shape and the
dtype. The first time an op of a shape is needed on a machine, each eligible
way runs on random inputs of that shape (a warm-up, then the best of a few
runs) and the fastest is kept (an alternative to the plain way must win by
more than ``MARGIN``), in a JSON file in the user's cache directory
named after the machine: the CPU model, its instruction-set flags and the
TensorFlow version. Later processes read the choice back; nothing is
measured twice. No threshold in the code decides for a machine.

Settings (environment):

* ``TFSEM_CONV3X3``: ``auto`` (the default: measured), or one method for every
  3x3 conv (:mod:`tfsem.layers.conv3x3`) where it applies (``conv``, ``matmul``, ``winograd2``, ``winograd4``;
  elsewhere ``conv``). The tests pin ``conv``, so their results do not depend
  on the machine.
* ``TFSEM_INSTANCE_NORM``: ``auto`` or ``fused`` / ``moments`` for
  :func:`tfsem.layers.normalization.instance_norm` (one fused batch-norm kernel,
  or the mean / variance reductions and an elementwise pass). The tests pin
  ``fused``.
* ``TFSEM_AUTOTUNE_CACHE``: the cache folder (default
  ``$XDG_CACHE_HOME/tfsem/autotune``, else ``~/.cache/tfsem/autotune``). A
  folder that cannot be written keeps the choices for this process only.

Exports never see a measured choice they cannot carry: TFLite graphs take
``conv`` only, SavedModels ``conv`` or ``matmul`` (plain TF ops); Winograd
(XLA-compiled) is for this process's Keras graphs (``tfsem.layers.graph_target``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import threading
import time
from typing import Callable, Dict, Optional, Sequence

__all__ = ["AutotuneCache", "cache_path", "choose", "machine", "measure", "pick", "pinned"]

log = logging.getLogger("tfsem.autotune")

#: CPU flags that change which kernel is fastest (vector width, dot products,
#: bf16, AMX); the rest of /proc/cpuinfo's flags do not enter the cache key.
_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
          "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
          "asimd", "sve", "sve2", "bf16", "i8mm")
_LOCK = threading.Lock()
_CACHE: Dict[str, "AutotuneCache"] = {}


def _cpuinfo() -> Dict[str, str]:
    out = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                key = key.strip()
                if sep and key in ("model name", "flags", "Features", "CPU part") \
                        and key not in out:
                    out[key] = value.strip()
    except OSError:
        pass
    return out


@functools.lru_cache(maxsize=None)
def machine() -> dict:
    """What a measured choice is valid for: CPU model, its relevant flags,
    logical CPUs, TensorFlow version (read once per process: every traced conv
    that has a choice asks for the cache file)."""
    import tensorflow as tf

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return {"cpu": info.get("model name") or platform.processor() or platform.machine(),
            "flags": sorted(f for f in _FLAGS if f in flags),
            "cpus": os.cpu_count() or 1,
            "tensorflow": tf.__version__}


def cache_path() -> str:
    """This machine's cache file (see the module doc for the folder)."""
    folder = os.environ.get("TFSEM_AUTOTUNE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tfsem", "autotune")
    key = hashlib.sha256(json.dumps(machine(), sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(folder, f"{key}.json")


class AutotuneCache:
    """The measured choices of one machine: ``{"machine": ..., "choices": {key:
    {"method": ..., "ms": {method: ms}}}}``, read once, written atomically after
    each new choice (merged with what another process wrote meanwhile)."""

    def __init__(self, path: str):
        self.path = path
        self.choices = self._read()
        self.writable = True

    def _read(self) -> Dict[str, dict]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            choices = data.get("choices", {})
            return {k: v for k, v in choices.items()
                    if isinstance(v, dict) and isinstance(v.get("method"), str)}
        except (OSError, ValueError, AttributeError):
            return {}

    def get(self, key: str) -> Optional[str]:
        entry = self.choices.get(key)
        return None if entry is None else entry["method"]

    def put(self, key: str, method: str, ms: Dict[str, float]) -> None:
        self.choices[key] = {"method": method, "ms": {k: round(v, 4) for k, v in ms.items()}}
        if not self.writable:
            return
        try:
            from tfsem.fileio import atomic_write_text

            merged = {**self._read(), **self.choices}
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write_text(self.path, json.dumps({"machine": machine(), "choices": merged},
                                                    indent=1, sort_keys=True) + "\n")
        except OSError as err:
            self.writable = False
            log.warning(f"autotune: cannot write {self.path} ({err}); the kernel choices of "
                        "this process are not kept")


def _cache() -> AutotuneCache:
    path = cache_path()
    if path not in _CACHE:
        _CACHE[path] = AutotuneCache(path)
    return _CACHE[path]


def pinned(env: str, methods: Sequence[str]) -> Optional[str]:
    """The method ``env`` pins, or None for ``auto`` (a ValueError naming the
    variable for anything else)."""
    value = os.environ.get(env, "auto").strip().lower() or "auto"
    if value == "auto":
        return None
    if value not in methods:
        raise ValueError(f"{env}={value!r}: use auto or one of {', '.join(methods)}")
    return value


def measure(run: Callable[[], object], repeats: int = 3) -> float:
    """Milliseconds of the fastest of ``repeats`` calls of ``run`` after one
    warm-up call (which also compiles it)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


#: An alternative replaces the first candidate (the plain, most accurate way) only
#: when it is faster by more than this share: timings on shared cores vary by a
#: few percent, and a choice inside that noise would trade accuracy for nothing.
MARGIN = 0.05


def choose(op: str, key: str, candidates: Sequence[str],
           make: Callable[[str], Callable[[], object]]) -> str:
    """The fastest of ``candidates`` for ``op`` at ``key`` on this machine:
    from the cache, else measured now (``make(method)`` gives a zero-argument
    call that runs the op that way) and kept. The first candidate is the
    default: another wins only by more than ``MARGIN``."""
    candidates = list(candidates)
    if len(candidates) == 1:
        return candidates[0]
    full = f"{op}|{key}"
    with _LOCK:
        cache = _cache()
        known = cache.get(full)
        if known in candidates:
            return known
        timings = {method: measure(make(method)) for method in candidates}
        best = min(timings, key=timings.get)
        if timings[best] > (1.0 - MARGIN) * timings[candidates[0]]:
            best = candidates[0]
        cache.put(full, best, timings)
    log.info(f"autotune: {op} {key}: {best} ("
             + ", ".join(f"{m} {t:.2f} ms" for m, t in sorted(timings.items(),
                                                               key=lambda kv: kv[1])) + ")")
    return best


def pick(op: str, env: str, methods: Sequence[str], candidates: Sequence[str], key: str,
         make: Callable[[str], Callable[[], object]]) -> str:
    """The method for one op: the one ``env`` pins when this op may use it (else
    the first candidate, the plain way), or :func:`choose`'s measured one."""
    pin = pinned(env, methods)
    if pin is not None:
        return pin if pin in candidates else candidates[0]
    return choose(op, key, candidates, make)
