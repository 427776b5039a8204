"""SPADE: spatially-adaptive (de)normalisation (Park et al. 2019, eq. 1).

NVlabs/SPADE ``models/networks/normalization.py`` (class ``SPADE``):
parameter-free norm of x; the segmentation map is nearest-resized to x's
size (PyTorch's ``F.interpolate`` indexing: ``tfsem.layers.interpolate``); a
shared 3x3 conv with ``hidden_channels`` (128) filters + ReLU; 3x3 convs
give gamma and beta; out = x_hat * (1 + gamma) + beta.
"""

import keras
import tensorflow as tf

from tfsem.layers.interpolate import nearest_interpolate, spatial_size
from tfsem.layers.normalization import NORMS, InstanceNormalization, instance_norm, param_free_norm

__all__ = ["SPADE", "apply_conv", "apply_norm"]


def apply_conv(conv, x, bias_offset: float = 0.0):
    """``conv(x)`` for a built ``keras.layers.Conv2D`` inside a composite layer's
    ``call``: kernel and bias cast to ``x``'s dtype, ``bias_offset`` added to
    the bias in float32 first. The same values without Keras' ``__call__``
    and its bias reshape and squeeze: ~2 ms less Python per call to trace
    (SPADE and SEAN's ACE call 3-5 convs each, dozens of times per step)."""
    out = conv.convolution_op(x, tf.cast(conv.kernel, x.dtype))
    if conv.use_bias:
        bias = tf.cast(conv.bias, tf.float32) + bias_offset if bias_offset else conv.bias
        out = tf.nn.bias_add(out, tf.cast(bias, x.dtype))
    return conv.activation(out)


def apply_norm(norm, x, training):
    """``norm(x, training=training)`` of a parameter-free norm layer; an
    :class:`InstanceNormalization` as its function, without ``__call__``."""
    if isinstance(norm, InstanceNormalization):
        return instance_norm(x, norm.epsilon, training=training is True)
    return norm(x, training=training)


@keras.saving.register_keras_serializable(package="tfsem")
class SPADE(keras.layers.Layer):
    """Spatially-adaptive normalisation.

    Call: ``spade([x, segmap], training=...)`` with x [B,h,w,C] and the
    segmentation map (one-hot + extra channels) [B,H,W,S] at any resolution.

    Args:
        norm: parameter-free norm of x: ``instance`` (SPADE default for
            single-GPU), ``batch`` or ``sync_batch`` (the paper's multi-GPU
            setting), ``none``.
        hidden_channels: filters of the shared conv (reference: 128).
        kernel_size: kernel of the three convs (reference: 3).
    """

    def __init__(self, norm="instance", hidden_channels=128, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if hidden_channels < 1 or kernel_size < 1:
            raise ValueError(f"hidden_channels and kernel_size must be >= 1, got "
                             f"{hidden_channels}, {kernel_size}")
        self.norm = norm
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size

    def build(self, input_shape):
        x_shape, seg_shape = input_shape
        channels = x_shape[-1]
        self.param_free_norm = param_free_norm(self.norm, name="param_free_norm")
        self.param_free_norm.build(x_shape)
        k = self.kernel_size
        self.mlp_shared = keras.layers.Conv2D(self.hidden_channels, k, padding="same",
                                              activation="relu", name="mlp_shared")
        self.mlp_gamma = keras.layers.Conv2D(channels, k, padding="same", name="mlp_gamma")
        self.mlp_beta = keras.layers.Conv2D(channels, k, padding="same", name="mlp_beta")
        hidden_shape = tuple(x_shape[:-1]) + (self.hidden_channels,)
        self.mlp_shared.build(tuple(x_shape[:-1]) + (seg_shape[-1],))
        self.mlp_gamma.build(hidden_shape)
        self.mlp_beta.build(hidden_shape)

    def call(self, inputs, training=None):
        x, segmap = inputs
        normalized = apply_norm(self.param_free_norm, x, training)
        segmap = nearest_interpolate(tf.cast(segmap, x.dtype), spatial_size(x))
        actv = apply_conv(self.mlp_shared, segmap)
        # 1 + gamma straight from the gamma conv, the 1 folded into its bias: the
        # fused conv + bias kernel adds it, not a separate pass over the map
        scale = apply_conv(self.mlp_gamma, actv, bias_offset=1.0)
        beta = apply_conv(self.mlp_beta, actv)
        return normalized * scale + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "norm": self.norm,
                "hidden_channels": self.hidden_channels, "kernel_size": self.kernel_size}
