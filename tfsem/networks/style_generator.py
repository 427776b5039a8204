"""A style-based label-map generator (SemGAN ``block: style``): the ideas of
StyleGAN (Karras et al. 2019, arXiv 1812.04948) at label-map size.

- Mapping network: z is pixel-normalised, then ``mapping_layers`` dense
  layers with LeakyReLU(0.2) give the style vector w (``z_dim`` wide).
- Synthesis: a learned constant at the latent size (instead of a dense
  layer from z), then per resolution two 3x3 convs (the first after a
  nearest 2x upsampling, none before the first at the constant); after each
  conv: per-pixel noise times a learned per-channel strength, bias,
  LeakyReLU(0.2) and AdaIN (instance norm, then a per-channel scale
  ``1 + a(w)`` and offset ``b(w)`` from a dense layer of w); a 1x1 conv
  gives ``out_channels`` maps (unactivated, as ``LabelMapGenerator``).
- Noise: fresh N(0, 1) per example and layer in training; at inference
  the fixed noise images drawn at build time (StyleGAN2's
  ``noise_mode="const"``), so a latent always gives the same map, in
  Python, the SavedModel and TFLite (no random ops).

Widths follow ``LabelMapGenerator``: ``ngf * min(2**(n_upsample - k), 8)``
at stage k, so both generators have comparable cost at the same ``ngf``.
"""

import keras
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tfsem.networks.label_map_generator import set_generator_sizes
from tfsem.networks.spade_generator import upsample2x

__all__ = ["StyleLabelMapGenerator"]


class _StyleLayer(keras.layers.Layer):
    """conv output -> + noise * strength -> + bias -> LeakyReLU -> AdaIN(w)."""

    def __init__(self, channels, size, noise_seed, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.size = int(channels), tuple(size)
        self.noise_seed = noise_seed
        # Glorot weights, zero bias: the scale starts at 1 + a(w) (StyleGAN initialises
        # the scale's bias to 1), so the latent shapes the map from the first step.
        self.affine = keras.layers.Dense(2 * channels, name="affine")

    def build(self, input_shape):
        self.noise_strength = self.add_weight(shape=(self.channels,), initializer="zeros",
                                              name="noise_strength")
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")
        self.const_noise = self.add_weight(
            shape=(1, *self.size, 1), trainable=False, name="const_noise",
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.noise_seed))
        self.affine.build((None, input_shape[1][-1]))

    def call(self, inputs, training=False):
        x, w = inputs
        if training:
            noise = tf.random.normal(tf.concat([tf.shape(x)[:3], [1]], 0), dtype=x.dtype)
        else:
            noise = tf.cast(self.const_noise, x.dtype)
        x = x + noise * tf.cast(self.noise_strength, x.dtype) + tf.cast(self.bias, x.dtype)
        x = leaky_relu(x, 0.2)
        mean, var = tf.nn.moments(tf.cast(x, tf.float32), [1, 2], keepdims=True)
        x = (tf.cast(x, tf.float32) - mean) * tf.math.rsqrt(var + 1e-5)
        scale, shift = tf.split(tf.cast(self.affine(w), tf.float32), 2, axis=-1)
        x = x * (1.0 + scale[:, None, None]) + shift[:, None, None]
        return tf.cast(x, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size,
                "noise_seed": self.noise_seed}


@keras.saving.register_keras_serializable(package="tfsem")
class StyleLabelMapGenerator(keras.Model):
    """z [B, z_dim] -> [B, H, W, out_channels] (unactivated).

    Args:
        out_channels, output_size, z_dim, ngf, n_upsample: as ``LabelMapGenerator``.
        mapping_layers: dense layers of the mapping network (StyleGAN: 8).
        seed: seed of the fixed inference noise.
    """

    def __init__(self, out_channels, output_size, z_dim=128, ngf=32, n_upsample=4,
                 mapping_layers=4, seed=None, **kwargs):
        super().__init__(**kwargs)
        set_generator_sizes(self, out_channels, output_size, z_dim, ngf, n_upsample,
                            mapping_layers=mapping_layers)
        self.mapping_layers, self.seed = mapping_layers, seed
        self.mapping = [keras.layers.Dense(z_dim, name=f"mapping_{i}")
                        for i in range(mapping_layers)]
        base = 0 if seed is None else int(seed) * 1000
        self.convs, self.styles = [], []
        for k, width in enumerate(self.widths):
            size = (self.latent_size[0] * 2 ** k, self.latent_size[1] * 2 ** k)
            for j in range(2):
                if k == 0 and j == 0:  # the constant is the first layer's "conv output"
                    self.convs.append(None)
                else:
                    self.convs.append(keras.layers.Conv2D(width, 3, padding="same",
                                                          name=f"conv_{k}_{j}"))
                self.styles.append(_StyleLayer(width, size, base + 2 * k + j,
                                               name=f"style_{k}_{j}"))
        self.conv_out = keras.layers.Conv2D(out_channels, 1, name="conv_out")

    def build(self, input_shape=None):
        self.const = self.add_weight(shape=(1, *self.latent_size, self.widths[0]),
                                     initializer="ones", name="const")
        super().build(input_shape)

    def call(self, z, training=False):
        z = tf.cast(z, self.compute_dtype)
        w = z * tf.math.rsqrt(tf.reduce_mean(tf.square(z), -1, keepdims=True) + 1e-8)
        for layer in self.mapping:
            w = leaky_relu(layer(w), 0.2)
        x = tf.tile(tf.cast(self.const, w.dtype), [tf.shape(z)[0], 1, 1, 1])
        for i, (conv, style) in enumerate(zip(self.convs, self.styles)):
            if conv is not None:
                if i % 2 == 0:
                    x = upsample2x(x)
                x = conv(x)
            x = style([x, w], training=training)
        return self.conv_out(x)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels,
                "output_size": self.output_size, "z_dim": self.z_dim, "ngf": self.ngf,
                "n_upsample": self.n_upsample, "mapping_layers": self.mapping_layers,
                "seed": self.seed}
