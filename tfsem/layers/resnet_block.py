"""Residual block of pix2pixHD's generators (NVIDIA/pix2pixHD ``ResnetBlock``):
reflect-pad 1, conv 3x3, norm, ReLU, reflect-pad 1, conv 3x3, norm, plus the input."""

import keras
import tensorflow as tf

from tfsem.layers.normalization import param_free_norm

__all__ = ["ResnetBlock", "reflect_pad", "conv3x3_as_matmul"]

# From this many input channels on, a 3x3 conv runs as one GEMM over the nine
# shifted copies of its input (measured on the 2-core Zen 4 at 32x64x1024:
# 235 GFLOP/s against 145-165 for oneDNN's conv; tools/benchmark.py pix2pixhd).
MATMUL_CONV_MIN_CHANNELS = 256


def reflect_pad(x, pad: int):
    """PyTorch ``ReflectionPad2d(pad)`` on NHWC tensors."""
    return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")


def conv3x3_as_matmul(padded, kernel):
    """A VALID 3x3 conv of an already padded [B, H+2, W+2, C] input as im2col +
    one matmul with the [3, 3, C, F] kernel (same result as ``tf.nn.conv2d``)."""
    shape = tf.shape(padded)
    h, w = shape[1] - 2, shape[2] - 2
    cols = [padded[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)]
    channels, filters = kernel.shape[2], kernel.shape[3]
    patches = tf.reshape(tf.concat(cols, -1), [-1, 9 * channels])
    out = tf.matmul(patches, tf.cast(tf.reshape(kernel, [9 * channels, filters]), patches.dtype))
    return tf.reshape(out, [shape[0], h, w, filters])


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

    def _conv(self, conv, x):
        padded = reflect_pad(x, 1)
        if self.filters >= MATMUL_CONV_MIN_CHANNELS:
            out = conv3x3_as_matmul(padded, conv.kernel)
            return out + tf.cast(conv.bias, out.dtype) if conv.use_bias else out
        return conv(padded)

    def call(self, x, training=None):
        y = tf.nn.relu(self.norm_0(self._conv(self.conv_0, x), training=training))
        y = self.norm_1(self._conv(self.conv_1, y), training=training)
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "norm": self.norm}
