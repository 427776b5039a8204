"""``python -m tfsem.encode_features --model RUN [--clusters 10] [--split train] [--out FILE]``.

pix2pixHD (sec. 3.4): runs the trained feature encoder over the training set,
collects one feature vector per instance (instance-wise averaged), and
clusters them per class with k-means (10 clusters per class by default) into
``RUN/features.npz``. ``python -m tfsem.generate`` and ``python -m
tfsem.edit`` then pick instance appearances from these clusters.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["encode_features", "main"]


def encode_features(model_path, out=None, clusters=10, split=None, max_examples=None,
                    min_pixels=None, seed=0, config_path=None, stream=sys.stdout):
    """Library form of the CLI; returns the path written."""
    from tfsem import features as F
    from tfsem.data.pipeline import DataPipeline
    from tfsem.runs import load_run

    config, model = load_run(model_path, config_path)
    if not getattr(model, "use_features", False):
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.encode_features",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="pix2pixHD run directory or .keras file")
    parser.add_argument("--out", default=None, help="clusters file (default: RUN/features.npz)")
    parser.add_argument("--clusters", type=int, default=10, help="k-means clusters per class")
    parser.add_argument("--split", default=None, help="data split (default: the config's)")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--min-pixels", type=int, default=None,
                        help="skip instances smaller than this many pixels (default: the "
                             "official filter, instances over 1/64 of the image)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    args = parser.parse_args(argv)
    encode_features(args.model, args.out, args.clusters, args.split, args.max_examples,
                    args.min_pixels, args.seed, args.config)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
