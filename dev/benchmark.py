"""Benchmarks. ``python dev/benchmark.py {data,case,compare,profile,convs} [options]``.

compare: tfsem side by side with the official PyTorch code, in one run. Each
  side of each case runs in its own process, alternated over ``--rounds``
  (official first, then tfsem first): the official code through
  ``../shared/reference/tools/ref_bench.py`` (fp32, batch 1, untouched) and
  ``dev/bench_official.py`` (the same networks under PyTorch's bf16
  autocast, or at batch 4), tfsem in fp32 and under ``mixed_bfloat16``.
  Cases: SPADE G forward 256x128 and 512x256, SPADE training iteration
  256x128, pix2pixHD G1 1024x512, pix2pixHD local enhancer 2048x1024,
  batch-4 serving throughput (SPADE 256x128, pix2pixHD G1 512x256) and the
  quickstart config's training iteration (``quickstart_train``). Prints a
  markdown table (medians of the per-process medians, their range, ratios);
  ``--out`` keeps every run as JSON, with the CPU's flags and any ISA limits
  set in the environment. Needs torch (``--torch-python``). ``--device gpu``:
  the GPU run (``dev/gpu_benchmark.sh``): both codes on CUDA at the papers'
  sizes, tfsem in fp32, mixed_float16, XLA and under MirroredStrategy.

case: one tfsem case in this process, one JSON line (what compare runs).

profile: one tfsem case under the TF profiler: time per block (ops run one at
  a time), its GFLOP (as direct convolutions) and GFLOP/s, time per op type.

convs: milliseconds of one 3x3 conv by each method of tfsem.layers.conv3x3
  (oneDNN conv, im2col GEMM, Winograd F(2x2) / F(4x4)) in float32 and
  bfloat16 at the benchmark cases' shapes, and the method tfsem picks.

data: examples/s of
  * the Cityscapes pipeline at 512x256 with augmentation (decode full-size
    2048x1024 PNGs + labelIds + instanceIds, resize, random flip, batch), read
    from the real sample in ../shared/data (or $TFSEM_SHARED_DATA), repeated,
    with tf.data on 1, 2, ... threads (``--data-threads``): the per-core rate;
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


def _limit_threads(dataset, threads: int):
    """``dataset`` with tf.data's work on a private pool of ``threads`` threads."""
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    return dataset.with_options(options)


def bench_data(seconds: float, threads=None) -> dict:
    """Examples/s of the Cityscapes pipeline (and toy_streets), with tf.data on
    1, 2, ... ``threads`` threads: the per-core rate, and how it scales."""
    import tensorflow as tf

    from tfsem.config import DataConfig, PreprocessConfig, ToyStreetsConfig
    from tfsem.data.pipeline import DataPipeline

    threads = threads or list(range(1, (os.cpu_count() or 1) + 1))
    results = {}
    shared = os.environ.get("TFSEM_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
    root = os.path.join(shared, "cityscapes_sample")
    if os.path.isdir(root):
        for n in threads:
            config = DataConfig(source="folder", root=root, batch_size=4, num_parallel_calls=n,
                                preprocess=PreprocessConfig(resize_to=(256, 512), flip=True))
            ds = _limit_threads(DataPipeline(config).dataset(training=True), n)
            results[f"cityscapes_512x256_augmented_{n}_threads"] = {
                "batch_size": 4, "threads": n, "source": root, **_rate(ds, 4, seconds)}
    else:
        results["cityscapes_512x256_augmented"] = {"skipped": f"no sample data at {root}"}
    for h, w in ((128, 256), (256, 512)):
        config = DataConfig(batch_size=8, toy=ToyStreetsConfig(num_examples=10_000, height=h, width=w))
        ds = DataPipeline(config).dataset(training=True)
        results[f"toy_streets_{w}x{h}"] = {"batch_size": 8, **_rate(ds, 8, seconds)}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "tensorflow": tf.__version__}
    return results


