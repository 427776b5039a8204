"""Loading trained runs for inference: a run directory or a ``.keras`` file."""

from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

import keras
import tensorflow as tf

import tfsem.models  # noqa: F401  (registers the serialisable task classes)
from tfsem import registry
from tfsem.config import ExperimentConfig, load_config

__all__ = ["load_run"]


def load_run(path: str, config_path: Optional[str] = None,
             precision: str = "float32") -> Tuple[ExperimentConfig, keras.Model]:
    """Returns (config, model) of a run directory or a ``.keras`` file.

    ``precision`` (``tfsem.precision``): ``float32`` (as trained), ``bfloat16``,
    ``float16`` or ``auto``; other than float32, the model is rebuilt to
    compute in it, with the same weights.

    A run directory gives its ``model.keras`` or, while training is still going,
    its latest checkpoint. The config is ``config_path``, else the
    ``config.json`` of the run (next to the ``.keras`` file).
    """
    from tfsem.precision import PRECISIONS, in_precision

    if precision not in PRECISIONS:  # before loading anything
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    path = os.path.abspath(path)
    if os.path.isdir(path):
        run_dir, keras_file = path, os.path.join(path, "model.keras")
    elif path.endswith(".keras") and os.path.isfile(path):
        run_dir, keras_file = os.path.dirname(path), path
    else:
        raise FileNotFoundError(f"{path}: not a run directory or a .keras file")
    config_file = config_path or os.path.join(run_dir, "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"{config_file}: no config found for {path}; pass --config")
    config = load_config(config_file, written=config_path is None)
    checkpoints = os.path.join(run_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(checkpoints) if os.path.isdir(checkpoints) else None
    if os.path.isfile(keras_file):
        model = None
        try:
            model = keras.saving.load_model(keras_file, compile=False)
        except Exception as err:  # a truncated zip says "File not found" in Keras
            reason = f"{keras_file}: cannot load it ({type(err).__name__}: " \
                     f"{str(err).splitlines()[0][:160] if str(err) else ''}); the file is " \
                     "truncated or corrupt"
            if latest is None or keras_file != os.path.join(run_dir, "model.keras"):
                raise ValueError(reason) from None
            print(f"warning: {reason}; using the run's latest checkpoint {latest}",
                  file=sys.stderr)
        if model is not None:  # a precision failure is not reported as a corrupt file
            return config, _with_label_space(config, in_precision(config, model, precision))
    if latest is None:
        raise FileNotFoundError(f"{path}: has neither model.keras nor a checkpoint")
    model = registry.family_of(config).build(config)
    model.build_networks()
    tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    return config, _with_label_space(config, in_precision(config, model, precision))


def _with_label_space(config, model):
    """``model`` with the run's label space attached for ``infer``."""
    from tfsem.data.labels import load_label_space

    model.attach_label_space(load_label_space(config.data.label_space), config.data.dont_care)
    return model
