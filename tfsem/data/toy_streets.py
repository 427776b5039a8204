"""``toy_streets``: a procedural street-scene dataset that needs no files.

Each example is a street-like scene in the Cityscapes label space (sky,
buildings, road, sidewalk, terrain, vegetation, poles, traffic signs, cars,
people) with Cityscapes-encoded instance ids (``class_id * 1000 + k`` for cars
and people, the class id for stuff) and a photo-like RGB image.

The photo gives every class a distinct colour family (with per-instance colour
variation for cars and people, gradients, window and foliage textures, noise
and a small global lighting change), chosen so that :func:`oracle_segment`,
a nearest-colour classifier, recovers the label map with >= 95% pixel
accuracy. That makes toy_streets a weight-free quality oracle: segment a
model's output with the oracle and compare with the input label map.

Example ``i`` of a split is a pure function of ``(seed, split, i, height,
width, appearance)``; any resolution works (geometry is relative to the frame).

``appearance="varied"`` gives every region a per-scene look (the same label
maps as ``"plain"``: the look is drawn from its own random stream): each
class's tone moves within its colour family, the sky's gradient changes in
strength and tint, building blocks and cars take colours from a wider range,
the road gets lane-wear streaks and the sidewalk paving stripes. A region's
look is then something a style code can carry (SEAN's per-region styles),
while the nearest-colour oracle still recovers >= 95% of pixels
(``tests/data/test_toy_streets.py`` measures it).
"""

from __future__ import annotations

import zlib
from typing import Dict

import numpy as np

__all__ = ["APPEARANCES", "CLASS_IDS", "PHOTO_COLORS", "degrade", "generate", "oracle_segment",
           "split_seed"]

#: ``plain``: one tone per class (small per-object changes); ``varied``: a per-scene look per region.
APPEARANCES = ("plain", "varied")
#: ``varied``: half-width of the per-scene tone shift of each class (RGB).
_SCENE_SPREAD = {23: 18.0, 11: 22.0, 7: 14.0, 8: 14.0, 21: 14.0, 22: 14.0, 26: 0.0, 24: 10.0,
                 17: 10.0, 20: 10.0}

SKY, BUILDING, ROAD, SIDEWALK, VEGETATION, TERRAIN = 23, 11, 7, 8, 21, 22
CAR, PERSON, POLE, TRAFFIC_SIGN = 26, 24, 17, 20

#: Reference photo colour of each class (Cityscapes raw id -> RGB). The oracle
#: assigns each pixel the class of the nearest of these colours.
PHOTO_COLORS: Dict[int, tuple] = {
    SKY: (140, 185, 235),
    BUILDING: (125, 105, 95),
    ROAD: (60, 60, 66),
    SIDEWALK: (190, 170, 150),
    VEGETATION: (55, 125, 40),
    TERRAIN: (150, 195, 90),
    CAR: (30, 45, 170),
    PERSON: (200, 40, 60),
    POLE: (235, 215, 60),
    TRAFFIC_SIGN: (250, 130, 20),
}
CLASS_IDS = tuple(sorted(PHOTO_COLORS))
_ORACLE_IDS = np.array(CLASS_IDS, dtype=np.int32)
_ORACLE_COLORS = np.array([PHOTO_COLORS[c] for c in CLASS_IDS], dtype=np.float32)


def split_seed(split: str) -> int:
    """A stable integer for a split name (so train and val scenes differ)."""
    return zlib.crc32(split.encode("utf-8")) & 0x7FFFFFFF


def _ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0


def _rect(yy, xx, y0, y1, x0, x1):
    return (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)


