"""Residual block of pix2pixHD's generators (NVIDIA/pix2pixHD ``ResnetBlock``):
reflect-pad 1, conv 3x3, norm, ReLU, reflect-pad 1, conv 3x3, norm, plus the input."""

import keras
import tensorflow as tf

from tfsem.layers.conv3x3 import conv3x3
from tfsem.layers.normalization import param_free_norm

__all__ = ["ResnetBlock", "reflect_pad"]


def reflect_pad(x, pad: int):
    """PyTorch ``ReflectionPad2d(pad)`` on NHWC tensors."""
    return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")


@keras.saving.register_keras_serializable(package="tfsem")
class ResnetBlock(keras.layers.Layer):
    """``x + norm(conv(relu(norm(conv(x)))))`` with reflection padding.

    Args:
        filters: channels (input and output).
        norm: parameter-free norm after each conv (reference: instance).
    """

    def __init__(self, filters, norm="instance", **kwargs):
        super().__init__(**kwargs)
        if filters < 1:
            raise ValueError(f"filters must be >= 1, got {filters}")
        self.filters = filters
        self.norm = norm
        # The reference keeps conv biases before instance norm; they cancel out,
        # so they are dropped here (same function, fewer FLOPs).
        self.conv_0 = keras.layers.Conv2D(filters, 3, use_bias=norm == "none", name="conv_0")
        self.norm_0 = param_free_norm(norm, name="norm_0")
        self.conv_1 = keras.layers.Conv2D(filters, 3, use_bias=norm == "none", name="conv_1")
        self.norm_1 = param_free_norm(norm, name="norm_1")

    def build(self, input_shape):
        shape = tuple(input_shape)
        padded = shape[:1] + tuple(None if s is None else s + 2 for s in shape[1:3]) + shape[3:]
        self.conv_0.build(padded)
        self.norm_0.build(shape)
        self.conv_1.build(padded)
        self.norm_1.build(shape)

    def _conv(self, conv, x, training):
        # the conv layer holds the weights; conv3x3 picks the kernel (Winograd,
        # im2col GEMM or oneDNN's conv, tfsem.layers.conv3x3)
        out = conv3x3(reflect_pad(tf.cast(x, conv.compute_dtype), 1), conv.kernel,
                      training=training)
        return out + tf.cast(conv.bias, out.dtype) if conv.use_bias else out

    def call(self, x, training=None):
        y = tf.nn.relu(self.norm_0(self._conv(self.conv_0, x, training), training=training))
        y = self.norm_1(self._conv(self.conv_1, y, training), training=training)
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "norm": self.norm}