def _median_seconds(fn, repeats, warmup=2, digits=3):
    import statistics

    first = None
    for _ in range(warmup):
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start if first is None else first
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    result = {"median_s": round(statistics.median(times), digits),
              "min_s": round(min(times), digits), "runs": repeats}
    if first is not None:  # the first call: tracing (and measuring kernels on a new machine)
        result["first_call_s"] = round(first, digits)
    return result


CASE_HELP = ("spade_fwd_WxH, spade_train_WxH, p2phd_global_WxH, p2phd_local_WxH "
             "(the official ref_bench.py's cases at any size), quickstart_train (one training "
             "step of configs/quickstart.json at its batch size)")

#: The quickstart's training step: the config `make demo` trains.
QUICKSTART_CONFIG = os.path.join(REPO, "configs", "quickstart.json")


def quickstart_batch(config, batch_size=None):
    """A batch of the quickstart's own data (toy_streets, numpy; the official side
    builds the same arrays): ``{"label", "instance", "image"}`` as numpy."""
    import numpy as np

    from tfsem.data import toy_streets

    toy, size = config.data.toy, batch_size or config.data.batch_size
    examples = [toy_streets.generate(i, toy.height, toy.width, seed=toy.seed) for i in range(size)]
    return {"label": np.stack([e["label"] for e in examples]).astype("int32"),
            "instance": np.stack([e["instance"] for e in examples]).astype("int32"),
            "image": np.stack([e["image"] for e in examples]).astype("float32") / 127.5 - 1.0}


def build_quickstart(precision: str, xla: bool = False):
    """The quickstart's training step as ``python -m tfsem.train`` builds it (its
    config, model and optimisers), on one fixed batch of its data."""
    import keras
    import tensorflow as tf

    from tfsem.config import load_config
    from tfsem.train.build import build_model, compile_model

    keras.mixed_precision.set_global_policy(precision)
    config = load_config(QUICKSTART_CONFIG)
    model = build_model(config)
    compile_model(model, config, num_examples=config.data.toy.num_examples)
    data = {k: tf.constant(v) for k, v in quickstart_batch(config).items()}
    body, args = model.train_step, (data,)
    step = tf.function(body, jit_compile=xla)
    return (lambda: float(step(data)["G_loss"])), body, args


def parse_case(case: str):
    """``spade_fwd_256x128`` -> ("spade", "fwd", height 128, width 256)."""
    if case == "quickstart_train":
        return "quickstart", "train", None, None
    parts = case.split("_")
    kinds = {"spade": ("fwd", "train"), "p2phd": ("global", "local")}
    try:
        family, kind, size = parts
        width, height = (int(v) for v in size.split("x"))
    except ValueError:
        raise ValueError(f"case {case!r}: expected FAMILY_KIND_WxH, one of {CASE_HELP}") from None
    if family not in kinds or kind not in kinds[family]:
        raise ValueError(f"case {case!r}: unknown; cases are {CASE_HELP}")
    return family, kind, height, width


