"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", arXiv 1611.07004) for label maps, the training task:
the baseline of pix2pixHD's paper and the renderer SemGAN's authors used.

Defaults follow junyanz/pytorch-CycleGAN-and-pix2pix ``--model pix2pix``:
U-Net 256 generator with dropout and batch norm (``tfsem.networks.unet``),
the basic PatchGAN (70x70 patches: ``n_layers_D`` 3, padding 1, widths up
to 8 * ndf, a single scale) on concat(label, image), vanilla GAN loss (BCE
with logits; ``gan_mode`` ``original``), L1 weight 100, the D loss halved
((fake + real) / 2), Adam 2e-4 with betas (0.5, 0.999) and N(0, 0.02)
weights (batch-norm scales N(1, 0.02)).

Training follows ``pix2pix_model.py``'s ``optimize_parameters``: one
generator forward per step; D's step on the detached fake, then G's step
on that same fake, scored by the updated D. D sees the fake and the real
pair in two separate passes, so its batch norm normalises each on its own
statistics, as the official code.

The label map reaches G and D as its colour rendering in [-1, 1]
(``label_input: colors``; the official Cityscapes labels->photo data are
the dataset's colour label images) or as one-hot channels (``onehot``, as
pix2pixHD and SPADE); with ``use_instances`` the instance boundary map is
one more channel.