def generate(index: int, height: int, width: int, seed: int = 0, split: str = "train",
             appearance: str = "plain"):
    """One scene: ``label`` uint8 raw ids [H,W], ``instance`` int32 [H,W], ``image`` uint8 [H,W,3]."""
    if appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
    rng = np.random.default_rng([int(seed), split_seed(split), int(index)])
    varied = appearance == "varied"
    look = np.random.default_rng([int(seed), split_seed(split), int(index), 1])
    H, W = int(height), int(width)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    label = np.full((H, W), SKY, np.uint8)
    instance = np.full((H, W), SKY, np.int32)
    image = np.zeros((H, W, 3), np.float32)
    color_of = {c: np.array(v, np.float32) for c, v in PHOTO_COLORS.items()}
    if varied:  # this scene's tone of each class
        color_of = {c: v + look.uniform(-1, 1, 3).astype(np.float32) * _SCENE_SPREAD[c]
                    for c, v in color_of.items()}

    def paint(mask, class_id, color=None, inst=None):
        label[mask] = class_id
        instance[mask] = class_id if inst is None else inst
        image[mask] = color_of[class_id] if color is None else color

    # Sky with a vertical gradient (darker at the top).
    image[:] = color_of[SKY]
    strength, tint = (look.uniform(10.0, 60.0), look.uniform(0.2, 1.0)) if varied else (40.0, 0.3)
    image += ((yy / H - 0.5) * strength)[..., None] * np.array([1.0, 0.8, tint], np.float32)

    horizon = H * rng.uniform(0.38, 0.5)

    # Buildings: a row of blocks with gaps, window grid tint.
    x = -rng.uniform(0, 0.1) * W
    while x < W:
        block_w = rng.uniform(0.08, 0.25) * W
        if rng.uniform() > 0.15:
            top = max(0.0, horizon - rng.uniform(0.12, 0.38) * H)
            mask = _rect(yy, xx, top, horizon + 1, x, x + block_w)
            tone = color_of[BUILDING] + rng.uniform(-12, 12, 3)
            if varied:
                tone = tone + look.uniform(-14, 14, 3)
            paint(mask, BUILDING, tone)
            period_y, period_x = max(4.0, 0.04 * H), max(4.0, 0.03 * W)
            if varied:
                period_y, period_x = period_y * look.uniform(0.7, 1.6), period_x * look.uniform(0.7, 1.6)
            windows = mask & ((yy % period_y) < period_y * 0.5) & ((xx % period_x) < period_x * 0.5)
            image[windows] += np.array([-14.0, -8.0, 6.0], np.float32)
        x += block_w

    # Road (trapezoid towards a vanishing point), sidewalks, terrain.
    vx = W * rng.uniform(0.4, 0.6)
    t = np.clip((yy - horizon) / max(H - horizon, 1.0), 0.0, 1.0)  # 0 at horizon, 1 at bottom
    left_bottom, right_bottom = W * rng.uniform(-0.35, 0.15), W * rng.uniform(0.85, 1.35)
    road_l = vx + (left_bottom - vx) * t - 0.02 * W
    road_r = vx + (right_bottom - vx) * t + 0.02 * W
    walk = rng.uniform(0.15, 0.35) * W * t + 0.01 * W
    ground = yy >= horizon
    paint(ground, TERRAIN)
    paint(ground & (xx >= road_l - walk) & (xx <= road_r + walk), SIDEWALK)
    paint(ground & (xx >= road_l) & (xx <= road_r), ROAD)
    if varied:  # lane-wear streaks on the road, paving stripes on the sidewalk
        road, walkway = label == ROAD, label == SIDEWALK
        phase, period = look.uniform(0, 1), look.uniform(0.02, 0.08) * W
        streaks = (np.sin(2 * np.pi * ((xx - vx) / (1 + 3 * t) / period + phase)) > 0.3)
        image[road & streaks] += look.uniform(4, 12)
        rows = ((yy - horizon) % max(2.0, look.uniform(0.02, 0.05) * H)) < 1.0
        image[walkway & rows] -= look.uniform(6, 14)

    # Trees over the buildings, near the horizon.
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0, W), horizon - rng.uniform(0.05, 0.2) * H
        rx, ry = rng.uniform(0.04, 0.1) * W, rng.uniform(0.06, 0.14) * H
        paint(_ellipse(yy, xx, cy, cx, ry, rx), VEGETATION)

    # Objects, drawn far to near so near ones occlude far ones.
    objects = []
    for _ in range(rng.integers(1, 5)):
        objects.append(("car", horizon + rng.uniform(0.08, 1.0) * (H - horizon)))
    for _ in range(rng.integers(1, 5)):
        objects.append(("person", horizon + rng.uniform(0.15, 1.0) * (H - horizon)))
    for _ in range(rng.integers(1, 4)):
        objects.append(("pole", horizon + rng.uniform(0.1, 0.9) * (H - horizon)))
    objects.sort(key=lambda o: o[1])
    counts = {"car": 0, "person": 0}
    for kind, bottom in objects:
        s = (bottom - horizon) / max(H - horizon, 1.0)  # perspective scale
        row = int(min(H - 1, max(0, bottom)))
        left, right = float(road_l[row, 0]), float(road_r[row, 0])
        side_w = float(walk[row, 0])
        if kind == "car":
            cw = max(4.0, (0.08 + 0.2 * s) * W)
            ch = max(3.0, cw * 0.45 * H / W * 2.0)
            cx = rng.uniform(left + cw / 2, max(left + cw / 2 + 1, right - cw / 2))
            body = _rect(yy, xx, bottom - 0.6 * ch, bottom, cx - cw / 2, cx + cw / 2)
            cabin = _rect(yy, xx, bottom - ch, bottom - 0.55 * ch, cx - 0.3 * cw, cx + 0.3 * cw)
            tone = color_of[CAR] + rng.uniform(-20, 20, 3)
            if varied:  # this scene's car paint: its own shade of the car colour family
                tone = color_of[CAR] + look.uniform([-30, -35, -40], [50, 45, 50])
            paint(body | cabin, CAR, tone, CAR * 1000 + counts["car"])
            counts["car"] += 1
        elif kind == "person":
            ph = max(6.0, (0.1 + 0.3 * s) * H)
            pw = max(2.0, ph * 0.3 * W / H * 0.5)
            on_left = rng.uniform() < 0.5
            offset = rng.uniform(0.2, 0.8) * side_w
            cx = (left - offset) if on_left else (right + offset)
            body = _ellipse(yy, xx, bottom - 0.4 * ph, cx, 0.4 * ph, pw / 2)
            head = _ellipse(yy, xx, bottom - 0.88 * ph, cx, 0.12 * ph, pw / 2.6)
            tone = color_of[PERSON] + rng.uniform(-20, 20, 3)
            paint(body | head, PERSON, tone, PERSON * 1000 + counts["person"])
            counts["person"] += 1
        else:
            ph = (0.3 + 0.5 * s) * H
            pw = max(1.0, (0.006 + 0.012 * s) * W)
            on_left = rng.uniform() < 0.5
            cx = (left - 0.5 * side_w) if on_left else (right + 0.5 * side_w)
            paint(_rect(yy, xx, bottom - ph, bottom, cx - pw / 2, cx + pw / 2), POLE)
            if rng.uniform() < 0.6:
                sw = max(3.0, pw * 5)
                paint(_rect(yy, xx, bottom - ph, bottom - ph + sw, cx - sw / 2, cx + sw / 2), TRAFFIC_SIGN)

    # Foliage texture, sensor noise, global lighting.
    veg = label == VEGETATION
    if veg.any():
        blotch = rng.normal(0, 1, (max(2, H // 8), max(2, W // 8))).astype(np.float32)
        blotch = np.kron(blotch, np.ones((8, 8), np.float32))[:H, :W]
        blotch = np.pad(blotch, ((0, H - blotch.shape[0]), (0, W - blotch.shape[1])), mode="edge")
        image[veg] += (blotch[veg] * 10.0)[:, None] * np.array([0.6, 1.0, 0.4], np.float32)
    image *= rng.uniform(0.95, 1.05)
    image += rng.normal(0, 5.0, image.shape).astype(np.float32)
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return {"label": label, "instance": instance, "image": image}


def degrade(image: np.ndarray) -> np.ndarray:
    """The input photo of toy_streets' photo-to-photo task (``data.input: image``):
    the photo made grey (ITU-R 601 luma) and blurred by a 3x3 box filter (edge
    pixels repeated), uint8 [H, W, 3]. A model learns to restore colour and
    edges; the toy oracle scores its photos against the scene's label map."""
    grey = np.asarray(image, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    padded = np.pad(grey, 1, mode="edge")
    height, width = grey.shape
    blurred = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)) / 9
    return np.repeat(np.clip(np.round(blurred), 0, 255).astype(np.uint8)[..., None], 3, -1)


def oracle_segment(image) -> np.ndarray:
    """Nearest-colour segmentation of toy_streets photos: uint8 [...,H,W,3] (or
    float in [-1, 1]) -> Cityscapes raw ids int32 [..., H, W]."""
    image = np.asarray(image)
    if image.shape[-1] != 3:
        raise ValueError(f"oracle_segment expects [..., H, W, 3] images, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating):
        pixels = (np.clip(image, -1.0, 1.0) + 1.0) * 127.5
    else:
        pixels = image.astype(np.float32)
    flat = pixels.reshape(-1, 3).astype(np.float32)
    # ||p - c||^2 = |p|^2 - 2 p.c + |c|^2 ; |p|^2 is constant per pixel.
    score = flat @ _ORACLE_COLORS.T * -2.0 + (_ORACLE_COLORS ** 2).sum(1)
    nearest = score.argmin(axis=1)
    return _ORACLE_IDS[nearest].reshape(pixels.shape[:-1])
