"""Segmentation scores: confusion matrix, mIoU and pixel accuracy with ignore ids."""

from __future__ import annotations

from typing import Dict, Iterable, Optional

import numpy as np

__all__ = ["confusion_matrix", "edge_error_rates", "label_edges", "scores_from_confusion",
           "segmentation_scores", "toy_oracle_scores", "toy_segmentation_scores"]


def confusion_matrix(prediction, target, num_classes: int,
                     ignore: Iterable[int] = ()) -> np.ndarray:
    """int64 [C, C + 1] counts (rows: target, columns: prediction).

    Target pixels whose id is in ``ignore`` or outside [0, C) are not counted;
    predictions outside [0, C) go to the last column (always wrong).
    """
    prediction = np.asarray(prediction).astype(np.int64).ravel()
    target = np.asarray(target).astype(np.int64).ravel()
    if prediction.shape != target.shape:
        raise ValueError(f"prediction and target differ in size: {prediction.size} vs {target.size}")
    keep = (target >= 0) & (target < num_classes)
    for value in ignore:
        keep &= target != value
    prediction = np.where((prediction >= 0) & (prediction < num_classes), prediction, num_classes)
    counts = np.bincount(target[keep] * (num_classes + 1) + prediction[keep],
                         minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1)


def scores_from_confusion(conf: np.ndarray, names: Optional[list] = None) -> Dict:
    """mIoU over classes present in target or prediction, pixel accuracy, per-class IoU.

    ``conf`` is [C, C + 1] as from :func:`confusion_matrix` (the last column,
    out-of-range predictions, counts as errors) or a square [C, C] matrix.
    """
    conf = np.asarray(conf, np.float64)
    num_classes = conf.shape[0]
    target_total = conf.sum(axis=1)
    true_positive = np.diag(conf[:, :num_classes])
    union = target_total + conf[:, :num_classes].sum(axis=0) - true_positive
    present = union > 0
    iou = np.where(present, true_positive / np.maximum(union, 1), np.nan)
    pixels = target_total.sum()
    per_class = {(names[i] if names else str(i)): float(iou[i]) for i in np.flatnonzero(present)}
    return {"miou": float(np.nanmean(iou)) if present.any() else float("nan"),
            "pixel_accuracy": float(true_positive.sum() / pixels) if pixels else float("nan"),
            "pixels": int(pixels), "per_class_iou": per_class}


def segmentation_scores(prediction, target, num_classes: int, ignore: Iterable[int] = (),
                        names: Optional[list] = None) -> Dict:
    return scores_from_confusion(confusion_matrix(prediction, target, num_classes, ignore), names)


def label_edges(labels) -> np.ndarray:
    """bool [..., H, W]: pixels with a different label among their eight
    neighbours (a one-pixel band on each side of every label edge)."""
    labels = np.asarray(labels)
    if labels.ndim < 2:
        raise ValueError(f"label_edges expects [..., H, W] label maps, got shape {labels.shape}")
    pad = [(0, 0)] * (labels.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(labels, pad, mode="edge")
    height, width = labels.shape[-2:]
    edges = np.zeros(labels.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            edges |= padded[..., dy:dy + height, dx:dx + width] != labels
    return edges


def edge_error_rates(prediction, target) -> Dict:
    """Where a segmentation is wrong: the error rate on label-edge pixels
    (:func:`label_edges` of ``target``) and inside regions, and the share of all
    errors that lies on edges. A blurry or shifted renderer errs on edges."""
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction and target differ in shape: {prediction.shape} vs "
                         f"{target.shape}")
    edges, wrong = label_edges(target), prediction != target
    return {"edge_pixels": float(edges.mean()),
            "edge_error": float(wrong[edges].mean()) if edges.any() else float("nan"),
            "interior_error": float(wrong[~edges].mean()) if (~edges).any() else float("nan"),
            "errors_on_edges": float(wrong[edges].sum() / wrong.sum()) if wrong.any() else 0.0}


def toy_oracle_scores(images, labels) -> Dict:
    """Weight-free scores for toy_streets: the nearest-colour oracle segments
    ``images`` ([N,H,W,3], uint8 or [-1,1]) and is compared with the Cityscapes
    class-index ``labels`` [N,H,W] over the toy classes."""
    from tfsem.data.toy_streets import oracle_segment

    return toy_segmentation_scores(oracle_segment(images), labels)


def toy_segmentation_scores(prediction, labels) -> Dict:
    """:func:`toy_oracle_scores` of an existing segmentation: Cityscapes ids
    ``prediction`` against ``labels`` [N,H,W] over the toy classes."""
    from tfsem.data.toy_streets import CLASS_IDS

    from tfsem.data.labels import load_label_space

    names = list(load_label_space("cityscapes").names)
    conf = confusion_matrix(prediction, labels, len(names))
    sub = np.ix_(CLASS_IDS, list(CLASS_IDS) + [len(names)])
    return scores_from_confusion(conf[sub], [names[c] for c in CLASS_IDS])
