"""pix2pixHD (sec. 3.4) instance features of a training set, clustered per
class: the library behind ``python -m tfsem.encode_features``."""


from __future__ import annotations

import sys

from tfsem.data.pipeline import DataPipeline
from tfsem.inference import feature_clusters as F
from tfsem.runs import load_run

__all__ = ["encode_features"]


def encode_features(model_path, out=None, clusters=10, split=None, max_examples=None,
                    min_pixels=None, seed=0, config_path=None, stream=None):
    """Per-class k-means clusters of a pix2pixHD run's instance features
    (``python -m tfsem.encode_features``); returns the path written."""
    stream = stream or sys.stdout
    config, model = load_run(model_path, config_path)
    if not model.use_features:
        raise ValueError(f"{model_path}: this model has no feature encoder (a pix2pixHD model "
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
    out = out or F.default_clusters_path(model_path)
    meta = {"label_space": config.data.label_space, "feat_num": model.feat_num,
            "clusters": clusters, "examples": seen, "split": split,
            "instances_per_class": {str(c): len(v) for c, v in samples.items()}}
    F.save_clusters(out, centres, meta)
    names = pipeline.label_space.names
    print(f"encoded {seen} examples, {sum(len(v) for v in samples.values())} instances; "
          f"clustered {len(centres)} classes", file=stream)
    for cls, c in centres.items():
        name = names[cls] if cls < len(names) else "dont_care"
        print(f"  {name}: {len(samples[cls])} instances -> {len(c)} clusters", file=stream)
    print(f"wrote {out}", file=stream)
    return out
