"""Kernel choices measured on the machine that runs them (cuDNN's autotuner, for
the CPU). This module imports no TensorFlow: a choice that must be made before
TensorFlow starts (oneDNN) reads its cache too.

Where tfsem has several ways to compute the same op (``tfsem.layers.conv3x3``:
oneDNN's convolution, an im2col GEMM, the transposed-conv op, Winograd F(2x2)
and F(4x4)), which one is fastest depends on the CPU (AVX2 or AVX-512, bf16,
AMX), the shape and the dtype. The first time an op of a shape is needed on a
machine, each eligible way runs on random inputs of that shape (a warm-up,
then the best of a few runs) and the fastest is kept (an alternative to the
plain way must win by more than ``MARGIN``), in a JSON file in the user's
cache directory named after the machine: the CPU's model name and family /
model numbers, its instruction-set flags, the TensorFlow version and whether
TensorFlow runs oneDNN. Later processes read the choice back; nothing is
measured twice. No threshold in the code decides for a machine.

Settings (environment):

* ``TFSEM_CONV3X3``: ``auto`` (the default: measured), or one method for every
  3x3 conv (:mod:`tfsem.layers.conv3x3`) where it applies (``conv``, ``matmul``,
  ``tconv``, ``winograd2``, ``winograd4``; elsewhere ``conv``). The tests pin
  ``conv``, so their results do not depend on the machine.
* ``TFSEM_INSTANCE_NORM``: ``auto`` or ``fused`` / ``moments`` for
  :func:`tfsem.layers.normalization.instance_norm` (one fused batch-norm kernel,
  or the mean / variance reductions and an elementwise pass). The tests pin
  ``fused``.
* ``TFSEM_ONEDNN``: ``auto``, ``on``, ``off`` or ``default`` (TensorFlow's
  own rule: oneDNN on only for CPUs with AVX-512 VNNI / bf16 or AMX). Whether
  TensorFlow runs its ops through oneDNN (``TF_ENABLE_ONEDNN_OPTS``) is fixed
  when TensorFlow starts, for the whole process, so it is chosen per training
  config: ``python -m tfsem.train`` times a few of the config's training steps
  in two short processes, oneDNN on and off, the first time the config trains
  on a machine (:func:`choose_onednn_for_training`). A ``TF_ENABLE_ONEDNN_OPTS``
  the user set is kept; GPUs are left alone. The tests pin ``default``.
* ``TFSEM_AUTOTUNE_CACHE``: the cache folder (default
  ``$XDG_CACHE_HOME/tfsem/autotune``, else ``~/.cache/tfsem/autotune``). A
  folder that cannot be written keeps the choices for this process only.

Exports never see a measured choice they cannot carry: TFLite graphs take
``conv`` only, SavedModels ``conv``, ``matmul`` or ``tconv`` (plain TF ops); Winograd
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

__all__ = ["AutotuneCache", "cache_path", "choose", "cpuinfo", "has_gpu", "machine", "measure",
           "pick", "pinned"]

log = logging.getLogger("tfsem.autotune")

#: CPU flags that change which kernel is fastest (vector width, dot products,
#: bf16, AMX); the rest of /proc/cpuinfo's flags do not enter the cache key.
_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
          "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
          "asimd", "sve", "sve2", "bf16", "i8mm")
#: The /proc/cpuinfo lines read: a virtual machine often names its CPU only "AMD EPYC"
#: or "Intel Xeon Processor"; the family and model numbers (x86) or implementer and
#: part (ARM) tell its generation (AMD family 25 is Zen 3 / Zen 4, 26 Zen 5).
_CPUINFO_KEYS = ("model name", "cpu family", "model", "flags", "Features", "CPU implementer",
                 "CPU part")
_LOCK = threading.Lock()
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
ONEDNN_SETTINGS = ("on", "off", "default")
_CACHE: Dict[str, "AutotuneCache"] = {}


@functools.lru_cache(maxsize=None)
def cpuinfo() -> Dict[str, str]:
    """The first ``model name``, ``cpu family``, ``model``, ``flags`` (x86) /
    ``Features``, ``CPU implementer``, ``CPU part`` (ARM) lines of Linux's
    /proc/cpuinfo (empty elsewhere), read once."""
    out = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                key = key.strip()
                if sep and key in _CPUINFO_KEYS and key not in out:
                    out[key] = value.strip()
    except OSError:
        pass
    return out


def _tensorflow_version() -> str:
    """TensorFlow's version without importing it (the installed distribution's)."""
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"].__version__
    from importlib import metadata

    for name in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tf-nightly-cpu",
                 "tensorflow-intel", "tensorflow-macos"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


@functools.lru_cache(maxsize=None)
def _machine_base() -> dict:
    info = cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    ids = [f"{name} {info[key]}" for key, name in (("cpu family", "family"), ("model", "model"),
                                                   ("CPU implementer", "implementer"),
                                                   ("CPU part", "part")) if info.get(key)]
    return {"cpu": info.get("model name") or platform.processor() or platform.machine(),
            "cpu_id": " ".join(ids),
            "flags": sorted(f for f in _FLAGS if f in flags),
            "cpus": os.cpu_count() or 1,
            "tensorflow": _tensorflow_version()}


def machine(onednn: bool = True) -> dict:
    """What a measured choice is valid for: CPU model, its relevant flags,
    logical CPUs, TensorFlow version (read once per process) and, for kernel
    choices (``onednn``), whether TensorFlow runs oneDNN (``conv`` is another
    kernel without it)."""
    out = dict(_machine_base())
    if onednn:
        out["onednn"] = os.environ.get(ONEDNN_ENV, "default")
    return out


def cache_path(onednn: bool = True) -> str:
    """This machine's cache file (see the module doc for the folder); the
    oneDNN choice itself is kept apart from the kernel choices (``onednn``
    False), which depend on it."""
    folder = os.environ.get("TFSEM_AUTOTUNE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tfsem", "autotune")
    key = hashlib.sha256(json.dumps(machine(onednn), sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(folder, f"{key}.json")


class AutotuneCache:
    """The measured choices of one machine: ``{"machine": ..., "choices": {key:
    {"method": ..., "ms": {method: ms}}}}``, read once, written atomically after
    each new choice (merged with what another process wrote meanwhile)."""

    def __init__(self, path: str, onednn: bool = True):
        self.path, self.onednn = path, onednn
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

    def get(self, key: str, candidates: Sequence[str] = ()) -> Optional[str]:
        """The method kept for ``key``; None when there is none, or when it was
        chosen without measuring one of ``candidates`` (a way a later tfsem added:
        measured again)."""
        entry = self.choices.get(key)
        if entry is None:
            return None
        measured = entry.get("ms")
        if candidates and not (isinstance(measured, dict) and set(candidates) <= set(measured)):
            return None
        return entry["method"]

    def put(self, key: str, method: str, ms: Dict[str, float]) -> None:
        self.choices[key] = {"method": method, "ms": {k: round(v, 4) for k, v in ms.items()}}
        if not self.writable:
            return
        try:
            from tfsem.fileio import atomic_write_text

            merged = {**self._read(), **self.choices}
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write_text(self.path, json.dumps({"machine": machine(self.onednn),
                                                     "choices": merged},
                                                    indent=1, sort_keys=True) + "\n")
        except OSError as err:
            self.writable = False
            log.warning(f"autotune: cannot write {self.path} ({err}); the kernel choices of "
                        "this process are not kept")


def _cache(onednn: bool = True) -> AutotuneCache:
    path = cache_path(onednn)
    if path not in _CACHE:
        _CACHE[path] = AutotuneCache(path, onednn)
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
        known = cache.get(full, candidates)
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
    the first candidate, the plain way), or :func:`choose`'s measured one (the
    only candidate, where there is no choice). A bad ``env`` value is an error
    either way."""
    pin = pinned(env, methods)
    if pin is not None:
        return pin if pin in candidates else candidates[0]
    return choose(op, key, candidates, make)


