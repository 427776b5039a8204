"""SPADE residual block (Park et al. 2019, fig. 4; NVlabs/SPADE ``SPADEResnetBlock``).

x_s = conv_s(SPADE_s(x))            if in != out channels (learned shortcut,
                                      1x1 conv without bias), else x
dx  = conv_0(lrelu(SPADE_0(x)))     3x3, in -> min(in, out)
dx  = conv_1(lrelu(SPADE_1(dx)))    3x3, min(in, out) -> out
out = x_s + dx                      (leaky ReLU slope 0.2)
"""

import keras

from tfsem.layers.activations import leaky_relu
from tfsem.layers.spade import SPADE
from tfsem.layers.spectral_conv2d import SpectralConv2D

__all__ = ["SPADEResBlock"]


@keras.saving.register_keras_serializable(package="tfsem")
class SPADEResBlock(keras.layers.Layer):
    """Residual block with SPADE normalisations.

    Call: ``block([x, segmap], training=...)``.

    Args:
        filters: output channels.
        norm: SPADE's parameter-free norm (``instance``, ``batch``, ``sync_batch``).
        spectral_norm: spectral normalisation on the convs (SPADE default:
            on, ``norm_G=spectralspadesyncbatch3x3``).
        hidden_channels: SPADE hidden width (reference: 128).
    """

    def __init__(self, filters, norm="instance", spectral_norm=True, hidden_channels=128,
                 **kwargs):
        super().__init__(**kwargs)
        if filters < 1:
            raise ValueError(f"filters must be >= 1, got {filters}")
        self.filters = filters
        self.norm = norm
        self.spectral_norm = spectral_norm
        self.hidden_channels = hidden_channels

    def _conv(self, filters, kernel, name, use_bias=True):
        cls = SpectralConv2D if self.spectral_norm else keras.layers.Conv2D
        return cls(filters, kernel, padding="same", use_bias=use_bias, name=name)

    def build(self, input_shape):
        x_shape, seg_shape = input_shape
        fin = x_shape[-1]
        middle = min(fin, self.filters)
        self.learned_shortcut = fin != self.filters
        spade = dict(norm=self.norm, hidden_channels=self.hidden_channels)
        self.norm_0 = SPADE(name="norm_0", **spade)
        self.conv_0 = self._conv(middle, 3, "conv_0")
        self.norm_1 = SPADE(name="norm_1", **spade)
        self.conv_1 = self._conv(self.filters, 3, "conv_1")
        mid_shape = tuple(x_shape[:-1]) + (middle,)
        self.norm_0.build((x_shape, seg_shape))
        self.conv_0.build(x_shape)
        self.norm_1.build((mid_shape, seg_shape))
        self.conv_1.build(mid_shape)
        if self.learned_shortcut:
            self.norm_s = SPADE(name="norm_s", **spade)
            self.conv_s = self._conv(self.filters, 1, "conv_s", use_bias=False)
            self.norm_s.build((x_shape, seg_shape))
            self.conv_s.build(x_shape)

    def call(self, inputs, training=None):
        x, seg = inputs
        act = lambda t: leaky_relu(t, 0.2)  # noqa: E731
        if self.learned_shortcut:
            x_s = self.conv_s(self.norm_s([x, seg], training=training), training=training)
        else:
            x_s = x
        dx = self.conv_0(act(self.norm_0([x, seg], training=training)), training=training)
        dx = self.conv_1(act(self.norm_1([dx, seg], training=training)), training=training)
        return x_s + dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "norm": self.norm,
                "spectral_norm": self.spectral_norm, "hidden_channels": self.hidden_channels}
