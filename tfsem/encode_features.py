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

__all__ = ["main"]


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
    cli.report_to_stdout()
    from tfsem.inference import feature_clusters as F
    from tfsem.inference.encode_features import encode_features
    from tfsem.runs import load_run

    config, model = load_run(args.model, args.config)
    centres, meta = encode_features(model, config, clusters=args.clusters, split=args.split,
                                    max_examples=args.max_examples, min_pixels=args.min_pixels,
                                    seed=args.seed)
    out = args.out or F.default_clusters_path(args.model)
    F.save_clusters(out, centres, meta)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
