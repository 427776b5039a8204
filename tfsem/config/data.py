"""The ``data`` section: where examples come from and how they are prepared."""

from __future__ import annotations

import dataclasses
import os
from typing import Literal, Optional, Tuple

from tfsem.config.schema import ConfigError

__all__ = ["DataConfig", "FolderLayoutConfig", "PreprocessConfig", "TFDSConfig",
           "ToyStreetsConfig"]


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
        appearance: ``plain`` (one tone per class) or ``varied`` (a per-scene
            look per region, the same label maps: styles for SEAN to learn).
    """

    num_examples: int = 256
    height: int = 128
    width: int = 256
    seed: int = 0
    appearance: str = "plain"

    def validate(self, path: str = "toy") -> None:
        if self.num_examples < 1:
            raise ConfigError(f"{path}.num_examples: must be >= 1, got {self.num_examples}")
        if self.height < 16 or self.width < 16:
            raise ConfigError(
                f"{path}: height and width must be >= 16, got {self.height}x{self.width}"
            )
        from tfsem.data.toy_streets import APPEARANCES

        if self.appearance not in APPEARANCES:
            raise ConfigError(f"{path}.appearance: must be one of {', '.join(APPEARANCES)}, got "
                              f"{self.appearance!r}")


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

    Attributes:
        label_dir: the label-id PNGs.
        image_dir: the photos, paired with the labels by file stem.
        instance_dir: the instance-id PNGs (read when ``use_instances``).
        input_dir: photo-to-photo (``data.input: image``): the input photos
            (NVIDIA/pix2pixHD's ``train_A`` with ``--label_nc 0``).
        target_dir: photo-to-photo: the target photos, paired with the inputs
            by file stem (pix2pixHD's ``train_B``).
    """

    label_dir: str = "{split}_label"
    image_dir: str = "{split}_img"
    instance_dir: str = "{split}_inst"
    input_dir: str = "{split}_A"
    target_dir: str = "{split}_B"

    def validate(self, path: str = "folders") -> None:
        for name in ("label_dir", "image_dir", "instance_dir", "input_dir", "target_dir"):
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
        label_format: how label maps are stored: ``ids`` (grey or palette-index
            PNGs of raw ids, Cityscapes' ``*_gtFine_labelIds.png``) or ``colors``
            (each class in its label-space colour, Cityscapes'
            ``*_gtFine_color.png``): exact palette colours become ids; any other
            colour is an error naming the file and the pixels.
        color_map: ``colors`` only: a JSON file of colour -> label id
            (``{"#000000": 0}``) for colours the palette gives to several ids
            (Cityscapes' ids 0-4 are all black) or lacks; null: none.
        input: what a model is conditioned on: ``labels`` (label maps, + instance
            maps) or ``image`` (photo-to-photo: an input photo, pix2pixHD's
            ``--label_nc 0`` and pix2pix's RGB input; sources ``folder``, read
            from ``folders.input_dir`` / ``target_dir``, and ``toy_streets``,
            whose input is its photo made grey and blurred).
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
    input: Literal["labels", "image"] = "labels"
    label_format: Literal["ids", "colors"] = "ids"
    color_map: Optional[str] = None
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
        if self.label_format == "colors" and self.source not in ("cityscapes", "folder"):
            raise ConfigError(f"{path}.label_format: 'colors' reads label files (sources "
                              f"'cityscapes' and 'folder'); source {self.source!r} gives ids")
        if self.input == "image":
            if self.source not in ("folder", "toy_streets"):
                raise ConfigError(f"{path}.input: 'image' reads photo pairs from sources "
                                  f"'folder' and 'toy_streets', not {self.source!r}")
            if self.use_instances:
                raise ConfigError(f"{path}.use_instances: photo-to-photo (input: image) has "
                                  "no instance maps; set it to false")
            if not self.load_images:
                raise ConfigError(f"{path}.load_images: photo-to-photo trains on target "
                                  "photos; set it to true")
            if self.label_format != "ids":
                raise ConfigError(f"{path}.label_format: photo-to-photo reads no label maps")
        if self.color_map is not None and self.label_format != "colors":
            raise ConfigError(f"{path}.color_map: only with label_format 'colors' (it is "
                              f"{self.label_format!r})")
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

