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
from tfsem.layers.normalization import NORMS, param_free_norm

__all__ = ["SPADE"]


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
        normalized = self.param_free_norm(x, training=training)
        segmap = nearest_interpolate(tf.cast(segmap, x.dtype), spatial_size(x))
        actv = self.mlp_shared(segmap)
        # 1 + gamma straight from the gamma conv, the 1 folded into its bias: the
        # fused conv + bias kernel adds it, not a separate pass over the map
        conv = self.mlp_gamma
        scale = tf.nn.bias_add(
            conv.convolution_op(actv, tf.cast(conv.kernel, actv.dtype)),
            tf.cast(tf.cast(conv.bias, tf.float32) + 1.0, actv.dtype))
        beta = self.mlp_beta(actv)
        return normalized * scale + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "norm": self.norm,
                "hidden_channels": self.hidden_channels, "kernel_size": self.kernel_size}
