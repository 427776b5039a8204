"""What the GAN tasks share.

:class:`GANTask` (every family: SemGAN, GauGAN, Pix2PixHD): the two
optimisers, loss-term trackers, the D-then-G ``train_step``, ``test_step``
and the replica-aware loss reduction. :class:`ConditionalGAN` (the
label-to-photo tasks): the conditional multi-scale discriminator pass, the
semantic input and the VGG term."""

from __future__ import annotations

from typing import Dict, Tuple

import keras
import tensorflow as tf

from tfsem import losses as L
from tfsem.data.preprocess import semantic_map
from tfsem.layers.init import init_weights

__all__ = ["FORMAT_VERSION", "ConditionalGAN", "GANTask", "copy_matching_variables",
           "split_predictions"]

#: Saved label-to-photo models carry this in their config. 2 (tfsem 0.2): the
#: networks compute what the official code computes (PyTorch nearest indexing,
#: pix2pixHD padding and discriminator depth, SPADE encoder width); models
#: saved by tfsem 0.1 (no version) give other outputs or do not fit.
FORMAT_VERSION = 2


def split_predictions(pred) -> Tuple[list, list]:
    """Splits D outputs of concat([fake, real]) into the fake and real halves."""
    fake, real = [], []
    for scale in pred:
        halves = [tf.split(f, 2, axis=0) for f in scale]
        fake.append([h[0] for h in halves])
        real.append([h[1] for h in halves])
    return fake, real


class GANTask(keras.Model):
    """Base of every GAN task: a ``generator`` and a ``discriminator`` trained
    by alternating steps, each with its own optimiser.

    Subclasses set ``self.generator``, ``self.discriminator`` (and
    ``self.encoder``, trained with the generator, or None), the class
    attributes ``G_TERMS`` / ``D_TERMS``, implement ``build_networks()`` and
    ``compute_losses(batch, training, parts)`` (named per-example terms [B]),
    and call ``_init_tracking()``.
    """

    G_TERMS: Tuple[str, ...] = ()
    D_TERMS: Tuple[str, ...] = ()

    @staticmethod
    def _checked_image_size(num_classes, gan_mode, image_size, factor, why=""):
        """Validates the arguments every task shares; returns image_size as a tuple."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if gan_mode not in L.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {L.GAN_MODES}, got {gan_mode!r}")
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or image_size[0] % factor or image_size[1] % factor:
            raise ValueError(f"image_size must be (height, width) with both multiples of "
                             f"{factor}{why}, got {image_size}")
        return image_size

    def build(self, input_shape=None):
        self.build_networks()

    def get_build_config(self):
        # Variables do not depend on input shapes: rebuilding needs no shape.
        return {"build_networks": True}

    def build_from_config(self, config):
        self.build_networks()

    def _init_tracking(self):
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in self.G_TERMS + self.D_TERMS + ("G_loss", "D_loss")}

    def _compile_optimizers(self, g_optimizer, d_optimizer):
        self.build_networks()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.g_optimizer.build(self.generator_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def generator_variables(self):
        """What the G step trains: the generator (+ the encoder, trained jointly)."""
        out = list(self.generator.trainable_variables)
        if getattr(self, "encoder", None) is not None:
            out += list(self.encoder.trainable_variables)
        return out

    def generator_gradients(self, grads, variables):
        """Hook to change the G step's gradients (pix2pixHD freezes G1 here)."""
        return grads

    def train_step(self, batch):
        # Discriminator step, then generator step; each with its own tape and
        # an explicit variable list (no trainable toggling).
        with tf.GradientTape() as tape:
            d_terms = self.compute_losses(batch, training=True, parts=("discriminator",))
            d_loss = self._mean(d_terms.values())
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        with tf.GradientTape() as tape:
            g_terms = self.compute_losses(batch, training=True, parts=("generator",))
            g_loss = self._mean(g_terms.values())
        g_vars = self.generator_variables
        grads = self.generator_gradients(tape.gradient(g_loss, g_vars), g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars))
        return self._track({**d_terms, **g_terms,
                            "G_loss": tf.add_n(list(g_terms.values())),
                            "D_loss": tf.add_n(list(d_terms.values()))})

    def test_step(self, batch):
        terms = self.compute_losses(batch, training=False)
        return self._track({**terms,
                            "G_loss": tf.add_n([terms[k] for k in self.G_TERMS]),
                            "D_loss": tf.add_n([terms[k] for k in self.D_TERMS])})

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _track(self, terms: Dict[str, tf.Tensor]):
        for name, value in terms.items():
            self.trackers[name].update_state(tf.reduce_mean(value))
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @staticmethod
    def _mean(values):
        """Per-example terms -> the replica's share of the global mean."""
        return tf.nn.compute_average_loss(tf.add_n(list(values)))


