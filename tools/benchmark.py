"""Benchmarks that print JSON. ``python tools/benchmark.py {data,spade} [options]``.

spade: SPADE/GauGAN at Cityscapes settings (35 labels + instance edge map,
  ngf 64, num_D 2, n_layers_D 4, spectral norm, VGG off), batch 1, at 256x128
  and 512x256: generator forward latency (int label map in, image out, inside
  tf.function, and the same compiled with XLA) and one training iteration
  (D step + G step, tf.function; XLA was slower for training). Medians of
  ``--repeats`` runs after 2 warm-up runs. ``--precision mixed_bfloat16`` runs
  the same under Keras' bf16 mixed precision.

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


def _median_seconds(fn, repeats, warmup=2):
    import statistics

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "runs": repeats}


def bench_spade(repeats: int, precision: str, sizes) -> dict:
    import keras
    import tensorflow as tf

    from tfsem.data import toy_streets
    from tfsem.models import GauGAN

    keras.mixed_precision.set_global_policy(precision)
    results = {"precision": precision, "threads": tf.config.threading.get_intra_op_parallelism_threads()
               or os.cpu_count()}
    for height, width in sizes:
        model = GauGAN(num_classes=35, image_size=(height, width), use_instances=True, ngf=64,
                       ndf=64, num_D=2, n_layers_D=4, lambda_vgg=0.0, seed=0)
        model.compile()
        ex = toy_streets.generate(0, height, width)
        batch = {"label": tf.constant(ex["label"][None].astype("int32")),
                 "instance": tf.constant(ex["instance"][None]),
                 "image": tf.constant(ex["image"][None].astype("float32") / 127.5 - 1.0)}
        inputs = {"label": batch["label"], "instance": batch["instance"]}
        forward = tf.function(lambda x: model(x, training=False))
        forward_xla = tf.function(lambda x: model(x, training=False), jit_compile=True)
        train = tf.function(model.train_step)
        key = f"{width}x{height}"
        results[f"forward_{key}"] = _median_seconds(lambda: forward(inputs)[0, 0, 0, 0].numpy(),
                                                    repeats)
        results[f"forward_xla_{key}"] = _median_seconds(
            lambda: forward_xla(inputs)[0, 0, 0, 0].numpy(), repeats)
        results[f"train_iteration_{key}"] = _median_seconds(
            lambda: float(train(batch)["G_loss"]), repeats)
    return results


def bench_pix2pixhd(repeats: int) -> dict:
    """Issue #4's cases: G1 at 1024x512 (36 input channels, ngf 64) and the
    local-enhancer generator at 2048x1024 (ngf 32), batch 1, forward only.
    PyTorch reference on this machine, 2 threads: 8.6 s and 13.8 s."""
    import tensorflow as tf

    from tfsem.networks.pix2pixhd import Pix2PixHDGenerator

    results = {"threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}
    cases = [("global_1024x512", dict(ngf=64, n_local_enhancers=0), (512, 1024), 8.6),
             ("local_2048x1024", dict(ngf=32, n_local_enhancers=1), (1024, 2048), 13.8)]
    for name, kwargs, (height, width), reference in cases:
        generator = Pix2PixHDGenerator(n_downsample_global=4, n_blocks_global=9,
                                       n_blocks_local=3, **kwargs)
        x = tf.random.uniform([1, height, width, 36])
        forward = tf.function(lambda v: generator(v, training=False))
        result = _median_seconds(lambda: forward(x)[0, 0, 0, 0].numpy(), repeats, warmup=1)
        result["pytorch_reference_s"] = reference
        result["speedup"] = round(reference / result["median_s"], 2)
        results[name] = result
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["data", "spade", "pix2pixhd"])
    parser.add_argument("--seconds", type=float, default=10.0, help="data: measuring time per case")
    parser.add_argument("--repeats", type=int, default=5, help="spade, pix2pixhd: timed runs per case")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"],
                        help="spade: Keras dtype policy")
    parser.add_argument("--sizes", default="128x256,256x512",
                        help="spade: comma-separated HxW sizes")
    args = parser.parse_args(argv)
    if args.what == "data":
        result = bench_data(args.seconds)
    elif args.what == "pix2pixhd":
        result = bench_pix2pixhd(args.repeats)
    else:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        result = bench_spade(args.repeats, args.precision, sizes)
    print(json.dumps({args.what: result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
