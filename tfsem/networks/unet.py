"""pix2pix's U-Net generator (Isola et al. 2017, "Image-to-Image Translation
with Conditional Adversarial Networks", arXiv 1611.07004, sec. 3.2.1 and
appendix 6.1.1; junyanz/pytorch-CycleGAN-and-pix2pix ``networks.py``
``UnetGenerator`` / ``UnetSkipConnectionBlock``).

``num_downs`` levels, each halving the resolution: ``unet_256`` is 8 (a
256x256 input reaches 1x1), ``unet_128`` 7. Level i has ``ngf * min(2**i, 8)``
channels (C64-C128-C256-C512-C512-C512-C512-C512 at ngf 64).

- Down (encoder), level i: conv 4x4 / 2 with one pixel of zero padding on
  every side; before it LeakyReLU(0.2) (not on the input); after it the norm,
  except on the input level and the innermost one (1x1 at unet_256).
- Up (decoder), level i: ReLU, transposed conv 4x4 / 2 (padding 1), then
  the norm, or tanh to the output channels on level 0; dropout 0.5 after
  the norm on the ``num_downs - 5`` levels just above the innermost (three at
  unet_256: the paper's "CD512" decoder layers); then the skip: concat(the
  encoder's output of the level above, this output).
- Convs before a batch norm have no bias (it has an offset); with instance
  norm (parameter-free) they keep theirs, as the official
  ``use_bias = norm_layer == InstanceNorm2d``; the output transposed conv
  always has one.

The official block applies the in-place LeakyReLU to the tensor it also
concatenates as the skip; the decoder's ReLU that follows makes that the
same function as concatenating the conv output itself (relu(lrelu(x)) =
relu(x)), which is what this network does.

Dropout is on in training only: tfsem renders deterministically (the
official ``test.py`` keeps dropout on at test time, so its outputs vary
from run to run; see ``tfsem.models.pix2pix``).
"""

import keras
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.normalization import affine_norm_layer

__all__ = ["UnetGenerator", "pad1"]


def pad1(x):
    """One pixel of zero padding on every side (PyTorch ``padding=1``; Keras'
    ``"same"`` pads 0 before and 1 after for a stride-2 4x4 conv)."""
    return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])


@keras.saving.register_keras_serializable(package="tfsem")
class UnetGenerator(BuildsOnFirstCall, keras.Model):
    """x [B, H, W, C_in] (H, W multiples of 2**num_downs) -> [B, H, W, output_nc] in [-1, 1].

    Args:
        num_downs: levels (8: ``unet_256``, 7: ``unet_128``); >= 5.
        ngf: width of the first level (64).
        norm: ``batch`` (pix2pix's default), ``instance`` or ``none``.
        use_dropout: dropout 0.5 on the decoder levels above the innermost
            (pix2pix: on, ``--no_dropout`` off).
        inference_statistics: batch norm at inference: ``image`` (each
            image's own statistics, the official test protocol) or
            ``running`` (``--eval``).
        output_nc: output channels (3).
    """

    def __init__(self, num_downs=8, ngf=64, norm="batch", use_dropout=True,
                 inference_statistics="image", output_nc=3, **kwargs):
        super().__init__(**kwargs)
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5 (the official U-Net always has the five "
                             f"outer levels), got {num_downs}")
        if norm not in ("batch", "instance", "none"):
            raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {norm!r}")
        self.num_downs, self.ngf, self.norm = num_downs, ngf, norm
        self.use_dropout, self.inference_statistics = use_dropout, inference_statistics
        self.output_nc = output_nc
        bias = norm != "batch"
        inner = [ngf * min(2 ** i, 8) for i in range(num_downs)]
        outer = [output_nc] + inner[:-1]
        self.down_convs, self.down_norms, self.up_convs, self.up_norms = [], [], [], []
        for i in range(num_downs):
            self.down_convs.append(keras.layers.Conv2D(
                inner[i], 4, strides=2, use_bias=bias, name=f"down_{i}"))
            has_norm = 0 < i < num_downs - 1
            self.down_norms.append(affine_norm_layer(norm, f"down_norm_{i}", inference_statistics)
                                   if has_norm else None)
            self.up_convs.append(keras.layers.Conv2DTranspose(
                outer[i], 4, strides=2, padding="same", use_bias=bias or i == 0,
                name=f"up_{i}"))
            self.up_norms.append(affine_norm_layer(norm, f"up_norm_{i}", inference_statistics)
                                 if i > 0 else None)
        self.dropout_levels = tuple(range(4, num_downs - 1)) if use_dropout else ()
        self.dropouts = [keras.layers.Dropout(0.5, name=f"dropout_{i}")
                         for i in self.dropout_levels]

    @property
    def factor(self) -> int:
        return 2 ** self.num_downs

    def call(self, x, training=None):
        skips = []
        h = x
        for i in range(self.num_downs):
            if i > 0:
                h = leaky_relu(h, 0.2)
            h = self.down_convs[i](pad1(h))
            if self.down_norms[i] is not None:
                h = self.down_norms[i](h, training=training)
            skips.append(h)
        u = skips[-1]
        for i in reversed(range(self.num_downs)):
            u = self.up_convs[i](keras.ops.relu(u))
            if i == 0:
                return keras.ops.tanh(u)
            u = self.up_norms[i](u, training=training)
            if i in self.dropout_levels:
                u = self.dropouts[self.dropout_levels.index(i)](u, training=training)
            u = tf.concat([skips[i - 1], u], -1)

    def get_config(self):
        return {**super().get_config(), "num_downs": self.num_downs, "ngf": self.ngf,
                "norm": self.norm, "use_dropout": self.use_dropout,
                "inference_statistics": self.inference_statistics,
                "output_nc": self.output_nc}
