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
from tfsem.config.schema import apply_overrides, config_from_dict, config_to_dict

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
    if not os.path.exists(config_file):  # a device or folder: load_config says why
        raise FileNotFoundError(f"{config_file}: no config found for {path}; pass --config")
    config = load_config(config_file, written=config_path is None)
    checkpoints = os.path.join(run_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(checkpoints) if os.path.isdir(checkpoints) else None
    if os.path.isfile(keras_file):
        model = None
        try:
            model = keras.saving.load_model(keras_file, compile=False)
        except Exception as err:  # a truncated zip says "File not found" in Keras
            text = " ".join(str(err).split())
            if "safe_mode" in text or "unsafe" in text.lower():
                # never replaced by a checkpoint: the file was made to run code
                raise ValueError(f"{keras_file}: refused: it asks to run code on loading "
                                 "(a Lambda layer or a function), which tfsem never does "
                                 "(Keras safe mode); rebuild the run with python -m tfsem.train "
                                 "or convert") from None
            shown = text if len(text) <= 300 else text[:300] + " ..."
            reason = (f"{keras_file}: cannot load it ({type(err).__name__}: {shown}); the "
                      "file is truncated or corrupt")
            if latest is None or keras_file != os.path.join(run_dir, "model.keras"):
                raise ValueError(reason) from None
            print(f"warning: {reason}; using the run's latest checkpoint {latest}",
                  file=sys.stderr)
        if model is not None:  # a precision failure is not reported as a corrupt file
            overrides = model.saved_overrides(config)
            if overrides:  # the saved model decides (a run saved before a default changed)
                config = config_from_dict(ExperimentConfig,
                                          apply_overrides(config_to_dict(config), overrides))
            _check_finite(model, keras_file)
            return config, _attached(config, in_precision(config, model, precision), run_dir)
    if latest is None:
        raise FileNotFoundError(f"{path}: has neither model.keras nor a checkpoint")
    model = registry.family_of(config).build(config)
    model.build_networks()
    from tfsem.train.rundir import model_checkpoint

    model_checkpoint(model).restore(latest).expect_partial()
    model.restored(latest, log=lambda text: print(text, file=sys.stderr))
    _check_finite(model, latest)
    return config, _attached(config, in_precision(config, model, precision), run_dir)


def _check_finite(model, source: str) -> None:
    """A ValueError naming ``source`` and the weights when any weight is NaN or
    Inf (a diverged run renders black photos, never silently)."""
    import numpy as np

    bad = [w.path for w in model.weights if "float" in str(w.dtype)
           and not np.isfinite(np.asarray(w.numpy(), np.float32)).all()]
    if bad:
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        raise ValueError(f"{source}: weights with NaN or Inf values: {', '.join(bad[:3])}{more};"
                         " this model cannot render (retrain, or resume from an earlier "
                         "checkpoint)")


def _attached(config, model, run_dir: str):
    """``model`` with the run's label space attached for ``infer``, and what
    the task keeps beside its weights in the run folder (``attach_run_files``)."""
    from tfsem.data.labels import load_label_space

    model.attach_label_space(load_label_space(config.data.label_space), config.data.dont_care)
    model.attach_run_files(run_dir)
    return model
