"""StyleGAN2's building blocks (NVlabs/stylegan2-ada-pytorch ``training/networks.py``,
Karras et al. 2020, arXiv 1912.04958), channels-last.

- Equalized learning rate: weights are stored as N(0, 1) (divided by the
  layer's learning-rate multiplier) and scaled at run time by
  ``lr_multiplier / sqrt(fan_in)``, so Adam's scale-free steps move every layer
  at the same relative rate, and ``lr_multiplier`` (0.01 in the mapping
  network) slows a layer down.
- ``bias_act``'s leaky ReLU: slope 0.2 times the gain sqrt(2).
- FIR resampling with the [1, 3, 3, 1] filter (``upfirdn2d``): ``upsample2d``
  doubles H and W (the filter's taps 1/4 and 3/4, zero outside the map) and
  ``up_conv2d`` is StyleGAN2's ``conv2d_resample(up=2)``: a stride-2 transposed
  convolution, then the filter.

Everything is built from ops TFLite has (slices, concatenations, reshapes,
``conv2d`` and ``conv2d_transpose``).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tfsem.layers.interpolate import static_or_dynamic_shape

__all__ = ["EqualizedDense", "LRELU_GAIN", "blur", "lrelu_gain", "up_conv2d", "upsample2d"]

#: ``bias_act``'s default gain of ``lrelu`` (sqrt(2)).
LRELU_GAIN = math.sqrt(2.0)


def lrelu_gain(x):
    """Leaky ReLU (slope 0.2) times sqrt(2), as StyleGAN2's ``bias_act``; the
    project's :func:`~tfsem.layers.activations.leaky_relu` (its gradient reads
    the output, so grappler's remapper keeps its fusions)."""
    return leaky_relu(x, 0.2) * tf.cast(LRELU_GAIN, x.dtype)


def _pad(x, axis: int, before: int, after: int):
    paddings = [[0, 0]] * 4
    paddings[axis] = [before, after]
    return tf.pad(x, paddings)


def _take(x, axis: int, start: int, length):
    """``length`` entries of ``x`` along ``axis`` from ``start`` (all of the
    other axes: size -1)."""
    begin, size = [0] * 4, [-1] * 4
    begin[axis], size[axis] = start, length
    return tf.slice(x, begin, size)


def _upsample_axis(x, axis: int):
    # static sizes where known: no shape ops in the graph
    shape = static_or_dynamic_shape(x)
    n = shape[axis]
    p = _pad(x, axis, 1, 1)  # p[i + 1] = x[i], zeros outside
    quarter, three = tf.cast(0.25, x.dtype), tf.cast(0.75, x.dtype)
    even = quarter * _take(p, axis, 0, n) + three * x  # x[i-1]/4 + 3x[i]/4
    odd = three * x + quarter * _take(p, axis, 2, n)  # 3x[i]/4 + x[i+1]/4
    both = tf.stack([even, odd], axis + 1)  # [..., n, 2, ...] -> [..., 2n, ...]
    shape[axis] = 2 * n
    return tf.reshape(both, shape)  # a list with tensors in it is packed


def upsample2d(x):
    """[B, H, W, C] -> [B, 2H, 2W, C]: ``upfirdn2d.upsample2d`` with the
    [1, 3, 3, 1] filter (zeros inserted, the filter with gain 4, zero padding):
    out[2i] = x[i-1]/4 + 3x[i]/4, out[2i+1] = 3x[i]/4 + x[i+1]/4 per axis."""
    return _upsample_axis(_upsample_axis(x, 1), 2)


def _blur_axis(x, axis: int):
    n = static_or_dynamic_shape(x)[axis]
    p = _pad(x, axis, 1, 1)  # p[i + 1] = x[i]
    taps = [_take(p, axis, k, n - 1) for k in range(4)]
    three = tf.cast(3.0, x.dtype)
    return (taps[0] + three * (taps[1] + taps[2]) + taps[3]) * tf.cast(0.25, x.dtype)


def blur(x):
    """[B, H, W, C] -> [B, H-1, W-1, C]: ``upfirdn2d`` with the [1, 3, 3, 1]
    filter at gain 4 (taps [1, 3, 3, 1] / 4 per axis) and one zero of padding
    on every side: out[j] = (x[j-1] + 3x[j] + 3x[j+1] + x[j+2]) / 4 per axis."""
    return _blur_axis(_blur_axis(x, 1), 2)


def up_conv2d(x, kernel):
    """StyleGAN2's ``conv2d_resample(up=2)`` for a 3x3 ``kernel`` [3, 3, in, out]:
    a stride-2 transposed convolution ([B, H, W, in] -> [B, 2H+1, 2W+1, out]),
    then the [1, 3, 3, 1] filter -> [B, 2H, 2W, out]."""
    shape = static_or_dynamic_shape(x)
    out = [shape[0], 2 * shape[1] + 1, 2 * shape[2] + 1, int(kernel.shape[-1])]
    x = tf.nn.conv2d_transpose(x, tf.transpose(kernel, [0, 1, 3, 2]), out, strides=2,
                               padding="VALID")
    return blur(x)


@keras.saving.register_keras_serializable(package="tfsem")
class EqualizedDense(keras.layers.Layer):
    """StyleGAN2's ``FullyConnectedLayer``: ``x @ (W * lr_multiplier / sqrt(in)) +
    b * lr_multiplier``, W ~ N(0, 1) / lr_multiplier, b = ``bias_init``, then
    ``activation`` (``linear`` or ``lrelu``, the latter with gain sqrt(2))."""

    def __init__(self, units, activation="linear", lr_multiplier=1.0, bias_init=0.0,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier must be > 0, got {lr_multiplier}")
        self.units, self.activation = int(units), activation
        self.lr_multiplier, self.bias_init = float(lr_multiplier), float(bias_init)
        self.seed = seed

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(fan_in, self.units), name="kernel",
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier,
                                                        seed=self.seed))
        self.bias = self.add_weight(shape=(self.units,), name="bias",
                                    initializer=keras.initializers.Constant(self.bias_init))
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)

    def call(self, x):
        w = tf.cast(self.kernel, x.dtype) * tf.cast(self.weight_gain, x.dtype)
        x = tf.matmul(x, w) + tf.cast(self.bias, x.dtype) * tf.cast(self.lr_multiplier, x.dtype)
        return lrelu_gain(x) if self.activation == "lrelu" else x

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "lr_multiplier": self.lr_multiplier, "bias_init": self.bias_init,
                "seed": self.seed}
