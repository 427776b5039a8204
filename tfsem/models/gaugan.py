"""GauGAN / SPADE (Park et al. 2019, "Semantic Image Synthesis with
Spatially-Adaptive Normalization"), the training task.

Owns the SPADE generator, the multi-scale discriminator, the optional VAE
encoder and the losses. Inputs are INT label maps (+ instance maps): one-hot
and instance edges are computed inside the model, so training and serving
agree.

Defaults follow NVlabs/SPADE: hinge loss, feature matching 10, VGG 10, KL
0.05 (``options/train_options.py``); SPADE norm ``sync_batch`` + spectral
norm in G (``norm_G=spectralspadesyncbatch3x3``), instance + spectral norm
in D and E (``spectralinstance``); num_D 2, n_layers_D 4, ngf = ndf = 64, z_dim
256. Optimiser defaults (in ``compile``): TTUR, G lr 1e-4, D lr 4e-4, Adam
betas (0, 0.9), the maintainers' correction of the paper (NVlabs/SPADE #50).
"""

from __future__ import annotations

from typing import Dict, Sequence

import keras
import tensorflow as tf

from tfsem import losses as L
from tfsem.config.gaugan import GauGANConfig
from tfsem.models.base import ConditionalGAN, latent_for_seeds
from tfsem.networks.conv_encoder import ConvEncoder
from tfsem.networks.multiscale_discriminator import MultiScaleDiscriminator
from tfsem.networks.spade_generator import UPSAMPLING_LAYERS, SPADEGenerator

__all__ = ["GauGAN"]

G_TERMS = ("G_GAN", "G_feat", "G_VGG", "KLD")
D_TERMS = ("D_real", "D_fake")


