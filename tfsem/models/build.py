"""Build a model and its optimisers from an experiment config."""

from __future__ import annotations

import dataclasses

import keras

from tfsem.config import ConfigError, ExperimentConfig
from tfsem.data.labels import load_label_space

__all__ = ["LinearDecay", "build_model", "compile_model"]


def build_model(config: ExperimentConfig):
    """The (unbuilt) model of ``config``; sizes come from the data section."""
    if config.model is None:
        raise ConfigError(f"config {config.name!r} has no 'model' section: it only describes data")
    space = load_label_space(config.data.label_space)
    num_classes = space.num_channels(config.data.dont_care)
    if config.model.type == "gaugan":
        from tfsem.models.gaugan import GauGAN

        return GauGAN(num_classes=num_classes, image_size=config.image_size(),
                      use_instances=config.data.use_instances,
                      **dataclasses.asdict(config.model.gaugan), name="gaugan")
    if config.model.type == "pix2pixhd":
        from tfsem.models.pix2pixhd import Pix2PixHD

        return Pix2PixHD(num_classes=num_classes, image_size=config.image_size(),
                         use_instances=config.data.use_instances,
                         **dataclasses.asdict(config.model.pix2pixhd), name="pix2pixhd")
    if config.model.type == "semgan":
        kwargs = dataclasses.asdict(config.model.semgan)
        output = kwargs.pop("output")
        if output == "colors":
            from tfsem.models.color_label_gan import ColorLabelGAN

            for name in ("relaxation", "tau_start", "tau_end", "tau_anneal_steps",
                         "real_smoothing"):
                kwargs.pop(name)
            return ColorLabelGAN(num_classes=num_classes, image_size=config.image_size(),
                                 palette=space.palette(config.data.dont_care), **kwargs,
                                 name="color_label_gan")
        from tfsem.models.semgan import SemGAN

        return SemGAN(num_classes=num_classes, image_size=config.image_size(), **kwargs,
                      name="semgan")
    raise ConfigError(f"model.type {config.model.type!r} is not implemented")


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


def compile_model(model, config: ExperimentConfig, vgg_loss=None):
    """Compiles with the config's optimisers (call inside the strategy scope)."""
    opt = config.optimizer

    def rate(lr):
        return LinearDecay(lr, config.train.steps, opt.decay_steps) if opt.decay_steps else lr

    model.compile(
        g_optimizer=keras.optimizers.Adam(rate(opt.g_lr), beta_1=opt.beta_1, beta_2=opt.beta_2),
        d_optimizer=keras.optimizers.Adam(rate(opt.d_lr), beta_1=opt.beta_1, beta_2=opt.beta_2),
        vgg_loss=vgg_loss)
    return model
