"""Weight initialisation as the official code does it, applied after a network is built.

* ``xavier`` (NVlabs/SPADE ``base_network.py`` ``init_weights``, the default
  ``--init_type xavier --init_variance 0.02``): every conv / linear weight
  ~ N(0, (gain * sqrt(2 / (fan_in + fan_out)))^2) (``xavier_normal_``, not
  truncated), biases 0. With spectral norm the scale of the raw weight does
  not matter; for the SPADE convs (gamma, beta), ``fc`` and the RGB head it
  does: gamma and beta start near 0, so SPADE starts as a plain norm.
* ``normal`` (NVIDIA/pix2pixHD ``networks.py`` ``weights_init``): every conv
  and transposed-conv weight ~ N(0, 0.02^2). pix2pixHD leaves conv biases at
  PyTorch's default (uniform +-1/sqrt(fan_in)); tfsem keeps Keras' zeros.
* Both schemes, as all three official codes (and pix2pix's ``init_weights``):
  the scale of a batch norm with one ~ N(1, gain^2), its offset 0.
* ``keras``: leave Keras' defaults (Glorot uniform).
"""

from __future__ import annotations

import math

import keras

__all__ = ["INIT_SCHEMES", "init_weights"]

INIT_SCHEMES = ("xavier", "normal", "keras")


def _fans(kernel_shape):
    # Keras layouts: conv [kh, kw, in, out], transposed conv [kh, kw, out, in], dense [in, out].
    receptive = 1
    for d in kernel_shape[:-2]:
        receptive *= int(d)
    return int(kernel_shape[-2]) * receptive, int(kernel_shape[-1]) * receptive


def init_weights(network, scheme: str = "xavier", gain: float = 0.02, seed=None) -> int:
    """Re-initialises every Conv2D / Conv2DTranspose / Dense kernel of a built
    ``network`` (sub-layers included) as ``scheme``, and the scales of its
    batch norms; returns how many kernels."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {scheme!r}")
    if scheme == "keras":
        return 0
    generator = keras.random.SeedGenerator(seed)
    count = 0
    for layer in network._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.scale and layer.built:
            # All three official codes: BatchNorm2d weight ~ N(1, gain), bias 0.
            layer.gamma.assign(1.0 + keras.random.normal(layer.gamma.shape, stddev=gain,
                                                         seed=generator, dtype=layer.gamma.dtype))
            if layer.center:
                layer.beta.assign(keras.ops.zeros(layer.beta.shape, layer.beta.dtype))
            continue
        # layers holding several linear maps in one weight (SEAN's ACE: a Linear per
        # class) list them: (variable, fan_in, fan_out), initialised as one Linear each
        for variable, fan_in, fan_out in (layer.stacked_kernels() if layer.built and hasattr(
                layer, "stacked_kernels") else ()):
            std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if scheme == "xavier" else gain
            variable.assign(keras.random.normal(variable.shape, stddev=std, seed=generator,
                                                dtype=variable.dtype))
            count += 1
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                                  keras.layers.Dense)) or not layer.built:
            continue
        fan_in, fan_out = _fans(layer.kernel.shape)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if scheme == "xavier" else gain
        layer.kernel.assign(keras.random.normal(layer.kernel.shape, stddev=std,
                                                seed=generator, dtype=layer.kernel.dtype))
        if layer.use_bias and scheme == "xavier":
            layer.bias.assign(keras.ops.zeros(layer.bias.shape, layer.bias.dtype))
        count += 1
    return count