@keras.saving.register_keras_serializable(package="tfsem")
class GauGAN(ConditionalGAN):
    """SPADE/GauGAN for label map (+ instance map) to image.

    Call: ``model({"label": int [B,H,W], "instance": int [B,H,W] (if
    use_instances), "z": [B, z_dim] or "style_image": [B,H,W,3] (optional,
    with use_vae)})`` -> image float32 [B,H,W,3] in [-1, 1].

    Args:
        num_classes: one-hot channels of the label space (don't-care included).
        image_size: (height, width) of training images; multiples of
            2**upsamplings (32 for ``normal``).
        use_instances: add the instance edge map as an input channel.
        **hparams: the fields of :class:`~tfsem.config.GauGANConfig`, with its
            defaults (NVlabs/SPADE's; ``python -m tfsem.config --describe
            gaugan``): ngf, ndf, num_D, n_layers_D, num_upsampling_layers,
            norm_G/D/E, spectral_norm_G/D/E, hidden_channels, use_vae, z_dim,
            gan_mode, lambda_feat, lambda_vgg, lambda_kld, kld_reduction
            (``sum``: the KLD summed over the global batch, as ``KLDLoss``;
            ``mean``: per example, a departure), vgg_weights (loaded in
            ``compile`` when lambda_vgg > 0, never downloaded), seed, init,
            init_gain.
    """

    G_TERMS = G_TERMS
    D_TERMS = D_TERMS
    FAMILY = "gaugan"

    SECTION = GauGANConfig

    def __init__(self, num_classes, image_size, use_instances=True, **kwargs):
        kwargs, hparams = self.split_keras_kwargs(kwargs)
        super().__init__(**kwargs)
        gan_mode = hparams.get("gan_mode", "hinge")
        upsampling = hparams.get("num_upsampling_layers", "normal")
        image_size = self._checked_image_size(
            num_classes, gan_mode, image_size, 2 ** UPSAMPLING_LAYERS.get(upsampling, 5),
            f" for num_upsampling_layers={upsampling!r}")
        self._init_hparams(hparams)
        self.num_classes = num_classes
        self.image_size = image_size
        self.use_instances = use_instances
        ngf, num_upsampling_layers, use_vae, z_dim = (
            self.ngf, self.num_upsampling_layers, self.use_vae, self.z_dim)
        seed = self.seed

        factor = 2 ** UPSAMPLING_LAYERS.get(num_upsampling_layers, 5)
        latent = (image_size[0] // factor, image_size[1] // factor)
        self.generator = SPADEGenerator(
            ngf=ngf, num_upsampling_layers=num_upsampling_layers, use_vae=use_vae, z_dim=z_dim,
            latent_size=latent if use_vae else None, norm=self.norm_G,
            spectral_norm=self.spectral_norm_G, hidden_channels=self.hidden_channels, seed=seed,
            name="generator")
        self.discriminator = MultiScaleDiscriminator(
            num_D=self.num_D, n_layers=self.n_layers_D, ndf=self.ndf, norm=self.norm_D,
            spectral_norm=self.spectral_norm_D, name="discriminator")
        # The encoder's width is ngf (NVlabs/SPADE encoder.py: ``ndf = opt.ngf``).
        self.encoder = (ConvEncoder(ndf=ngf, z_dim=z_dim, norm=self.norm_E,
                                    spectral_norm=self.spectral_norm_E, name="encoder")
                        if use_vae else None)
        self.noise_seed = keras.random.SeedGenerator(seed)
        self._init_tracking()

    # -- inference -----------------------------------------------------------------
    def style_specs(self, batch=None, height=None, width=None, optional=False):
        """VAE models: ``z`` float32 [B, z_dim] (and, from Python, ``style_image``
        [B,H,W,3] in [-1, 1], whose encoder mean replaces z)."""
        if not self.use_vae:
            return []
        specs = [tf.TensorSpec([batch, self.z_dim], tf.float32, name="z")]
        if optional:
            specs.append(tf.TensorSpec([batch, height, width, 3], tf.float32, name="style_image"))
        return specs

    def render(self, segmap, index, instance_map=None, z=None, style_image=None):
        if not self.use_vae:
            return self.generator(segmap, training=False)
        if style_image is not None:
            z, _ = self.encode(style_image)
        if z is None:
            raise ValueError("this GauGAN has a style encoder: pass 'z' (or a style image)")
        # the encoder's mean is in the compute dtype (bfloat16 under --precision bf16)
        return self.generator(segmap, z=tf.cast(z, tf.float32), training=False)

    def style_inputs(self, inputs, seeds, z=None, style=None, cluster=None,
                     instance_clusters=None, style_codes=None) -> dict:
        """The VAE latent: the encoder's mean of ``style``, else ``z``, else
        ``latent_for_seeds(seeds)`` (the same style for a seed everywhere)."""
        if not self.use_vae:
            return super().style_inputs(inputs, seeds, z=z, style=style, cluster=cluster,
                                        instance_clusters=instance_clusters,
                                        style_codes=style_codes)
        super().style_inputs(inputs, seeds, cluster=cluster, instance_clusters=instance_clusters,
                             style_codes=style_codes)
        if style is not None:
            return {"style_image": tf.convert_to_tensor(style, tf.float32)}
        if z is None:
            z = latent_for_seeds(seeds, self.z_dim)
        return {"z": tf.convert_to_tensor(z, tf.float32)}

    def random_look(self, seeds, stream: int = 1):
        """VAE models: the latent of each seed (``latent_for_seeds``, ``stream``);
        the dream chain uses stream 1."""
        if not self.use_vae:
            return {}
        return {"z": latent_for_seeds(seeds, self.z_dim, stream=stream)}

    def build_networks(self):
        """Creates all variables with one tiny forward pass (no data needed)."""
        if self.built:
            return
        h, w = self.image_size if self.use_vae else (self.generator.factor,) * 2
        batch = {"label": tf.zeros([1, h, w], tf.int32)}
        if self.use_instances:
            batch["instance"] = tf.zeros([1, h, w], tf.int32)
        if self.use_vae:
            batch["style_image"] = tf.zeros([1, h, w, 3])  # builds the encoder too
        self.generate_with_posterior(batch, training=False)
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        self.discriminator(tf.concat([segmap, tf.zeros([1, h, w, 3])], -1), training=False)
        # NVlabs/SPADE networks/__init__.py: net.init_weights(init_type, init_variance)
        self._init_networks(self.init, self.init_gain, self.seed)
        self.built = True

    # -- forward -----------------------------------------------------------------
    def encode(self, image, training=False):
        """Style image [B,H,W,3] in [-1,1] -> (mu, logvar) of the VAE latent."""
        if self.encoder is None:
            raise ValueError("this model has no style encoder: it was built with use_vae=False")
        return self.encoder(image, training=training)

    def generate_with_posterior(self, batch, training=False, encode_image=None):
        """Returns (fake image, mu, logvar); mu/logvar are None unless the photo was encoded.

        With the VAE, z comes from, in order: the encoder's posterior of
        ``batch["image"]`` when ``encode_image`` (default: ``training``; a
        sample in training, the mean otherwise), ``batch["z"]``, the
        encoder's mean of ``batch["style_image"]``, or N(0, I).
        """
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        encode_image = training if encode_image is None else encode_image
        z = mu = logvar = None
        if self.use_vae:
            if encode_image:
                mu, logvar = self.encode(batch["image"], training=training)
                z = mu
                if training:  # NVlabs/SPADE reparameterize: eps * exp(0.5 logvar) + mu
                    z = self.vae_noise(tf.shape(mu)) * tf.exp(0.5 * logvar) + mu
            elif batch.get("z") is not None:
                z = tf.convert_to_tensor(batch["z"], tf.float32)
            elif batch.get("style_image") is not None:
                z, _ = self.encode(batch["style_image"], training=False)
        fake = self.generator(segmap, z=z, training=training)
        return fake, mu, logvar

    def vae_noise(self, shape):
        """N(0, I) of the reparameterisation, one draw per encoder call in
        training (the G step's and the D step's, as the official code)."""
        return keras.random.normal(shape, seed=self.noise_seed)

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or "label" not in inputs:
            raise ValueError("GauGAN expects a dict with an int 'label' map "
                             "(and 'instance', 'z' or 'style_image' when used)")
        return self.generate_with_posterior(inputs, training=training)[0]

    # -- losses -------------------------------------------------------------------
    def compute_losses(self, batch, training=False,
                       parts: Sequence[str] = ("generator", "discriminator")) -> Dict[str, tf.Tensor]:
        """Named per-example loss terms [B] (already weighted) of the requested parts.

        ``generator``: G_GAN, G_feat, G_VGG, KLD; ``discriminator``: D_real,
        D_fake. One generator forward (the photo encoded) serves the parts
        asked for; the training step asks for each part with its own
        forward, as NVlabs/SPADE (``train_step``).
        """
        fake, mu, logvar = self.generate_with_posterior(batch, training=training,
                                                        encode_image=True)
        terms: Dict[str, tf.Tensor] = {}
        if "discriminator" in parts:
            terms.update(self.discriminator_terms(batch, tf.stop_gradient(fake), training))
        if "generator" in parts:
            terms.update(self.generator_terms(batch, fake, mu, logvar, training))
        return terms

    def generator_terms(self, batch, fake, mu, logvar, training):
        """G_GAN, G_feat, G_VGG, KLD of ``fake`` (NVlabs/SPADE
        ``compute_generator_loss``): D sees concat(fake, real) in ONE forward."""
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        real = tf.cast(batch["image"], fake.dtype)
        zeros = tf.zeros([tf.shape(fake)[0]], tf.float32)
        pred_fake, pred_real = self.discriminate(segmap, fake, real, training)
        terms = {"G_GAN": L.gan_loss(pred_fake, True, False, self.gan_mode)}
        terms["G_feat"] = (self.lambda_feat * L.feature_matching_loss(pred_fake, pred_real)
                           if self.lambda_feat > 0 else zeros)
        terms["G_VGG"] = self.vgg_term(fake, real)
        terms["KLD"] = self.kld_term(mu, logvar) if self.use_vae and mu is not None else zeros
        return terms

    def kld_term(self, mu, logvar):
        """Per-example ``lambda_kld`` KLD; with ``kld_reduction`` ``sum`` times the
        global batch size, so that the mean over the batch (the trainer's
        reduction) is the sum."""
        kld = self.lambda_kld * L.kl_divergence(mu, logvar)
        if self.kld_reduction == "mean":
            return kld
        replicas = tf.distribute.get_replica_context()
        replicas = replicas.num_replicas_in_sync if replicas is not None else 1
        return kld * tf.cast(tf.shape(kld)[0] * replicas, kld.dtype)

    # -- training -------------------------------------------------------------------
    def train_step(self, batch):
        """One iteration of NVlabs/SPADE's ``Pix2PixTrainer`` (``train.py``):
        ``run_generator_one_step`` (E and G forward in training mode, D on
        concat(fake, real) in one forward, the G (+E) update), then
        ``run_discriminator_one_step`` (a NEW E + G forward with the updated
        G, outside the tape as the official ``torch.no_grad()``, D on
        concat(fake, real), the D update). Every training-mode forward moves
        spectral-norm vectors and batch-norm statistics, as there."""
        g_vars = self.generator_variables
        with tf.GradientTape() as tape:
            fake, mu, logvar = self.generate_with_posterior(batch, training=True,
                                                            encode_image=True)
            g_terms = self.generator_terms(batch, fake, mu, logvar, True)
            g_loss = self._mean(g_terms.values())
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        fake, _, _ = self.generate_with_posterior(batch, training=True, encode_image=True)
        return self._track_step(g_terms, self.discriminator_step(batch, fake))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "image_size": self.image_size, "use_instances": self.use_instances,
                **self.hparams()}
