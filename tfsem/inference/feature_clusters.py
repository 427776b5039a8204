"""pix2pixHD instance-feature clusters at test time (paper sec. 3.4): per-class
k-means clusters of the encoder's instance features, and the files that hold
them. The feature maps built from chosen clusters are the task's
(``Pix2PixHD.cluster_features``, one implementation for Python and exports).

A clusters file (``features.npz``, written by ``python -m tfsem.encode_features``)
holds ``class_<index>``: float32 [k, feat_num] cluster centres per class index,
and ``meta``: JSON (label space, feat_num, counts).
"""

from __future__ import annotations

import io
import json
import os
from typing import Dict, Optional

import numpy as np

from tfsem.fileio import atomic_write_bytes

__all__ = ["kmeans", "instance_features", "cluster_features", "save_clusters", "load_clusters",
           "instance_classes", "default_clusters_path", "load_run_clusters", "run_clusters_for"]


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """Cluster centres [min(k, n_distinct), D] of ``points`` [N, D] (k-means++
    initialisation, Lloyd iterations, deterministic for a seed)."""
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"kmeans needs points [N, D] with N >= 1, got shape {points.shape}")
    k = min(k, len(np.unique(points, axis=0)))
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        dist = np.min(((points[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(points[rng.choice(len(points), p=dist / dist.sum())])
    centres = np.asarray(centres)
    for _ in range(iterations):
        assign = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        updated = np.array([points[assign == c].mean(0) if np.any(assign == c) else centres[c]
                            for c in range(k)])
        if np.allclose(updated, centres):
            break
        centres = updated
    return centres.astype(np.float32)


def instance_classes(label: np.ndarray, instance: np.ndarray) -> Dict[int, int]:
    """instance id -> class index (the most frequent label inside it)."""
    out = {}
    for inst in np.unique(instance):
        values, counts = np.unique(label[instance == inst], return_counts=True)
        out[int(inst)] = int(values[counts.argmax()])
    return out


def instance_features(features: np.ndarray, label: np.ndarray, instance: np.ndarray,
                      min_pixels: Optional[int] = None):
    """(class index, feature vector) of every instance of one image large enough
    to be clustered. ``features`` [H, W, F] is instance-averaged.

    Size filter: by default the official one (NVIDIA/pix2pixHD
    ``pix2pixHD_model.py`` ``encode_features`` stores ``num / (h * w // 32)``
    and ``encode_features.py`` keeps rows where it is > 0.5: instances over
    1/64 of the image); ``min_pixels`` sets an absolute number of pixels
    instead. Class: the most frequent label inside the instance; the
    reference reads it from Cityscapes-encoded ids (``i // 1000`` for
    ``i >= 1000``), which is the same class on Cityscapes and also works for
    instance maps that do not encode classes.
    """
    out = []
    height, width = instance.shape[-2:]
    for inst, cls in instance_classes(label, instance).items():
        mask = instance == inst
        count = int(mask.sum())
        big = (count >= min_pixels if min_pixels is not None
               else count / max(height * width // 32, 1) > 0.5)
        if cls < 0 or not big:
            continue
        out.append((cls, features[mask][0]))
    return out


def cluster_features(samples: Dict[int, list], k: int = 10, seed: int = 0) -> Dict[int, np.ndarray]:
    """class index -> cluster centres [<=k, F] from lists of feature vectors."""
    return {cls: kmeans(np.stack(vectors), k, seed) for cls, vectors in sorted(samples.items())
            if vectors}


def save_clusters(path: str, clusters: Dict[int, np.ndarray], meta: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)),
             **{f"class_{cls}": centres for cls, centres in clusters.items()})
    atomic_write_bytes(path, buffer.getvalue())


def load_clusters(path: str):
    """(clusters {class index: [k, F]}, meta dict). Anything else in ``path``
    (not an .npz, cut short, a pickle, centres that are not finite float
    [k, F] rows of one width) is one ValueError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            if "meta" not in files:
                raise ValueError("no 'meta' entry")
            meta = json.loads(str(data["meta"]))
            clusters = {}
            for key in files:
                if not key.startswith("class_"):
                    continue
                cls = key.split("_", 1)[1]
                if not cls.isdigit():
                    raise ValueError(f"entry {key!r} does not name a class index")
                clusters[int(cls)] = np.asarray(data[key])
    except FileNotFoundError:
        raise
    except Exception as err:  # zipfile, pickle refusals, JSON, ... all one line
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"{path}: not a clusters file from python -m tfsem.encode_features "
                         f"({type(err).__name__}: {reason})") from None
    widths = set()
    for cls, centres in clusters.items():
        if centres.ndim != 2 or centres.dtype.kind != "f" or not len(centres):
            raise ValueError(f"{path}: class_{cls} must hold float centres [k, features], got "
                             f"{centres.dtype} {centres.shape}")
        if not np.isfinite(centres).all():
            raise ValueError(f"{path}: class_{cls} has NaN or Inf centres")
        widths.add(centres.shape[1])
    if len(widths) > 1:
        raise ValueError(f"{path}: the classes' centres have different widths {sorted(widths)}")
    return clusters, meta


def default_clusters_path(model_path: str) -> str:
    """``features.npz`` of a run directory (or next to a ``.keras`` file)."""
    run_dir = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    return os.path.join(run_dir, "features.npz")


def run_clusters_for(model, model_path: str, path: Optional[str] = None):
    """The run's clusters when ``model`` picks its look from clusters (its
    ``infer`` takes ``cluster``), else None (``path`` given anyway: an error)."""
    if "cluster" in {spec.name for spec in model.inference_specs()}:
        return load_run_clusters(model_path, path)
    if path:
        raise ValueError(f"--features {path}: this {type(model).__name__} model takes no "
                         "instance-feature clusters")
    return None


def load_run_clusters(model_path: str, path: Optional[str] = None) -> Dict[int, np.ndarray]:
    """The clusters of a run (``path``, default ``default_clusters_path``), or
    an error that says which command writes them."""
    path = path or default_clusters_path(model_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no feature clusters; this pix2pixHD model takes instance features: run "
            f"python -m tfsem.encode_features --model {model_path} first (or pass --features)")
    return load_clusters(path)[0]
