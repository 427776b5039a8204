"""Colour-coded label maps: exact palette colours -> raw label ids.

Many datasets and tools store label maps as colours (Cityscapes'
``*_gtFine_color.png``, the SPADE demo's painted maps). A label space carries
each class's colour, so a colour PNG can be read as ids exactly: every pixel
must be one of the palette's colours (or one a colour map names). Anything
else is an error naming the file, how many pixels and the first positions,
never a guess by the nearest colour. JPEG is refused: its colours are not
exact.

Some palettes give one colour to several ids (Cityscapes' ids 0-4 are all
black, 'license plate' shares the car's colour). A pixel of such a colour is
an error unless a colour map says which id it is::

    {"#000000": 0, "153,153,153": 17, "#00008e": 26}

(``--color-map FILE``, ``data.color_map``). A colour map may also add colours
the palette lacks. The don't-care id (COCO-Stuff 255, ADE20K 0) is black, as
:meth:`LabelSpace.colorize` draws it, unless a class is black too.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from tfsem.data.labels import LabelSpace
from tfsem.fileio import read_json

__all__ = ["LABEL_FORMATS", "ColorCodec", "label_codec", "parse_color", "with_label_format"]

#: How label maps are stored: ids (grey or palette-index PNGs) or colours.
LABEL_FORMATS = ("ids", "colors")
#: Positions listed in an error about off-palette pixels.
_SHOWN = 5


def parse_color(text, where: str = "colour") -> Tuple[int, int, int]:
    """``"#rrggbb"``, ``"r,g,b"`` or ``[r, g, b]`` -> (r, g, b), each 0..255."""
    if isinstance(text, (list, tuple)):
        parts = list(text)
    elif isinstance(text, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", text.strip()):
        value = text.strip()[1:]
        parts = [int(value[i:i + 2], 16) for i in (0, 2, 4)]
    elif isinstance(text, str):
        parts = text.split(",")
    else:
        parts = []
    try:
        rgb = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ValueError(f"{where}: {text!r} is not a colour; expected '#rrggbb', 'r,g,b' or "
                         "[r, g, b] with values 0..255")
    return rgb


def _key(rgb) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _hex(key: int) -> str:
    return f"#{int(key):06x}"


class ColorCodec:
    """Colours of one label space (and an optional colour map) -> raw ids.

    ``colors`` maps each colour key (``r << 16 | g << 8 | b``) to its ids: one
    id, or several where the palette shares a colour and no colour map
    decides."""

    def __init__(self, space: LabelSpace, color_map: Optional[Dict] = None,
                 where: str = "color map"):
        self.space = space
        #: the colour map as given (colour text -> id), e.g. for an export's assets
        self.color_map = dict(color_map or {})
        colors: Dict[int, List[int]] = {}
        for cls in space.classes:
            colors.setdefault(int(_key(cls.color)), []).append(cls.id)
        black = int(_key((0, 0, 0)))
        if space.dont_care_id is not None and black not in colors:
            colors[black] = [space.dont_care_id]
        valid = {c.id for c in space.classes} | (
            {space.dont_care_id} if space.dont_care_id is not None else set())
        for text, raw_id in (color_map or {}).items():
            if isinstance(raw_id, bool) or not isinstance(raw_id, int) or raw_id not in valid:
                raise ValueError(f"{where}: {text!r} maps to {raw_id!r}, not an id of label "
                                 f"space {space.name!r} ({space.valid_ids_text()})")
            colors[int(_key(parse_color(text, where)))] = [raw_id]
        self.colors = colors
        self.keys = np.asarray(sorted(colors), dtype=np.int64)
        # -1: a colour shared by several ids (decided by no colour map)
        self.ids = np.asarray([colors[k][0] if len(colors[k]) == 1 else -1 for k in self.keys],
                              dtype=np.int64)

    @classmethod
    def from_file(cls, space: LabelSpace, path: Optional[str]) -> "ColorCodec":
        """The codec of ``space`` with the colour map of JSON file ``path`` (or none)."""
        if path is None:
            return cls(space)
        path = os.path.expanduser(os.path.expandvars(path))
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a colour map is a JSON object of colour -> label id, "
                             'e.g. {"#000000": 0}')
        return cls(space, data, where=path)

    @property
    def shared(self) -> Dict[str, List[int]]:
        """Colours the palette gives to several ids (no colour map decides): hex -> ids."""
        return {_hex(k): ids for k, ids in self.colors.items() if len(ids) > 1}

    def to_ids(self, rgb: np.ndarray, where: Optional[str] = None) -> np.ndarray:
        """uint8 [H, W, 3] colours -> raw ids int32 [H, W]. Off-palette pixels
        and colours shared by several ids are a ``ValueError``, its message
        starting with ``where`` when given."""
        try:
            return self._to_ids(np.asarray(rgb))
        except ValueError as err:
            if where is None:
                raise
            raise ValueError(f"{where}: {err}") from None

    def _to_ids(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ValueError(f"a colour label map is [H, W, 3], got shape {rgb.shape}")
        keys = _key(rgb)
        unique, inverse = np.unique(keys, return_inverse=True)
        slot = np.clip(np.searchsorted(self.keys, unique), 0, len(self.keys) - 1)
        known = self.keys[slot] == unique
        if not known.all():
            bad = ~known[inverse.reshape(keys.shape)]
            positions = np.argwhere(bad)[:_SHOWN]
            shown = ", ".join(f"(y={y}, x={x}) {_hex(keys[y, x])}" for y, x in positions)
            raise ValueError(
                f"{int(bad.sum())} pixel(s) of {keys.size} are not colours of label "
                f"space {self.space.name!r} (first: {shown}); label colours must be exact (no "
                "antialiasing, no JPEG); add a colour to a --color-map file to map it")
        ids = self.ids[slot]
        if (ids < 0).any():
            found = {_hex(k): self.colors[int(k)] for k, i in zip(unique, ids) if i < 0}
            listed = "; ".join(f"{c} is ids {v}" for c, v in found.items())
            raise ValueError(
                f"colours shared by several ids of label space {self.space.name!r}: "
                f"{listed}; say which id each is with a --color-map file (data.color_map), "
                f'e.g. {{"{next(iter(found))}": {next(iter(found.values()))[0]}}}')
        return ids[inverse].reshape(keys.shape).astype(np.int32)

    def to_colors(self, raw: np.ndarray) -> np.ndarray:
        """Raw ids int [H, W] -> uint8 [H, W, 3], each id in its class's colour
        (the don't-care id and unknown ids black): a colour label map."""
        raw = np.asarray(raw)
        out = np.zeros(raw.shape + (3,), np.uint8)
        for cls in self.space.classes:
            out[raw == cls.id] = cls.color
        return out


def label_codec(space: LabelSpace, label_format: str = "ids",
                color_map: Optional[str] = None) -> Optional[ColorCodec]:
    """The :class:`ColorCodec` that reads label maps of ``label_format``
    (``colors``), or None for id maps; ``color_map`` (a JSON file) only with
    colours (the CLIs' ``--label-format`` and ``--color-map``)."""
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"--label-format: expected one of {', '.join(LABEL_FORMATS)}, got "
                         f"{label_format!r}")
    if label_format == "ids":
        if color_map is not None:
            raise ValueError("--color-map is for colour label maps (--label-format colors)")
        return None
    return ColorCodec.from_file(space, color_map)


def with_label_format(config, label_format: Optional[str] = None,
                      color_map: Optional[str] = None):
    """Experiment ``config`` whose data reads label maps as ``label_format``
    (with ``color_map``); unchanged when ``label_format`` is None. Checked as
    the config file would be."""
    import dataclasses

    if label_format is None:
        if color_map is not None:
            raise ValueError("--color-map is for colour label maps (--label-format colors)")
        return config
    data = dataclasses.replace(config.data, label_format=label_format, color_map=color_map)
    data.validate("data")
    return dataclasses.replace(config, data=data)
