"""pix2pixHD networks (Wang et al. 2018, arXiv 1711.11585; NVIDIA/pix2pixHD
``models/networks.py``): the coarse-to-fine generator and the instance-level
feature encoder. The multi-scale discriminator is shared with SPADE
(``tfsem.networks.multiscale_discriminator``, ``spectral_norm=False``).

GlobalGenerator (G1): reflect-pad 3 + conv 7x7 (ngf), ``n_downsampling``
stride-2 convs 3x3 doubling the width, ``n_blocks`` ResNet blocks, as many
stride-2 transposed convs 3x3 halving it, reflect-pad 3 + conv 7x7 to RGB,
tanh; norm + ReLU after every conv but the last. Reference: ngf 64, 4
downsamplings, 9 blocks, instance norm.

LocalEnhancer (G2 around G1): the input pyramid is built by 3x3/2 average
pooling; G1 (width ngf * 2**n_local_enhancers, without its RGB head) runs on
the coarsest level; each enhancer, coarse to fine, runs a front end
(reflect-pad 3, conv 7x7, conv 3x3/2) on its level, ADDS the coarser output
features, then ``n_blocks_local`` ResNet blocks and a transposed conv; the
finest ends with the RGB head. Reference: 1 enhancer, 3 blocks, ngf 32 at
2048x1024.

FeatureEncoder (E): the same encoder-decoder shape as G1 without ResNet
blocks (reference ngf 16, 4 downsamplings), ``feat_num`` (3) output
channels with tanh, then INSTANCE-WISE AVERAGE POOLING: every pixel gets the
mean feature of its instance.
"""

import keras
import tensorflow as tf

from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.normalization import param_free_norm
from tfsem.layers.resnet_block import ResnetBlock, reflect_pad
from tfsem.networks.multiscale_discriminator import downsample_avg

__all__ = ["GlobalGenerator", "Pix2PixHDGenerator", "FeatureEncoder", "instance_average"]


def instance_average(features, instance):
    """Mean of ``features`` [B,H,W,C] over every instance of ``instance`` [B,H,W]
    (ids are per image), broadcast back to the pixels. Works on any ids."""
    features = tf.convert_to_tensor(features)
    instance = tf.cast(instance, tf.int64)
    shape = tf.shape(features)
    batch = tf.range(tf.cast(shape[0], tf.int64), dtype=tf.int64)[:, None, None]
    keys = tf.reshape(batch * (tf.reduce_max(instance) + 1) + instance, [-1])
    unique, index = tf.unique(keys)
    flat = tf.reshape(features, [-1, shape[3]])
    means = tf.math.unsorted_segment_mean(flat, index, tf.size(unique))
    return tf.reshape(tf.gather(means, index), shape)


class _ConvNormReLU(keras.layers.Layer):
    """(reflect pad 3 +) conv, norm, ReLU; ``transpose`` for the 2x upsampling.

    Padding as PyTorch's, not Keras' ``"same"``: a stride-2 3x3 conv
    (``nn.Conv2d(k=3, s=2, padding=1)``) zero-pads one pixel on EVERY side
    (Keras pads 0 before and 1 after), and the transposed conv
    (``nn.ConvTranspose2d(k=3, s=2, padding=1, output_padding=1)``) is the full
    (2H+1) output without its first row and column (Keras' ``"same"`` drops
    the last ones). NVIDIA/pix2pixHD ``networks.py`` ``GlobalGenerator``,
    ``LocalEnhancer``, ``Encoder``.
    """

    def __init__(self, filters, kernel_size, strides=1, norm="instance", transpose=False,
                 reflect=0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.norm, self.transpose, self.reflect = norm, transpose, reflect
        conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
        # The reference keeps conv biases before instance norm; they cancel out.
        self.conv = conv(filters, kernel_size, strides=strides, padding="valid",
                         use_bias=norm == "none", name="conv")
        self.norm_layer = param_free_norm(norm, name="norm")

    def call(self, x, training=None):
        pad = (self.kernel_size - 1) // 2
        if self.reflect:
            x = reflect_pad(x, self.reflect)
        elif not self.transpose and pad:
            x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        y = self.conv(x)
        if self.transpose and pad:
            # full output (H-1)*s + k; PyTorch's padding p drops p at the start and
            # output_padding (s - 1) keeps that many at the end: out = H * s.
            size = tf.shape(x)[1:3] * self.strides
            y = y[:, pad:pad + size[0], pad:pad + size[1], :]
        return tf.nn.relu(self.norm_layer(y, training=training))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides, "norm": self.norm,
                "transpose": self.transpose, "reflect": self.reflect}


class _RGBHead(keras.layers.Layer):
    """reflect-pad 3, conv 7x7 to ``channels``, tanh."""

    def __init__(self, channels=3, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.conv = keras.layers.Conv2D(channels, 7, name="conv")

    def call(self, x):
        return tf.tanh(tf.cast(self.conv(reflect_pad(x, 3)), tf.float32))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="tfsem")
