"""SEAN (Zhu et al. 2020, "SEAN: Image Synthesis with Semantic Region-Adaptive
Normalization"), the training task: one style code per semantic region.

Owns the SEAN generator, its style encoder (``Zencoder``, trained with G:
the official ``netG`` holds both) and the multi-scale discriminator (every
middle conv at stride 2). Training follows ZPdesu/SEAN (SPADE's trainer):
the generator reconstructs the real photo from the label map and the photo's
own region codes; hinge loss, feature matching 10, VGG 10, no KL; the G step
(E + G forward in training mode), then the D step with a new forward.

Inference (the contract of ``tfsem.models.base``): ``label_map`` (raw ids)
and ``style_codes`` float [B, classes, style_length] (a code per class; a
class's code is used where the class is painted), or, from Python, a
``style_image`` whose codes the encoder takes. The ACE noise is zero at
inference (one photo per input).
"""

from __future__ import annotations

from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsem import losses as L
from tfsem.config.sean import SEANConfig
from tfsem.models.base import ConditionalGAN
from tfsem.networks.multiscale_discriminator import MultiScaleDiscriminator
from tfsem.networks.sean import SEANGenerator, Zencoder

__all__ = ["SEAN"]


@keras.saving.register_keras_serializable(package="tfsem")
class SEAN(ConditionalGAN):
    """SEAN for label map + region styles to image.

    Call: ``model({"label": int [B,H,W], "image": [B,H,W,3] (the style photo) or
    "style_codes": [B, S, style_length]})`` -> image [B,H,W,3] in [-1, 1], with
    S the semantic map's channels.

    Args:
        num_classes: one-hot channels of the label space (don't-care included).
        image_size: (height, width); multiples of 2**upsamplings (32 for ``normal``).
        use_instances: add the instance edge map as a channel (it gets a code too).
        **hparams: the fields of :class:`~tfsem.config.SEANConfig`, with its
            defaults (ZPdesu/SEAN's).
    """

    G_TERMS = ("G_GAN", "G_feat", "G_VGG")
    D_TERMS = ("D_real", "D_fake")
    FAMILY = "sean"
    SECTION = SEANConfig

    def __init__(self, num_classes, image_size, use_instances=False, **kwargs):
        kwargs, hparams = self.split_keras_kwargs(kwargs)
        super().__init__(**kwargs)
        factor = 2 ** (6 if hparams.get("num_upsampling_layers") == "more" else 5)
        image_size = self._checked_image_size(num_classes, hparams.get("gan_mode", "hinge"),
                                              image_size, factor)
        self._init_hparams(hparams)
        self.num_classes, self.image_size, self.use_instances = num_classes, image_size, use_instances
        self.generator = SEANGenerator(
            ngf=self.ngf, num_upsampling_layers=self.num_upsampling_layers,
            spectral_norm=self.spectral_norm_G, hidden_channels=self.hidden_channels,
            style_length=self.style_length, seed=self.seed, name="generator")
        self.encoder = Zencoder(ngf=self.zencoder_ngf, style_length=self.style_length,
                                name="encoder")
        self.discriminator = MultiScaleDiscriminator(
            num_D=self.num_D, n_layers=self.n_layers_D, ndf=self.ndf, norm=self.norm_D,
            spectral_norm=self.spectral_norm_D, last_stride=2, name="discriminator")
        #: The ACE noise source in training: None draws ``keras.random.normal``
        #: from the layer's seed; a callable ``(layer_name, x) -> [B,H,W,1]`` gives it
        #: (tests inject the official code's draws). Inference never adds noise.
        self.ace_noise = None
        self._init_tracking()

    @property
    def style_slots(self) -> int:
        """S: one style code per channel of the semantic map."""
        return self.num_classes + int(self.use_instances)

    # -- inference -----------------------------------------------------------------
    def style_specs(self, batch=None, height=None, width=None, optional=False):
        specs = [tf.TensorSpec([batch, self.style_slots, self.style_length], tf.float32,
                               name="style_codes")]
        if optional:
            specs.append(tf.TensorSpec([batch, height, width, 3], tf.float32, name="style_image"))
        return specs

    def encode_styles(self, label_map, style_image, instance_map=None):
        """Region codes [B, S, style_length] of photos ``style_image`` [B,H,W,3] in
        [-1, 1] over their own raw label maps ``label_map`` [B,H,W] (the official
        ``Zencoder``: zeros for classes the map does not hold)."""
        batch = {"label": self.class_indices(tf.convert_to_tensor(label_map, tf.int32)),
                 "image": tf.convert_to_tensor(style_image, tf.float32)}
        if instance_map is not None:
            batch["instance"] = tf.convert_to_tensor(instance_map, tf.int32)
        return self.batch_style_codes(batch)

    def batch_style_codes(self, batch):
        """Region codes [B, S, style_length] of a data batch's photos over its maps."""
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        return self.encoder(batch["image"], segmap, training=False)

    def alternate_looks(self, batch=None, height=None, width=None):
        """``predict_style``: a style photo uint8 [B,H,W,3] (the Zencoder in the
        graph takes its region codes over the label map) instead of codes."""
        maps = [s for s in self.inference_specs(batch, height, width) if s.name != "style_codes"]
        return {"predict_style": maps + [tf.TensorSpec([batch, height, width, 3], tf.uint8,
                                                       name="style_image")]}

    def attach_run_files(self, folder: str) -> None:
        """``RUN/mean_codes.npz`` (``python -m tfsem.encode_styles``), when there,
        becomes the default look: the codes a render takes when given none, and
        the dream chain's."""
        import os

        from tfsem.styles import MEAN_CODES_FILE, load_styles

        path = os.path.join(folder, MEAN_CODES_FILE)
        if os.path.isfile(path):
            self.attach_default_codes(load_styles(path, self.style_slots,
                                                  self.style_length).codes[0])

    def attach_default_codes(self, codes) -> None:
        """Codes [S, style_length] for renders given none (zero for absent classes)."""
        codes = np.asarray(codes, np.float32)
        if codes.shape != (self.style_slots, self.style_length):
            raise ValueError(f"default style codes must be [{self.style_slots}, "
                             f"{self.style_length}], got {list(codes.shape)}")
        self._default_codes = codes

    def default_codes(self, batch) -> tf.Tensor:
        """[batch, S, style_length]: the attached default codes, or zeros."""
        codes = getattr(self, "_default_codes", None)
        if codes is None:
            return tf.zeros([batch, self.style_slots, self.style_length])
        return tf.tile(tf.constant(codes)[None], [batch, 1, 1])

    def random_look(self, seeds, stream: int = 1):
        """The dream chain's look: the default codes (the mean codes), for any seed."""
        return {"style_codes": self.default_codes(tf.shape(seeds)[0])}

    def inference_variables(self) -> list:
        return list(self.generator.variables) + list(self.encoder.variables)

    def render(self, segmap, index, instance_map=None, style_codes=None, style_image=None):
        if style_image is not None:
            if style_image.dtype == tf.uint8:  # a served photo: [0, 255] -> [-1, 1]
                style_image = tf.cast(style_image, tf.float32) / 127.5 - 1.0
            style_codes = self.encoder(style_image, segmap)
        if style_codes is None:
            raise ValueError("SEAN renders with style codes: pass 'style_codes' [B, classes, "
                             f"{self.style_length}] or a style image")
        return self.generator(segmap, tf.cast(style_codes, segmap.dtype), training=False)

    def style_inputs(self, inputs, seeds, z=None, style=None, cluster=None,
                     instance_clusters=None, style_codes=None) -> dict:
        """A style photo (its region codes), else ``style_codes``; without either,
        the default codes (``mean_codes.npz`` of the run), else zeros (SPADE's
        branch alone styles every region)."""
        super().style_inputs(inputs, seeds, z=z, cluster=cluster,
                             instance_clusters=instance_clusters)
        if style is not None:
            return {"style_image": tf.convert_to_tensor(style, tf.float32)}
        batch = len(seeds)
        if style_codes is not None:
            codes = tf.convert_to_tensor(style_codes, tf.float32)
            expected = (batch, self.style_slots, self.style_length)
            if codes.shape.rank == 2:
                codes = tf.repeat(codes[None], batch, axis=0)
            if tuple(codes.shape) != expected:
                raise ValueError(f"style_codes must be [batch, {self.style_slots}, "
                                 f"{self.style_length}], got {list(codes.shape)}")
            return {"style_codes": codes}
        return {"style_codes": self.default_codes(batch)}

    # -- networks --------------------------------------------------------------------
    def build_networks(self):
        if self.built:
            return
        h, w = self.image_size
        batch = {"label": tf.zeros([1, h, w], tf.int32), "image": tf.zeros([1, h, w, 3])}
        if self.use_instances:
            batch["instance"] = tf.zeros([1, h, w], tf.int32)
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        self.generate(batch)
        self.discriminator(tf.concat([segmap, batch["image"]], -1), training=False)
        self._init_networks(self.init, self.init_gain, self.seed)
        self.built = True

    def generate(self, batch, training=False):
        """Photo of ``batch``'s label map with the codes of ``batch["image"]`` (or
        ``batch["style_codes"]``)."""
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        codes = batch.get("style_codes")
        if codes is None:
            if batch.get("image") is None:
                raise ValueError("SEAN needs a style photo ('image') or 'style_codes'")
            codes = self.encoder(batch["image"], segmap, training=training)
        return self.generator(segmap, tf.cast(codes, segmap.dtype), training=training,
                              noise=self.ace_noise if training else None)

    def render_batch(self, batch):
        """The batch's photos rendered with their own region codes (reconstruction)."""
        return self(dict(batch), training=False)

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or "label" not in inputs:
            raise ValueError("SEAN expects a dict with an int 'label' map and an 'image' "
                             "(style photo) or 'style_codes'")
        return self.generate(inputs, training=training)

    # -- losses ------------------------------------------------------------------------
    def generator_terms(self, batch, fake, training):
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        real = tf.cast(batch["image"], fake.dtype)
        pred_fake, pred_real = self.discriminate(segmap, fake, real, training)
        zeros = tf.zeros([tf.shape(fake)[0]], tf.float32)
        return {"G_GAN": L.gan_loss(pred_fake, True, False, self.gan_mode),
                "G_feat": (self.lambda_feat * L.feature_matching_loss(pred_fake, pred_real)
                           if self.lambda_feat > 0 else zeros),
                "G_VGG": self.vgg_term(fake, real)}

    def compute_losses(self, batch, training=False,
                       parts: Sequence[str] = ("generator", "discriminator")) -> Dict[str, tf.Tensor]:
        """Named per-example terms [B] of ONE forward (the photo reconstructed
        from its own codes)."""
        fake = self.generate({k: v for k, v in batch.items() if k != "style_codes"},
                             training=training)
        terms: Dict[str, tf.Tensor] = {}
        if "discriminator" in parts:
            terms.update(self.discriminator_terms(batch, tf.stop_gradient(fake), training))
        if "generator" in parts:
            terms.update(self.generator_terms(batch, fake, training))
        return terms

    def train_step(self, batch):
        """SPADE's ``Pix2PixTrainer`` as ZPdesu/SEAN runs it: the G (+E) step, then
        the D step on a new E + G forward with the updated G."""
        g_vars = self.generator_variables
        with tf.GradientTape() as tape:
            fake = self.generate(batch, training=True)
            g_terms = self.generator_terms(batch, fake, True)
            g_loss = self._mean(g_terms.values())
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        return self._track_step(g_terms, self.discriminator_step(
            batch, self.generate(batch, training=True)))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "image_size": self.image_size, "use_instances": self.use_instances,
                **self.hparams()}