def build_case(case: str, precision: str, batch: int = 1, xla: bool = False,
               strategy: str = "none"):
    """One case through tfsem's public API, at the official benchmark
    settings: SPADE with Cityscapes' 35 labels + instance edges, ngf 64, D 2
    scales x 4 layers, spectral norm, VGG off, ``num_upsampling_layers
    normal``; pix2pixHD's generator on 36 channels (G1 ngf 64; the local
    enhancer ngf 32 around it). Returns ``(run, body, args)``: ``run()`` one
    timed call inside tf.function; ``body(*args)`` the same computation as a
    plain Python function (for tracing it again, e.g. to count FLOPs).
    ``strategy`` ``mirrored``: a training case built and run under
    MirroredStrategy (as ``tfsem.train`` runs it; one replica per GPU)."""
    import keras
    import tensorflow as tf

    family, kind, height, width = parse_case(case)
    if family == "quickstart":
        if batch != 1:
            raise ValueError("quickstart_train runs at its config's batch size; no --batch")
        return build_quickstart(precision, xla)
    if batch != 1 and kind == "train":
        raise ValueError(f"case {case!r}: --batch applies to forward cases only")
    if strategy not in ("none", "mirrored") or (strategy == "mirrored" and kind != "train"):
        raise ValueError(f"--strategy {strategy!r}: none, or mirrored for a training case")
    keras.mixed_precision.set_global_policy(precision)
    if strategy == "mirrored":  # training cases are SPADE's
        return _mirrored_spade_step(tf.distribute.MirroredStrategy(), height, width, xla)
    if family == "spade":
        model = _spade_benchmark_model(height, width)
        data = _spade_batch(height, width, batch)
        if kind == "train":
            body, args = model.train_step, (data,)
            step = tf.function(body, jit_compile=xla)
            return (lambda: float(step(data)["G_loss"])), body, args
        inputs = {"label": data["label"], "instance": data["instance"]}
        body, args = (lambda x: model(x, training=False)), (inputs,)
    else:
        from tfsem.networks.pix2pixhd import Pix2PixHDGenerator

        local = kind == "local"
        generator = Pix2PixHDGenerator(ngf=32 if local else 64, n_downsample_global=4,
                                       n_blocks_global=9, n_local_enhancers=int(local),
                                       n_blocks_local=3)
        body = lambda v: generator(v, training=False)  # noqa: E731
        args = (tf.random.uniform([batch, height, width, 36], seed=0),)
    forward = tf.function(body, jit_compile=xla)
    return (lambda: forward(*args)[0, 0, 0, 0].numpy()), body, args


def _spade_batch(height, width, batch):
    """The SPADE cases' input: toy_streets scene 0, ``batch`` copies."""
    import numpy as np
    import tensorflow as tf

    from tfsem.data import toy_streets

    ex = toy_streets.generate(0, height, width)
    return {"label": tf.constant(np.repeat(ex["label"][None].astype("int32"), batch, 0)),
            "instance": tf.constant(np.repeat(ex["instance"][None], batch, 0)),
            "image": tf.constant(np.repeat(ex["image"][None], batch, 0)
                                 .astype("float32") / 127.5 - 1.0)}


def _spade_benchmark_model(height, width):
    from tfsem.models import GauGAN

    model = GauGAN(num_classes=35, image_size=(height, width), use_instances=True, ngf=64,
                   ndf=64, num_D=2, n_layers_D=4, num_upsampling_layers="normal",
                   lambda_vgg=0.0, seed=0)
    model.compile()
    return model