@functools.lru_cache(maxsize=None)
def has_gpu() -> bool:
    """TensorFlow sees a GPU: cuDNN chooses its own kernels there, nothing is measured."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


# -- oneDNN on or off, per training config ---------------------------------------------


def _has_gpu_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/kfd")


def train_step_key(config) -> str:
    """What a training step's speed depends on: the model section, the batch,
    the classes and the map size (the preprocessing's resize / crop, or the toy
    data's size), the precision (not the steps, paths or schedules)."""
    import dataclasses

    data = dataclasses.asdict(config.data)
    shape = {k: data[k] for k in ("batch_size", "label_space", "dont_care", "use_instances",
                                  "load_images", "preprocess", "toy")}
    body = json.dumps({"model": dataclasses.asdict(config.model), "data": shape,
                       "precision": config.train.mixed_precision}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def choose_onednn_for_training(config, config_path: str, overrides: Sequence[str] = (),
                               print_fn: Callable[[str], None] = print) -> Optional[str]:
    """Sets ``TF_ENABLE_ONEDNN_OPTS`` for this training process (call it before
    TensorFlow is imported): from ``TFSEM_ONEDNN`` when it pins ``on`` / ``off``,
    else from this machine's cache, else measured now (:func:`_time_train_steps`
    with oneDNN on and off, each in a fresh process) and kept. Returns the
    setting used, or None where nothing was decided (the user's own
    ``TF_ENABLE_ONEDNN_OPTS``, TensorFlow already running, a GPU, ``default``)."""
    import sys

    pin = pinned("TFSEM_ONEDNN", ONEDNN_SETTINGS)
    if (ONEDNN_ENV in os.environ or "tensorflow" in sys.modules or pin == "default"
            or _has_gpu_driver()):
        return None
    if pin is None:
        key = f"onednn|train|{train_step_key(config)}"
        pin = _cache(onednn=False).get(key)
        if pin not in ("on", "off"):
            print_fn("oneDNN: timing a few training steps of this config with oneDNN on and "
                     "off (once per machine and model; TFSEM_ONEDNN=on|off|default skips it)")
            timings = {}
            for setting in ("on", "off"):
                seconds = _time_train_steps(config_path, overrides, setting)
                if seconds is not None:
                    timings[setting] = seconds * 1000.0
            if not timings:
                return None
            pin = min(timings, key=timings.get)
            with _LOCK:
                _cache(onednn=False).put(key, pin, timings)
            print_fn("oneDNN: " + ", ".join(f"{k} {v / 1000:.3f} s/step"
                                             for k, v in sorted(timings.items()))
                     + f"; training with oneDNN {pin} (kept in {cache_path(onednn=False)})")
    os.environ[ONEDNN_ENV] = "1" if pin == "on" else "0"
    return pin


def _time_train_steps(config_path, overrides, setting, timeout=900) -> Optional[float]:
    """Seconds per training step of the config in a fresh process with oneDNN
    ``setting`` (:func:`train_step_process`), or None if it failed."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({ONEDNN_ENV: "1" if setting == "on" else "0", "TFSEM_ONEDNN": "default",
                "TF_CPP_MIN_LOG_LEVEL": "2"})
    command = [sys.executable, "-c", "import sys; from tfsem.autotune import train_step_process; "
               "sys.exit(train_step_process(sys.argv[1:]))", "--config", config_path]
    for item in overrides:
        command += ["--set", item]
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning(f"autotune: timing the training step with oneDNN {setting} took over "
                    f"{timeout} s; left out")
        return None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        log.warning(f"autotune: timing the training step with oneDNN {setting} failed: {tail}")
        return None
    return float(json.loads(lines[-1])["seconds_per_step"])


def time_train_steps(config, warmup: int = 2, steps: int = 3, budget_s: float = 60.0) -> float:
    """Seconds per training step of ``config``'s model on a batch of its data, as
    ``tfsem.train`` builds them: the median of up to ``steps`` timed steps
    after ``warmup`` (fewer when a step is slow: the timed ones stop after
    ``budget_s``). The steps train a throwaway copy of the model."""
    import statistics

    import tensorflow as tf

    from tfsem.data import DataPipeline
    from tfsem.train.build import build_model, compile_model

    if config.train.mixed_precision != "float32":
        import keras

        keras.mixed_precision.set_global_policy(config.train.mixed_precision)
    pipeline = DataPipeline(config.data)
    num_examples = pipeline.num_examples()
    model = build_model(config)
    compile_model(model, config, num_examples=num_examples)
    batch = next(iter(pipeline.dataset(training=True)))
    step = tf.function(model.train_step)

    def run():
        out = step(batch)
        return float(next(iter(out.values())))

    for _ in range(warmup):
        run()
    times, spent = [], 0.0
    while len(times) < steps and (not times or spent < budget_s):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times)


def train_step_process(argv) -> int:
    """What :func:`_time_train_steps` runs in a fresh process (``--config FILE
    [--set K=V ...]``): prints one JSON line, the config's seconds per training
    step with this process's oneDNN setting."""
    import argparse

    parser = argparse.ArgumentParser(prog="tfsem.autotune.train_step_process")
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    from tfsem.config import load_config

    config = load_config(args.config, overrides=args.set)
    seconds = time_train_steps(config)
    print(json.dumps({"seconds_per_step": round(seconds, 4),
                      "onednn": os.environ.get(ONEDNN_ENV, "default")}))
    return 0
