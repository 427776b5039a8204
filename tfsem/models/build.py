"""Build a model and its optimisers from an experiment config."""

from __future__ import annotations

import dataclasses

import keras

from tfsem.config import ConfigError, ExperimentConfig
from tfsem.data.labels import load_label_space

__all__ = ["build_model", "compile_model"]


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
    raise ConfigError(f"model.type {config.model.type!r} is not implemented")


def compile_model(model, config: ExperimentConfig, vgg_loss=None):
    """Compiles with the config's optimisers (call inside the strategy scope)."""
    opt = config.optimizer
    model.compile(
        g_optimizer=keras.optimizers.Adam(opt.g_lr, beta_1=opt.beta_1, beta_2=opt.beta_2),
        d_optimizer=keras.optimizers.Adam(opt.d_lr, beta_1=opt.beta_1, beta_2=opt.beta_2),
        vgg_loss=vgg_loss)
    return model
