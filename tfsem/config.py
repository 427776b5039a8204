"""Experiment configuration: nested frozen dataclasses loaded strictly from JSON.

Every field name equals the keyword argument it feeds, so a config section can
be splatted into a constructor. Loading is strict:

* an unknown key is an error naming its dotted path and the closest valid key;
* a wrong type or enum value says what was expected and what was received;
* cross-field rules live in each section's ``validate()``.

The resolved config (defaults filled in) is written back with
:func:`save_config` next to checkpoints and exports, so every artifact can be
rebuilt from it.

Model: TF Model Garden ``official/modeling/hyperparams/base_config.py`` (the
strict override message), without its non-strict fallback.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import typing
from typing import Any, Literal, Optional, Tuple

from tfsem.fileio import atomic_write_text, read_json

__all__ = [
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "FAMILY_OPTIMIZER_DEFAULTS",
    "FolderLayoutConfig",
    "GauGANConfig",
    "ModelConfig",
    "OptimizerConfig",
    "Pix2PixHDConfig",
    "SemGANConfig",
    "TrainConfig",
    "PreprocessConfig",
    "TFDSConfig",
    "ToyStreetsConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "save_config",
]


class ConfigError(ValueError):
    """A config file or dict does not match the schema. The message names the field."""


# ---------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """Geometric preprocessing, applied identically to label, instance and image.

    Order: resize (``resize_to`` or ``scale_width``) -> crop -> flip. Labels
    and instance maps are resized with nearest neighbour, images bicubically
    (as NVIDIA/pix2pixHD ``data/base_dataset.py``). Crop and flip are random in
    training and a centre crop / no flip otherwise.

    Attributes:
        resize_to: ``[height, width]`` to resize to exactly (SPADE's ``fixed``
            preprocess mode, e.g. ``[256, 512]`` for Cityscapes), or null.
        scale_width: resize so the width equals this, keeping the aspect ratio
            (pix2pixHD's ``scale_width`` mode, e.g. 1024 for its global stage).
        crop_to: ``[height, width]`` crop after resizing, or null.
        flip: random horizontal flip in training (pix2pixHD/SPADE default: on).
    """

    resize_to: Optional[Tuple[int, int]] = None
    scale_width: Optional[int] = None
    crop_to: Optional[Tuple[int, int]] = None
    flip: bool = True

    def validate(self, path: str = "preprocess") -> None:
        if self.resize_to is not None and self.scale_width is not None:
            raise ConfigError(
                f"{path}: set either 'resize_to' or 'scale_width', not both "
                f"(got resize_to={list(self.resize_to)}, scale_width={self.scale_width})"
            )
        for name in ("resize_to", "crop_to"):
            value = getattr(self, name)
            if value is not None and min(value) < 1:
                raise ConfigError(f"{path}.{name}: sizes must be >= 1, got {list(value)}")
        if self.scale_width is not None and self.scale_width < 1:
            raise ConfigError(f"{path}.scale_width: must be >= 1, got {self.scale_width}")
        if self.resize_to is not None and self.crop_to is not None:
            if self.crop_to[0] > self.resize_to[0] or self.crop_to[1] > self.resize_to[1]:
                raise ConfigError(
                    f"{path}.crop_to: {list(self.crop_to)} is larger than "
                    f"resize_to {list(self.resize_to)}"
                )

    def output_size(self) -> Optional[Tuple[int, int]]:
        """The fixed (height, width) every example has after preprocessing, if known."""
        if self.crop_to is not None:
            return tuple(self.crop_to)
        if self.resize_to is not None:
            return tuple(self.resize_to)
        return None


@dataclasses.dataclass(frozen=True)
class ToyStreetsConfig:
    """The built-in procedural dataset ``toy_streets`` (no files needed).

    Attributes:
        num_examples: examples per split.
        height, width: generated resolution (any size works).
        seed: base seed; example ``i`` of split ``s`` is a pure function of
            ``(seed, s, i)``.
    """

    num_examples: int = 256
    height: int = 128
    width: int = 256
    seed: int = 0

    def validate(self, path: str = "toy") -> None:
        if self.num_examples < 1:
            raise ConfigError(f"{path}.num_examples: must be >= 1, got {self.num_examples}")
        if self.height < 16 or self.width < 16:
            raise ConfigError(
                f"{path}: height and width must be >= 16, got {self.height}x{self.width}"
            )


@dataclasses.dataclass(frozen=True)
class TFDSConfig:
    """TFDS ``cityscapes/semantic_segmentation`` built from manually downloaded zips.

    Attributes:
        name: the TFDS builder name.
        data_dir: where TFDS keeps prepared data (null: TFDS default).
        manual_dir: folder holding ``leftImg8bit_trainvaltest.zip`` and
            ``gtFine_trainvaltest.zip``. Nothing is ever downloaded.
    """

    name: str = "cityscapes/semantic_segmentation"
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None

    def validate(self, path: str = "tfds") -> None:
        if not self.name.startswith("cityscapes"):
            raise ConfigError(
                f"{path}.name: only the TFDS 'cityscapes/...' builders are supported, "
                f"got {self.name!r}"
            )


@dataclasses.dataclass(frozen=True)
class FolderLayoutConfig:
    """Sub-folders of the ``folder`` source, relative to ``root``; ``{split}`` is replaced.

    The defaults are the NVIDIA/pix2pixHD and NVlabs/SPADE layout
    (``train_label``, ``train_img``, ``train_inst``). ADE20K's own layout is
    ``label_dir="annotations/{split}"``, ``image_dir="images/{split}"`` with
    split ``training`` / ``validation``.
    """

    label_dir: str = "{split}_label"
    image_dir: str = "{split}_img"
    instance_dir: str = "{split}_inst"

    def validate(self, path: str = "folders") -> None:
        for name in ("label_dir", "image_dir", "instance_dir"):
            value = getattr(self, name)
            try:
                value.format(split="x")
            except (KeyError, IndexError, ValueError):
                raise ConfigError(
                    f"{path}.{name}: only the '{{split}}' placeholder is allowed, got {value!r}"
                ) from None


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where examples come from and how they are prepared.

    Attributes:
        source: ``toy_streets`` (built in), ``cityscapes`` (official layout),
            ``folder`` (pix2pixHD/SPADE ``<split>_label/_img/_inst`` layout) or
            ``tfds`` (TFDS Cityscapes from a manual dir).
        root: dataset folder for ``cityscapes`` and ``folder``; ``~`` and
            ``$VARS`` are expanded.
        split: split to read for training (``train``); evaluation tools take
            their own split.
        label_space: built-in name (``cityscapes``, ``coco_stuff``,
            ``ade20k``) or a path to a label-space JSON file.
        dont_care: how the label space's don't-care id (COCO-Stuff 255,
            ADE20K 0) is fed to models: ``extra_class`` gives it its own
            one-hot channel (NVlabs/SPADE ``contain_dontcare_label``);
            ``zero`` gives those pixels an all-zero one-hot vector (index -1).
        use_instances: read instance maps (needed for instance edge maps and
            pix2pixHD's instance features).
        load_images: read photos (off for label-map-only models such as SemGAN).
        preprocess: resize / crop / flip.
        batch_size: GLOBAL batch size (split over replicas by tf.distribute).
        shuffle, shuffle_buffer: shuffle examples in training.
        cache: cache decoded examples in memory (before augmentation).
        num_parallel_calls: parallel decode calls; null means AUTOTUNE.
        on_bad_file: ``error`` stops at the first bad file with a message
            naming it; ``skip`` skips it, warns and counts it.
        max_examples: use only the first N examples (after sorting), or null.
        seed: seed of shuffling and random augmentation.
        folders: sub-folder names of the ``folder`` source.
        toy: settings of the ``toy_streets`` source.
        tfds: settings of the ``tfds`` source.
    """

    source: Literal["toy_streets", "cityscapes", "folder", "tfds"] = "toy_streets"
    root: Optional[str] = None
    split: str = "train"
    label_space: str = "cityscapes"
    dont_care: Literal["extra_class", "zero"] = "extra_class"
    use_instances: bool = True
    load_images: bool = True
    preprocess: PreprocessConfig = PreprocessConfig()
    batch_size: int = 1
    shuffle: bool = True
    shuffle_buffer: int = 256
    cache: bool = False
    num_parallel_calls: Optional[int] = None
    on_bad_file: Literal["error", "skip"] = "error"
    max_examples: Optional[int] = None
    seed: int = 0
    folders: FolderLayoutConfig = FolderLayoutConfig()
    toy: ToyStreetsConfig = ToyStreetsConfig()
    tfds: TFDSConfig = TFDSConfig()

    def validate(self, path: str = "data") -> None:
        if self.source in ("cityscapes", "folder") and not self.root:
            raise ConfigError(f"{path}.root: source {self.source!r} needs a dataset folder")
        if self.source == "tfds" and self.use_instances:
            raise ConfigError(
                f"{path}.use_instances: TFDS cityscapes/semantic_segmentation has no "
                "instance maps; set it to false or use source 'cityscapes'"
            )
        if self.source == "toy_streets" and self.label_space != "cityscapes":
            raise ConfigError(
                f"{path}.label_space: toy_streets uses the 'cityscapes' label space, "
                f"got {self.label_space!r}"
            )
        if self.source == "tfds" and self.label_space != "cityscapes":
            raise ConfigError(
                f"{path}.label_space: TFDS cityscapes uses the 'cityscapes' label space, "
                f"got {self.label_space!r}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"{path}.batch_size: must be >= 1, got {self.batch_size}")
        if self.shuffle_buffer < 1:
            raise ConfigError(f"{path}.shuffle_buffer: must be >= 1, got {self.shuffle_buffer}")
        if self.num_parallel_calls is not None and self.num_parallel_calls < 1:
            raise ConfigError(
                f"{path}.num_parallel_calls: must be >= 1 or null (AUTOTUNE), "
                f"got {self.num_parallel_calls}"
            )
        if self.max_examples is not None and self.max_examples < 1:
            raise ConfigError(f"{path}.max_examples: must be >= 1 or null, got {self.max_examples}")
        self.preprocess.validate(f"{path}.preprocess")
        self.folders.validate(f"{path}.folders")
        self.toy.validate(f"{path}.toy")
        self.tfds.validate(f"{path}.tfds")

    def resolved_root(self) -> Optional[str]:
        if self.root is None:
            return None
        return os.path.abspath(os.path.expanduser(os.path.expandvars(self.root)))


_NORMS = Literal["instance", "batch", "sync_batch", "none"]


@dataclasses.dataclass(frozen=True)
class GauGANConfig:
    """Keyword arguments of ``tfsem.models.GauGAN`` (see its docstring for sources).

    ``num_classes``, ``image_size`` and ``use_instances`` come from the data
    section. Defaults are NVlabs/SPADE's.
    """

    ngf: int = 64
    ndf: int = 64
    num_D: int = 2
    n_layers_D: int = 4
    num_upsampling_layers: Literal["normal", "more", "most"] = "normal"
    norm_G: _NORMS = "sync_batch"
    norm_D: _NORMS = "instance"
    norm_E: _NORMS = "instance"
    spectral_norm_G: bool = True
    spectral_norm_D: bool = True
    spectral_norm_E: bool = True
    hidden_channels: int = 128
    use_vae: bool = False
    z_dim: int = 256
    gan_mode: Literal["hinge", "lsgan", "original"] = "hinge"
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0
    lambda_kld: float = 0.05
    vgg_weights: str = "keras_cache"
    seed: int = 0
    init: Literal["xavier", "normal", "keras"] = "xavier"
    init_gain: float = 0.02

    def validate(self, path: str = "model.gaugan") -> None:
        for name in ("ngf", "ndf", "num_D", "n_layers_D", "hidden_channels", "z_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_vgg", "lambda_kld"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class Pix2PixHDConfig:
    """Keyword arguments of ``tfsem.models.Pix2PixHD`` (see its docstring).

    Defaults are NVIDIA/pix2pixHD's (``options/base_options.py``,
    ``train_options.py``): stage 1 is ``n_local_enhancers: 0`` (the global
    generator, ngf 64); stage 2 sets ``n_local_enhancers: 1``, ``ngf: 32``,
    ``train.init_from`` (the stage-1 run) and ``niter_fix_global``.
    """

    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 9
    n_local_enhancers: int = 0
    n_blocks_local: int = 3
    niter_fix_global: int = 0
    norm: _NORMS = "instance"
    ndf: int = 64
    num_D: int = 2
    n_layers_D: int = 3
    use_features: bool = False
    feat_num: int = 3
    nef: int = 16
    n_downsample_E: int = 4
    gan_mode: Literal["hinge", "lsgan", "original"] = "lsgan"
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0
    vgg_weights: str = "keras_cache"
    init: Literal["xavier", "normal", "keras"] = "normal"
    init_gain: float = 0.02

    def validate(self, path: str = "model.pix2pixhd") -> None:
        for name in ("ngf", "ndf", "num_D", "n_layers_D", "feat_num", "nef"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("n_downsample_global", "n_blocks_global", "n_local_enhancers",
                     "n_blocks_local", "niter_fix_global", "n_downsample_E"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_vgg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")

    def factor(self) -> int:
        return 2 ** (self.n_downsample_global + self.n_local_enhancers)


@dataclasses.dataclass(frozen=True)
class SemGANConfig:
    """Keyword arguments of ``tfsem.models.SemGAN`` / ``ColorLabelGAN``.

    ``output``: ``classes`` is SemGAN (per-pixel class distributions);
    ``colors`` is the paper's standard-GAN baseline (RGB colour label
    images, read back by the nearest palette colour), on the same backbone.
    ``relaxation``, ``tau_*`` and ``real_smoothing`` apply to ``classes``
    only. Defaults were chosen by measurement on toy_streets (README, "SemGAN
    report": softmax with real_smoothing 0.3 was closest to the data in class
    histogram and diversity; gumbel_st collapsed); the paper does not publish
    its architecture.
    """

    output: Literal["classes", "colors"] = "classes"
    z_dim: int = 128
    ngf: int = 32
    n_upsample: int = 4
    block: Literal["conv", "resnet"] = "conv"
    norm_G: Literal["batch", "instance", "none"] = "batch"
    ndf: int = 32
    n_layers_D: int = 4
    spectral_norm_D: bool = True
    minibatch_std: bool = True
    gan_mode: Literal["hinge", "lsgan", "original"] = "hinge"
    relaxation: Literal["softmax", "gumbel_st"] = "softmax"
    tau_start: float = 1.0
    tau_end: float = 0.3
    tau_anneal_steps: int = 2000
    real_smoothing: float = 0.3
    seed: int = 0

    def validate(self, path: str = "model.semgan") -> None:
        for name in ("z_dim", "ngf", "ndf", "n_layers_D"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("n_upsample", "tau_anneal_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")
        if not 0 < self.tau_end <= self.tau_start:
            raise ConfigError(f"{path}: need 0 < tau_end <= tau_start, got tau_start="
                              f"{self.tau_start}, tau_end={self.tau_end}")
        if not 0.0 <= self.real_smoothing < 1.0:
            raise ConfigError(f"{path}.real_smoothing: must be in [0, 1), got {self.real_smoothing}")

    def factor(self) -> int:
        return 2 ** max(self.n_upsample, self.n_layers_D)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which model family to train, and its constructor arguments."""

    type: Literal["gaugan", "pix2pixhd", "semgan"] = "gaugan"
    gaugan: GauGANConfig = GauGANConfig()
    pix2pixhd: Pix2PixHDConfig = Pix2PixHDConfig()
    semgan: SemGANConfig = SemGANConfig()

    def validate(self, path: str = "model") -> None:
        self.gaugan.validate(f"{path}.gaugan")
        self.pix2pixhd.validate(f"{path}.pix2pixhd")
        self.semgan.validate(f"{path}.semgan")

    def family(self):
        """The section of the selected family."""
        return getattr(self, self.type)


#: Adam settings each family trains with when the config leaves them out.
#: gaugan: NVlabs/SPADE ``train_options.py`` (lr 2e-4 with TTUR: G lr / 2, D lr * 2;
#: beta1 0, beta2 0.9, the maintainers' setting for TTUR, NVlabs/SPADE #50).
#: pix2pixhd: NVIDIA/pix2pixHD ``train_options.py`` (lr 2e-4 for both, beta1 0.5,
#: beta2 0.999 in ``pix2pixHD_model.py``). semgan: the TTUR setting its report
#: was measured with (the paper publishes none).
FAMILY_OPTIMIZER_DEFAULTS = {
    "gaugan": {"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
    "pix2pixhd": {"g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
    "semgan": {"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
}


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam for G (+E) and D. A field left out (null) takes the model family's
    default (``FAMILY_OPTIMIZER_DEFAULTS``: SPADE's TTUR for gaugan,
    pix2pixHD's 2e-4 / (0.5, 0.999) for pix2pixhd); the resolved numbers are
    what ``config.json`` of a run records."""

    g_lr: Optional[float] = None
    d_lr: Optional[float] = None
    beta_1: Optional[float] = None
    beta_2: Optional[float] = None
    # The last ``decay_steps`` of ``train.steps`` decay both rates linearly to
    # 0 (pix2pixHD's niter_decay; SPADE's --niter_decay). 0: constant rates.
    decay_steps: int = 0

    def resolved(self, family: str) -> "OptimizerConfig":
        """This config with every null field set to ``family``'s default."""
        defaults = FAMILY_OPTIMIZER_DEFAULTS[family]
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})

    def validate(self, path: str = "optimizer") -> None:
        if self.decay_steps < 0:
            raise ConfigError(f"{path}.decay_steps: must be >= 0, got {self.decay_steps}")
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
        steps: total training steps (iterations of D step + G step).
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

    steps: int = 1000
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
        for name in ("steps", "checkpoint_every", "keep_checkpoints", "sample_every",
                     "log_every", "num_samples", "eval_every", "eval_examples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A named experiment: one JSON file in ``configs/``.

    ``model`` may be null for data-only configs (``tfsem.data.inspect``).
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
        object.__setattr__(self, "optimizer", self.optimizer.resolved(family))

    def validate(self, path: str = "") -> None:
        if not self.name or any(c in self.name for c in "/\\ "):
            raise ConfigError(
                f"name: must be a non-empty name without '/', '\\' or spaces, got {self.name!r}"
            )
        self.data.validate("data")
        self.optimizer.validate("optimizer")
        self.train.validate("train")
        if self.model is None:
            return  # a data-only config (inspection); training needs a model section
        self.model.validate("model")
        if self.model.type == "gaugan":
            height, width = self.image_size()
            factor = 2 ** {"normal": 5, "more": 6, "most": 7}[
                self.model.gaugan.num_upsampling_layers]
            if height % factor or width % factor:
                raise ConfigError(
                    f"data: GauGAN with num_upsampling_layers="
                    f"{self.model.gaugan.num_upsampling_layers!r} needs a height and width that "
                    f"are multiples of {factor}; the data gives {height}x{width} (HxW)")
            if not self.data.load_images:
                raise ConfigError("data.load_images: GauGAN trains on photos; set it to true")
        if self.model.type == "pix2pixhd":
            height, width = self.image_size()
            factor = self.model.pix2pixhd.factor()
            if height % factor or width % factor:
                raise ConfigError(
                    f"data: pix2pixHD with n_downsample_global="
                    f"{self.model.pix2pixhd.n_downsample_global} and n_local_enhancers="
                    f"{self.model.pix2pixhd.n_local_enhancers} needs a height and width that are "
                    f"multiples of {factor}; the data gives {height}x{width} (HxW)")
            if not self.data.load_images:
                raise ConfigError("data.load_images: pix2pixHD trains on photos; set it to true")
        if self.model.type == "semgan":
            height, width = self.image_size()
            sem = self.model.semgan
            if height % sem.factor() or width % sem.factor():
                raise ConfigError(
                    f"data: SemGAN with n_upsample={sem.n_upsample} and n_layers_D="
                    f"{sem.n_layers_D} needs a height and width that are multiples of "
                    f"{sem.factor()}; the data gives {height}x{width} (HxW)")
            if self.data.dont_care == "zero":
                raise ConfigError(
                    "data.dont_care: SemGAN generates every pixel's class, don't-care included; "
                    "use 'extra_class' (a generator cannot output the all-zero 'zero' vector)")
        if self.optimizer.decay_steps > self.train.steps:
            raise ConfigError(f"optimizer.decay_steps: {self.optimizer.decay_steps} is more than "
                              f"train.steps ({self.train.steps})")

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


# ---------------------------------------------------------------------------
# Strict conversion
# ---------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin in (tuple, Tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} " + "/".join(_type_name(a) for a in args)
    if dataclasses.is_dataclass(tp):
        return f"an object ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _received(value: Any) -> str:
    kind = "null" if value is None else type(value).__name__
    return f"{kind} {json.dumps(value) if not isinstance(value, str) else repr(value)}"


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_null = [a for a in args if a is not type(None)]
        errors = []
        for arg in non_null:
            try:
                return _convert(value, arg, path)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_received(value)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or type(value) is bool and True not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_received(value)}{hint}")
        return value
    if origin in (tuple, Tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_received(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"{path}: expected {_type_name(tp)}, got a list of {len(value)}: {json.dumps(value)}"
            )
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return config_from_dict(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_received(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected int, got {_received(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected float, got {_received(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected str, got {_received(value)}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"{path}: unsupported field type {tp!r} in the config schema")


def config_from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Builds dataclass ``cls`` from a JSON-like dict, strictly (see module doc)."""
    where = path or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object ({cls.__name__}), got {_received(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else (
                "; valid keys: " + ", ".join(sorted(fields))
            )
            raise ConfigError(f"{_join(path, key)}: unknown key{hint}")
        kwargs[key] = _convert(value, hints[key], _join(path, key))
    missing = [
        name for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s): {', '.join(missing)}")
    return cls(**kwargs)


def config_to_dict(config: Any) -> Any:
    """The resolved config as JSON-ready data (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(v) for v in config]
    return config


def load_config(path: str, cls: type = ExperimentConfig) -> Any:
    """Reads, converts and validates a config JSON file. Errors name the file."""
    data = read_json(path, "config file", ConfigError)
    try:
        config = config_from_dict(cls, data)
        config.validate()
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return config


def save_config(config: Any, path: str) -> None:
    """Writes the resolved config as JSON, atomically."""
    atomic_write_text(path, json.dumps(config_to_dict(config), indent=2) + "\n")
