"""The style-based label-map generator (SemGAN ``block: style``): StyleGAN2's
generator (Karras et al. 2020, arXiv 1912.04958; NVlabs/stylegan2-ada-pytorch
``training/networks.py``) at label-map size, emitting per-pixel class logits.

- Mapping network: z is normalised by its second moment, then
  ``mapping_layers`` (StyleGAN2: 8) equalized dense layers with leaky ReLU
  and learning-rate multiplier ``mapping_lr_multiplier`` (0.01) give w
  (``z_dim`` wide). In training, the average of w is tracked (``w_avg``,
  decay 0.995) for truncation.
- Synthesis (``skip`` architecture): a learned constant at the latent size
  (random normal, as StyleGAN2), then per resolution two style convs (the
  first of each later resolution upsamples: a stride-2 transposed conv and
  the [1, 3, 3, 1] filter) and a 1x1 "to-logits" conv whose output is added
  to the filtered upsampling of the previous resolution's logits.
- A style conv (``style_conv``): ``modulated`` (StyleGAN2: the 3x3 weights
  scaled per input channel by the style ``affine(w)``, whose bias starts at 1,
  then demodulated to unit norm per output channel) or ``adain`` (StyleGAN:
  the plain equalized conv, then instance norm and a per-channel scale and
  offset from w). Then per-pixel noise times a per-layer scalar strength
  that starts at 0, the bias and leaky ReLU with gain sqrt(2).
- Noise (``noise_inputs``): fresh N(0, 1) per example and layer in training;
  at inference the fixed noise images drawn at build time
  (``noise_mode="const"``), so a latent gives the same map in Python, the
  SavedModel and TFLite.
- Style mixing (training): with probability ``style_mixing`` the layers from
  a random cutoff on take the w of a second latent (StyleGAN2's
  regularisation, 0.9).
- Truncation (inference): ``w_avg + psi * (w - w_avg)``; and
  :meth:`StyleLabelMapGenerator.mix` gives the layers from ``layer`` on the
  style of another latent.

Widths follow ``LabelMapGenerator``: ``ngf * min(2**(n_upsample - k), 8)`` at
resolution k.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tfsem.layers.equalized import EqualizedDense, lrelu_gain, up_conv2d, upsample2d
from tfsem.networks.label_map_generator import set_generator_sizes

__all__ = ["STYLE_CONVS", "StyleLabelMapGenerator", "normalize_2nd_moment"]

STYLE_CONVS = ("modulated", "adain")


def normalize_2nd_moment(x, eps=1e-8):
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), -1, keepdims=True) + eps)


class _StyleConv(keras.layers.Layer):
    """One synthesis layer: (up-)conv styled by w -> + noise * strength -> bias ->
    leaky ReLU * sqrt(2)."""

    def __init__(self, channels, size, up, style_conv, kernel_size=3, noise=True, seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.channels, self.size, self.up = int(channels), tuple(size), bool(up)
        self.style_conv, self.kernel_size, self.noise = style_conv, int(kernel_size), noise
        self.seed = int(seed)

    def build(self, input_shape):
        in_channels = int(input_shape[0][-1])
        k = self.kernel_size
        # modulated: one scale per input channel; adain: a scale and an offset per output one
        units = in_channels if self.style_conv == "modulated" else 2 * self.channels
        self.affine = EqualizedDense(units, bias_init=1.0, seed=self.seed + 1, name="affine")
        self.affine.build((None, int(input_shape[1][-1])))
        if self.style_conv == "adain":  # the scale's bias starts at 1, the offset's at 0
            self.affine.bias.assign(tf.concat([tf.ones([self.channels]),
                                               tf.zeros([self.channels])], 0))
        self.kernel = self.add_weight(
            shape=(k, k, in_channels, self.channels), name="kernel",
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed))
        self.weight_gain = 1.0 / math.sqrt(in_channels * k * k)
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")
        if self.noise:
            self.noise_strength = self.add_weight(shape=(), initializer="zeros",
                                                  name="noise_strength")
            self.const_noise = self.add_weight(
                shape=(1, *self.size, 1), trainable=False, name="const_noise",
                initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed + 2))

    def _conv(self, x, kernel):
        if self.up:
            return up_conv2d(x, kernel)
        return tf.nn.conv2d(x, kernel, 1, "SAME")

    def call(self, inputs, training=False, noise_seed=None):
        x, w = inputs
        dtype = x.dtype
        if self.style_conv == "modulated":
            styles = tf.cast(self.affine(w), tf.float32)  # [B, in]
            kernel = tf.cast(self.kernel, tf.float32)
            # demodulation: 1 / ||W * s|| per example and output channel
            dcoefs = tf.math.rsqrt(tf.matmul(tf.square(styles),
                                             tf.reduce_sum(tf.square(kernel), [0, 1])) + 1e-8)
            x = x * tf.cast(styles[:, None, None], dtype)
            x = self._conv(x, tf.cast(kernel, dtype)) * tf.cast(dcoefs[:, None, None], dtype)
        else:
            x = self._conv(x, tf.cast(self.kernel * self.weight_gain, dtype))
        if self.noise:
            if training:
                shape = tf.concat([tf.shape(x)[:3], [1]], 0)
                noise = keras.random.normal(shape, seed=noise_seed, dtype=dtype)
            else:
                noise = tf.cast(self.const_noise, dtype)
            x = x + noise * tf.cast(self.noise_strength, dtype)
        x = lrelu_gain(x + tf.cast(self.bias, dtype))
        if self.style_conv == "adain":
            mean, var = tf.nn.moments(tf.cast(x, tf.float32), [1, 2], keepdims=True)
            x = (tf.cast(x, tf.float32) - mean) * tf.math.rsqrt(var + 1e-8)
            scale, shift = tf.split(tf.cast(self.affine(w), tf.float32), 2, axis=-1)
            x = tf.cast(x * scale[:, None, None] + shift[:, None, None], dtype)
        return x

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size,
                "up": self.up, "style_conv": self.style_conv, "kernel_size": self.kernel_size,
                "noise": self.noise, "seed": self.seed}


class _ToLogits(keras.layers.Layer):
    """StyleGAN2's ``ToRGBLayer``: a 1x1 conv modulated by w (not demodulated),
    plus a bias."""

    def __init__(self, channels, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.seed = int(channels), int(seed)

    def build(self, input_shape):
        in_channels = int(input_shape[0][-1])
        self.affine = EqualizedDense(in_channels, bias_init=1.0, seed=self.seed + 1,
                                     name="affine")
        self.affine.build((None, int(input_shape[1][-1])))
        self.kernel = self.add_weight(
            shape=(1, 1, in_channels, self.channels), name="kernel",
            initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        x, w = inputs
        styles = self.affine(w) * tf.cast(self.weight_gain, w.dtype)
        x = x * tf.cast(styles[:, None, None], x.dtype)
        x = tf.nn.conv2d(x, tf.cast(self.kernel, x.dtype), 1, "VALID")
        return tf.cast(x, tf.float32) + tf.cast(self.bias, tf.float32)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfsem")
class StyleLabelMapGenerator(keras.Model):
    """z [B, z_dim] -> [B, H, W, out_channels] logits (float32).

    Args:
        out_channels, output_size, z_dim, ngf, n_upsample: as ``LabelMapGenerator``
            (w is ``z_dim`` wide, as StyleGAN2's z and w).
        mapping_layers: dense layers of the mapping network (StyleGAN2: 8).
        mapping_lr_multiplier: their learning-rate multiplier (StyleGAN2: 0.01).
        style_conv: ``modulated`` (StyleGAN2) or ``adain`` (StyleGAN).
        style_mixing: probability of style mixing in training (StyleGAN2: 0.9).
        w_avg_beta: decay of the tracked average w (StyleGAN2: 0.995).
        noise_inputs: per-pixel noise after each style conv (StyleGAN2: on).
        seed: seed of the weights' initialisation and of the fixed inference noise.

    Call: ``generator(z, training=False, truncation_psi=1.0)``.
    """

    def __init__(self, out_channels, output_size, z_dim=128, ngf=32, n_upsample=4,
                 mapping_layers=8, mapping_lr_multiplier=0.01, style_conv="modulated",
                 style_mixing=0.9, w_avg_beta=0.995, noise_inputs=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        set_generator_sizes(self, out_channels, output_size, z_dim, ngf, n_upsample,
                            mapping_layers=mapping_layers)
        if style_conv not in STYLE_CONVS:
            raise ValueError(f"style_conv must be one of {STYLE_CONVS}, got {style_conv!r}")
        if mapping_lr_multiplier <= 0:
            raise ValueError(f"mapping_lr_multiplier must be > 0, got {mapping_lr_multiplier}")
        if not 0.0 <= style_mixing <= 1.0:
            raise ValueError(f"style_mixing must be in [0, 1], got {style_mixing}")
        if not 0.0 <= w_avg_beta < 1.0:
            raise ValueError(f"w_avg_beta must be in [0, 1), got {w_avg_beta}")
        self.mapping_layers, self.seed = int(mapping_layers), seed
        self.mapping_lr_multiplier = float(mapping_lr_multiplier)
        self.style_conv, self.style_mixing = style_conv, float(style_mixing)
        self.w_avg_beta, self.noise_inputs = float(w_avg_beta), bool(noise_inputs)
        base = 0 if seed is None else int(seed) * 1000
        self.mapping = [EqualizedDense(z_dim, activation="lrelu",
                                       lr_multiplier=mapping_lr_multiplier, seed=base + 10 * i,
                                       name=f"mapping_{i}") for i in range(mapping_layers)]
        self.convs, self.to_logits = [], []
        for k, width in enumerate(self.widths):
            size = (self.latent_size[0] * 2 ** k, self.latent_size[1] * 2 ** k)
            for j in ((1,) if k == 0 else (0, 1)):
                self.convs.append(_StyleConv(width, size, up=j == 0, style_conv=style_conv,
                                             noise=self.noise_inputs,
                                             seed=base + 100 + 10 * (2 * k + j),
                                             name=f"conv_{k}_{j}"))
            self.to_logits.append(_ToLogits(out_channels, seed=base + 500 + 10 * k,
                                            name=f"to_logits_{k}"))
        #: ws per latent: one per conv, and the last to-logits conv's (StyleGAN2's num_ws)
        self.num_ws = len(self.convs) + 1
        self.noise_seeds = keras.random.SeedGenerator(None if seed is None else int(seed) + 7)

    def build(self, input_shape=None):
        self.const = self.add_weight(
            shape=(1, *self.latent_size, self.widths[0]), name="const",
            initializer=keras.initializers.RandomNormal(
                0.0, 1.0, seed=None if self.seed is None else int(self.seed) * 1000 + 900))
        self.w_avg = self.add_weight(shape=(self.z_dim,), initializer="zeros", trainable=False,
                                     name="w_avg", aggregation="mean")
        w_shape = (None, self.z_dim)
        for layer in self.mapping:
            layer.build(w_shape)
        x_shape = (None, *self.latent_size, self.widths[0])
        for k in range(len(self.widths)):
            for conv in self._convs_at(k):
                conv.build((x_shape, w_shape))
                x_shape = (None, None, None, conv.channels)
            self.to_logits[k].build((x_shape, w_shape))
        self.built = True

    def _convs_at(self, k):
        """The style convs of resolution k: one at the constant, then two."""
        return self.convs[:1] if k == 0 else self.convs[2 * k - 1:2 * k + 1]

    # -- the two networks ---------------------------------------------------------
    def map(self, z, training=False, update_w_avg=True):
        """z [B, z_dim] -> w [B, z_dim]; in training (unless ``update_w_avg`` is
        False) the tracked average moves toward the batch's mean w."""
        x = normalize_2nd_moment(tf.cast(z, tf.float32))
        x = tf.cast(x, self.compute_dtype)
        for layer in self.mapping:
            x = layer(x)
        x = tf.cast(x, tf.float32)
        if training and update_w_avg:
            mean = tf.reduce_mean(x, 0)
            self.w_avg.assign(mean + (self.w_avg - mean) * self.w_avg_beta)
        return x

    def truncate(self, w, psi):
        """``w_avg + psi * (w - w_avg)`` (psi 1: w)."""
        psi = tf.cast(psi, tf.float32)
        return self.w_avg + psi * (tf.cast(w, tf.float32) - self.w_avg)

    def broadcast(self, w):
        """w [B, z_dim] -> ws [B, num_ws, z_dim]."""
        return tf.tile(w[:, None], [1, self.num_ws, 1])

    def synthesis(self, ws, training=False):
        """ws [B, num_ws, z_dim] -> logits [B, H, W, out_channels] (float32)."""
        ws = tf.cast(ws, self.compute_dtype)
        x = tf.tile(tf.cast(self.const, ws.dtype), [tf.shape(ws)[0], 1, 1, 1])
        logits, index = None, 0
        for k in range(len(self.widths)):
            for conv in self._convs_at(k):
                x = conv([x, ws[:, index]], training=training, noise_seed=self.noise_seeds)
                index += 1
            y = self.to_logits[k]([x, ws[:, index]])  # the next conv's w (StyleGAN2)
            logits = y if logits is None else upsample2d(logits) + y
        return logits

    def mix(self, z, z_other, layer, truncation_psi=1.0):
        """ws of ``z`` whose layers from ``layer`` on (0 .. num_ws; negative: half
        of them) take ``z_other``'s style (both truncated by ``truncation_psi``)."""
        ws = self.broadcast(self.truncate(self.map(z), truncation_psi))
        other = self.broadcast(self.truncate(self.map(z_other), truncation_psi))
        layer = tf.cast(layer, tf.int32)
        layer = tf.where(layer < 0, self.num_ws // 2, layer)
        keep = tf.range(self.num_ws)[None, :, None] < layer
        return tf.where(keep, ws, other)

    def styled(self, z, truncation_psi=None, mix_z=None, mix_layer=None):
        """Inference logits of ``z`` truncated by ``truncation_psi`` (None: 1), its
        layers from ``mix_layer`` on (None: ``num_ws // 2``) in the style of
        ``mix_z`` when given."""
        psi = 1.0 if truncation_psi is None else truncation_psi
        if mix_z is None:
            ws = self.broadcast(self.truncate(self.map(z), psi))
        else:
            ws = self.mix(z, mix_z, -1 if mix_layer is None else mix_layer, psi)
        return self.synthesis(ws)

    def call(self, z, training=False, truncation_psi=1.0):
        if not training:
            return self.styled(z, truncation_psi)
        ws = self.broadcast(self.map(z, training=True))
        if self.style_mixing > 0:
            # StyleGAN2's style mixing: one cutoff in [1, num_ws) per batch, used with
            # probability style_mixing; the second latent does not move w_avg
            other = self.broadcast(self.map(keras.random.normal(tf.shape(z), seed=self.noise_seeds),
                                            training=training, update_w_avg=False))
            cutoff = keras.random.randint((), 1, self.num_ws, seed=self.noise_seeds)
            use = keras.random.uniform((), seed=self.noise_seeds) < self.style_mixing
            cutoff = tf.where(use, cutoff, self.num_ws)
            ws = tf.where(tf.range(self.num_ws)[None, :, None] < cutoff, ws, other)
        return self.synthesis(ws, training=training)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels,
                "output_size": self.output_size, "z_dim": self.z_dim, "ngf": self.ngf,
                "n_upsample": self.n_upsample, "mapping_layers": self.mapping_layers,
                "mapping_lr_multiplier": self.mapping_lr_multiplier,
                "style_conv": self.style_conv, "style_mixing": self.style_mixing,
                "w_avg_beta": self.w_avg_beta, "noise_inputs": self.noise_inputs,
                "seed": self.seed}
