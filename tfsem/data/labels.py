"""Label spaces: class ids, names and colours, as data (JSON), not code.

A label space maps the RAW ids found in label files (Cityscapes labelIds,
COCO-Stuff 0..181 + 255, ADE20K 0..150) to contiguous CLASS INDICES that
models one-hot encode. Built-in spaces live in ``label_spaces/*.json``; a
custom one is a JSON file of the same shape::

    {"name": "my_space",
     "dont_care_id": 255,            # raw id meaning "unlabeled", or null
     "ignore_ids": [255],            # raw ids excluded from evaluation
     "classes": [{"id": 0, "name": "sky", "color": [70, 130, 180]}, ...]}

Each class may also carry ``train_id`` (Cityscapes' evaluation ids) and
``has_instances``.

Don't-care pixels (the ``dont_care_id``) are treated as chosen by
``DataConfig.dont_care``: ``extra_class`` gives them class index
``num_classes`` (their own one-hot channel, NVlabs/SPADE
``contain_dontcare_label``), ``zero`` gives them index -1 (an all-zero one-hot
vector, as ``tf.one_hot`` does for -1).

Cityscapes keeps all 35 ids as classes (pix2pixHD and SPADE use label_nc=35):
ids 0..33 are their own index, 'license plate' (id -1, written as 0 in
labelIds PNGs) is index 34.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

import numpy as np

from tfsem.fileio import read_json

__all__ = [
    "BUILTIN_LABEL_SPACES",
    "DONT_CARE_INDEX",
    "LabelClass",
    "LabelCodec",
    "LabelSpace",
    "load_label_space",
    "raw_label_ids",
]

BUILTIN_LABEL_SPACES = ("cityscapes", "coco_stuff", "ade20k", "celebamask_hq")
_BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "label_spaces")

#: Class index of don't-care pixels under ``dont_care="zero"`` (one-hot -> zeros).
DONT_CARE_INDEX = -1
#: Entry of the raw-id lookup table for ids that are not in the label space.
INVALID_INDEX = -2
_DONT_CARE_MODES = ("extra_class", "zero")


@dataclasses.dataclass(frozen=True)
class LabelClass:
    """One class: its raw id in label files, name, display colour and extras."""

    id: int
    name: str
    color: Tuple[int, int, int]
    train_id: Optional[int] = None
    category: Optional[str] = None
    has_instances: bool = False


@dataclasses.dataclass(frozen=True)
class LabelSpace:
    """A set of classes with raw-id <-> class-index mappings and a palette."""

    name: str
    classes: Tuple[LabelClass, ...]
    dont_care_id: Optional[int] = None
    ignore_ids: Tuple[int, ...] = ()
    dont_care_name: str = "unlabeled"

    def __post_init__(self):
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"label space {self.name!r}: duplicate class ids {dup}")
        if self.dont_care_id is not None and self.dont_care_id in ids:
            raise ValueError(
                f"label space {self.name!r}: dont_care_id {self.dont_care_id} is also a class id"
            )
        if not self.classes:
            raise ValueError(f"label space {self.name!r}: no classes")

    # -- sizes ---------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of real classes (without a don't-care channel)."""
        return len(self.classes)

    def num_channels(self, dont_care: str = "extra_class") -> int:
        """One-hot width models use: classes (+1 for an ``extra_class`` don't-care)."""
        _check_mode(dont_care)
        extra = self.dont_care_id is not None and dont_care == "extra_class"
        return self.num_classes + int(extra)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    # -- mappings ------------------------------------------------------------
    def raw_to_index_table(self, dont_care: str = "extra_class") -> np.ndarray:
        """int32 lookup table indexed by raw id (>= 0); INVALID_INDEX for unknown ids."""
        _check_mode(dont_care)
        raw = [c.id for c in self.classes if c.id >= 0]
        top = max(raw + [self.dont_care_id if self.dont_care_id is not None else 0])
        table = np.full(max(top + 1, 256), INVALID_INDEX, dtype=np.int32)
        for index, c in enumerate(self.classes):
            if c.id >= 0:
                table[c.id] = index
        if self.dont_care_id is not None:
            table[self.dont_care_id] = (
                self.num_classes if dont_care == "extra_class" else DONT_CARE_INDEX
            )
        return table

    def encode(self, raw: np.ndarray, dont_care: str = "extra_class", where: str = "") -> np.ndarray:
        """Raw ids -> class indices (int32). Raises ValueError naming bad ids and ``where``."""
        raw = np.asarray(raw)
        table = self.raw_to_index_table(dont_care)
        bad_range = (raw < 0) | (raw >= len(table))
        clipped = np.where(bad_range, 0, raw)
        index = table[clipped]
        bad = bad_range | (index == INVALID_INDEX)
        if bad.any():
            bad_ids = np.unique(raw[bad])
            shown = ", ".join(str(int(i)) for i in bad_ids[:10])
            more = f" (+{len(bad_ids) - 10} more)" if len(bad_ids) > 10 else ""
            prefix = f"{where}: " if where else ""
            raise ValueError(
                f"{prefix}label ids outside the {self.name!r} label space: {shown}{more} "
                f"({int(bad.sum())} pixels); valid ids: {self.valid_ids_text()}"
            )
        return index.astype(np.int32)

    def decode(self, index: np.ndarray) -> np.ndarray:
        """Class indices -> raw ids (int32); don't-care indices -> ``dont_care_id``."""
        index = np.asarray(index)
        raw = np.array([c.id for c in self.classes], dtype=np.int32)
        dont_care = self.dont_care_id if self.dont_care_id is not None else 0
        out = np.full(index.shape, dont_care, dtype=np.int32)
        valid = (index >= 0) & (index < self.num_classes)
        out[valid] = raw[index[valid]]
        return out

    def valid_ids_text(self) -> str:
        ids = sorted(c.id for c in self.classes if c.id >= 0)
        if self.dont_care_id is not None:
            ids.append(self.dont_care_id)
        ids = sorted(ids)
        if ids == list(range(ids[0], ids[-1] + 1)):
            return f"{ids[0]}..{ids[-1]}"
        runs, start = [], ids[0]
        for a, b in zip(ids, ids[1:] + [None]):
            if b != a + 1:
                runs.append(f"{start}..{a}" if a != start else str(a))
                start = b
        return ", ".join(runs)

    def train_id_table(self) -> np.ndarray:
        """Class index -> train id (Cityscapes evaluation ids; 255 where ignored)."""
        return np.array(
            [255 if c.train_id is None or c.train_id < 0 else c.train_id for c in self.classes],
            dtype=np.int32,
        )

    def ignore_indices(self, dont_care: str = "extra_class") -> Tuple[int, ...]:
        """Class indices (as produced by ``encode``) excluded from evaluation."""
        table = self.raw_to_index_table(dont_care)
        out = set()
        for raw in self.ignore_ids:
            if raw >= 0 and raw < len(table) and table[raw] != INVALID_INDEX:
                out.add(int(table[raw]))
        for index, c in enumerate(self.classes):
            if c.id < 0 and c.id in self.ignore_ids:
                out.add(index)
        return tuple(sorted(out))

    # -- colours -------------------------------------------------------------
    def palette(self, dont_care: str = "extra_class") -> np.ndarray:
        """uint8 [num_channels, 3]: class colours; the don't-care channel is black."""
        colors = [c.color for c in self.classes]
        if self.num_channels(dont_care) > self.num_classes:
            colors.append((0, 0, 0))
        return np.asarray(colors, dtype=np.uint8)

    def colorize(self, index: np.ndarray, dont_care: str = "extra_class") -> np.ndarray:
        """Class-index map [..., H, W] -> uint8 RGB [..., H, W, 3]; -1 -> black."""
        index = np.asarray(index)
        palette = np.concatenate([self.palette(dont_care), np.zeros((1, 3), np.uint8)])
        safe = np.where((index < 0) | (index >= len(palette) - 1), len(palette) - 1, index)
        return palette[safe]

    def index_of(self, name: str) -> int:
        """Class index of the class called ``name`` (raises with close matches)."""
        for index, c in enumerate(self.classes):
            if c.name == name:
                return index
        import difflib

        close = difflib.get_close_matches(name, self.names, n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"label space {self.name!r} has no class {name!r}{hint}")

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dont_care_id": self.dont_care_id,
            "dont_care_name": self.dont_care_name,
            "ignore_ids": list(self.ignore_ids),
            "classes": [
                {k: (list(v) if isinstance(v, tuple) else v)
                 for k, v in dataclasses.asdict(c).items() if v is not None}
                for c in self.classes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "label space") -> "LabelSpace":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
        allowed = {"name", "dont_care_id", "dont_care_name", "ignore_ids", "classes", "source"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(allowed)}")
        if "classes" not in data or not isinstance(data["classes"], list):
            raise ValueError(f"{where}: needs a 'classes' list")
        class_fields = {f.name for f in dataclasses.fields(LabelClass)}
        classes = []
        for i, entry in enumerate(data["classes"]):
            spot = f"{where}: classes[{i}]"
            if not isinstance(entry, dict):
                raise ValueError(f"{spot}: expected an object, got {entry!r}")
            extra = sorted(set(entry) - class_fields)
            if extra:
                raise ValueError(f"{spot}: unknown key(s) {extra}; valid: {sorted(class_fields)}")
            for key in ("id", "name", "color"):
                if key not in entry:
                    raise ValueError(f"{spot}: missing {key!r}")
            if not isinstance(entry["id"], int) or isinstance(entry["id"], bool):
                raise ValueError(f"{spot}.id: expected int, got {entry['id']!r}")
            color = entry["color"]
            if (not isinstance(color, (list, tuple)) or len(color) != 3
                    or not all(isinstance(v, int) and 0 <= v <= 255 for v in color)):
                raise ValueError(f"{spot}.color: expected [r, g, b] ints in 0..255, got {color!r}")
            classes.append(LabelClass(**{**entry, "color": tuple(color)}))
        dont_care = data.get("dont_care_id")
        if dont_care is not None and (not isinstance(dont_care, int) or dont_care < 0):
            raise ValueError(f"{where}: dont_care_id must be a non-negative int or null, got {dont_care!r}")
        return cls(
            name=str(data.get("name", "custom")),
            classes=tuple(classes),
            dont_care_id=dont_care,
            ignore_ids=tuple(data.get("ignore_ids", ())),
            dont_care_name=str(data.get("dont_care_name", "unlabeled")),
        )

    @classmethod
    def from_json(cls, path: str) -> "LabelSpace":
        return cls.from_dict(read_json(path, "label space file"), where=path)


