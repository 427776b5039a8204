"""Conv2D with spectral normalisation, as in Miyato et al. 2018 and PyTorch's
``torch.nn.utils.spectral_norm`` that NVlabs/SPADE and NVIDIA/pix2pixHD use.

The trainable ``kernel`` is the un-normalised weight; every call divides it
by its largest singular value sigma, estimated by power iteration with
persistent vectors ``u``/``v``. Gradients flow through sigma (u and v are
constants of the step). In training one power iteration runs and u/v are
updated; at inference the stored u/v are used as they are, so serving is
deterministic.

Why not ``keras.layers.SpectralNormalization``: it overwrites the kernel
with W/sigma in place during training, so gradients do not see the
normalisation; that is a different optimisation problem from the papers'.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfsem.layers.conv3x3 import conv3x3

__all__ = ["SpectralConv2D"]


def _l2_normalize(x, eps=1e-12):
    return x / (tf.sqrt(tf.reduce_sum(tf.square(x))) + eps)


@keras.saving.register_keras_serializable(package="tfsem")
class SpectralConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose kernel is spectrally normalised.

    Args:
        power_iterations: power-iteration steps per training call (reference: 1).
        All other arguments are those of ``keras.layers.Conv2D``.
    """

    def __init__(self, *args, power_iterations=1, **kwargs):
        super().__init__(*args, **kwargs)
        if self.data_format != "channels_last":
            raise ValueError(f"SpectralConv2D supports channels_last only, got {self.data_format!r}")
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        self.power_iterations = power_iterations
        self._is_3x3_same = (tuple(self.kernel_size) == (3, 3) and tuple(self.strides) == (1, 1)
                             and tuple(self.dilation_rate) == (1, 1) and self.padding == "same"
                             and self.groups == 1)

    def build(self, input_shape):
        super().build(input_shape)
        # Under a mixed policy Keras casts a variable read inside call() to the
        # compute dtype: sigma would read the kernel as bfloat16 and cast it
        # back (two casts of the whole kernel per call, 1024x1024x9 at ~6 ms
        # each, and sigma from rounded weights). call() casts once, where the
        # conv needs it.
        self.kernel._autocast = False
        rows = 1
        for d in self.kernel.shape[:-1]:
            rows *= int(d)
        normal = keras.initializers.RandomNormal(stddev=1.0, seed=None)
        self.sn_u = self.add_weight(shape=(1, self.filters), initializer=normal, trainable=False,
                                    name="sn_u", aggregation="mean")
        self.sn_v = self.add_weight(shape=(1, rows), initializer=normal, trainable=False,
                                    name="sn_v", aggregation="mean")
        self.sn_u._autocast = self.sn_v._autocast = False  # sigma is computed in float32

    def sigma(self, training=False):
        """Largest singular value estimate of the kernel; updates u/v when training."""
        # TensorFlow ops, not keras.ops: the same math with fewer graph ops to trace
        w = tf.reshape(tf.cast(self.kernel, tf.float32), (-1, self.filters))  # [rows, filters]
        u, v = tf.convert_to_tensor(self.sn_u), tf.convert_to_tensor(self.sn_v)
        if training:
            for _ in range(self.power_iterations):
                v = _l2_normalize(tf.matmul(u, w, transpose_b=True))
                u = _l2_normalize(tf.matmul(v, w))
            u, v = tf.stop_gradient(u), tf.stop_gradient(v)
            self.sn_u.assign(u)
            self.sn_v.assign(v)
        return tf.reduce_sum(tf.matmul(v, w) * u)

    def normalized_kernel(self, training=False):
        """W / sigma(W) (for inspection; ``call`` scales the kernel or the output)."""
        return ops.cast(self.kernel, "float32") / self.sigma(training)

    def call(self, inputs, training=None):
        # conv(x, W / sigma) == conv(x, W) / sigma: divide whichever is smaller,
        # the kernel (large maps, few channels) or the output (the 1024-channel
        # kernels are 38 MB, their maps at 4x8 a few KB), not both.
        inv_sigma = 1.0 / self.sigma(bool(training))
        kernel = self.kernel  # float32: not autocast (build)
        h, w = inputs.shape[1], inputs.shape[2]
        scale_kernel = h is not None and w is not None and \
            int(np.prod(kernel.shape)) <= h * w * self.filters
        if scale_kernel:
            kernel = ops.cast(kernel * inv_sigma, self.compute_dtype)
        else:
            kernel = ops.cast(kernel, self.compute_dtype)
        if self._is_3x3_same:
            # the fastest kernel for the size and dtype (tfsem.layers.conv3x3)
            padded = tf.pad(tf.cast(inputs, self.compute_dtype), [[0, 0], [1, 1], [1, 1], [0, 0]])
            outputs = conv3x3(padded, kernel, training=bool(training))
        else:
            outputs = self.convolution_op(inputs, kernel)
        if not scale_kernel:
            outputs = outputs * ops.cast(inv_sigma, self.compute_dtype)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, outputs.dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    # Conv2D saves only kernel and bias; the power-iteration state (sn_u, sn_v)
    # must be saved too, so use the generic Layer implementation (all variables).
    def save_own_variables(self, store):
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        keras.layers.Layer.load_own_variables(self, store)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
