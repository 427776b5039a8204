"""VAE image encoder of SPADE (Park et al. 2019, appendix fig. 14;
NVlabs/SPADE ``ConvEncoder``).

The image is bilinearly resized to 256x256, then 6 conv3x3/2 blocks (5 when
``resize_to`` < 256) with instance norm and spectral norm (norm_E
``spectralinstance``), widths ndf, 2, 4, 8, 8, 8 x ndf, leaky ReLU 0.2, and
two dense layers give the mean and log-variance of a ``z_dim`` latent.
Used for multi-modal synthesis and for guiding generation with a style image.

The flatten before the dense layers is NHWC here and NCHW in the reference
(``x.view(x.size(0), -1)``); ``tfsem.convert`` reorders the dense kernels'
rows, so converted weights give the same mu and logvar.
"""

import keras
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.normalization import param_free_norm
from tfsem.layers.spectral_conv2d import SpectralConv2D

__all__ = ["ConvEncoder"]


@keras.saving.register_keras_serializable(package="tfsem")
class ConvEncoder(BuildsOnFirstCall, keras.Model):
    """Call: ``mu, logvar = encoder(image)`` with image [B, H, W, 3] in [-1, 1].

    Args:
        ndf: base width (the reference builds it from the generator's ngf, 64).
        z_dim: latent size (reference: 256).
        resize_to: the square side photos are resized to before encoding
            (reference: 256; 6 stride-2 layers from 256 on, else 5).
        norm: ``instance`` (reference) or another param-free norm.
        spectral_norm: spectral norm on the convs (reference: on).
    """

    def __init__(self, ndf=64, z_dim=256, resize_to=256, norm="instance", spectral_norm=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.ndf = ndf
        self.z_dim = z_dim
        self.resize_to = resize_to
        self.norm = norm
        self.spectral_norm = spectral_norm
        conv_cls = SpectralConv2D if spectral_norm else keras.layers.Conv2D
        widths = [1, 2, 4, 8, 8] + ([8] if resize_to >= 256 else [])
        self.blocks = [(conv_cls(w * ndf, 3, strides=2, use_bias=norm == "none",
                                 name=f"layer{i + 1}"),
                        param_free_norm(norm, name=f"norm{i + 1}")) for i, w in enumerate(widths)]
        self.fc_mu = keras.layers.Dense(z_dim, name="fc_mu")
        self.fc_var = keras.layers.Dense(z_dim, name="fc_var")

    def call(self, image, training=None):
        x = tf.image.resize(image, (self.resize_to, self.resize_to), method="bilinear")
        for i, (conv, norm) in enumerate(self.blocks):
            if i > 0:
                x = leaky_relu(x, 0.2)
            x = conv(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), training=training)
            x = norm(x, training=training)
        x = leaky_relu(x, 0.2)
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        return self.fc_mu(x), self.fc_var(x)

    def get_config(self):
        return {**super().get_config(), "ndf": self.ndf, "z_dim": self.z_dim,
                "resize_to": self.resize_to, "norm": self.norm,
                "spectral_norm": self.spectral_norm}
