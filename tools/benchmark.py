"""Benchmarks. ``python tools/benchmark.py {data,case,compare} [options]``.

compare: tfsem side by side with the official PyTorch code, in one run. Each
  side of each case runs in its own process, alternated over ``--rounds``
  (official first, then tfsem first): the official code through
  ``../shared/reference/tools/ref_bench.py`` (fp32, batch 1, untouched) and
  ``tools/bench_official.py`` (the same networks under PyTorch's bf16
  autocast, or at batch 4), tfsem in fp32 and under ``mixed_bfloat16``.
  Cases: SPADE G forward 256x128 and 512x256, SPADE training iteration
  256x128, pix2pixHD G1 1024x512, pix2pixHD local enhancer 2048x1024, and
  batch-4 serving throughput (SPADE 256x128, pix2pixHD G1 512x256). Prints a
  markdown table (medians of the per-process medians, their range, ratios);
  ``--out`` keeps every run as JSON. Needs torch (``--torch-python``).

case: one tfsem case in this process, one JSON line (what compare runs).

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


CASE_HELP = ("spade_fwd_WxH, spade_train_WxH, p2phd_global_WxH, p2phd_local_WxH "
             "(the official ref_bench.py's cases at any size)")


def parse_case(case: str):
    """``spade_fwd_256x128`` -> ("spade", "fwd", height 128, width 256)."""
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


def tfsem_case(case: str, precision: str, batch: int, repeats: int, xla: bool = False) -> dict:
    """Times one case through tfsem's public API inside tf.function, at the
    official benchmark settings: SPADE with Cityscapes' 35 labels + instance
    edges, ngf 64, D 2 scales x 4 layers, spectral norm, VGG off,
    ``num_upsampling_layers normal``; pix2pixHD's generator on 36 channels
    (G1 ngf 64; the local enhancer ngf 32 around it)."""
    import keras
    import numpy as np
    import tensorflow as tf

    family, kind, height, width = parse_case(case)
    if batch != 1 and kind == "train":
        raise ValueError(f"case {case!r}: --batch applies to forward cases only")
    keras.mixed_precision.set_global_policy(precision)
    if family == "spade":
        from tfsem.data import toy_streets
        from tfsem.models import GauGAN

        model = GauGAN(num_classes=35, image_size=(height, width), use_instances=True, ngf=64,
                       ndf=64, num_D=2, n_layers_D=4, num_upsampling_layers="normal",
                       lambda_vgg=0.0, seed=0)
        model.compile()
        ex = toy_streets.generate(0, height, width)
        data = {"label": tf.constant(np.repeat(ex["label"][None].astype("int32"), batch, 0)),
                "instance": tf.constant(np.repeat(ex["instance"][None], batch, 0)),
                "image": tf.constant(np.repeat(ex["image"][None], batch, 0)
                                     .astype("float32") / 127.5 - 1.0)}
        if kind == "train":
            step = tf.function(model.train_step, jit_compile=xla)
            fn = lambda: float(step(data)["G_loss"])  # noqa: E731
        else:
            inputs = {"label": data["label"], "instance": data["instance"]}
            forward = tf.function(lambda x: model(x, training=False), jit_compile=xla)
            fn = lambda: forward(inputs)[0, 0, 0, 0].numpy()  # noqa: E731
    else:
        from tfsem.networks.pix2pixhd import Pix2PixHDGenerator

        local = kind == "local"
        generator = Pix2PixHDGenerator(ngf=32 if local else 64, n_downsample_global=4,
                                       n_blocks_global=9, n_local_enhancers=int(local),
                                       n_blocks_local=3)
        x = tf.random.uniform([batch, height, width, 36], seed=0)
        forward = tf.function(lambda v: generator(v, training=False), jit_compile=xla)
        fn = lambda: forward(x)[0, 0, 0, 0].numpy()  # noqa: E731
    result = _median_seconds(fn, repeats, warmup=1 if family == "p2phd" else 2)
    result.update(case=case, batch=batch, precision=precision, xla=xla)
    return result


# compare: one table row per (case, batch); four sides, each a fresh process.
COMPARE_CASES = [("spade_fwd_256x128", 1), ("spade_fwd_512x256", 1), ("spade_train_256x128", 1),
                 ("p2phd_global_1024x512", 1), ("p2phd_local_2048x1024", 1),
                 ("spade_fwd_256x128", 4), ("p2phd_global_512x256", 4)]
SIDES = ("official", "official_bf16", "tfsem", "tfsem_bf16")


def _side_command(side, case, batch, repeats, args):
    if side.startswith("official"):
        if side == "official" and batch == 1:  # the reference's own script, untouched
            command = [args.torch_python, args.ref_bench, case, "--repeats", str(repeats)]
        else:
            command = [args.torch_python, os.path.join(REPO, "tools", "bench_official.py"), case,
                       "--repeats", str(repeats), "--batch", str(batch),
                       "--ref-bench", args.ref_bench]
            if side == "official_bf16":
                command.append("--autocast")
        return command, os.path.join(args.ref, "SPADE")
    precision = "mixed_bfloat16" if side == "tfsem_bf16" else "float32"
    return ([sys.executable, os.path.abspath(__file__), "case", case, "--precision", precision,
             "--batch", str(batch), "--repeats", str(repeats)], REPO)


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
    """The CPU's model name and its bf16 instruction sets (Linux /proc/cpuinfo)."""
    from tfsem.precision import cpu_flags

    model, flags = "", cpu_flags()
    if os.path.isfile("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    return {"cpu": model, "cpus": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags}


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
        get = lambda k: s.get(k, {"error": "not run"})  # noqa: E731
        lines.append(" | ".join([
            f"| {row['case']}", str(b), _cell(get("official"), b), _cell(get("tfsem"), b),
            _ratio(get("official"), get("tfsem")), _cell(get("official_bf16"), b),
            _cell(get("tfsem_bf16"), b), _ratio(get("official"), get("tfsem_bf16")),
            _ratio(get("official_bf16"), get("tfsem_bf16"))]) + " |")
    return "\n".join(lines)


def compare(args) -> dict:
    """Runs every side of every case in its own process, ``--rounds`` times,
    alternating the order (official first in even rounds, tfsem first in odd
    ones), and summarises each side by the median of its per-process medians."""
    for path, what in ((args.ref, "--ref (the official code folder)"),
                       (args.ref_bench, "--ref-bench (ref_bench.py)")):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: not found; pass {what}")
    cases = COMPARE_CASES
    if args.cases:
        wanted = args.cases.split(",")
        for name in wanted:
            parse_case(name.split("@")[0])
        cases = [(name.split("@")[0], int(name.split("@")[1]) if "@" in name else 1)
                 for name in wanted]
    sides = args.sides.split(",")
    for side in sides:
        if side not in SIDES:
            raise ValueError(f"--sides: unknown side {side!r}; sides are {', '.join(SIDES)}")
    machine = _machine()
    runs = {(case, batch): {side: [] for side in sides} for case, batch in cases}
    started = time.time()
    for round_ in range(args.rounds):
        order = sides if round_ % 2 == 0 else list(reversed(sides))
        for case, batch in cases:
            for side in order:
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
            "rows": rows, "table": markdown_table(rows)}