def _check_mode(dont_care: str) -> None:
    if dont_care not in _DONT_CARE_MODES:
        raise ValueError(f"dont_care must be one of {_DONT_CARE_MODES}, got {dont_care!r}")


_CACHE: dict = {}


def load_label_space(name_or_path: str) -> LabelSpace:
    """A built-in label space by name, or a custom one from a JSON file path."""
    if name_or_path in BUILTIN_LABEL_SPACES:
        if name_or_path not in _CACHE:
            _CACHE[name_or_path] = LabelSpace.from_json(
                os.path.join(_BUILTIN_DIR, name_or_path + ".json")
            )
        return _CACHE[name_or_path]
    if name_or_path.endswith(".json") or os.path.sep in name_or_path:
        return LabelSpace.from_json(os.path.expanduser(name_or_path))  # no $VAR expansion
    raise ValueError(
        f"unknown label space {name_or_path!r}: use one of {', '.join(BUILTIN_LABEL_SPACES)} "
        "or a path to a label-space .json file"
    )


def raw_label_ids(labels, space: "LabelSpace") -> np.ndarray:
    """Class indices -> raw label ids as a PNG-ready array (uint8, or uint16
    for ids above 255); ids below 0 (Cityscapes' license plate, -1) are
    written as the don't-care id, or 0 as in Cityscapes labelIds files."""
    raw = space.decode(labels)
    raw = np.where(raw < 0, space.dont_care_id if space.dont_care_id is not None else 0, raw)
    return raw.astype(np.uint8 if raw.max(initial=0) <= 255 else np.uint16)


