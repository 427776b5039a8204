"""pix2pixHD (sec. 3.4) instance features of a training set, clustered per
class: the library behind ``python -m tfsem.encode_features`` (which loads
the run and writes the clusters file)."""


from __future__ import annotations

import logging
from typing import Dict, Optional, Tuple

import numpy as np

from tfsem.data.pipeline import DataPipeline
from tfsem.inference import feature_clusters as F

__all__ = ["encode_features"]

log = logging.getLogger("tfsem.encode_features")


def encode_features(model, config, *, clusters: int = 10, split: Optional[str] = None,
                    max_examples: Optional[int] = None, min_pixels: Optional[int] = None,
                    seed: int = 0) -> Tuple[Dict[int, np.ndarray], dict]:
    """Per-class k-means clusters of a pix2pixHD task's instance features over
    ``split`` of its data: (class index -> centres [k, feat_num], meta)."""
    if "cluster" not in {spec.name for spec in model.inference_specs()}:
        raise ValueError(f"{config.name}: this model has no feature encoder (a pix2pixHD model "
                         "trained with use_features: true is needed)")
    if clusters < 1:
        raise ValueError(f"--clusters must be >= 1, got {clusters}")
    split = split or config.data.split
    pipeline = DataPipeline(config.data, split)
    dataset = pipeline.dataset(training=False, batch_size=config.data.batch_size, repeat=False)
    samples, seen = {}, 0
    for batch in dataset:
        instances = model.feature_instances(batch)
        feats = model.encode_features(batch["image"], instances).numpy()
        for i in range(feats.shape[0]):
            for cls, vector in F.instance_features(feats[i], batch["label"][i].numpy(),
                                                   instances[i].numpy(), min_pixels):
                samples.setdefault(cls, []).append(vector)
            seen += 1
            if max_examples and seen >= max_examples:
                break
        if max_examples and seen >= max_examples:
            break
    if not samples:
        size = (f">= {min_pixels} pixels" if min_pixels is not None
                else "over 1/64 of the image (the official filter; see --min-pixels)")
        raise ValueError(f"no instances {size} in the {split!r} split")
    centres = F.cluster_features(samples, clusters, seed)
    meta = {"label_space": config.data.label_space, "feat_num": int(feats.shape[-1]),
            "clusters": clusters, "examples": seen, "split": split,
            "instances_per_class": {str(c): len(v) for c, v in samples.items()}}
    names = pipeline.label_space.names
    log.info(f"encoded {seen} examples, {sum(len(v) for v in samples.values())} instances; "
             f"clustered {len(centres)} classes")
    for cls, c in centres.items():
        name = names[cls] if cls < len(names) else "dont_care"
        log.info(f"  {name}: {len(samples[cls])} instances -> {len(c)} clusters")
    return centres, meta
