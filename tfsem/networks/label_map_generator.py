"""The generator of SemGAN and of its standard-GAN baseline: z -> a map.

A dense layer turns z into a small ``latent_size`` map at ``ngf * 8``
channels, then ``n_upsample`` stages double the resolution (nearest
neighbour) and halve the width down to ``ngf``; a final 3x3 conv gives
``out_channels`` maps at the target size. SemGAN reads them as per-pixel
class logits (``out_channels`` = classes), the baseline as an RGB colour
image (3 channels, tanh in the model). The backbone is the same, which is
what makes the comparison fair (Ghelfi et al. 2019 compare both outputs on
one architecture).

``block``: ``conv`` (upsample -> 3x3 conv -> norm -> ReLU, a DCGAN-style
stage) or ``resnet`` (a pre-activation up-block as in SNGAN/BigGAN:
norm -> ReLU -> upsample -> conv -> norm -> ReLU -> conv, plus an upsampled
1x1-conv shortcut).
"""

import keras
import tensorflow as tf

from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.networks.spade_generator import upsample2x

__all__ = ["LabelMapGenerator", "set_generator_sizes"]

BLOCKS = ("conv", "resnet")
G_NORMS = ("batch", "instance", "none")


def _norm(norm, name):
    if norm == "batch":
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    return keras.layers.Identity(name=name)


def set_generator_sizes(generator, out_channels, output_size, z_dim, ngf, n_upsample, **more):
    """Checks and sets what both label-map generators share: ``out_channels``,
    ``output_size``, ``z_dim``, ``ngf``, ``n_upsample``, ``latent_size`` (the
    size before the first upsampling) and ``widths`` (``ngf * min(2**(n_upsample
    - k), 8)`` at stage k); ``more``: other counts that must be >= 1."""
    output_size = tuple(int(s) for s in output_size)
    factor = 2 ** n_upsample
    if len(output_size) != 2 or output_size[0] % factor or output_size[1] % factor:
        raise ValueError(f"output_size must be (height, width) with both multiples of "
                         f"2**n_upsample = {factor}, got {output_size}")
    for name, value in (("out_channels", out_channels), ("z_dim", z_dim), ("ngf", ngf),
                        *more.items()):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    generator.out_channels, generator.output_size = int(out_channels), output_size
    generator.z_dim, generator.ngf, generator.n_upsample = z_dim, ngf, n_upsample
    generator.latent_size = (output_size[0] // factor, output_size[1] // factor)
    generator.widths = [ngf * min(2 ** (n_upsample - k), 8) for k in range(n_upsample + 1)]


@keras.saving.register_keras_serializable(package="tfsem")
class LabelMapGenerator(BuildsOnFirstCall, keras.Model):
    """z [B, z_dim] -> [B, H, W, out_channels] (unactivated).

    Args:
        out_channels: output maps (classes for SemGAN, 3 for the baseline).
        output_size: (H, W); both multiples of ``2 ** n_upsample``.
        z_dim: latent size.
        ngf: width of the last stage; stages are ``ngf * min(2**k, 8)`` wide.
        n_upsample: resolution doublings after the dense layer.
        block: ``conv`` or ``resnet``.
        norm: ``batch`` (DCGAN default), ``instance`` or ``none``.
    """

    def __init__(self, out_channels, output_size, z_dim=128, ngf=32, n_upsample=4, block="conv",
                 norm="batch", **kwargs):
        super().__init__(**kwargs)
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
        if norm not in G_NORMS:
            raise ValueError(f"norm must be one of {G_NORMS}, got {norm!r}")
        set_generator_sizes(self, out_channels, output_size, z_dim, ngf, n_upsample)
        self.block, self.norm = block, norm
        widths = self.widths
        h0, w0 = self.latent_size
        self.fc = keras.layers.Dense(h0 * w0 * widths[0], name="fc")
        self.fc_norm = _norm(norm, "fc_norm")
        self.stages = []
        for k in range(1, n_upsample + 1):
            cout = widths[k]
            stage = {"conv_0": keras.layers.Conv2D(cout, 3, padding="same", name=f"up_{k}_conv_0"),
                     "norm_0": _norm(norm, f"up_{k}_norm_0")}
            if block == "resnet":
                stage["conv_1"] = keras.layers.Conv2D(cout, 3, padding="same", name=f"up_{k}_conv_1")
                stage["norm_1"] = _norm(norm, f"up_{k}_norm_1")
                stage["shortcut"] = keras.layers.Conv2D(cout, 1, name=f"up_{k}_shortcut")
            self.stages.append(stage)
        self.out_norm = _norm(norm, "out_norm") if block == "resnet" else None
        self.conv_out = keras.layers.Conv2D(out_channels, 3, padding="same", name="conv_out")

    def call(self, z, training=False):
        h0, w0 = self.latent_size
        x = self.fc(tf.cast(z, self.compute_dtype))
        x = tf.reshape(x, [-1, h0, w0, self.widths[0]])
        if self.block == "conv":
            x = tf.nn.relu(self.fc_norm(x, training=training))
            for stage in self.stages:
                x = tf.nn.relu(stage["norm_0"](stage["conv_0"](upsample2x(x)), training=training))
        else:
            for stage in self.stages:
                y = tf.nn.relu(stage["norm_0"](x, training=training))
                y = stage["conv_0"](upsample2x(y))
                y = tf.nn.relu(stage["norm_1"](y, training=training))
                x = stage["conv_1"](y) + stage["shortcut"](upsample2x(x))
            x = tf.nn.relu(self.out_norm(x, training=training))
        return self.conv_out(x)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels,
                "output_size": self.output_size, "z_dim": self.z_dim, "ngf": self.ngf,
                "n_upsample": self.n_upsample, "block": self.block, "norm": self.norm}
