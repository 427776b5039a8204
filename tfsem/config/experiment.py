"""The experiment: ``name``, ``data``, ``model`` (a one-of over the families
of ``tfsem.registry``), ``optimizer`` and ``train``; loading and saving."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from typing import Any, Literal, Optional, Sequence, Tuple

from tfsem import registry
from tfsem.config.data import DataConfig
from tfsem.config.schema import (ConfigError, _received, apply_overrides, config_from_dict,
                                 config_to_dict)
from tfsem.fileio import atomic_write_text, read_json

__all__ = ["DEFAULT_STEPS", "ExperimentConfig", "ModelConfig", "OptimizerConfig",
           "TrainConfig", "load_config", "save_config"]

#: Training length of a config that sets neither ``train.steps`` nor ``train.epochs``.
DEFAULT_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """``{"type": T, "T": {...}}``: the family ``T`` (``tfsem.registry``) and its
    section, the only one accepted and written. A field the chosen variant does
    not use (``use_vae: false`` with ``z_dim``) is an error, and is left out of
    the written config. ``config.model.section`` is the section object
    (``config.model.gaugan`` also works for a gaugan model)."""

    type: str = "gaugan"
    section: Any = None

    def __post_init__(self):
        family = registry.family(self.type)
        if self.section is None:
            object.__setattr__(self, "section", family.section())
        elif not isinstance(self.section, family.section):
            raise ConfigError(f"model: a {type(self.section).__name__} section for model type "
                              f"{self.type!r} (expected {family.section.__name__})")

    @classmethod
    def from_dict(cls, data: Any, path: str = "model") -> "ModelConfig":
        path = path or "model"
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected an object (ModelConfig), got {_received(data)}")
        type_ = data.get("type", cls.type)
        family = registry.family(type_, f"{path}.type")
        for key in data:
            if key in ("type", type_):
                continue
            if key in registry.FAMILIES:
                raise ConfigError(
                    f"{path}.{key}: a {key!r} section in a model of type {type_!r}; only "
                    f"{path}.{type_} is read (remove it, or set {path}.type to {key!r})")
            close = difflib.get_close_matches(key, ["type", type_], n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: type, {type_}"
            raise ConfigError(f"{path}.{key}: unknown key{hint}")
        raw = data.get(type_, {})
        section = config_from_dict(family.section, raw, f"{path}.{type_}")
        ignored = section.ignored_fields()
        given = sorted(k for k in raw if k in ignored)
        if given:
            raise ConfigError(
                f"{path}.{type_}.{given[0]}: not used by this model ({ignored[given[0]]}); "
                "remove it" + (f" (also: {', '.join(given[1:])})" if given[1:] else ""))
        return cls(type_, section)

    def to_dict(self) -> dict:
        ignored = self.section.ignored_fields()
        section = {k: v for k, v in config_to_dict(self.section).items() if k not in ignored}
        return {"type": self.type, self.type: section}

    def validate(self, path: str = "model") -> None:
        self.section.validate(f"{path}.{self.type}")

    def __getattr__(self, name):
        # config.model.<type> reads the section; another family's name says why not.
        if not name.startswith("__") and name in registry.FAMILIES:
            if name == object.__getattribute__(self, "type"):
                return object.__getattribute__(self, "section")
            raise AttributeError(f"model.{name}: this config's model type is "
                                 f"{object.__getattribute__(self, 'type')!r}")
        raise AttributeError(name)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam for G (+E) and D. A field left out (null) takes the model family's
    default (``tfsem.registry``: SPADE's TTUR for gaugan, pix2pixHD's
    2e-4 / (0.5, 0.999) for pix2pixhd); the resolved numbers are what
    ``config.json`` of a run records.

    Attributes:
        g_lr: the generator's (and encoder's) learning rate.
        d_lr: the discriminator's learning rate.
        beta_1, beta_2: Adam's betas, both optimisers.
        decay_steps: the last ``decay_steps`` of ``train.steps`` decay both
            rates linearly to 0 (pix2pixHD's and SPADE's ``--niter_decay``);
            0: constant rates.
        decay_epochs: the same in epochs (where the papers count epochs),
            instead of ``decay_steps``.
    """

    g_lr: Optional[float] = None
    d_lr: Optional[float] = None
    beta_1: Optional[float] = None
    beta_2: Optional[float] = None
    decay_steps: int = 0
    decay_epochs: Optional[int] = None

    def resolved(self, family: str, overrides=None) -> "OptimizerConfig":
        """This config with every null field set to ``family``'s default (or to
        ``overrides``' where it names the field: a model section's own)."""
        defaults = {**registry.family(family).optimizer, **(overrides or {})}
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})

    def validate(self, path: str = "optimizer") -> None:
        if self.decay_steps < 0:
            raise ConfigError(f"{path}.decay_steps: must be >= 0, got {self.decay_steps}")
        if self.decay_epochs is not None:
            if self.decay_epochs < 0:
                raise ConfigError(f"{path}.decay_epochs: must be >= 0, got {self.decay_epochs}")
            if self.decay_steps:
                raise ConfigError(f"{path}: set decay_steps or decay_epochs, not both")
        for name in ("g_lr", "d_lr"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {value}")
        for name in ("beta_1", "beta_2"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ConfigError(f"{path}.{name}: must be in [0, 1), got {value}")




@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training loop of ``python -m tfsem.train``.

    Attributes:
        steps: total training steps (iterations of D step + G step);
            default 1000 when neither this nor ``epochs`` is set.
        epochs: the length in passes over the training data instead
            (pix2pixHD and SPADE count epochs: niter + niter_decay); steps =
            epochs * ceil(examples / batch_size), resolved when training starts.
        checkpoint_every: steps between checkpoints; a killed run loses at most this many.
        keep_checkpoints: checkpoints kept.
        sample_every: steps between sample grids (PNG + TensorBoard images).
        log_every: steps between TensorBoard scalars.
        num_samples: examples in each sample grid (fixed validation batch).
        eval_every: steps between scores, in the log, TensorBoard and
            ``eval.jsonl``: toy-oracle mIoU / pixel accuracy of the generated
            photos of a fixed validation batch (label-to-photo models,
            toy_streets data only), or label-map statistics of samples from
            fixed seeds against that batch's maps (SemGAN, any data).
        eval_examples: size of that validation batch.
        strategy: ``auto`` (MultiWorkerMirrored when TF_CONFIG is set,
            Mirrored with more than one GPU, else the default strategy),
            ``default``, ``mirrored`` or ``multi_worker``.
        mixed_precision: ``float32`` or ``mixed_bfloat16``.
        out_dir: run directory; ``{name}`` is the experiment name.
        init_from: a run directory (or .keras) whose weights start a NEW run
            (not a resume): pix2pixHD stage 2 takes the global generator and
            the feature encoder of the stage-1 run; a run of the same
            architecture (e.g. a converted official checkpoint) gives all its
            networks, for fine-tuning.
    """

    steps: Optional[int] = None
    epochs: Optional[int] = None
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    sample_every: int = 200
    log_every: int = 10
    num_samples: int = 4
    eval_every: int = 100
    eval_examples: int = 16
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    mixed_precision: Literal["float32", "mixed_bfloat16"] = "float32"
    out_dir: str = "runs/{name}"
    init_from: Optional[str] = None

    def validate(self, path: str = "train") -> None:
        if self.steps is not None and self.epochs is not None:
            raise ConfigError(f"{path}: set steps or epochs, not both (got steps={self.steps}, "
                              f"epochs={self.epochs})")
        for name in ("steps", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("checkpoint_every", "keep_checkpoints", "sample_every",
                     "log_every", "num_samples", "eval_every", "eval_examples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")



@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A named experiment: one JSON file in ``configs/``.

    ``model`` may be null for data-only configs (``python -m tfsem.data``).
    """

    name: str
    description: str = ""
    data: DataConfig = DataConfig()
    model: Optional[ModelConfig] = None
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        # Optimizer defaults come from the model family (frozen: set once, here).
        family = self.model.type if self.model is not None else "gaugan"
        section = self.model.section if self.model is not None else None
        overrides = getattr(section, "optimizer_defaults", lambda: None)()
        object.__setattr__(self, "optimizer", self.optimizer.resolved(family, overrides))

    def validate(self, path: str = "") -> None:
        if not self.name or any(c in self.name for c in "/\\ "):
            raise ConfigError(
                f"name: must be a non-empty name without '/', '\\' or spaces, got {self.name!r}"
            )
        self.data.validate("data")
        self.optimizer.validate("optimizer")
        self.train.validate("train")
        opt, train = self.optimizer, self.train
        if train.epochs is None and opt.decay_steps > (train.steps or DEFAULT_STEPS):
            raise ConfigError(f"optimizer.decay_steps: {opt.decay_steps} is more than "
                              f"train.steps ({train.steps or DEFAULT_STEPS})")
        if opt.decay_epochs is not None and train.epochs is None:
            raise ConfigError("optimizer.decay_epochs: counts epochs; set train.epochs (or use "
                              "optimizer.decay_steps with train.steps)")
        if opt.decay_epochs is not None and opt.decay_epochs > train.epochs:
            raise ConfigError(f"optimizer.decay_epochs: {opt.decay_epochs} is more than "
                              f"train.epochs ({train.epochs})")
        if self.model is None:
            return  # a data-only config (inspection); training needs a model section
        self.model.validate("model")
        if self.data.input == "image" and not registry.family(self.model.type, "model").photo_input:
            photo = [f.type for f in registry.FAMILIES.values() if f.photo_input]
            raise ConfigError(f"data.input: 'image' (photo-to-photo) is for the "
                              f"{' and '.join(photo)} families; model.type is {self.model.type!r}")
        self.model.section.validate_experiment(self)

    def schedule(self, num_examples: Optional[int] = None) -> Tuple[int, int]:
        """(total steps, decay steps) of training; ``num_examples`` (the training
        split's size) resolves ``train.epochs`` / ``optimizer.decay_epochs``:
        one epoch is ceil(examples / batch_size) steps, as the reference loaders."""
        train, opt = self.train, self.optimizer
        if train.epochs is None:
            return int(train.steps or DEFAULT_STEPS), int(opt.decay_steps)
        if not num_examples:
            raise ConfigError("train.epochs: the number of training examples is needed to turn "
                              "epochs into steps")
        per_epoch = self.steps_per_epoch(num_examples)
        decay = (opt.decay_epochs or 0) * per_epoch if opt.decay_epochs is not None \
            else int(opt.decay_steps)
        return train.epochs * per_epoch, decay

    def steps_per_epoch(self, num_examples: Optional[int]) -> int:
        """Steps of one epoch, as the family's official loader counts them:
        floor(examples / batch_size) where it drops the last, smaller batch
        (NVlabs/SPADE ``data/__init__.py``: ``drop_last=opt.isTrain``), else
        ceil (NVIDIA/pix2pixHD, pix2pix)."""
        if not num_examples:
            raise ConfigError("an epoch schedule needs the number of training examples")
        family = self.model.type if self.model is not None else None
        if family is not None and registry.family(family).drop_last:
            return max(num_examples // self.data.batch_size, 1)
        return math.ceil(num_examples / self.data.batch_size)

    def image_size(self):
        """(height, width) of the training examples; a ConfigError if not fixed."""
        size = self.data.preprocess.output_size()
        if size is None and self.data.source == "toy_streets" and self.data.preprocess.scale_width is None:
            size = (self.data.toy.height, self.data.toy.width)
        if size is None:
            raise ConfigError(
                "data.preprocess: this model trains at a fixed size; set resize_to or crop_to "
                "(scale_width alone keeps each file's aspect ratio)")
        return tuple(size)


def written_config_dict(data: Any) -> Any:
    """A run's ``config.json`` as this tfsem reads it: tfsem 0.2 wrote every
    family's section and every field; the sections of other families and the
    fields the variant ignores are dropped (they had no effect)."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        return data
    type_ = model.get("type", ModelConfig.type)
    if type_ not in registry.FAMILIES or not isinstance(model.get(type_, {}), dict):
        return data
    section = dict(model.get(type_, {}))
    try:
        ignored = config_from_dict(registry.family(type_).section, section,
                                   f"model.{type_}").ignored_fields()
    except ConfigError:
        return data  # the strict load names the problem
    section = {k: v for k, v in section.items() if k not in ignored}
    return {**data, "model": {"type": type_, type_: section}}


def load_config(path: str, cls: type = ExperimentConfig, overrides: Sequence[str] = (),
                written: bool = False) -> Any:
    """Reads, converts and validates a config JSON file. Errors name the file.

    ``overrides``: ``a.b=value`` items (``--set``) applied before the strict
    load. ``written``: the file is a run's or an export's resolved config
    (:func:`written_config_dict`)."""
    data = read_json(path, "config file", ConfigError)
    try:
        if written:
            data = written_config_dict(data)
        if overrides:
            data = apply_overrides(data, overrides)
        config = config_from_dict(cls, data)
        config.validate()
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return config


def save_config(config: Any, path: str) -> None:
    """Writes the resolved config as JSON, atomically."""
    atomic_write_text(path, json.dumps(config_to_dict(config), indent=2) + "\n")
