"""Statistics of semantic label maps, to compare generated maps with data.

All functions take class-index maps [N, H, W] (ints) as numpy arrays.

* :func:`valid_pixel_fraction`: pixels whose value is a class index.
* :func:`color_validity`: for colour label images (the standard-GAN
  baseline of SemGAN), the fraction of pixels within ``tolerance`` of a
  palette colour BEFORE snapping to the nearest one
  (:func:`nearest_palette_index`).
* :func:`class_frequencies`, :func:`class_tv_distance`: the class histogram
  and the total-variation distance between two histograms,
  ``0.5 * sum_c |p_c - q_c|`` (0: same, 1: disjoint).
* :func:`region_statistics`: connected regions (4-connectivity) per class:
  regions per map and mean region size in pixels.
* :func:`isolated_pixel_fraction`: boundary noise, the fraction of pixels
  whose 4 neighbours (inside the map) all have another class.
* :func:`pairwise_difference`: diversity, the mean fraction of pixels that
  differ between two maps of the set (mode collapse drives it towards 0).
* :func:`label_map_report`: all of the above for generated maps next to
  data maps.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

__all__ = ["class_frequencies", "class_tv_distance", "color_validity", "isolated_pixel_fraction",
           "label_map_report", "nearest_palette_index", "pairwise_difference", "region_statistics",
           "valid_pixel_fraction"]


def _maps(labels, what="labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{what}: expected integer maps [N, H, W], got {labels.dtype} "
                         f"{labels.shape}")
    return labels


def valid_pixel_fraction(labels, num_classes: int) -> float:
    """Fraction of pixels holding a class index in [0, num_classes)."""
    labels = _maps(labels)
    return float(np.mean((labels >= 0) & (labels < num_classes)))


def nearest_palette_index(images, palette):
    """(class index [N,H,W], distance [N,H,W]) of each pixel's nearest palette colour.

    ``images``: uint8 RGB or float in [-1, 1] ([N,H,W,3]); distances are
    Euclidean in 0..255 RGB units. Ties go to the lowest class index.
    """
    images = np.asarray(images)
    if images.shape[-1] != 3:
        raise ValueError(f"images: expected [..., 3] RGB, got shape {images.shape}")
    rgb = images.astype(np.float64)
    if images.dtype != np.uint8:
        rgb = (rgb + 1.0) * 127.5
    palette = np.asarray(palette, np.float64).reshape(-1, 3)
    flat = rgb.reshape(-1, 3)
    best = np.zeros(len(flat), np.int32)
    best_d = np.full(len(flat), np.inf)
    for index, color in enumerate(palette):  # C passes of N*H*W: small memory, exact ties
        d = np.sqrt(((flat - color) ** 2).sum(-1))
        closer = d < best_d
        best[closer], best_d[closer] = index, d[closer]
    return best.reshape(rgb.shape[:-1]), best_d.reshape(rgb.shape[:-1])


def color_validity(images, palette, tolerance: float = 10.0) -> float:
    """Fraction of pixels within ``tolerance`` (Euclidean, 0..255 RGB) of a palette colour."""
    _, distance = nearest_palette_index(images, palette)
    return float(np.mean(distance <= tolerance))


def class_frequencies(labels, num_classes: int) -> np.ndarray:
    """float64 [num_classes]: share of the valid pixels that has each class."""
    labels = _maps(labels).ravel()
    labels = labels[(labels >= 0) & (labels < num_classes)]
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def class_tv_distance(labels_a, labels_b, num_classes: int) -> float:
    """Total variation between the class histograms of two sets of maps."""
    p, q = class_frequencies(labels_a, num_classes), class_frequencies(labels_b, num_classes)
    return float(0.5 * np.abs(p - q).sum())


def region_statistics(labels, num_classes: int) -> Dict[int, Dict[str, float]]:
    """Per class present: ``regions_per_map`` (mean over all maps) and
    ``mean_region_size`` (pixels), with 4-connected regions."""
    from scipy import ndimage

    labels = _maps(labels)
    out = {}
    for c in range(num_classes):
        sizes = []
        for label in labels:
            mask = label == c
            if not mask.any():
                continue
            regions, count = ndimage.label(mask)
            sizes.extend(np.bincount(regions.ravel())[1:count + 1].tolist())
        if sizes:
            out[c] = {"regions_per_map": len(sizes) / len(labels),
                      "mean_region_size": float(np.mean(sizes))}
    return out


def isolated_pixel_fraction(labels) -> float:
    """Fraction of pixels none of whose 4 neighbours (inside the map) has the same class.

    A one-pixel map has no neighbours and counts as not isolated.
    """
    labels = _maps(labels)
    same = np.zeros(labels.shape, bool)
    same[:, 1:, :] |= labels[:, 1:, :] == labels[:, :-1, :]
    same[:, :-1, :] |= labels[:, :-1, :] == labels[:, 1:, :]
    same[:, :, 1:] |= labels[:, :, 1:] == labels[:, :, :-1]
    same[:, :, :-1] |= labels[:, :, :-1] == labels[:, :, 1:]
    has_neighbours = labels.shape[1] * labels.shape[2] > 1
    return float(np.mean(~same)) if has_neighbours else 0.0


def pairwise_difference(labels, max_pairs: int = 2000, seed: int = 0) -> float:
    """Mean fraction of differing pixels over pairs of distinct maps (up to
    ``max_pairs`` random pairs); nan for fewer than 2 maps."""
    labels = _maps(labels)
    n = len(labels)
    if n < 2:
        return float("nan")
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[k] for k in rng.choice(len(pairs), max_pairs, replace=False)]
    return float(np.mean([np.mean(labels[i] != labels[j]) for i, j in pairs]))


def _region_summary(stats, data_stats):
    """Pooled numbers over the classes of the data: regions per map and mean size."""
    classes = sorted(data_stats)
    count = sum(stats.get(c, {}).get("regions_per_map", 0.0) for c in classes)
    sizes = [stats[c]["mean_region_size"] for c in classes if c in stats]
    return count, (float(np.mean(sizes)) if sizes else float("nan"))


def label_map_report(generated, data, num_classes: int, names: Optional[Sequence[str]] = None,
                     generated_colors=None, palette=None, tolerance: float = 10.0) -> Dict:
    """The label-map metrics of ``generated`` maps next to the same of ``data`` maps.

    ``generated_colors`` (with ``palette``): the colour images the baseline
    produced, before snapping; adds ``color_validity``.
    """
    generated, data = _maps(generated, "generated"), _maps(data, "data")
    names = list(names) if names is not None else [str(c) for c in range(num_classes)]
    gen_regions = region_statistics(generated, num_classes)
    data_regions = region_statistics(data, num_classes)
    gen_count, gen_size = _region_summary(gen_regions, data_regions)
    data_count, data_size = _region_summary(data_regions, data_regions)
    per_class = {}
    p, q = class_frequencies(generated, num_classes), class_frequencies(data, num_classes)
    for c in sorted(set(gen_regions) | set(data_regions)):
        per_class[names[c]] = {
            "frequency": float(p[c]), "data_frequency": float(q[c]),
            "regions_per_map": gen_regions.get(c, {}).get("regions_per_map", 0.0),
            "data_regions_per_map": data_regions.get(c, {}).get("regions_per_map", 0.0),
            "mean_region_size": gen_regions.get(c, {}).get("mean_region_size", float("nan")),
            "data_mean_region_size": data_regions.get(c, {}).get("mean_region_size",
                                                                 float("nan"))}
    report = {
        "maps": int(len(generated)), "data_maps": int(len(data)),
        "valid_pixel_fraction": valid_pixel_fraction(generated, num_classes),
        "class_tv_distance": class_tv_distance(generated, data, num_classes),
        "regions_per_map": gen_count, "data_regions_per_map": data_count,
        "mean_region_size": gen_size, "data_mean_region_size": data_size,
        "isolated_pixel_fraction": isolated_pixel_fraction(generated),
        "data_isolated_pixel_fraction": isolated_pixel_fraction(data),
        "pairwise_difference": pairwise_difference(generated),
        "data_pairwise_difference": pairwise_difference(data),
        "per_class": per_class,
    }
    if generated_colors is not None:
        if palette is None:
            raise ValueError("generated_colors needs the palette to measure colour validity")
        report["color_validity"] = color_validity(generated_colors, palette, tolerance)
        report["color_tolerance"] = float(tolerance)
    return report
