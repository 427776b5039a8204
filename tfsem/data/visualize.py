"""Pictures for humans: colourised label maps, edge maps, photos, grids, PNG files.

Colours are only for display; label maps travel as integer ids everywhere else.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

from tfsem.data.labels import LabelSpace
from tfsem.fileio import atomic_write_bytes

__all__ = ["edges_to_rgb", "image_to_uint8", "label_to_rgb", "make_grid", "save_png"]


def label_to_rgb(label, label_space: LabelSpace, dont_care: str = "extra_class") -> np.ndarray:
    """Class-index map [H, W] -> uint8 RGB [H, W, 3] in the label space's palette."""
    return label_space.colorize(np.asarray(label), dont_care)


def edges_to_rgb(edges) -> np.ndarray:
    """Edge map [H, W] in {0, 1} -> white-on-black uint8 RGB."""
    grey = (np.asarray(edges) > 0.5).astype(np.uint8) * 255
    return np.repeat(grey[..., None], 3, axis=-1)


def image_to_uint8(image) -> np.ndarray:
    """float image in [-1, 1] (or uint8) -> uint8 RGB."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float32)  # a bfloat16 output: round in float32
    return np.clip(np.round((image + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2, max_width: int = 0) -> np.ndarray:
    """Tiles rows of equally sized uint8 RGB pictures with a white gap.

    With ``max_width`` > 0 every tile is scaled down (nearest) so a row fits.
    """
    if not rows or not rows[0]:
        raise ValueError("make_grid needs at least one row with one picture")
    tile_h, tile_w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    if max_width and cols * tile_w > max_width:
        scale = max_width / (cols * tile_w)
        tile_h, tile_w = max(1, int(tile_h * scale)), max(1, int(tile_w * scale))
    grid = np.full((len(rows) * (tile_h + pad) + pad, cols * (tile_w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            if tile.shape[:2] != (tile_h, tile_w):
                tile = np.asarray(Image.fromarray(tile).resize((tile_w, tile_h), Image.NEAREST))
            y, x = pad + r * (tile_h + pad), pad + c * (tile_w + pad)
            grid[y:y + tile_h, x:x + tile_w] = tile
    return grid


def save_png(array: np.ndarray, path: str) -> None:
    """Writes a uint8 (or uint16 id map) array as PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
