"""SEAN (Zhu et al. 2020, "SEAN: Image Synthesis with Semantic Region-Adaptive
Normalization"): one style code per semantic region.

ZPdesu/SEAN ``models/networks/normalization.py`` (``ACE``),
``architecture.py`` (``SPADEResnetBlock``, ``Zencoder``) and
``generator.py`` (``SPADEGenerator``), for any number of classes (the
official code hard-codes 19 ``fc_mu`` layers; here they are one stacked
weight [classes, 512, 512], class j's being ``fc_mu<j>``):

* :class:`Zencoder`: photo -> per-(sample, class) style codes [B, S, 512],
  the mean of the encoder's tanh features over each class's pixels (zero for
  absent classes), at half resolution.
* :class:`ACE`: noise ``N(0,1)[B,H,W,1] * noise_var[C]`` added before the
  parameter-free sync batch norm (always batch norm, whatever ``norm_G``
  says); per pixel the ReLU'd ``fc_mu_j(style_j)`` of its class -> two 3x3
  convs give gamma_s / beta_s; SPADE's branch gives gamma / beta from the
  segmap; blended by ``sigmoid(blending_gamma / beta)``; ``x_norm * (1 +
  gamma) + beta``. ``use_styles=False`` (the last block): SPADE's only.
* :class:`SEANGenerator`: fc on the downsampled segmap, head_0, G_middle_0/1,
  up_0..up_2 with styles, up_3 without, conv_img, tanh.

The noise is the official's in training (a seeded N(0, 1) per call). At
inference it is zero (the official draws it unseeded even at test time; a
served model must give one photo per input); ``noise`` overrides it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfsem.config.gaugan import UPSAMPLING_LAYERS
from tfsem.layers.activations import leaky_relu
from tfsem.layers.interpolate import nearest_interpolate, spatial_size
from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.normalization import param_free_norm
from tfsem.layers.resnet_block import reflect_pad
from tfsem.layers.spade import apply_conv
from tfsem.layers.spectral_conv2d import SpectralConv2D
from tfsem.networks.spade_generator import upsample2x

__all__ = ["ACE", "SEANGenerator", "SEANResBlock", "STYLE_LENGTH", "Zencoder",
           "region_average"]

#: The style code length (the official ``style_length``, hard-coded 512).
STYLE_LENGTH = 512


def region_average(features, segmap):
    """[B, S, C]: the mean of ``features`` [B,h,w,C] over each channel's pixels of
    the (binary) ``segmap`` [B,H,W,S], resized (nearest) to h x w; zero for a
    class with no pixel (the official ``Zencoder``'s loop)."""
    mask = nearest_interpolate(tf.cast(segmap, features.dtype), spatial_size(features))
    total = tf.einsum("bhws,bhwc->bsc", mask, features)
    area = tf.reduce_sum(mask, axis=[1, 2])[..., None]
    return tf.math.divide_no_nan(total, area)


@keras.saving.register_keras_serializable(package="tfsem")
class Zencoder(BuildsOnFirstCall, keras.Model):
    """Photo [B,H,W,3] in [-1, 1] + segmap [B,H,W,S] -> style codes [B, S, 512].

    reflect-pad 1, conv 3x3 (ngf), IN, LReLU 0.2; ``n_downsampling`` stride-2
    3x3 convs doubling the width, IN, LReLU; one transposed 3x3 stride-2 conv
    to 2x the width (the official ``ConvTranspose2d(k3, s2, p1,
    output_padding=1)``), IN, LReLU; reflect-pad 1, conv 3x3 to ``style_length``,
    tanh; then :func:`region_average`. Instance norms without affine (eps 1e-5).
    """

    def __init__(self, ngf=32, n_downsampling=2, style_length=STYLE_LENGTH, **kwargs):
        super().__init__(**kwargs)
        self.ngf, self.n_downsampling, self.style_length = ngf, n_downsampling, style_length
        self.conv_in = keras.layers.Conv2D(ngf, 3, name="conv_in")
        self.downs = [keras.layers.Conv2D(ngf * 2 ** (i + 1), 3, strides=2, name=f"down_{i}")
                      for i in range(n_downsampling)]
        self.up = keras.layers.Conv2DTranspose(ngf * 2 ** (n_downsampling + 1), 3, strides=2,
                                               padding="valid", name="up")
        self.conv_out = keras.layers.Conv2D(style_length, 3, name="conv_out")
        self.norm = param_free_norm("instance", name="norm")

    def features(self, image):
        """The tanh feature map [B, H/2, W/2, style_length] before pooling."""
        act = lambda t: leaky_relu(self.norm(t), 0.2)  # noqa: E731
        x = act(self.conv_in(reflect_pad(image, 1)))
        for conv in self.downs:  # PyTorch's padding 1 on every side
            x = act(conv(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])))
        size = tf.shape(x)[1:3] * 2
        y = self.up(x)  # full (2H + 1); padding 1 drops the first row / column
        x = act(y[:, 1:1 + size[0], 1:1 + size[1], :])
        return tf.tanh(self.conv_out(reflect_pad(x, 1)))

    def call(self, image, segmap):
        return region_average(self.features(image), segmap)

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf, "n_downsampling": self.n_downsampling,
                "style_length": self.style_length}