class GlobalGenerator(BuildsOnFirstCall, keras.Model):
    """G1. ``call(x)`` -> image [B,H,W,3] in [-1, 1] (``with_head``), or the
    last feature map [B,H,W,ngf] (without the head: inside the LocalEnhancer).
    H, W: multiples of ``2 ** n_downsampling``."""

    def __init__(self, ngf=64, n_downsampling=4, n_blocks=9, norm="instance", with_head=True,
                 output_channels=3, **kwargs):
        super().__init__(**kwargs)
        if n_downsampling < 0 or n_blocks < 0 or ngf < 1:
            raise ValueError(f"need ngf >= 1, n_downsampling >= 0, n_blocks >= 0; got "
                             f"{ngf}, {n_downsampling}, {n_blocks}")
        self.ngf, self.n_downsampling, self.n_blocks = ngf, n_downsampling, n_blocks
        self.norm, self.with_head, self.output_channels = norm, with_head, output_channels
        self.conv_in = _ConvNormReLU(ngf, 7, norm=norm, reflect=3, name="conv_in")
        self.downs = [_ConvNormReLU(ngf * 2 ** (i + 1), 3, 2, norm, name=f"down_{i}")
                      for i in range(n_downsampling)]
        width = ngf * 2 ** n_downsampling
        self.blocks = [ResnetBlock(width, norm=norm, name=f"block_{i}") for i in range(n_blocks)]
        self.ups = [_ConvNormReLU(ngf * 2 ** (n_downsampling - i - 1), 3, 2, norm, transpose=True,
                                  name=f"up_{i}") for i in range(n_downsampling)]
        self.head = _RGBHead(output_channels, name="head") if with_head else None

    @property
    def factor(self) -> int:
        return 2 ** self.n_downsampling

    def call(self, x, training=None):
        x = self.conv_in(x, training=training)
        for layer in self.downs:
            x = layer(x, training=training)
        for layer in self.blocks:
            x = layer(x, training=training)
        for layer in self.ups:
            x = layer(x, training=training)
        return self.head(x) if self.head is not None else x

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf, "n_downsampling": self.n_downsampling,
                "n_blocks": self.n_blocks, "norm": self.norm, "with_head": self.with_head,
                "output_channels": self.output_channels}


@keras.saving.register_keras_serializable(package="tfsem")
class Pix2PixHDGenerator(BuildsOnFirstCall, keras.Model):
    """G1 alone (``n_local_enhancers=0``) or G1 inside ``n_local_enhancers``
    LocalEnhancers. ``call(x)`` -> image [B,H,W,3] in [-1, 1].

    Args:
        ngf: width of the finest level (reference: 64 global, 32 local).
        n_downsample_global, n_blocks_global: G1's shape (4, 9).
        n_local_enhancers, n_blocks_local: enhancers (1) and their blocks (3).
        norm: parameter-free norm (instance).

    ``global_generator`` is G1 (width ``ngf * 2**n_local_enhancers``), so a
    stage-1 G1 of width 64 fits a stage-2 generator with ngf 32.
    """

    def __init__(self, ngf=64, n_downsample_global=4, n_blocks_global=9, n_local_enhancers=0,
                 n_blocks_local=3, norm="instance", **kwargs):
        super().__init__(**kwargs)
        if n_local_enhancers < 0:
            raise ValueError(f"n_local_enhancers must be >= 0, got {n_local_enhancers}")
        self.ngf, self.n_downsample_global = ngf, n_downsample_global
        self.n_blocks_global, self.n_local_enhancers = n_blocks_global, n_local_enhancers
        self.n_blocks_local, self.norm = n_blocks_local, norm
        self.global_generator = GlobalGenerator(
            ngf * 2 ** n_local_enhancers, n_downsample_global, n_blocks_global, norm,
            with_head=n_local_enhancers == 0, name="global_generator")
        self.enhancers = []
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2 ** (n_local_enhancers - n)
            front = [_ConvNormReLU(width, 7, norm=norm, reflect=3, name=f"local_{n}_in"),
                     _ConvNormReLU(2 * width, 3, 2, norm, name=f"local_{n}_down")]
            back = [ResnetBlock(2 * width, norm=norm, name=f"local_{n}_block_{i}")
                    for i in range(n_blocks_local)]
            back.append(_ConvNormReLU(width, 3, 2, norm, transpose=True, name=f"local_{n}_up"))
            if n == n_local_enhancers:
                back.append(_RGBHead(3, name="head"))
            self.enhancers.append((front, back))
        # Track the enhancer layers as attributes (Keras tracks lists of layers).
        self.local_layers = [layer for front, back in self.enhancers for layer in front + back]

    @property
    def factor(self) -> int:
        """H and W must be multiples of this."""
        return 2 ** (self.n_downsample_global + self.n_local_enhancers)

    @property
    def local_variables(self):
        """Trainable variables outside G1 (the enhancers)."""
        return [v for layer in self.local_layers for v in layer.trainable_variables]

    def call(self, x, training=None):
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(downsample_avg(pyramid[-1]))
        out = self.global_generator(pyramid[-1], training=training)
        for n, (front, back) in enumerate(self.enhancers, start=1):
            y = pyramid[self.n_local_enhancers - n]
            for layer in front:
                y = layer(y, training=training)
            y = y + out
            for layer in back:
                y = layer(y, training=training) if not isinstance(layer, _RGBHead) else layer(y)
            out = y
        return out

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf,
                "n_downsample_global": self.n_downsample_global,
                "n_blocks_global": self.n_blocks_global,
                "n_local_enhancers": self.n_local_enhancers,
                "n_blocks_local": self.n_blocks_local, "norm": self.norm}


@keras.saving.register_keras_serializable(package="tfsem")
class FeatureEncoder(BuildsOnFirstCall, keras.Model):
    """E. ``call(image, instance)`` -> instance-averaged features [B,H,W,feat_num]."""

    def __init__(self, ngf=16, n_downsampling=4, feat_num=3, norm="instance", **kwargs):
        super().__init__(**kwargs)
        self.ngf, self.n_downsampling, self.feat_num, self.norm = ngf, n_downsampling, feat_num, norm
        self.net = GlobalGenerator(ngf, n_downsampling, 0, norm, with_head=True,
                                   output_channels=feat_num, name="net")

    def call(self, image, instance, training=None):
        return instance_average(self.net(image, training=training), instance)

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf, "n_downsampling": self.n_downsampling,
                "feat_num": self.feat_num, "norm": self.norm}