Inference: the official ``test.py`` (batch size 1, no ``--eval``) runs the
generator as in training, batch norm on the test image's own statistics
and dropout on (paper sec. 3.2: dropout is the model's noise). tfsem
normalises the same way (``eval_mode: true``: the running statistics, as
``--eval``) and renders with dropout off, so a label map gives one photo in
Python, SavedModel and TFLite alike.
"""

from __future__ import annotations

from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsem import losses as L
from tfsem.config.pix2pix import Pix2PixConfig
from tfsem.models.base import ConditionalGAN
from tfsem.networks.multiscale_discriminator import NLayerDiscriminator
from tfsem.networks.unet import UnetGenerator

__all__ = ["Pix2Pix"]

G_TERMS = ("G_GAN", "G_L1", "G_VGG")
D_TERMS = ("D_real", "D_fake")
LABEL_INPUTS = ("colors", "onehot")


@keras.saving.register_keras_serializable(package="tfsem")
class Pix2Pix(ConditionalGAN):
    """pix2pix for label map (+ instance edges) to image.

    Call: ``model({"label": int [B,H,W], "instance": int [B,H,W] (if
    use_instances)})`` -> image [B,H,W,3] in [-1, 1].

    Args:
        num_classes: one-hot channels of the label space (don't-care included).
        image_size: (height, width); multiples of 2**num_downs.
        palette: uint8-valued [num_classes, 3] colours (``label_input: colors``).
        use_instances: add the instance boundary map as an input channel.
        input_image: photo-to-photo (the official code's RGB ``--input_nc 3``
            input): G and D see the input photo, batch key ``input``.
        **hparams: the fields of :class:`~tfsem.config.Pix2PixConfig` (label_input,
            num_downs, ngf, ndf, n_layers_D, norm, use_dropout, eval_mode,
            gan_mode, lambda_L1, lambda_vgg, vgg_weights, init, init_gain), with
            its defaults (junyanz/pytorch-CycleGAN-and-pix2pix's).
    """

    G_TERMS = G_TERMS
    D_TERMS = D_TERMS
    FAMILY = "pix2pix"

    SECTION = Pix2PixConfig

    def __init__(self, num_classes, image_size, palette=None, use_instances=False,
                 input_image=False, **kwargs):
        kwargs, hparams = self.split_keras_kwargs(kwargs)
        super().__init__(**kwargs)
        num_downs = hparams.get("num_downs", 8)
        image_size = self._checked_image_size(num_classes, hparams.get("gan_mode", "original"),
                                              image_size, 2 ** num_downs,
                                              f" (num_downs={num_downs})")
        label_input = hparams.get("label_input", "colors")
        if label_input not in LABEL_INPUTS:
            raise ValueError(f"label_input must be one of {LABEL_INPUTS}, got {label_input!r}")
        self._init_hparams(hparams)
        self.input_image = bool(input_image)
        if label_input == "colors" and not self.input_image:
            palette = np.asarray(palette if palette is not None else [], np.float32)
            if palette.shape != (num_classes, 3):
                raise ValueError(f"label_input 'colors' needs a palette of {num_classes} RGB "
                                 f"colours (one per class), got shape {palette.shape}")
            self.palette = palette.astype(int).tolist()
            self.label_colors = palette / 127.5 - 1.0
        else:
            self.palette = None
        self.num_classes, self.image_size, self.use_instances = num_classes, image_size, use_instances
        ngf, ndf, norm = self.ngf, self.ndf, self.norm
        self.generator = UnetGenerator(
            num_downs=num_downs, ngf=ngf, norm=norm, use_dropout=self.use_dropout,
            inference_statistics="running" if self.eval_mode else "image", name="generator")
        # The official n_layers counts the stride-2 convs; ours counts the stride-1 one too.
        self.discriminator = NLayerDiscriminator(
            ndf=ndf, n_layers=self.n_layers_D + 1, norm=norm, spectral_norm=False,
            max_filters=8 * ndf, padding=1, affine_norm=True, name="discriminator")
        self._init_tracking()

    @classmethod
    def from_experiment(cls, config):
        """As the base, with the label space's colours for ``label_input: colors``."""
        space, num_classes, image_size = cls.experiment_sizes(config)
        return cls(num_classes=num_classes, image_size=image_size,
                   palette=space.palette(config.data.dont_care).tolist(),
                   use_instances=config.data.use_instances,
                   input_image=config.data.input == "image", **cls.section_kwargs(config),
                   name=cls.FAMILY)

    # -- inputs ------------------------------------------------------------------
    def build_networks(self):
        """Creates all variables with one forward pass at the smallest size."""
        if self.built:
            return
        size = self.generator.factor
        batch = ({"input": tf.zeros([1, size, size, 3])} if self.input_image
                 else {"label": tf.zeros([1, size, size], tf.int32)})
        if self.use_instances:
            batch["instance"] = tf.zeros([1, size, size], tf.int32)
        segmap = self.condition(batch)
        self.generator(segmap)
        self.discriminator(tf.concat([segmap, tf.zeros([1, size, size, 3])], -1))
        # pix2pix define_G / define_D: init_net(net, init_type, init_gain)
        self._init_networks(self.init, self.init_gain)
        self.built = True

    # -- forward -----------------------------------------------------------------
    def generate(self, batch, training=False):
        return self.generator(self.condition(batch), training=training)

    def call(self, inputs, training=False):
        # (a photo-to-photo model's missing 'input' is condition()'s error)
        if not isinstance(inputs, dict) or (not self.input_image and "label" not in inputs):
            raise ValueError("Pix2Pix expects a dict with an int 'label' map (and 'instance' "
                             "when used)")
        return self.generate(inputs, training=training)

    def discriminate(self, segmap, fake, real, training):
        """(pred_fake, pred_real), one scale each; two passes (batch norm)."""
        pred_fake = [self.discriminator(tf.concat([segmap, fake], -1), training=training)]
        pred_real = None
        if real is not None:
            pred_real = [self.discriminator(tf.concat([segmap, real], -1), training=training)]
        return pred_fake, pred_real

    # -- losses ------------------------------------------------------------------
    def _d_terms(self, segmap, fake, real, training):
        pred_fake, pred_real = self.discriminate(segmap, tf.stop_gradient(fake), real, training)
        return {"D_fake": 0.5 * L.gan_loss(pred_fake, False, True, self.gan_mode),
                "D_real": 0.5 * L.gan_loss(pred_real, True, True, self.gan_mode)}

    def _g_terms(self, segmap, fake, real, training):
        pred_fake, _ = self.discriminate(segmap, fake, None, training)
        l1 = tf.reduce_mean(tf.abs(tf.cast(fake, tf.float32) - tf.cast(real, tf.float32)),
                            axis=[1, 2, 3])
        return {"G_GAN": L.gan_loss(pred_fake, True, False, self.gan_mode),
                "G_L1": self.lambda_L1 * l1,
                "G_VGG": self.vgg_term(fake, real)}

    def compute_losses(self, batch, training=False,
                       parts: Sequence[str] = ("generator", "discriminator")) -> Dict[str, tf.Tensor]:
        """Named per-example loss terms [B] (weighted): G_GAN, G_L1, G_VGG;
        D_real, D_fake (each halved, as the reference)."""
        segmap = self.condition(batch)
        fake = self.generator(segmap, training=training)
        real = tf.cast(batch["image"], fake.dtype)
        terms: Dict[str, tf.Tensor] = {}
        if "discriminator" in parts:
            terms.update(self._d_terms(segmap, fake, real, training))
        if "generator" in parts:
            terms.update(self._g_terms(segmap, fake, real, training))
        return terms

    # -- training ----------------------------------------------------------------
    def train_step(self, batch):
        """pix2pix's ``optimize_parameters``: one G forward; D's step on the
        detached fake; G's step on the same fake against the updated D."""
        segmap = self.condition(batch)
        g_vars, d_vars = self.generator_variables, self.discriminator.trainable_variables
        with tf.GradientTape() as g_tape:
            fake = self.generator(segmap, training=True)
            real = tf.cast(batch["image"], fake.dtype)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    d_terms = self._d_terms(segmap, fake, real, True)
                    d_loss = self._mean(d_terms.values())
                self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
            g_terms = self._g_terms(segmap, fake, real, True)
            g_loss = self._mean(g_terms.values())
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        return self._track_step(g_terms, d_terms)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "image_size": self.image_size, "palette": self.palette,
                "use_instances": self.use_instances, "input_image": self.input_image,
                **self.hparams()}
