"""SPADE generator (Park et al. 2019, fig. 5; NVlabs/SPADE ``SPADEGenerator``).

From a small map (the downsampled segmentation map through a 3x3 conv, or a
VAE latent z through a dense layer) to an image: SPADE residual blocks at
16*ngf channels, then nearest-neighbour upsampling interleaved with blocks
halving the channels down to ngf, a leaky ReLU, a 3x3 conv to RGB and tanh.

``num_upsampling_layers``: ``normal`` (5 upsamplings, input H/W divisible by
32), ``more`` (6), ``most`` (7, with an extra block to ngf/2).
"""

import keras
import tensorflow as tf

from tfsem.config.gaugan import UPSAMPLING_LAYERS
from tfsem.layers.activations import leaky_relu
from tfsem.layers.interpolate import nearest_interpolate, spatial_size
from tfsem.layers.lazy_build import BuildsOnFirstCall
from tfsem.layers.spade_res_block import SPADEResBlock

__all__ = ["SPADEGenerator", "UPSAMPLING_LAYERS"]



def upsample2x(x):
    """Nearest-neighbour 2x upsampling as broadcast + reshape.

    Equal to PyTorch's ``nn.Upsample(scale_factor=2)`` (the reference's
    ``self.up``: output pixel i takes input pixel i // 2), but its gradient is a
    plain sum, so it also compiles with XLA on CPU (which has no kernel for
    the resize gradient), and it converts to TFLite builtins with dynamic H/W
    (unlike ``keras.layers.UpSampling2D``).
    """
    shape = tf.shape(x)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    # Two 4-D broadcasts (width, then height) with reshapes: TFLite's int8
    # calibrator has no kernels for the 6-D tensors of a one-step version.
    x = tf.broadcast_to(tf.reshape(x, [b * h, w, 1, c]), [b * h, w, 2, c])
    x = tf.broadcast_to(tf.reshape(x, [b, h, 1, 2 * w * c]), [b, h, 2, 2 * w * c])
    return tf.reshape(x, [b, 2 * h, 2 * w, c])


@keras.saving.register_keras_serializable(package="tfsem")
class SPADEGenerator(BuildsOnFirstCall, keras.Model):
    """Generator of SPADE / GauGAN.

    Call: ``generator(segmap, z=None, training=...)``, segmap float
    [B, H, W, S] (one-hot labels + don't-care + instance-edge channels).
    H and W must be multiples of ``2 ** num_upsampling`` (32 for ``normal``).

    Args:
        ngf: base width (reference: 64; the first blocks have 16*ngf channels).
        num_upsampling_layers: ``normal``, ``more`` or ``most``.
        use_vae: start from a latent z (from ``ConvEncoder`` or N(0, I)).
        z_dim: latent size (reference: 256).
        latent_size: (h, w) of the first feature map; needed with ``use_vae``
            (image size / 2**num_upsampling; Cityscapes 256x512: (8, 16)).
        norm: SPADE parameter-free norm (``instance``, ``batch``, ``sync_batch``).
        spectral_norm: spectral norm in the residual blocks (reference: on).
        hidden_channels: SPADE hidden width (reference: 128).
        seed: seed of the N(0, I) latent drawn when ``use_vae`` and no z is given.
    """

    def __init__(self, ngf=64, num_upsampling_layers="normal", use_vae=False, z_dim=256,
                 latent_size=None, norm="instance", spectral_norm=True, hidden_channels=128,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if num_upsampling_layers not in UPSAMPLING_LAYERS:
            raise ValueError(f"num_upsampling_layers must be one of {tuple(UPSAMPLING_LAYERS)}, "
                             f"got {num_upsampling_layers!r}")
        if ngf < 1:
            raise ValueError(f"ngf must be >= 1, got {ngf}")
        if use_vae and (latent_size is None or len(latent_size) != 2):
            raise ValueError("use_vae=True needs latent_size=(h, w): image size / "
                             f"2**{UPSAMPLING_LAYERS[num_upsampling_layers]}")
        self.ngf = ngf
        self.num_upsampling_layers = num_upsampling_layers
        self.use_vae = use_vae
        self.z_dim = z_dim
        self.latent_size = tuple(latent_size) if latent_size is not None else None
        self.norm = norm
        self.spectral_norm = spectral_norm
        self.hidden_channels = hidden_channels
        self.seed = seed
        self.num_upsampling = UPSAMPLING_LAYERS[num_upsampling_layers]
        self.seed_generator = keras.random.SeedGenerator(seed)

        nf = ngf
        if use_vae:
            h, w = self.latent_size
            self.fc = keras.layers.Dense(16 * nf * h * w, name="fc")
        else:
            self.fc = keras.layers.Conv2D(16 * nf, 3, padding="same", name="fc")
        block = dict(norm=norm, spectral_norm=spectral_norm, hidden_channels=hidden_channels)
        self.head_0 = SPADEResBlock(16 * nf, name="head_0", **block)
        self.g_middle_0 = SPADEResBlock(16 * nf, name="g_middle_0", **block)
        self.g_middle_1 = SPADEResBlock(16 * nf, name="g_middle_1", **block)
        self.up_blocks = [SPADEResBlock(f * nf, name=f"up_{i}", **block)
                          for i, f in enumerate((8, 4, 2, 1))]
        final = nf
        if num_upsampling_layers == "most":
            self.up_blocks.append(SPADEResBlock(nf // 2, name="up_4", **block))
            final = nf // 2
        self.conv_img = keras.layers.Conv2D(3, 3, padding="same", name="conv_img")
        self.final_channels = final

    @property
    def factor(self) -> int:
        """H and W must be multiples of this."""
        return 2 ** self.num_upsampling

    def call(self, segmap, z=None, training=None):
        segmap = tf.convert_to_tensor(segmap)
        factor = self.factor
        if self.use_vae:
            if z is None:
                batch = tf.shape(segmap)[0]
                z = keras.random.normal((batch, self.z_dim), seed=self.seed_generator,
                                        dtype=self.compute_dtype)
            h, w = self.latent_size
            x = tf.reshape(self.fc(z), [-1, h, w, 16 * self.ngf])
        else:
            x = self.fc(nearest_interpolate(segmap, spatial_size(segmap, factor)))
        seg = tf.cast(segmap, x.dtype)
        x = self.head_0([x, seg], training=training)
        x = upsample2x(x)
        x = self.g_middle_0([x, seg], training=training)
        if self.num_upsampling_layers in ("more", "most"):
            x = upsample2x(x)
        x = self.g_middle_1([x, seg], training=training)
        for block in self.up_blocks:
            x = upsample2x(x)
            x = block([x, seg], training=training)
        x = self.conv_img(leaky_relu(x, 0.2))
        # float32 output under mixed precision (the image leaves the model here).
        return tf.tanh(tf.cast(x, tf.float32))

    def get_config(self):
        return {**super().get_config(), "ngf": self.ngf,
                "num_upsampling_layers": self.num_upsampling_layers, "use_vae": self.use_vae,
                "z_dim": self.z_dim, "latent_size": self.latent_size, "norm": self.norm,
                "spectral_norm": self.spectral_norm, "hidden_channels": self.hidden_channels,
                "seed": self.seed}
