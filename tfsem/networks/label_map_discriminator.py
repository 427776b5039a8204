"""The discriminator of SemGAN and of its baseline: a map -> one realness logit.

A DCGAN/SNGAN-style global discriminator: ``n_layers`` 4x4 stride-2 convs
(widths ``ndf * 2**k`` up to ``ndf * 8``) with leaky ReLU 0.2, then one conv
whose kernel covers the whole remaining map (a dense layer written as a conv,
so spectral normalisation applies to it too). Spectral norm on every layer by
default (Miyato et al. 2018), which keeps the hinge loss stable without
normalisation layers. With ``minibatch_std`` (ProGAN, Karras et al. 2018,
sec. 3) the last feature map gets one more channel: the standard deviation
of the features over the batch, averaged to one number, which lets D see a
lack of variety in a batch and so counters mode collapse; a batch must
then hold only real or only generated maps. SemGAN feeds it per-pixel class distributions
[B, H, W, classes]; the baseline colour images [B, H, W, 3].
"""

import keras
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.spectral_conv2d import SpectralConv2D

__all__ = ["LabelMapDiscriminator"]


@keras.saving.register_keras_serializable(package="tfsem")
class LabelMapDiscriminator(BuildsOnFirstCall, keras.Model):
    """[B, H, W, C] -> logits [B, 1].

    Args:
        input_size: (H, W) of the maps; both multiples of ``2 ** n_layers``.
        ndf: width of the first conv.
        n_layers: stride-2 convs.
        spectral_norm: spectral norm on every conv.
        minibatch_std: append the batch standard-deviation channel.
    """

    def __init__(self, input_size, ndf=32, n_layers=4, spectral_norm=True, minibatch_std=True,
                 **kwargs):
        super().__init__(**kwargs)
        input_size = tuple(int(s) for s in input_size)
        factor = 2 ** n_layers
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if len(input_size) != 2 or input_size[0] % factor or input_size[1] % factor:
            raise ValueError(f"input_size must be (height, width) with both multiples of "
                             f"2**n_layers = {factor}, got {input_size}")
        self.input_size, self.ndf, self.n_layers = input_size, ndf, n_layers
        self.spectral_norm, self.minibatch_std = spectral_norm, minibatch_std
        conv = SpectralConv2D if spectral_norm else keras.layers.Conv2D
        self.convs = [conv(ndf * min(2 ** k, 8), 4, strides=2, padding="same", name=f"conv_{k}")
                      for k in range(n_layers)]
        self.conv_out = conv(1, (input_size[0] // factor, input_size[1] // factor),
                             padding="valid", name="conv_out")

    def call(self, x, training=None):
        for layer in self.convs:
            x = leaky_relu(layer(x, training=training), 0.2)
        if self.minibatch_std:
            _, std = tf.nn.moments(tf.cast(x, tf.float32), axes=[0])
            std = tf.reduce_mean(tf.sqrt(std + 1e-8))
            x = tf.concat([x, tf.ones_like(x[..., :1]) * tf.cast(std, x.dtype)], -1)
        return tf.reshape(self.conv_out(x, training=training), [-1, 1])

    def get_config(self):
        return {**super().get_config(), "input_size": self.input_size, "ndf": self.ndf,
                "n_layers": self.n_layers, "spectral_norm": self.spectral_norm,
                "minibatch_std": self.minibatch_std}
