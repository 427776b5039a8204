"""A task and its optimisers from an experiment config."""

from __future__ import annotations

import math
from typing import Optional

import keras

from tfsem import registry
from tfsem.config import ExperimentConfig
from tfsem.optimizers import lazy_adam_settings, make_adam

__all__ = ["LR_DECAY_RULES", "LinearDecay", "build_model", "compile_model"]

LR_DECAY_RULES = ("niter_decay", "pix2pix")


def build_model(config: ExperimentConfig):
    """The (unbuilt) task of ``config``: its family's (``tfsem.registry``)."""
    return registry.family_of(config).build(config)


@keras.saving.register_keras_serializable(package="tfsem")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The official codes' linear decay, a staircase of epochs.

    Training lasts ``total`` steps, of which the last ``decay`` decay, in
    epochs of ``steps_per_epoch`` steps (1 when the config counts steps).
    With ``e`` the 0-based epoch of ``step`` (the optimiser's iteration count
    before the update) and ``niter = (total - decay) / steps_per_epoch``,
    ``niter_decay = decay / steps_per_epoch``, the rate is ``initial`` times

    - ``niter_decay`` rule: ``1 - max(0, e - niter) / niter_decay``.
      NVlabs/SPADE ``Pix2PixTrainer.update_learning_rate`` and NVIDIA/pix2pixHD
      ``update_learning_rate``: after each epoch past ``niter`` the rate drops
      by ``lr / niter_decay`` (SPADE's TTUR halves / doubles the decayed rate
      for G / D, i.e. both scale by this factor).
    - ``pix2pix`` rule: ``1 - max(0, e + 2 - niter) / (niter_decay + 1)``.
      junyanz/pytorch-CycleGAN-and-pix2pix ``networks.get_scheduler``
      (``lr_policy linear``: ``1 - max(0, epoch + epoch_count - n_epochs) /
      (n_epochs_decay + 1)``, ``epoch_count`` 1), stepped at the beginning of
      every epoch (``train.py``), so epoch ``e`` (0-based) trains at the
      factor of ``epoch = e + 1``.
    """

    def __init__(self, initial, total, decay, steps_per_epoch=1, rule="niter_decay"):
        if rule not in LR_DECAY_RULES:
            raise ValueError(f"rule must be one of {LR_DECAY_RULES}, got {rule!r}")
        self.initial, self.total, self.decay = float(initial), int(total), int(decay)
        self.steps_per_epoch, self.rule = max(int(steps_per_epoch), 1), rule

    def __call__(self, step):
        import tensorflow as tf

        per_epoch = self.steps_per_epoch
        epoch = tf.math.floordiv(tf.cast(step, tf.int64), per_epoch)
        niter = (self.total - self.decay) // per_epoch
        niter_decay = max(math.ceil(self.decay / per_epoch), 1)
        if self.rule == "pix2pix":
            passed, span = epoch + 2 - niter, niter_decay + 1
        else:
            passed, span = epoch - niter, niter_decay
        frac = tf.clip_by_value(tf.cast(passed, tf.float32) / float(span), 0.0, 1.0)
        return self.initial * (1.0 - frac)

    def get_config(self):
        return {"initial": self.initial, "total": self.total, "decay": self.decay,
                "steps_per_epoch": self.steps_per_epoch, "rule": self.rule}


def compile_model(model, config: ExperimentConfig, vgg_loss=None,
                  num_examples: Optional[int] = None):
    """Compiles with the config's optimisers (call inside the strategy scope).
    ``num_examples`` (the training split's size) resolves an epoch schedule."""
    opt = config.optimizer
    total, decay = config.schedule(num_examples)
    family = registry.family_of(config)
    per_epoch = config.steps_per_epoch(num_examples) if opt.decay_epochs is not None else 1

    def rate(lr):
        return LinearDecay(lr, total, decay, per_epoch, family.lr_decay) if decay else lr

    kind = model.adam_kind(family.adam)

    def adam(lr, ratio):  # ratio: StyleGAN2's lazy regularisation (GANTask.optimizer_ratios)
        lr, beta_1, beta_2 = lazy_adam_settings(lr, opt.beta_1, opt.beta_2, ratio)
        return make_adam(kind, rate(lr), beta_1, beta_2)

    g_ratio, d_ratio = model.optimizer_ratios()
    model.compile(g_optimizer=adam(opt.g_lr, g_ratio), d_optimizer=adam(opt.d_lr, d_ratio),
                  vgg_loss=vgg_loss)
    return model
