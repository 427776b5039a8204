"""Times the official PyTorch code in the variants ``ref_bench.py`` does not cover.

Usage (run by ``dev/benchmark.py compare``, in the torch environment):
    REF=<reference code> python dev/bench_official.py CASE [--autocast] [--batch N]
        [--repeats N] [--ref-bench PATH]

The networks, inputs and options are the ones ``ref_bench.py`` builds (it is
imported from the reference folder, never copied); this script only changes
how they are run:
  --autocast   inside ``torch.autocast("cpu", dtype=torch.bfloat16)``, the
               bf16 path a PyTorch user has;
  --batch N    the forward on N copies of the input (serving throughput).
Prints one JSON line: {"case", "median_s", "min_s", "runs", "batch", "autocast"}.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys


def load_ref_bench(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: ref_bench.py not found (pass --ref-bench)")
    spec = importlib.util.spec_from_file_location("ref_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def closure(fn):
    """The variables a ref_bench closure runs on (its network and input)."""
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))


def batched(fn, batch, torch):
    cells = closure(fn)
    if "netG" in cells:
        net, x = cells["netG"], cells["sem"]
    elif "G" in cells:
        net, x = cells["G"], cells["x"]
    else:
        raise ValueError(f"cannot batch this case: its closure holds {sorted(cells)}")
    x = x.repeat(batch, *([1] * (x.dim() - 1)))

    def forward():
        with torch.inference_mode():
            net(x)
    return forward


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default_ref = os.path.join(here, "..", "..", "shared", "reference", "tools", "ref_bench.py")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case")
    parser.add_argument("--autocast", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref-bench", default=default_ref)
    args = parser.parse_args(argv)
    if "REF" not in os.environ:
        raise SystemExit("REF is not set: point it at the reference code folder "
                         "(../shared/reference/code)")
    ref = load_ref_bench(os.path.abspath(args.ref_bench))
    torch = ref.torch
    kind, size = args.case.split("_")[1:]
    width = int(size.split("x")[0])
    if args.case.startswith("spade_"):
        fn = ref.spade(width, kind == "train")
    elif args.case.startswith("p2phd_"):
        fn = ref.p2phd(kind == "local", width)
    else:
        raise SystemExit(f"unknown case {args.case!r}")
    if args.batch != 1:
        if kind == "train":
            raise SystemExit("--batch applies to forward cases only")
        fn = batched(fn, args.batch, torch)
    def autocast():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fn()
    result = ref.timeit(autocast if args.autocast else fn, args.repeats, warmup=1 if args.case.startswith("p2phd") else 2)
    result.update(case=args.case, batch=args.batch, autocast=args.autocast)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
