"""Benchmarks that print JSON. ``python tools/benchmark.py data [--seconds S]``.

data: examples/s of
  * the Cityscapes pipeline at 512x256 with augmentation (decode full-size
    2048x1024 PNGs + labelIds + instanceIds, resize, random flip, batch), read
    from the real sample in ../shared/data (or $TFSEM_SHARED_DATA), repeated;
  * toy_streets generation at 128x256 and 256x512 (through the same pipeline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _rate(dataset, batch_size, seconds, warmup=2):
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)
        count += batch_size
    elapsed = time.perf_counter() - start
    return {"examples": count, "seconds": round(elapsed, 2),
            "examples_per_s": round(count / elapsed, 2)}


def bench_data(seconds: float) -> dict:
    import tensorflow as tf

    from tfsem.config import DataConfig, PreprocessConfig, ToyStreetsConfig
    from tfsem.data.pipeline import DataPipeline

    results = {}
    shared = os.environ.get("TFSEM_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
    root = os.path.join(shared, "cityscapes_sample")
    if os.path.isdir(root):
        config = DataConfig(source="folder", root=root, batch_size=4,
                            preprocess=PreprocessConfig(resize_to=(256, 512), flip=True))
        ds = DataPipeline(config).dataset(training=True)
        results["cityscapes_512x256_augmented"] = {
            "batch_size": 4, "source": root, **_rate(ds, 4, seconds)}
    else:
        results["cityscapes_512x256_augmented"] = {"skipped": f"no sample data at {root}"}
    for h, w in ((128, 256), (256, 512)):
        config = DataConfig(batch_size=8, toy=ToyStreetsConfig(num_examples=10_000, height=h, width=w))
        ds = DataPipeline(config).dataset(training=True)
        results[f"toy_streets_{w}x{h}"] = {"batch_size": 8, **_rate(ds, 8, seconds)}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "tensorflow": tf.__version__}
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["data"])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per case")
    args = parser.parse_args(argv)
    result = {"data": bench_data}[args.what](args.seconds)
    print(json.dumps({args.what: result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
