"""Multi-scale PatchGAN discriminator (pix2pixHD sec. 3.2; NVlabs/SPADE and
NVIDIA/pix2pixHD ``MultiscaleDiscriminator`` + ``NLayerDiscriminator``).

``num_D`` identical PatchGANs see the input at full, 1/2, 1/4 ... resolution
(3x3 average pooling, stride 2, padding 1, padding not counted). Each is
conv4x4/2 + LReLU, then ``n_layers - 1`` conv4x4 + norm + LReLU blocks (stride
2, except stride 1 for the last one; filters doubling up to 512), then a
conv4x4/1 to one channel; every conv pads by 2 (pix2pix's PatchGAN, a single
scale: by 1, and a learned-scale batch norm with ``affine_norm``). The output of every block is
returned (``n_layers + 1`` per scale), for the feature-matching loss.

``n_layers`` counts as SPADE's ``n_layers_D`` does (``discriminator.py``:
SPADE's default 4 gives three stride-2 convs, one stride-1 conv, the logits).
pix2pixHD's ``n_layers_D`` counts the stride-2 convs only and always adds the
stride-1 conv (``networks.py`` ``NLayerDiscriminator``): its default 3 is the
same five-block network, so ``Pix2PixHD`` passes ``n_layers_D + 1`` here
(70x70 receptive field, 2.8 M parameters per scale at ndf 64).

SPADE uses ``norm="instance"`` with ``spectral_norm=True`` (norm_D
``spectralinstance``); pix2pixHD uses instance norm without spectral norm.
Convs followed by a norm have no bias (SPADE deletes it; pix2pixHD keeps one
that instance norm cancels exactly).
"""

import keras
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.normalization import affine_norm_layer, param_free_norm
from tfsem.layers.spectral_conv2d import SpectralConv2D

__all__ = ["MultiScaleDiscriminator", "NLayerDiscriminator", "downsample_avg"]


def downsample_avg(x):
    """PyTorch ``avg_pool2d(k=3, s=2, padding=1, count_include_pad=False)``."""
    pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
    total = tf.nn.avg_pool2d(tf.pad(x, pad), 3, 2, "VALID")
    ones = tf.pad(tf.ones_like(x[..., :1]), pad)
    count = tf.nn.avg_pool2d(ones, 3, 2, "VALID")
    return total / count


@keras.saving.register_keras_serializable(package="tfsem")
class NLayerDiscriminator(BuildsOnFirstCall, keras.Model):
    """One PatchGAN; call returns the list of every block's output (last: logits)."""

    def __init__(self, ndf=64, n_layers=4, norm="instance", spectral_norm=True,
                 max_filters=512, padding=2, affine_norm=False, last_stride=1, **kwargs):
        super().__init__(**kwargs)
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
        self.last_stride = last_stride
        self.ndf = ndf
        self.n_layers = n_layers
        self.norm = norm
        self.spectral_norm = spectral_norm
        self.max_filters = max_filters
        self.padding = padding
        self.affine_norm = affine_norm
        make_norm = affine_norm_layer if affine_norm else param_free_norm
        conv_cls = SpectralConv2D if spectral_norm else keras.layers.Conv2D
        self.blocks = [[keras.layers.Conv2D(ndf, 4, strides=2, name="conv_0")]]
        nf = ndf
        for n in range(1, n_layers):
            nf = min(nf * 2, max_filters)
            # SPADE / pix2pixHD: the last middle conv has stride 1; SEAN: 2 (last_stride)
            stride = self.last_stride if n == n_layers - 1 else 2
            # A norm after the conv makes its bias redundant (reference: no bias with norm).
            self.blocks.append([conv_cls(nf, 4, strides=stride, use_bias=norm == "none",
                                         name=f"conv_{n}"),
                                make_norm(norm, name=f"norm_{n}")])
        self.blocks.append([keras.layers.Conv2D(1, 4, strides=1, name=f"conv_{n_layers}")])

    def call(self, x, training=None):
        features = []
        for i, block in enumerate(self.blocks):
            p = self.padding
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
            for layer in block:
                x = layer(x, training=training)
            if i < len(self.blocks) - 1:
                x = leaky_relu(x, 0.2)
            features.append(x)
        return features

    def get_config(self):
        return {**super().get_config(), "ndf": self.ndf, "n_layers": self.n_layers,
                "norm": self.norm, "spectral_norm": self.spectral_norm,
                "max_filters": self.max_filters, "padding": self.padding,
                "affine_norm": self.affine_norm, "last_stride": self.last_stride}


@keras.saving.register_keras_serializable(package="tfsem")
class MultiScaleDiscriminator(BuildsOnFirstCall, keras.Model):
    """``num_D`` PatchGANs at decreasing scales.

    Call: ``disc(x)`` with x = concat(segmap, image) [B, H, W, S+3]; returns
    a list (one per scale) of lists of block outputs; ``[-1]`` of each is the
    patch logits.

    Args:
        num_D: scales (reference: 2; pix2pixHD uses 3 at 2048x1024).
        n_layers: layers of each PatchGAN, counted as SPADE's n_layers_D (4;
            pix2pixHD's n_layers_D 3 is 4 here).
        ndf: base width (reference: 64).
        norm: ``instance`` (reference), ``batch``, ``sync_batch`` or ``none``.
        spectral_norm: spectral norm on the middle convs (SPADE: on; pix2pixHD: off).
        last_stride: the last middle conv's stride (SPADE, pix2pixHD: 1; ZPdesu/SEAN's
            ``NLayerDiscriminator``: 2, every middle conv at stride 2).
    """

    def __init__(self, num_D=2, n_layers=4, ndf=64, norm="instance", spectral_norm=True,
                 last_stride=1, **kwargs):
        super().__init__(**kwargs)
        if num_D < 1:
            raise ValueError(f"num_D must be >= 1, got {num_D}")
        self.num_D = num_D
        self.n_layers = n_layers
        self.ndf = ndf
        self.norm = norm
        self.spectral_norm = spectral_norm
        self.last_stride = last_stride
        self.discriminators = [
            NLayerDiscriminator(ndf=ndf, n_layers=n_layers, norm=norm,
                                spectral_norm=spectral_norm, last_stride=last_stride,
                                name=f"discriminator_{i}")
            for i in range(num_D)]

    def call(self, x, training=None):
        outputs = []
        for i, disc in enumerate(self.discriminators):
            outputs.append(disc(x, training=training))
            if i < self.num_D - 1:
                x = downsample_avg(x)
        return outputs

    def get_config(self):
        return {**super().get_config(), "num_D": self.num_D, "n_layers": self.n_layers,
                "ndf": self.ndf, "norm": self.norm, "spectral_norm": self.spectral_norm,
                "last_stride": self.last_stride}
