"""Region style codes as data (SEAN): files, per-class means, per-region
transfer with an alpha blend, and interpolation.

A styles file (``.npz``) holds ``codes`` float32 [N, S, L] (N photos, S style
slots: the label space's classes, + don't-care / edges as the model has
them, L the code length), ``present`` bool [N, S] (the class had pixels in
the photo), ``names`` [N] (the photos' stems) and ``meta`` (JSON: the label
space, the class names, the model's slots and length). A mean-codes file
is the same with N = 1 and ``count`` int [S] (photos that held each class):
``calculate_mean_style_code.py``'s per-class mean over the photos where the
class is present.

What a render takes is one code per slot: :func:`compose` builds it from a
base (a photo's codes, a file's, or nothing), the mean codes for classes the
base lacks, and per-class replacements blended with ``alpha`` (the official
UI's transfer).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np

from tfsem.fileio import atomic_write_bytes

__all__ = ["CODES_FILE", "MEAN_CODES_FILE", "StyleRecipe", "Styles", "compose", "interpolate",
           "load_styles", "mean_styles", "parse_class", "save_styles"]

#: The files ``python -m tfsem.encode_styles`` writes into a run by default; a
#: run's ``MEAN_CODES_FILE`` is its default look (``SEAN.attach_run_files``).
CODES_FILE, MEAN_CODES_FILE = "style_codes.npz", "mean_codes.npz"


@dataclass
class Styles:
    """Codes [N, S, L], presence [N, S] (default: the non-zero codes; the
    encoder gives zeros exactly where a photo's map lacks the class), photo
    names [N], metadata."""

    codes: np.ndarray
    present: Optional[np.ndarray] = None
    names: Sequence[str] = ()
    meta: Dict = field(default_factory=dict)
    count: Optional[np.ndarray] = None

    def __post_init__(self):
        self.codes = np.asarray(self.codes, np.float32)
        if self.codes.ndim == 2:
            self.codes = self.codes[None]
        if self.codes.ndim != 3:
            raise ValueError(f"style codes must be [photos, slots, length], got shape "
                             f"{self.codes.shape}")
        if self.present is None:
            self.present = np.any(self.codes != 0, axis=-1)
        self.present = np.asarray(self.present, bool).reshape(self.codes.shape[:2])
        if not np.isfinite(self.codes).all():
            raise ValueError("style codes hold NaN or infinite values")
        self.names = list(self.names) or [str(i) for i in range(len(self.codes))]

    def one(self, which=0) -> "Styles":
        """The styles of one photo (an index or a name)."""
        if isinstance(which, str):
            if which not in self.names:
                raise ValueError(f"no photo {which!r} in these styles ({', '.join(self.names[:8])}"
                                 f"{' ...' if len(self.names) > 8 else ''})")
            which = self.names.index(which)
        return Styles(self.codes[which:which + 1], self.present[which:which + 1],
                      [self.names[which]], self.meta)


def save_styles(path: str, styles: Styles) -> str:
    """Writes ``styles`` as ``.npz`` (atomically); returns the path."""
    buffer = io.BytesIO()
    extra = {} if styles.count is None else {"count": np.asarray(styles.count, np.int64)}
    np.savez(buffer, codes=styles.codes, present=styles.present,
             names=np.array(styles.names), meta=np.array(json.dumps(styles.meta)), **extra)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_styles(path: str, slots: Optional[int] = None, length: Optional[int] = None) -> Styles:
    """A styles file (``.npz`` as written here, or a bare ``.npy`` [S, L] /
    [N, S, L]); checks it fits a model's ``slots`` x ``length`` codes."""
    import os

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such style codes file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's fault
        raise ValueError(f"{path}: not a .npz / .npy style codes file ({err})") from None
    try:
        if isinstance(loaded, np.ndarray):
            codes = loaded if loaded.ndim == 3 else loaded[None]
            styles = Styles(codes)
        else:
            if "codes" not in loaded.files:
                raise ValueError("no 'codes' array")
            codes = loaded["codes"]
            present = loaded["present"] if "present" in loaded.files else None
            names = [str(n) for n in loaded["names"]] if "names" in loaded.files else ()
            meta = json.loads(str(loaded["meta"])) if "meta" in loaded.files else {}
            count = loaded["count"] if "count" in loaded.files else None
            styles = Styles(codes, present, names, meta, count)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if slots is not None and styles.codes.shape[1:] != (slots, length):
        raise ValueError(f"{path}: codes of {styles.codes.shape[1]} slots x "
                         f"{styles.codes.shape[2]}, the model takes {slots} x {length}")
    return styles


def mean_styles(styles: Styles) -> Styles:
    """Per-class mean codes over the photos where the class is present (the
    official ``calculate_mean_style_code.py``); zero where no photo holds it."""
    count = styles.present.sum(0)
    total = (styles.codes * styles.present[..., None]).sum(0)
    mean = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], 0.0)
    return Styles(mean[None], (count > 0)[None], ["mean"], dict(styles.meta),
                  count=count.astype(np.int64))