def main(argv=None) -> int:
    default_ref = os.path.join(REPO, "..", "shared", "reference")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["data", "case", "compare"])
    parser.add_argument("case", nargs="?", help=f"case: {CASE_HELP}")
    parser.add_argument("--seconds", type=float, default=10.0, help="data: measuring time per case")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"],
                        help="case: Keras dtype policy")
    parser.add_argument("--batch", type=int, default=1, help="case: batch size (forward cases)")
    parser.add_argument("--xla", action="store_true", help="case: jit_compile the tf.function")
    parser.add_argument("--rounds", type=int, default=2, help="compare: rounds of all processes")
    parser.add_argument("--cases", help="compare: comma-separated CASE or CASE@BATCH "
                        "(default: the seven of BENCHMARKS.md)")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"compare: which of {', '.join(SIDES)}")
    parser.add_argument("--ref", default=os.path.join(default_ref, "code"),
                        help="compare: the official code folder (REF of ref_bench.py)")
    parser.add_argument("--ref-bench", default=os.path.join(default_ref, "tools", "ref_bench.py"))
    parser.add_argument("--torch-python", default=sys.executable,
                        help="compare: a Python with torch (default: this one)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="compare: threads for both sides (torch.set_num_threads, TF intra-op)")
    parser.add_argument("--timeout", type=float, default=1800, help="compare: seconds per process")
    parser.add_argument("--out", help="compare: also write the JSON here")
    args = parser.parse_args(argv)
    for name in ("repeats", "rounds", "batch", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.what == "data":
        result = bench_data(args.seconds)
    elif args.what == "case":
        if not args.case:
            raise ValueError(f"case: name one of {CASE_HELP}")
        threads = int(os.environ.get("TFSEM_THREADS", "0"))
        if threads:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
        print(json.dumps(tfsem_case(args.case, args.precision, args.batch, args.repeats,
                                    args.xla)))
        return 0
    else:
        if args.torch_python == sys.executable:
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                raise ValueError("compare: this Python has no torch; pass --torch-python "
                                 "(a venv with pip install torch==2.13.0)")
        result = compare(args)
        if args.out:
            from tfsem.fileio import atomic_write_text

            atomic_write_text(args.out, json.dumps(result, indent=2))
        print(result["table"])
        return 0
    print(json.dumps({args.what: result}, indent=2))
    return 0


if __name__ == "__main__":
    from tfsem import cli

    sys.exit(cli.run_cli(main))
