"""A task and its optimisers from an experiment config."""

from __future__ import annotations

from typing import Optional

import keras

from tfsem import registry
from tfsem.config import ExperimentConfig
from tfsem.optimizers import FusedAdam

__all__ = ["LinearDecay", "build_model", "compile_model"]


def build_model(config: ExperimentConfig):
    """The (unbuilt) task of ``config``: its family's (``tfsem.registry``)."""
    return registry.family_of(config).build(config)


@keras.saving.register_keras_serializable(package="tfsem")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant ``initial`` until ``total - decay`` steps, then linear to 0 at
    ``total`` (pix2pixHD's and SPADE's niter / niter_decay)."""

    def __init__(self, initial, total, decay):
        self.initial, self.total, self.decay = float(initial), int(total), int(decay)

    def __call__(self, step):
        import tensorflow as tf

        step = tf.cast(step, tf.float32)
        start = float(self.total - self.decay)
        frac = tf.clip_by_value((step - start) / float(max(self.decay, 1)), 0.0, 1.0)
        return self.initial * (1.0 - frac)

    def get_config(self):
        return {"initial": self.initial, "total": self.total, "decay": self.decay}


def compile_model(model, config: ExperimentConfig, vgg_loss=None,
                  num_examples: Optional[int] = None):
    """Compiles with the config's optimisers (call inside the strategy scope).
    ``num_examples`` (the training split's size) resolves an epoch schedule."""
    opt = config.optimizer
    total, decay = config.schedule(num_examples)

    def rate(lr):
        return LinearDecay(lr, total, decay) if decay else lr

    model.compile(
        g_optimizer=FusedAdam(rate(opt.g_lr), beta_1=opt.beta_1, beta_2=opt.beta_2),
        d_optimizer=FusedAdam(rate(opt.d_lr), beta_1=opt.beta_1, beta_2=opt.beta_2),
        vgg_loss=vgg_loss)
    return model