class ConditionalGAN(GANTask):
    """Base of the tasks with a ``discriminator`` that sees concat(segmap, image).

    Beyond :class:`GANTask`, subclasses set ``self.lambda_vgg``,
    ``self.vgg_weights``, ``num_classes`` and ``use_instances``.
    """

    def get_config(self):
        return {**super().get_config(), "format_version": FORMAT_VERSION}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        version = config.pop("format_version", 1)
        if version != FORMAT_VERSION:
            saved_by = "tfsem 0.1" if version == 1 else f"model format {version}"
            raise ValueError(
                f"this {cls.__name__} model was saved by {saved_by}; this tfsem reads format "
                f"{FORMAT_VERSION}, whose networks match the official code (nearest-resize "
                "indexing, pix2pixHD padding and discriminator depth, the SPADE encoder "
                "width), so its weights no longer "
                "reproduce its outputs: retrain it, or convert an official checkpoint with "
                "python -m tfsem.convert")
        return cls(**config)

    def semantic_input(self, label, instance=None):
        """INT label (+ instance) maps -> float [B,H,W,C(+1)]: one-hot (+ edge map)."""
        if self.use_instances and instance is None:
            raise ValueError("this model uses instance maps: pass 'instance' with the label map")
        return semantic_map(label, instance, self.num_classes, self.use_instances)

    def _init_tracking(self):
        super()._init_tracking()
        self._set_vgg_loss(None)

    def discriminate(self, segmap, fake, real, training):
        """(pred_fake, pred_real): fake and real in one batch, as the references."""
        pred = self.discriminator(tf.concat([tf.concat([segmap, fake], -1),
                                             tf.concat([segmap, real], -1)], 0), training=training)
        return split_predictions(pred)

    def vgg_term(self, fake, real):
        if self.lambda_vgg <= 0:
            return tf.zeros([tf.shape(fake)[0]], tf.float32)
        if self.vgg_loss is None:
            raise ValueError("lambda_vgg > 0 but the VGG loss is not loaded: call compile() "
                             "first, or set lambda_vgg=0")
        return self.lambda_vgg * self.vgg_loss(fake, real)

    def _set_vgg_loss(self, vgg_loss):
        # Deliberately not tracked by Keras: the fixed VGG19 weights (80 MB) are
        # a training-time tool, not part of the saved model.
        object.__setattr__(self, "vgg_loss", vgg_loss)

    def _init_networks(self, scheme, gain, seed=None):
        """The official initialisation of every network (``tfsem.layers.init``)."""
        for network in (self.generator, self.discriminator, getattr(self, "encoder", None)):
            if network is not None:
                init_weights(network, scheme, gain, seed)

    def _compile_gan(self, g_optimizer, d_optimizer, vgg_loss, family):
        """Optimisers (default: Adam with ``family``'s ``FAMILY_OPTIMIZER_DEFAULTS``,
        the same numbers a config without an ``optimizer`` section gets) and the VGG loss."""
        from tfsem.config import FAMILY_OPTIMIZER_DEFAULTS

        d = FAMILY_OPTIMIZER_DEFAULTS[family]
        self._compile_optimizers(
            g_optimizer or keras.optimizers.Adam(d["g_lr"], beta_1=d["beta_1"], beta_2=d["beta_2"]),
            d_optimizer or keras.optimizers.Adam(d["d_lr"], beta_1=d["beta_1"], beta_2=d["beta_2"]))
        if self.lambda_vgg > 0:
            self._set_vgg_loss(vgg_loss or L.VGGPerceptualLoss(self.vgg_weights, name="vgg_loss"))


def copy_matching_variables(source, target) -> int:
    """Assigns ``source``'s variables to ``target``'s with the same path below
    their models; every target variable must be found, with the same shape
    (a stage-2 G1 has no RGB head, so the stage-1 head is left out)."""
    def key_of(v):  # the path below the owning model: "global_generator/conv_in/conv/kernel"
        return v.path.split("/", 1)[-1]

    sources = {key_of(v): v for v in source.variables}
    count = 0
    for v in target.variables:
        key = key_of(v)
        if key not in sources:
            raise ValueError(f"init_from: the source model has no variable {key!r} "
                             f"(source {source.name}: {len(sources)} variables)")
        if tuple(sources[key].shape) != tuple(v.shape):
            raise ValueError(f"init_from: {key!r} has shape {tuple(sources[key].shape)} in the "
                             f"source and {tuple(v.shape)} here: stage 2 needs ngf * "
                             f"2**n_local_enhancers equal to stage 1's ngf")
        v.assign(sources[key])
        count += 1
    return count
