"""Experiment configuration: nested frozen dataclasses loaded strictly from JSON.

Every field name equals the keyword argument it feeds, so a config section can
be splatted into a constructor. Loading is strict (``tfsem.config.schema``):
an unknown key names its dotted path and the closest valid key; a wrong type
or enum value says what was expected and what was received; cross-field rules
live in each section's ``validate()``. ``model`` is a one-of: ``type`` picks
a family of ``tfsem.registry`` and only that family's section is accepted and
written.

The resolved config (defaults filled in) is written back with
:func:`save_config` next to checkpoints and exports, so every artifact can be
rebuilt from it. ``python -m tfsem.config --describe gaugan`` lists a
family's fields.

Modules: ``schema`` (strict conversion, overrides, descriptions), ``data``,
one per family (``gaugan``, ``pix2pix``, ``pix2pixhd``, ``semgan``), ``experiment``.
"""

from tfsem.config.data import (DataConfig, FolderLayoutConfig, PreprocessConfig, TFDSConfig,
                               ToyStreetsConfig)
from tfsem.config.experiment import (DEFAULT_STEPS, ExperimentConfig, ModelConfig,
                                     OptimizerConfig, TrainConfig, load_config, save_config,
                                     written_config_dict)
from tfsem.config.gaugan import GauGANConfig
from tfsem.config.pix2pix import Pix2PixConfig
from tfsem.config.pix2pixhd import Pix2PixHDConfig
from tfsem.config.schema import (ConfigError, apply_overrides, config_from_dict, config_to_dict,
                                 describe)
from tfsem.config.sean import SEANConfig
from tfsem.config.semgan import SemGANConfig


__all__ = [
    "ConfigError", "DEFAULT_STEPS", "DataConfig", "ExperimentConfig",
    "FolderLayoutConfig", "GauGANConfig", "ModelConfig", "OptimizerConfig", "Pix2PixConfig",
    "Pix2PixHDConfig",
    "PreprocessConfig", "SEANConfig", "SemGANConfig", "TFDSConfig", "ToyStreetsConfig", "TrainConfig",
    "apply_overrides", "config_from_dict", "config_to_dict", "describe", "load_config",
    "save_config", "written_config_dict",
]
