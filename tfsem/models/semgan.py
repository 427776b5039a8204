"""SemGAN (Ghelfi, Galeone, De Simoni, Di Mattia 2019, "Adversarial
Pixel-Level Generation of Semantic Images", arXiv 1906.12195), the training
task.

The generator models the per-pixel CLASS DISTRIBUTION (a softmax over the
label space's classes) instead of label colours; a sample is the per-pixel
argmax, so every pixel is a valid class id without post-processing.

The discriminator sees real maps as one-hot vectors and generated maps as
class distributions. One-hot real maps and soft generated maps differ in a
way that has nothing to do with scene layout (a D can tell them apart by
their sharpness alone), so the representation of the generated maps is a
choice (``relaxation``), measured in the SemGAN report (docs/models/semgan.md):

* ``softmax``: D sees the softmax probabilities;
* ``gumbel_st``: straight-through Gumbel-softmax (Jang et al. 2017): D sees
  an exactly one-hot sample of the per-pixel distribution in the forward
  pass, gradients flow through the soft sample ``softmax((logits + g) /
  tau)``; ``tau`` anneals exponentially from ``tau_start`` to ``tau_end``
  over ``tau_anneal_steps`` generator steps.

``real_smoothing`` s > 0 softens the REAL one-hot maps instead (Salimans
et al. 2016's label smoothing idea, applied to the inputs): each pixel keeps
a random weight m ~ U(1 - s, 1) on its class and spreads 1 - m over a random
distribution, so sharpness no longer tells real from fake. With
``fake_smoothing`` the fakes get the same noise before D sees them (instance
noise on both sides, as Sonderby et al. 2017): a generator then need not
imitate the reals' per-pixel noise with its own high-frequency logits.
``smoothing_end`` anneals s linearly to that value over
``smoothing_anneal_steps`` training iterations (Sonderby et al.'s annealed
instance noise), so D sees sharper maps late in training.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfsem.data.preprocess import one_hot
from tfsem.models.label_map_gan import LabelMapGAN

__all__ = ["RELAXATIONS", "SemGAN", "straight_through_gumbel_softmax"]

RELAXATIONS = ("softmax", "gumbel_st")


def straight_through_gumbel_softmax(logits, tau, seed=None):
    """(hard, soft): an exactly one-hot sample of softmax(logits) per pixel whose
    gradient is that of the soft Gumbel-softmax sample, and the soft sample.

    ``hard`` equals ``one_hot(argmax(logits + g))`` bit for bit in the forward
    pass (``soft - stop_gradient(soft)`` is exactly 0 for finite values).
    """
    logits = tf.cast(logits, tf.float32)
    u = keras.random.uniform(tf.shape(logits), minval=1e-6, maxval=1.0 - 1e-6, seed=seed)
    soft = tf.nn.softmax((logits - tf.math.log(-tf.math.log(u))) / tau, axis=-1)
    hard = one_hot(tf.argmax(soft, axis=-1, output_type=tf.int32), logits.shape[-1])
    return hard + (soft - tf.stop_gradient(soft)), soft


@keras.saving.register_keras_serializable(package="tfsem")
class SemGAN(LabelMapGAN):
    """SemGAN: z -> per-pixel class distributions; samples are int label maps.

    Call: ``model(z)`` -> class probabilities float32 [B, H, W, num_classes];
    ``model.sample(z)`` / ``model.sample_seeds(seeds)`` -> int32 class
    indices [B, H, W].

    Args (beyond :class:`~tfsem.models.label_map_gan.LabelMapGAN`'s):
        relaxation: ``softmax`` or ``gumbel_st`` (see the module doc).
        tau_start, tau_end, tau_anneal_steps: the Gumbel temperature schedule.
        real_smoothing: in [0, 1): softening of the real one-hot maps (0: off).
        fake_smoothing: also soften the fakes D sees, the same way (training
            only; nothing to add with ``real_smoothing`` 0); None: on for
            ``block="style"``, off for the others.
        smoothing_end, smoothing_anneal_steps: s goes linearly from
            ``real_smoothing`` to ``smoothing_end`` over that many training
            iterations, then stays; None: s stays ``real_smoothing``.

    Defaults (softmax, real_smoothing 0.3, on both sides of D for the style
    block) are the best-measuring settings of the SemGAN reports
    (docs/models/semgan.md).
    """

    def __init__(self, num_classes, image_size, relaxation="softmax", tau_start=1.0,
                 tau_end=0.3, tau_anneal_steps=2000, real_smoothing=0.3, fake_smoothing=None,
                 smoothing_end=None, smoothing_anneal_steps=2000, **kwargs):
        if relaxation not in RELAXATIONS:
            raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
        if not 0 < tau_end <= tau_start:
            raise ValueError(f"need 0 < tau_end <= tau_start, got tau_start={tau_start}, "
                             f"tau_end={tau_end}")
        if tau_anneal_steps < 0:
            raise ValueError(f"tau_anneal_steps must be >= 0, got {tau_anneal_steps}")
        if not 0.0 <= real_smoothing < 1.0:
            raise ValueError(f"real_smoothing must be in [0, 1), got {real_smoothing}")
        if smoothing_end is not None and not 0.0 <= smoothing_end < 1.0:
            raise ValueError(f"smoothing_end must be in [0, 1) or None, got {smoothing_end}")
        if smoothing_anneal_steps < 0:
            raise ValueError(f"smoothing_anneal_steps must be >= 0, got {smoothing_anneal_steps}")
        super().__init__(num_classes, image_size, **kwargs)
        self.relaxation = relaxation
        self.tau_start, self.tau_end = float(tau_start), float(tau_end)
        self.tau_anneal_steps = int(tau_anneal_steps)
        self.real_smoothing = float(real_smoothing)
        self.fake_smoothing = (self.block == "style" if fake_smoothing is None
                               else bool(fake_smoothing))
        self.smoothing_end = None if smoothing_end is None else float(smoothing_end)
        self.smoothing_anneal_steps = int(smoothing_anneal_steps)
        self.gumbel_seed = keras.random.SeedGenerator(None if self.seed is None else self.seed + 1)
        self.smoothing_seed = keras.random.SeedGenerator(
            None if self.seed is None else self.seed + 2)

    @classmethod
    def from_experiment(cls, config):
        _, num_classes, image_size = cls.experiment_sizes(config)
        return cls(num_classes=num_classes, image_size=image_size,
                   **cls.experiment_kwargs(config), name="semgan")

    @property
    def output_channels(self) -> int:
        return self.num_classes

    def anneal_fraction(self, steps: int):
        """How far an anneal over ``steps`` training iterations has come: in
        [0, 1], 1 from iteration ``max(steps, 1)`` on."""
        step = tf.cast(self.train_iterations, tf.float32)
        return tf.minimum(step / float(max(steps, 1)), 1.0)

    def tau(self):
        """The Gumbel temperature at the current generator step."""
        frac = self.anneal_fraction(self.tau_anneal_steps)
        return self.tau_start * (self.tau_end / self.tau_start) ** frac

    def call(self, z, training=False, **style):
        return tf.nn.softmax(tf.cast(super().call(z, training=training, **style), tf.float32),
                             axis=-1)

    def labels_from_output(self, output):
        return tf.argmax(output, axis=-1, output_type=tf.int32)

    def fake_input(self, raw, training=False):
        if self.relaxation == "gumbel_st":
            return straight_through_gumbel_softmax(raw, self.tau(), self.gumbel_seed)[0]
        return tf.nn.softmax(tf.cast(raw, tf.float32), axis=-1)

    @property
    def smoothing_on(self) -> bool:
        """Whether D's inputs are smoothed at some point of training."""
        return self.real_smoothing > 0 or bool(self.smoothing_end)

    def smoothing(self):
        """The softening s at the current training iteration (``real_smoothing``,
        annealed linearly to ``smoothing_end`` when that is set)."""
        if self.smoothing_end is None:
            return tf.constant(self.real_smoothing, tf.float32)
        frac = self.anneal_fraction(self.smoothing_anneal_steps)
        return self.real_smoothing + (self.smoothing_end - self.real_smoothing) * frac

    def smooth(self, maps):
        """``real_smoothing``'s softening of class distributions [B, H, W, C]: each
        pixel keeps a weight m ~ U(1 - s, 1) and spreads 1 - m over a random
        distribution (s: ``smoothing()``)."""
        shape = tf.shape(maps)
        keep = keras.random.uniform(tf.concat([shape[:-1], [1]], 0),
                                    minval=1.0 - self.smoothing(), maxval=1.0,
                                    seed=self.smoothing_seed)
        noise = keras.random.uniform(shape, seed=self.smoothing_seed)
        noise /= tf.reduce_sum(noise, axis=-1, keepdims=True)
        return keep * maps + (1.0 - keep) * noise

    def real_input(self, label, training=False):
        real = one_hot(label, self.num_classes)
        return self.smooth(real) if self.smoothing_on and training else real

    def discriminator_fake(self, fake, training=False):
        if self.fake_smoothing and self.smoothing_on and training:
            return self.smooth(fake)
        return fake

    def get_config(self):
        return {**super().get_config(), "relaxation": self.relaxation,
                "tau_start": self.tau_start, "tau_end": self.tau_end,
                "tau_anneal_steps": self.tau_anneal_steps,
                "real_smoothing": self.real_smoothing, "fake_smoothing": self.fake_smoothing,
                "smoothing_end": self.smoothing_end,
                "smoothing_anneal_steps": self.smoothing_anneal_steps}