def _mirrored_spade_step(strategy, height, width, xla):
    """The SPADE training case as tfsem.train runs it: model and optimisers built
    in the strategy's scope, the step through ``strategy.run``, losses reduced."""
    import tensorflow as tf

    with strategy.scope():
        model = _spade_benchmark_model(height, width)
    data = _spade_batch(height, width, 1)

    def body(batch):
        out = strategy.run(model.train_step, args=(batch,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in out.items()}

    step = tf.function(body, jit_compile=xla)
    return (lambda: float(step(data)["G_loss"])), body, (data,)


def tfsem_case(case: str, precision: str, batch: int, repeats: int, xla: bool = False,
               strategy: str = "none") -> dict:
    """Times one case (:func:`build_case`): median seconds of ``repeats`` calls."""
    fn, _, _ = build_case(case, precision, batch, xla, strategy)
    result = _median_seconds(fn, repeats, warmup=1 if case.startswith("p2phd") else 2)
    result.update(case=case, batch=batch, precision=precision, xla=xla, strategy=strategy)
    return result


#: (batch, height, width, in, out) of the 3x3 convs of the benchmark cases: SPADE's
#: spectral convs at 256x128 (1024 channels at 8x16 ... 128 at 128x256) and
#: pix2pixHD's ResNet blocks (1024 at 32x64 in G1 at 1024x512).
CONV_SHAPES = [(1, 8, 16, 1024, 1024), (1, 16, 32, 1024, 512), (1, 32, 64, 512, 256),
               (1, 64, 128, 256, 128), (1, 128, 256, 128, 64), (1, 32, 64, 1024, 1024),
               (4, 16, 32, 1024, 1024), (1, 64, 128, 512, 512)]


def bench_convs(repeats: int) -> dict:
    """Milliseconds of one 3x3 conv per method of tfsem.layers.conv3x3 (and the
    one it picks), float32 and bfloat16, at :data:`CONV_SHAPES`."""
    import tensorflow as tf

    from tfsem.layers.conv3x3 import conv3x3, conv3x3_method

    rows = []
    for b, h, w, c, f in CONV_SHAPES:
        x32 = tf.random.normal([b, h + 2, w + 2, c])
        kernel = tf.Variable(tf.random.normal([3, 3, c, f]) * 0.05)
        row = {"shape": f"{b}x{h}x{w} {c}->{f}", "gflop": round(2 * b * h * w * c * f * 9 / 1e9, 2)}
        for dtype in ("float32", "bfloat16"):
            x = tf.cast(x32, dtype)
            methods = ["conv", "matmul"] + (["winograd2"] if dtype == "float32" else []) + (
                ["winograd4"] if dtype == "float32" and h % 4 == 0 and w % 4 == 0 else [])
            for method in methods:
                fn = tf.function(lambda v, m=method, k=kernel: conv3x3(v, k, m))
                seconds = _median_seconds(
                    lambda fn=fn, x=x: float(tf.reduce_sum(tf.cast(fn(x)[..., :1], tf.float32))),
                    repeats, digits=4)["median_s"]
                row[f"{dtype} {method}"] = round(seconds * 1e3, 1)
            row[f"{dtype} picked"] = conv3x3_method(x.shape, dtype)
        rows.append(row)
    return {"unit": "ms", "rows": rows}


def _block_of(name: str, depth: int) -> str:
    """``gau_gan_1/generator_1/up_3_1/norm_s_1/mul`` -> ``generator/up_3`` (depth 2):
    the op's layer path without Keras' call-count suffixes, model scope dropped."""
    import re

    parts = [re.sub(r"_\d+$", "", p) for p in name.split(":")[0].split("/")]
    if len(parts) > 1 and parts[0] in ("gau_gan", "pix2_pix_hd_generator"):
        parts = parts[1:]
    return "/".join(parts[:depth])


def _op_times(logdir: str, runs: int):
    """(ms per op name, ms per op type) per run, from a TF profiler trace."""
    import collections
    import glob

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    by_name, by_type = collections.Counter(), collections.Counter()
    for path in glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            names = {k: v.name for k, v in plane.event_metadata.items()}
            for line in plane.lines:
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    # op events are "scope/op:Type"; skip the function-level events
                    if name.count(":") != 1 or name.startswith(("EagerLocalExecute", "__")):
                        continue
                    op, kind = name.split(":")
                    by_name[op] += event.duration_ps / 1e9 / runs
                    by_type[kind] += event.duration_ps / 1e9 / runs
    return by_name, by_type


def _flops_by_op(body, args) -> dict:
    """Floating-point operations per op name of ``body`` traced with plain
    convolutions (the TFLite graph target): a direct conv's count, whatever
    algorithm the timed graph uses (Winograd does fewer)."""
    import tensorflow as tf

    from tfsem.layers.graph_target import graph_target

    with graph_target("tflite"):
        graph = tf.function(body).get_concrete_function(*args).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    root = tf.compat.v1.profiler.profile(graph=graph, cmd="scope", options=options)
    out, stack = {}, [root]
    while stack:
        node = stack.pop()
        if node.float_ops:
            out[node.name] = node.float_ops
        stack.extend(node.children)
    return out


def profile_case(case: str, precision: str, batch: int, repeats: int, depth: int) -> dict:
    """Per-block time (TF profiler, ops one at a time: inter-op parallelism 1,
    so op times add up to the wall time) and GFLOP/s of one case."""
    import shutil
    import tempfile

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    fn, body, args = build_case(case, precision, batch)
    wall = _median_seconds(fn, repeats, warmup=2)
    flops = {} if "_train_" in case else _flops_by_op(body, args)
    logdir = tempfile.mkdtemp(prefix="tfsem-profile-")
    try:
        tf.profiler.experimental.start(logdir)
        for _ in range(repeats):
            fn()
        tf.profiler.experimental.stop()
        by_name, by_type = _op_times(logdir, repeats)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    blocks = {}
    for name, ms in by_name.items():
        block = blocks.setdefault(_block_of(name, depth), {"ms": 0.0, "gflop": 0.0})
        block["ms"] += ms
    for name, count in flops.items():
        block = _block_of(name, depth)
        if block in blocks:
            blocks[block]["gflop"] += count / 1e9
    total = sum(b["ms"] for b in blocks.values())
    rows = [{"block": k, "ms": round(v["ms"], 1), "share": round(v["ms"] / total, 3),
             "gflop": round(v["gflop"], 2),
             "gflop_per_s": round(v["gflop"] / v["ms"] * 1e3) if v["gflop"] and v["ms"] else None}
            for k, v in sorted(blocks.items(), key=lambda kv: -kv[1]["ms"]) if v["ms"] >= 0.05]
    return {"case": case, "precision": precision, "batch": batch, "wall": wall,
            "op_ms_total": round(total, 1), "gflop_total": round(sum(flops.values()) / 1e9, 1),
            "blocks": rows,
            "op_types": {k: round(v, 1) for k, v in by_type.most_common(12)}}


def profile_table(result) -> str:
    lines = [f"{result['case']} ({result['precision']}, batch {result['batch']}): wall "
             f"{result['wall']['median_s']:.3f} s, ops {result['op_ms_total']:.0f} ms, "
             f"{result['gflop_total']} GFLOP (as direct convs)",
             "| block | ms | share | GFLOP | GFLOP/s |", "|---|---:|---:|---:|---:|"]
    for row in result["blocks"]:
        rate = "" if row["gflop_per_s"] is None else str(row["gflop_per_s"])
        lines.append(f"| {row['block']} | {row['ms']} | {row['share']:.1%} | {row['gflop']} "
                     f"| {rate} |")
    lines.append("op types (ms per run): " + ", ".join(
        f"{k} {v}" for k, v in result["op_types"].items()))
    return "\n".join(lines)


# compare: one table row per (case, batch); four sides, each a fresh process.
COMPARE_CASES = [("spade_fwd_256x128", 1), ("spade_fwd_512x256", 1), ("spade_train_256x128", 1),
                 ("p2phd_global_1024x512", 1), ("p2phd_local_2048x1024", 1),
                 ("spade_fwd_256x128", 4), ("p2phd_global_512x256", 4), ("quickstart_train", 1)]
SIDES = ("official", "official_bf16", "tfsem", "tfsem_bf16")


#: The GPU run (``gpu``): the papers' sizes. SPADE trains on Cityscapes at
#: 512x256 and pix2pixHD's G1 at 1024x512, its local enhancer at 2048x1024;
#: serving throughput at batch 4.
GPU_CASES = [("spade_train_512x256", 1), ("spade_fwd_512x256", 1), ("spade_fwd_512x256", 4),
             ("p2phd_global_1024x512", 1), ("p2phd_global_1024x512", 4),
             ("p2phd_local_2048x1024", 1)]
#: side -> (precision, options...) on the GPU; official sides run the official
#: code on CUDA (fp32, and under torch.autocast float16).
GPU_SIDES = {"official": None, "official_fp16": None,
             "tfsem": ("float32",), "tfsem_fp16": ("mixed_float16",),
             "tfsem_xla": ("float32", "--xla"), "tfsem_fp16_xla": ("mixed_float16", "--xla"),
             "tfsem_mirrored": ("float32", "--strategy", "mirrored")}


def _official_command(case, batch, repeats, args, *options):
    """``dev/bench_official.py`` (the official networks in the variants
    ref_bench.py does not cover), in the official SPADE folder."""
    return ([args.torch_python, os.path.join(REPO, "dev", "bench_official.py"), case,
             "--repeats", str(repeats), "--batch", str(batch), "--ref-bench", args.ref_bench,
             *options], os.path.join(args.ref, "SPADE"))


def _tfsem_command(case, batch, repeats, precision, *options):
    return ([sys.executable, os.path.abspath(__file__), "case", case, "--precision", precision,
             "--batch", str(batch), "--repeats", str(repeats), *options], REPO)


def _side_command(side, case, batch, repeats, args):
    if getattr(args, "device", "cpu") == "gpu":
        if side.startswith("official"):
            fp16 = ["--autocast", "--autocast-dtype", "float16"] if side == "official_fp16" else []
            return _official_command(case, batch, repeats, args, "--device", "cuda", *fp16)
        return _tfsem_command(case, batch, repeats, *GPU_SIDES[side])
    if side == "official" and batch == 1 and not case.startswith("quickstart"):
        # the reference's own script, untouched
        return ([args.torch_python, args.ref_bench, case, "--repeats", str(repeats)],
                os.path.join(args.ref, "SPADE"))
    if side.startswith("official"):
        return _official_command(case, batch, repeats, args,
                                 *(["--autocast"] if side == "official_bf16" else []))
    precision = "mixed_bfloat16" if side == "tfsem_bf16" else "float32"
    return _tfsem_command(case, batch, repeats, precision)


def _applies(side, case, batch):
    """MirroredStrategy is timed on training steps only."""
    return not (side == "tfsem_mirrored" and ("_train_" not in case or batch != 1))


def gpu_table(rows, sides) -> str:
    """One row per case; each side's time (or images/s) and its speed-up over
    the official fp32."""
    lines = ["| case | batch | " + " | ".join(sides) + " |",
             "|---|---:|" + "---|" * len(sides)]
    for row in rows:
        cells = []
        base = row["sides"].get("official", {"error": "not run"})
        for side in sides:
            summary = row["sides"].get(side, {"error": "not run"})
            cell = _cell(summary, row["batch"]) if "median_s" in summary else "-"
            if side != "official" and "median_s" in summary:
                cell += f" ({_ratio(base, summary)})"
            cells.append(cell)
        lines.append(f"| {row['case']} | {row['batch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run_side(side, case, batch, args):
    import subprocess

    command, cwd = _side_command(side, case, batch, args.repeats, args)
    env = dict(os.environ, REF=args.ref, THREADS=str(args.threads), TFSEM_THREADS=str(args.threads),
               TF_CPP_MIN_LOG_LEVEL="2")
    try:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


def cpu_info() -> dict:
    """The CPU's model name, family and model numbers and the instruction-set
    flags that decide kernel speed (those of ``tfsem.autotune``'s machine key),
    and the ISA limits in effect (an emulation names itself)."""
    from tfsem import autotune

    machine = autotune.machine()
    limits = {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "XLA_FLAGS",
                                         "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY",
                                         "TF_ENABLE_ONEDNN_OPTS") if k in os.environ}
    return {"cpu": machine["cpu"], "cpu_id": machine["cpu_id"], "cpus": os.cpu_count(),
            "flags": machine["flags"],
            "avx512_bf16": "avx512_bf16" in machine["flags"],
            "amx_bf16": "amx_bf16" in machine["flags"], "limits": limits}


def _machine():
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {**cpu_info(), "python": platform.python_version(),
            "loadavg_at_start": [round(v, 2) for v in load] if load else None}


def _summary(runs):
    """Medians over rounds of each side's per-process median, and their range."""
    import statistics

    good = [r["median_s"] for r in runs if "median_s" in r]
    if not good:
        return {"error": next((r["error"] for r in runs if "error" in r), "no run")}
    return {"median_s": round(statistics.median(good), 3), "lo_s": min(good), "hi_s": max(good),
            "rounds": len(good)}


def _cell(summary, batch):
    if "median_s" not in summary:
        return "failed"
    if batch != 1:
        return f"{batch / summary['median_s']:.2f} img/s"
    lo, hi = summary["lo_s"], summary["hi_s"]
    spread = f" ({lo:.2f}-{hi:.2f})" if hi - lo >= 0.005 else ""
    return f"{summary['median_s']:.2f} s{spread}"


def _ratio(slow, fast):
    if "median_s" not in slow or "median_s" not in fast:
        return "-"
    return f"{slow['median_s'] / fast['median_s']:.2f}x"


def markdown_table(rows) -> str:
    lines = ["| case | batch | official fp32 | tfsem fp32 | ratio | official bf16 autocast "
             "| tfsem mixed_bfloat16 | vs official fp32 | vs bf16 autocast |",
             "|---|---:|---|---|---:|---|---|---:|---:|"]
    for row in rows:
        s, b = row["sides"], row["batch"]
        get = lambda k, s=s: s.get(k, {"error": "not run"})
        lines.append(" | ".join([
            f"| {row['case']}", str(b), _cell(get("official"), b), _cell(get("tfsem"), b),
            _ratio(get("official"), get("tfsem")), _cell(get("official_bf16"), b),
            _cell(get("tfsem_bf16"), b), _ratio(get("official"), get("tfsem_bf16")),
            _ratio(get("official_bf16"), get("tfsem_bf16"))]) + " |")
    return "\n".join(lines)


def _require_gpu(torch_python):
    """The GPU run needs a GPU on both sides: TensorFlow's and torch's."""
    import subprocess

    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        raise ValueError("compare --device gpu: TensorFlow sees no GPU (install tensorflow[and-cuda]"
                         " where a CUDA GPU is; this machine cannot run the GPU benchmark)")
    probe = subprocess.run([torch_python, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        raise ValueError(f"compare --device gpu: torch in {torch_python} sees no CUDA GPU (a CUDA "
                         "build of torch is needed for the official side)")


def compare(args) -> dict:
    """Runs every side of every case in its own process, ``--rounds`` times,
    alternating the order (official first in even rounds, tfsem first in odd
    ones), and summarises each side by the median of its per-process medians."""
    for path, what in ((args.ref, "--ref (the official code folder)"),
                       (args.ref_bench, "--ref-bench (ref_bench.py)")):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: not found; pass {what}")
    gpu = getattr(args, "device", "cpu") == "gpu"
    cases = GPU_CASES if gpu else COMPARE_CASES
    if args.cases:
        wanted = args.cases.split(",")
        for name in wanted:
            parse_case(name.split("@")[0])
        cases = [(name.split("@")[0], int(name.split("@")[1]) if "@" in name else 1)
                 for name in wanted]
    known = tuple(GPU_SIDES) if gpu else SIDES
    sides = args.sides.split(",") if args.sides else list(known)
    for side in sides:
        if side not in known:
            raise ValueError(f"--sides: unknown side {side!r}; sides are {', '.join(known)}")
    machine = _machine()
    runs = {(case, batch): {side: [] for side in sides} for case, batch in cases}
    started = time.time()
    for round_ in range(args.rounds):
        order = sides if round_ % 2 == 0 else list(reversed(sides))
        for case, batch in cases:
            for side in order:
                if not _applies(side, case, batch):
                    continue
                result = _run_side(side, case, batch, args)
                runs[(case, batch)][side].append(result)
                print(json.dumps({"round": round_, "side": side, "case": case, "batch": batch,
                                  **result}), file=sys.stderr, flush=True)
    rows = [{"case": case, "batch": batch,
             "sides": {side: _summary(r) for side, r in runs[(case, batch)].items()},
             "runs": runs[(case, batch)]} for case, batch in cases]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine["loadavg_at_end"] = [round(v, 2) for v in load] if load else None
    return {"machine": machine, "threads": args.threads, "repeats": args.repeats,
            "rounds": args.rounds, "minutes": round((time.time() - started) / 60, 1),
            "device": "gpu" if gpu else "cpu", "rows": rows,
            "table": gpu_table(rows, sides) if gpu else markdown_table(rows)}


def _print_and_keep(text, result, out=None):
    """Prints ``text``; with ``out``, also writes ``result`` there as JSON."""
    if out:
        from tfsem.fileio import atomic_write_text

        atomic_write_text(out, json.dumps(result, indent=2))
    print(text)


def main(argv=None) -> int:
    default_ref = os.path.join(REPO, "..", "shared", "reference")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["data", "case", "compare", "profile", "convs"])
    parser.add_argument("case", nargs="?", help=f"case: {CASE_HELP}")
    parser.add_argument("--seconds", type=float, default=10.0, help="data: measuring time per case")
    parser.add_argument("--data-threads", type=int, nargs="+",
                        help="data: tf.data thread counts to measure (default 1 .. CPUs)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process")
    parser.add_argument("--precision", default="float32",
                        choices=["float32", "mixed_bfloat16", "mixed_float16"],
                        help="case: Keras dtype policy (mixed_float16: GPUs)")
    parser.add_argument("--batch", type=int, default=1, help="case: batch size (forward cases)")
    parser.add_argument("--xla", action="store_true", help="case: jit_compile the tf.function")
    parser.add_argument("--strategy", default="none", choices=["none", "mirrored"],
                        help="case: run a training case under MirroredStrategy")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="compare: gpu runs the GPU cases and sides (both codes on CUDA; "
                             "refused without a GPU)")
    parser.add_argument("--depth", type=int, default=2,
                        help="profile: layer-path depth of the blocks (2: generator/up_3)")
    parser.add_argument("--rounds", type=int, default=2, help="compare: rounds of all processes")
    parser.add_argument("--cases", help="compare: comma-separated CASE or CASE@BATCH "
                        "(default: the seven of docs/benchmarks.md)")
    parser.add_argument("--sides", default=None,
                        help=f"compare: which of {', '.join(SIDES)} (cpu) or "
                             f"{', '.join(GPU_SIDES)} (gpu); default all")
    parser.add_argument("--ref", default=os.path.join(default_ref, "code"),
                        help="compare: the official code folder (REF of ref_bench.py)")
    parser.add_argument("--ref-bench", default=os.path.join(default_ref, "tools", "ref_bench.py"))
    parser.add_argument("--torch-python", default=sys.executable,
                        help="compare: a Python with torch (default: this one)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="compare: threads for both sides (torch.set_num_threads, TF intra-op)")
    parser.add_argument("--timeout", type=float, default=1800, help="compare: seconds per process")
    parser.add_argument("--out", help="compare, profile: also write the JSON here")
    args = parser.parse_args(argv)
    for name in ("repeats", "rounds", "batch", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.what == "data":
        result = bench_data(args.seconds, args.data_threads)
    elif args.what == "convs":
        result = bench_convs(args.repeats)
    elif args.what == "profile":
        if not args.case:
            raise ValueError(f"profile: name one of {CASE_HELP}")
        result = profile_case(args.case, args.precision, args.batch, args.repeats, args.depth)
        _print_and_keep(profile_table(result), result, args.out)
        return 0
    elif args.what == "case":
        if not args.case:
            raise ValueError(f"case: name one of {CASE_HELP}")
        threads = int(os.environ.get("TFSEM_THREADS", "0"))
        if threads:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
        print(json.dumps(tfsem_case(args.case, args.precision, args.batch, args.repeats,
                                    args.xla, args.strategy)))
        return 0
    else:
        if args.torch_python == sys.executable:
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                raise ValueError("compare: this Python has no torch; pass --torch-python "
                                 "(a venv with pip install torch==2.13.0)")
        if args.device == "gpu":
            _require_gpu(args.torch_python)
        result = compare(args)
        _print_and_keep(result["table"], result, args.out)
        return 0
    print(json.dumps({args.what: result}, indent=2))
    return 0


if __name__ == "__main__":
    from tfsem import cli

    sys.exit(cli.run_cli(main))