@keras.saving.register_keras_serializable(package="tfsem")
class ACE(keras.layers.Layer):
    """Call: ``ace([x, segmap, style_codes], training=..., noise=None)``: x
    [B,h,w,C], segmap [B,H,W,S] (one-hot), style_codes [B,S,style_length] (unused
    with ``use_styles=False``); ``noise`` [B,h,w,1] replaces the drawn noise."""

    def __init__(self, use_styles=True, style_length=STYLE_LENGTH, hidden_channels=128,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_styles, self.style_length = use_styles, style_length
        self.hidden_channels, self.seed = hidden_channels, seed
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")

    def build(self, input_shape):
        x_shape, seg_shape = input_shape[0], input_shape[1]
        channels, classes = x_shape[-1], seg_shape[-1]
        zeros = keras.initializers.Zeros()
        self.noise_var = self.add_weight(shape=(channels,), initializer=zeros, name="noise_var")
        self.blending_gamma = self.add_weight(shape=(), initializer=zeros, name="blending_gamma")
        self.blending_beta = self.add_weight(shape=(), initializer=zeros, name="blending_beta")
        # always sync batch norm (ZPdesu/SEAN architecture.py: our_norm_type)
        self.param_free_norm = param_free_norm("sync_batch", name="param_free_norm")
        self.param_free_norm.build(x_shape)
        self.mlp_shared = keras.layers.Conv2D(self.hidden_channels, 3, padding="same",
                                              activation="relu", name="mlp_shared")
        self.mlp_gamma = keras.layers.Conv2D(channels, 3, padding="same", name="mlp_gamma")
        self.mlp_beta = keras.layers.Conv2D(channels, 3, padding="same", name="mlp_beta")
        self.mlp_shared.build(tuple(x_shape[:-1]) + (classes,))
        hidden = tuple(x_shape[:-1]) + (self.hidden_channels,)
        self.mlp_gamma.build(hidden)
        self.mlp_beta.build(hidden)
        if self.use_styles:
            length = self.style_length
            fan = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")  # nn.Linear's
            self.fc_mu_kernel = self.add_weight(shape=(classes, length, length),
                                                initializer=fan, name="fc_mu_kernel")
            self.fc_mu_bias = self.add_weight(shape=(classes, length), initializer=zeros,
                                              name="fc_mu_bias")
            styled = tuple(x_shape[:-1]) + (length,)
            self.conv_gamma = keras.layers.Conv2D(channels, 3, padding="same", name="conv_gamma")
            self.conv_beta = keras.layers.Conv2D(channels, 3, padding="same", name="conv_beta")
            self.conv_gamma.build(styled)
            self.conv_beta.build(styled)

    def stacked_kernels(self):
        """The per-class ``fc_mu`` kernels, each a Linear(style, style) for
        ``tfsem.layers.init`` (the official init treats every ``fc_mu<j>`` alike)."""
        if not self.use_styles:
            return []
        return [(self.fc_mu_kernel, self.style_length, self.style_length)]

    def style_map(self, segmap, style_codes):
        """[B,h,w,style_length]: per pixel, ReLU(fc_mu_j(style_j)) of its class j."""
        codes = tf.cast(style_codes, segmap.dtype)
        mu = tf.einsum("bsd,sde->bse", codes, tf.cast(self.fc_mu_kernel, codes.dtype))
        mu = tf.nn.relu(mu + tf.cast(self.fc_mu_bias, codes.dtype))
        return tf.einsum("bhws,bse->bhwe", segmap, mu)

    def call(self, inputs, training=None, noise=None):
        x, segmap = inputs[0], inputs[1]
        if noise is None and training:
            shape = tf.concat([tf.shape(x)[:3], [1]], 0)
            noise = keras.random.normal(shape, seed=self.noise_seed, dtype=x.dtype)
        if noise is not None:
            x = x + tf.cast(noise, x.dtype) * tf.cast(self.noise_var, x.dtype)
        normalized = self.param_free_norm(x, training=training)
        segmap = nearest_interpolate(tf.cast(segmap, x.dtype), spatial_size(x))
        actv = apply_conv(self.mlp_shared, segmap)
        gamma, beta = apply_conv(self.mlp_gamma, actv), apply_conv(self.mlp_beta, actv)
        if self.use_styles:
            middle = self.style_map(segmap, inputs[2])
            alpha_g = tf.sigmoid(tf.cast(self.blending_gamma, x.dtype))
            alpha_b = tf.sigmoid(tf.cast(self.blending_beta, x.dtype))
            gamma = alpha_g * apply_conv(self.conv_gamma, middle) + (1 - alpha_g) * gamma
            beta = alpha_b * apply_conv(self.conv_beta, middle) + (1 - alpha_b) * beta
        return normalized * (1 + gamma) + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "use_styles": self.use_styles,
                "style_length": self.style_length, "hidden_channels": self.hidden_channels,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfsem")
class SEANResBlock(keras.layers.Layer):
    """SPADEResnetBlock with ACE norms: ``block([x, segmap, codes], training, noise)``;
    ``noise``: None, or a callable ``(layer name, x) -> [B,h,w,1]`` (tests)."""

    def __init__(self, filters, use_styles=True, spectral_norm=True, hidden_channels=128,
                 style_length=STYLE_LENGTH, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.use_styles, self.spectral_norm = filters, use_styles, spectral_norm
        self.hidden_channels, self.style_length, self.seed = hidden_channels, style_length, seed

    def _conv(self, filters, kernel, name, use_bias=True):
        cls = SpectralConv2D if self.spectral_norm else keras.layers.Conv2D
        return cls(filters, kernel, padding="same", use_bias=use_bias, name=name)

    def _ace(self, name, offset):
        seed = None if self.seed is None else self.seed + offset
        return ACE(use_styles=self.use_styles, style_length=self.style_length,
                   hidden_channels=self.hidden_channels, seed=seed, name=name)

    def build(self, input_shape):
        x_shape, seg_shape = input_shape[0], input_shape[1]
        fin = x_shape[-1]
        middle = min(fin, self.filters)
        self.learned_shortcut = fin != self.filters
        codes = (None, seg_shape[-1], self.style_length)
        mid_shape = tuple(x_shape[:-1]) + (middle,)
        self.ace_0, self.ace_1 = self._ace("ace_0", 0), self._ace("ace_1", 1)
        self.conv_0 = self._conv(middle, 3, "conv_0")
        self.conv_1 = self._conv(self.filters, 3, "conv_1")
        self.ace_0.build((x_shape, seg_shape, codes))
        self.conv_0.build(x_shape)
        self.ace_1.build((mid_shape, seg_shape, codes))
        self.conv_1.build(mid_shape)
        if self.learned_shortcut:
            self.ace_s = self._ace("ace_s", 2)
            self.conv_s = self._conv(self.filters, 1, "conv_s", use_bias=False)
            self.ace_s.build((x_shape, seg_shape, codes))
            self.conv_s.build(x_shape)

    def call(self, inputs, training=None, noise=None):
        x, seg, codes = inputs
        act = lambda t: leaky_relu(t, 0.2)  # noqa: E731

        def ace(layer, value):
            given = None if noise is None else noise(f"{self.name}/{layer.name}", value)
            return layer([value, seg, codes], training=training, noise=given)

        x_s = (self.conv_s(ace(self.ace_s, x), training=training) if self.learned_shortcut
               else x)
        dx = self.conv_0(act(ace(self.ace_0, x)), training=training)
        dx = self.conv_1(act(ace(self.ace_1, dx)), training=training)
        return x_s + dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "use_styles": self.use_styles,
                "spectral_norm": self.spectral_norm, "hidden_channels": self.hidden_channels,
                "style_length": self.style_length, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfsem")
class SEANGenerator(BuildsOnFirstCall, keras.Model):
    """Call: ``generator(segmap, style_codes, training=..., noise=None)`` -> image
    [B,H,W,3] in [-1, 1]. ``num_upsampling_layers``: ``normal`` or ``more``
    (the official ``most`` builds up_4 and never runs it)."""

    def __init__(self, ngf=64, num_upsampling_layers="normal", spectral_norm=True,
                 hidden_channels=128, style_length=STYLE_LENGTH, seed=None, **kwargs):
        super().__init__(**kwargs)
        if num_upsampling_layers not in ("normal", "more"):
            raise ValueError("num_upsampling_layers must be 'normal' or 'more' (the official "
                             f"'most' is broken), got {num_upsampling_layers!r}")
        self.ngf, self.num_upsampling_layers = ngf, num_upsampling_layers
        self.spectral_norm, self.hidden_channels = spectral_norm, hidden_channels
        self.style_length, self.seed = style_length, seed
        self.factor = 2 ** UPSAMPLING_LAYERS[num_upsampling_layers]
        self.fc = keras.layers.Conv2D(16 * ngf, 3, padding="same", name="fc")
        block = dict(spectral_norm=spectral_norm, hidden_channels=hidden_channels,
                     style_length=style_length)
        widths = [("head_0", 16), ("G_middle_0", 16), ("G_middle_1", 16), ("up_0", 8),
                  ("up_1", 4), ("up_2", 2), ("up_3", 1)]
        self.blocks = [SEANResBlock(ngf * w, use_styles=name != "up_3", name=name,
                                    seed=None if seed is None else seed + 10 * i, **block)
                       for i, (name, w) in enumerate(widths)]
        self.conv_img = keras.layers.Conv2D(3, 3, padding="same", name="conv_img")

    def call(self, segmap, style_codes, training=None, noise=None):
        segmap = tf.convert_to_tensor(segmap)
        height, width = spatial_size(segmap, self.factor)
        x = self.fc(nearest_interpolate(segmap, (height, width)))
        head, middle_0, middle_1, *ups = self.blocks
        args = dict(training=training, noise=noise)
        x = upsample2x(head([x, segmap, style_codes], **args))
        x = middle_0([x, segmap, style_codes], **args)
        if self.num_upsampling_layers == "more":
            x = upsample2x(x)
        x = middle_1([x, segmap, style_codes], **args)
        for block in ups:
            x = block([upsample2x(x), segmap, style_codes], **args)
        x = self.conv_img(leaky_relu(x, 0.2))
        return tf.tanh(tf.cast(x, tf.float32))

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf,
                "num_upsampling_layers": self.num_upsampling_layers,
                "spectral_norm": self.spectral_norm, "hidden_channels": self.hidden_channels,
                "style_length": self.style_length, "seed": self.seed}