def parse_class(text: str, class_names: Sequence[str], raw_ids: Sequence[int]) -> int:
    """A class named by its name or raw id -> its style slot (class index)."""
    if text in class_names:
        return list(class_names).index(text)
    if text.lstrip("-").isdigit() and int(text) in raw_ids:
        return list(raw_ids).index(int(text))
    raise ValueError(f"unknown class {text!r}: use a class name ({', '.join(class_names[:12])}"
                     f"{' ...' if len(class_names) > 12 else ''}) or its label id")


def compose(base: Optional[Styles], slots: int, length: int, *, mean: Optional[Styles] = None,
            replace: Sequence = (), alpha: float = 1.0) -> np.ndarray:
    """One code per slot [S, L] for a render.

    ``base``: a photo's (or a file's) codes (its first photo); its absent
    classes take ``mean``'s codes when given (else zero: SPADE's branch alone
    styles them). ``replace``: (slot, Styles) pairs, each slot's code blended
    toward the source's, ``(1 - alpha) * current + alpha * source`` (the
    official UI's transfer; alpha 1 takes it whole). A source lacking the class
    is an error naming it."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {alpha}")
    codes = np.zeros((slots, length), np.float32)
    have = np.zeros(slots, bool)
    if base is not None:
        codes[:], have[:] = base.codes[0], base.present[0]
    if mean is not None:
        fill = ~have & mean.present[0]
        codes[fill] = mean.codes[0][fill]
    for slot, source in replace:
        if not source.present[0, slot]:
            raise ValueError(f"the style source {source.names[0]!r} has no pixels of class "
                             f"slot {slot}: it has no style for it")
        codes[slot] = (1.0 - alpha) * codes[slot] + alpha * source.codes[0, slot]
    return codes


def interpolate(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` codes from ``a`` to ``b`` (both [S, L]), ends included: [steps, S, L]."""
    if steps < 2:
        raise ValueError(f"--steps must be >= 2, got {steps}")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None, None]
    return (1.0 - t) * np.asarray(a, np.float32)[None] + t * np.asarray(b, np.float32)[None]


@dataclass
class StyleRecipe:
    """What the generate CLI's style options ask for, turned into codes per label
    map by :meth:`frames`.

    ``photo``: a style photo uint8 [H,W,3] encoded over each rendered map
    (``--style``); ``base``: codes from a file (``--style-codes``); ``mean``:
    mean codes (``--mean-codes``); ``replace``: (class slot, Styles or photo)
    pairs (``--style-from CLASS=SOURCE``; a photo is encoded over the rendered
    map); ``alpha``; ``towards``: a second source to interpolate to in
    ``steps`` frames (``--interpolate SOURCE --steps N``)."""

    photo: Optional[np.ndarray] = None
    base: Optional[Styles] = None
    mean: Optional[Styles] = None
    replace: Sequence = ()
    alpha: float = 1.0
    towards: object = None
    steps: int = 1

    def _styles(self, pipe, source, raw, inst) -> Styles:
        if isinstance(source, Styles):
            return source
        codes = pipe.encode_styles(raw, source, inst)
        return Styles(codes, names=["style photo"])

    def frames(self, pipe, raw, inst=None) -> np.ndarray:
        """Codes [F, S, L] for the raw label map ``raw`` [H,W]: one frame, or
        ``steps`` frames of an interpolation."""
        slots, length = pipe.style_code_shape
        base = self.base if self.photo is None else self._styles(pipe, self.photo, raw, inst)
        replace = [(slot, self._styles(pipe, source, raw, inst)) for slot, source in self.replace]
        codes = compose(base, slots, length, mean=self.mean, replace=replace, alpha=self.alpha)
        if self.towards is None:
            return codes[None]
        other = compose(self._styles(pipe, self.towards, raw, inst), slots, length,
                        mean=self.mean)
        return interpolate(codes, other, self.steps)