class LabelCodec:
    """What a task's ``infer`` needs of its label space: raw id -> class index
    (``table``), class index -> raw id (``raw_ids``, PNG-ready: ids below 0 are
    written as the don't-care id, or 0) and -> colour (``colors``), for the
    ``channels`` class indices a model has. ``identity``: raw ids are the
    indices (a task built without a label space)."""

    def __init__(self, table: np.ndarray, raw_ids: np.ndarray, colors: np.ndarray,
                 name: str, valid_ids: str):
        self.table = np.asarray(table, np.int32)
        self.raw_ids = np.asarray(raw_ids, np.int32)
        self.colors = np.asarray(colors, np.uint8)
        self.name, self.valid_ids = name, valid_ids

    @classmethod
    def from_space(cls, space: "LabelSpace", dont_care: str, channels: int) -> "LabelCodec":
        if space.num_channels(dont_care) != channels:
            raise ValueError(f"label space {space.name!r} with dont_care {dont_care!r} has "
                             f"{space.num_channels(dont_care)} classes, the model {channels}")
        index = np.arange(channels)
        return cls(space.raw_to_index_table(dont_care), raw_label_ids(index, space),
                   space.colorize(index, dont_care),
                   space.name, space.valid_ids_text())

    def check(self, raw: np.ndarray, where: str = "label_map") -> None:
        """A ValueError naming the ids of ``raw`` outside the label space."""
        raw = np.asarray(raw)
        bad = (raw < 0) | (raw >= len(self.table))
        bad |= self.table[np.where(bad, 0, raw)] == INVALID_INDEX
        if bad.any():
            bad_ids = np.unique(raw[bad])
            shown = ", ".join(str(int(i)) for i in bad_ids[:10])
            more = f" (+{len(bad_ids) - 10} more)" if len(bad_ids) > 10 else ""
            raise ValueError(f"{where}: label ids outside the {self.name!r} label space: "
                             f"{shown}{more} ({int(bad.sum())} pixels); valid ids: "
                             f"{self.valid_ids}")

    @classmethod
    def identity(cls, channels: int) -> "LabelCodec":
        grey = (np.arange(channels) * 255 // max(channels - 1, 1)).astype(np.uint8)
        return cls(np.arange(channels), np.arange(channels), np.repeat(grey[:, None], 3, 1),
                   "class indices", f"0..{channels - 1}")
