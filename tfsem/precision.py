"""Inference precision: ``float32``, ``bfloat16``, ``float16`` or ``auto``.

A trained model's variables stay float32; ``bfloat16`` / ``float16`` rebuild
its networks under Keras' ``mixed_bfloat16`` / ``mixed_float16`` policy
(matmuls and convolutions in the low precision, variables and the uint8
conversion in float32) and copy the weights over. ``auto`` picks bfloat16
where the hardware computes it natively (a CPU with avx512_bf16 or AMX, a GPU
of compute capability 8.0 or newer) and the family's fidelity was measured to
hold (PSNR >= 40 dB against float32, docs/benchmarks.md: every label-to-photo
family), else float32. On a CPU without those instructions bfloat16 is
emulated and slower than float32.
"""

from __future__ import annotations

import functools
import os
from typing import Tuple

__all__ = ["PRECISIONS", "POLICIES", "add_argument", "auto_bf16", "cpu_flags",
           "hardware_bf16",
           "in_precision", "resolve", "with_precision", "model_precision"]

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
#: The families with ``auto_bf16`` in ``tfsem.registry``: their bf16 renders were measured to
#: hold PSNR >= 40 dB against float32
#: (dev/precision_fidelity.py, docs/precision_fidelity.json, docs/benchmarks.md):
#: SPADE on the official code's weights at full width 50.4 dB, its quickstart
#: 56.8 dB; pix2pixHD's local enhancer (G1 inside) on the official code's weights
#: at full width 41.3 dB with native bf16 (AMX; the code before the fused norm
#: and conv3x3 gave 41.4; emulated bf16 on an AVX2 CPU gave 38.4, but auto never
#: picks bf16 there), its quickstart 55.4 dB; pix2pix's unet_256 at full width
#: (random official-style weights) 54.8 dB, its quickstart 57.2 dB. The
#: quickstarts' toy-oracle mIoU moved by < 0.0001.
#: Label-map GANs are not here: their output is an argmax, and a map that changes
#: with the hardware is not seed-exact.


def auto_bf16(family: str) -> bool:
    """Whether ``--precision auto`` may pick bfloat16 for ``family``."""
    from tfsem import registry

    entry = registry.FAMILIES.get(family)
    return bool(entry and entry.auto_bf16)


def add_argument(parser, default: str = "auto") -> None:
    """The front ends' ``--precision`` option."""
    parser.add_argument("--precision", default=default, choices=PRECISIONS,
                        help="compute precision: auto (bfloat16 on CPUs with avx512_bf16/AMX "
                             "and recent GPUs, for the renderers; else float32), float32, "
                             f"bfloat16, float16 (GPU only); default {default}")


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset:
    """The CPU's instruction-set flags (Linux /proc/cpuinfo; empty elsewhere)."""
    from tfsem.autotune import cpuinfo

    return frozenset((cpuinfo().get("flags") or "").split())


def _gpu_capabilities():
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return capabilities


def hardware_bf16() -> Tuple[bool, str]:
    """(native bf16?, why): a GPU decides when there is one, else the CPU's flags."""
    gpus = _gpu_capabilities()
    if gpus:
        ok = all(cc >= (8, 0) for cc in gpus)
        return ok, f"GPU compute capability {'.'.join(map(str, min(gpus)))}" + (
            "" if ok else " (< 8.0: no bf16 tensor cores)")
    flags = cpu_flags()
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if native:
        return True, f"CPU with {', '.join(native)}"
    return False, "CPU without avx512_bf16 or AMX (bf16 would be emulated, slower than fp32)"


def resolve(precision: str, family: str = None, what: str = "--precision") -> str:
    """``precision`` as a concrete one (``float32`` | ``bfloat16`` | ``float16``).

    ``auto``: bfloat16 for a family with ``auto_bf16`` (``tfsem.registry``) on native bf16
    hardware, else float32; ``TFSEM_PRECISION`` overrides what auto picks.
    ``float16`` needs a GPU (CPUs have no fast fp16 convolutions)."""
    if precision not in PRECISIONS:
        raise ValueError(f"{what}: unknown precision {precision!r}; choose one of "
                         f"{', '.join(PRECISIONS)}")
    if precision == "auto":
        forced = os.environ.get("TFSEM_PRECISION")
        if forced:
            return resolve(forced, family, what="TFSEM_PRECISION")
        native, _ = hardware_bf16()
        return "bfloat16" if native and auto_bf16(family) else "float32"
    import tensorflow as tf

    if precision == "float16" and not tf.config.list_physical_devices("GPU"):
        raise ValueError(f"{what}: float16 needs a GPU (none is visible); use bfloat16 or "
                         "float32 on a CPU")
    return precision


def model_precision(model) -> str:
    """The precision a model computes in (from its dtype policy)."""
    import keras

    return keras.dtype_policies.get(model.dtype_policy).compute_dtype


def in_precision(config, model, precision: str):
    """``model`` in ``precision`` (``auto`` resolved for its family)."""
    return with_precision(config, model, resolve(precision, config.model.type))


def with_precision(config, model, precision: str):
    """``model`` computing in ``precision`` (a concrete one): the same object
    when it already does, else the family's model rebuilt under that policy
    with every weight copied (by variable path)."""
    if precision not in POLICIES:
        raise ValueError(f"with_precision: {precision!r} is not one of {', '.join(POLICIES)}")
    if model_precision(model) == precision:
        return model
    import keras
    import tensorflow as tf

    from tfsem import registry

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        clone = registry.family_of(config).build(config)
        clone.build_networks()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    source = {v.path: v for v in model.weights}
    missing = [v.path for v in clone.weights if v.path not in source]
    if missing:
        raise ValueError(f"cannot rebuild the model in {precision}: {len(missing)} weights have "
                         f"no float32 counterpart (first: {missing[0]})")
    for variable in clone.weights:
        value = source[variable.path]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"cannot rebuild the model in {precision}: {variable.path} has shape "
                             f"{tuple(value.shape)}, the rebuilt one {tuple(variable.shape)}")
        variable.assign(tf.cast(value, variable.dtype))
    return clone
