"""pix2pixHD label and appearance editing (paper fig. 1b/1c): the array
operations behind ``python -m tfsem.edit`` (see that module for the options;
the rendering is ``tfsem.Pipeline``'s ``instance_clusters``)."""


from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

__all__ = ["class_id", "parse_pairs", "replace_classes"]


def class_id(space, text: str) -> int:
    """A raw id from a class name or a number."""
    if text.strip().lstrip("-").isdigit():
        return int(text)
    for c in space.classes:
        if c.name == text.strip():
            return c.id
    raise ValueError(f"--replace: unknown class {text!r} in the {space.name} label space "
                     f"(names: {', '.join(c.name for c in space.classes[:12])}, ...)")


def replace_classes(raw: np.ndarray, instance: np.ndarray, replacements: Sequence[Tuple[int, int]]):
    """(edited raw label map, edited instance map): pixels of each source id get
    the target id; in the instance map they become one region whose id is the
    target id (the Cityscapes convention for a region without instances).
    Nothing outside the replaced pixels changes."""
    raw, instance = raw.copy(), instance.copy()
    for src, dst in replacements:
        mask = raw == src
        raw[mask] = dst
        instance[mask] = dst
    return raw, instance


def parse_pairs(values, what) -> List[Tuple[str, str]]:
    """``A:B`` strings -> (A, B) pairs; a clear error for anything else."""
    pairs = []
    for value in values or []:
        if value.count(":") != 1:
            raise ValueError(f"{what}: expected A:B, got {value!r}")
        pairs.append(tuple(value.split(":")))
    return pairs
