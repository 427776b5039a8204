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
  --device cuda  on the GPU (``dev/benchmark.py compare --device gpu``): the
               SPADE cases' ``--gpu_ids -1`` becomes ``0`` as the options are
               parsed, pix2pixHD's generator and input move to CUDA, and every
               timed call ends with ``torch.cuda.synchronize()``;
  --autocast-dtype float16  the GPU's autocast (default bfloat16, the CPU's).
Case ``quickstart_train``: one official training iteration (``Pix2PixTrainer``'s
generator then discriminator step, as ``ref_bench.py``'s training case) at the
settings of tfsem's ``configs/quickstart.json`` (widths, D scales and layers,
SPADE's hidden width, param-free norm, batch size, map size, no VGG) on the
same toy_streets batch tfsem's side trains on. SPADE's hidden width is a
constant (128) in the official code; a smaller one is set by rebuilding the
three convs of each ``SPADE`` after its constructor (same shapes and init as
the constructor's own, with the config's width).
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


NORM_G = {"instance": "instance", "batch": "batch", "sync_batch": "syncbatch"}


def _load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quickstart(ref, torch, config_path):
    """One official training iteration at the quickstart config's settings (see
    the module doc); returns the call to time."""
    import contextlib
    import io

    import numpy as np

    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    data, gaugan = config["data"], config["model"]["gaugan"]
    toy = data["toy"]
    height, width, batch = toy["height"], toy["width"], data["batch_size"]
    norm = NORM_G[gaugan.get("norm_G", "sync_batch")]
    spectral = "spectral" if gaugan.get("spectral_norm_G", True) else ""
    argv = ["train.py", "--dataset_mode", "cityscapes", "--gpu_ids", "-1",
            "--batchSize", str(batch), "--crop_size", str(width), "--load_size", str(width),
            "--aspect_ratio", str(width / height),
            "--num_upsampling_layers", gaugan.get("num_upsampling_layers", "normal"),
            "--ngf", str(gaugan.get("ngf", 64)), "--ndf", str(gaugan.get("ndf", 64)),
            "--num_D", str(gaugan.get("num_D", 2)),
            "--n_layers_D", str(gaugan.get("n_layers_D", 4)),
            "--norm_G", f"{spectral}spade{norm}3x3",
            "--checkpoints_dir", "/tmp/ref_ckpt", "--name", "bench_quickstart",
            "--dataroot", "/tmp"]
    if gaugan.get("lambda_vgg", 10.0) == 0:
        argv.append("--no_vgg_loss")
    if not data.get("use_instances", True):
        argv.append("--no_instance")
    ref_dir = os.environ["REF"]
    sys.path.insert(0, os.path.join(ref_dir, "SPADE"))
    os.chdir(os.path.join(ref_dir, "SPADE"))
    sys.argv = argv
    from models.networks import normalization
    from options.train_options import TrainOptions
    from trainers.pix2pix_trainer import Pix2PixTrainer

    hidden = int(gaugan.get("hidden_channels", 128))
    original_init = normalization.SPADE.__init__

    def spade_init(self, config_text, norm_nc, label_nc):
        original_init(self, config_text, norm_nc, label_nc)
        conv = self.mlp_shared[0]
        if conv.out_channels != hidden:
            nn, ks, pw = torch.nn, conv.kernel_size, conv.padding
            self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, ks, padding=pw), nn.ReLU())
            self.mlp_gamma = nn.Conv2d(hidden, norm_nc, ks, padding=pw)
            self.mlp_beta = nn.Conv2d(hidden, norm_nc, ks, padding=pw)

    normalization.SPADE.__init__ = spade_init
    with contextlib.redirect_stdout(io.StringIO()):
        opt = TrainOptions().parse()
        trainer = Pix2PixTrainer(opt)
    toy_streets = _load_file("toy_streets", os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tfsem", "data",
        "toy_streets.py"))
    examples = [toy_streets.generate(i, height, width, seed=toy.get("seed", 0))
                for i in range(batch)]
    stack = lambda key, dtype: torch.from_numpy(  # noqa: E731
        np.stack([e[key] for e in examples]).astype(dtype))
    batch_data = {"label": stack("label", "int64")[:, None],
                  "instance": stack("instance", "float32")[:, None],
                  "image": (stack("image", "float32") / 127.5 - 1.0).permute(0, 3, 1, 2)
                  .contiguous(),
                  "path": ["toy"] * batch}

    def iteration():
        trainer.run_generator_one_step(batch_data)
        trainer.run_discriminator_one_step(batch_data)
    return iteration


def on_cuda(ref, torch, case, kind, width):
    """The case's call on CUDA (see the module doc); the options parser is
    patched so that ``ref_bench.py`` itself stays untouched."""
    import argparse

    original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if "--gpu_ids" in args:
            args[args.index("--gpu_ids") + 1] = "0"
        return original(self, args, namespace)

    if case.startswith("spade_"):
        argparse.ArgumentParser.parse_known_args = parse_known_args
        try:
            fn = ref.spade(width, kind == "train")
        finally:
            argparse.ArgumentParser.parse_known_args = original
    else:
        cells = closure(ref.p2phd(kind == "local", width))
        G, x = cells["G"].cuda(), cells["x"].cuda()

        def fn():
            with torch.inference_mode():
                G(x)
    return fn


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default_ref = os.path.join(here, "..", "..", "shared", "reference", "tools", "ref_bench.py")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case")
    parser.add_argument("--autocast", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref-bench", default=default_ref)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--autocast-dtype", default="bfloat16", choices=["bfloat16", "float16"])
    parser.add_argument("--config", default=os.path.join(here, "..", "configs", "quickstart.json"),
                        help="quickstart_train: the tfsem config whose settings to use")
    args = parser.parse_args(argv)
    if "REF" not in os.environ:
        raise SystemExit("REF is not set: point it at the reference code folder "
                         "(../shared/reference/code)")
    ref = load_ref_bench(os.path.abspath(args.ref_bench))
    torch = ref.torch
    if args.case == "quickstart_train":
        if args.batch != 1:
            raise SystemExit("quickstart_train runs at its config's batch size; no --batch")
        fn = quickstart(ref, torch, args.config)
    else:
        kind, size = args.case.split("_")[1:]
        width = int(size.split("x")[0])
        if args.device == "cuda":
            fn = on_cuda(ref, torch, args.case, kind, width)
        elif args.case.startswith("spade_"):
            fn = ref.spade(width, kind == "train")
        elif args.case.startswith("p2phd_"):
            fn = ref.p2phd(kind == "local", width)
        else:
            raise SystemExit(f"unknown case {args.case!r}")
        if args.batch != 1:
            if kind == "train":
                raise SystemExit("--batch applies to forward cases only")
            fn = batched(fn, args.batch, torch)

    device = "cuda" if args.device == "cuda" else "cpu"

    def autocast():
        with torch.autocast(device, dtype=getattr(torch, args.autocast_dtype)):
            fn()

    timed = autocast if args.autocast else fn
    if device == "cuda":
        untimed = timed

        def timed():
            untimed()
            torch.cuda.synchronize()
    result = ref.timeit(timed, args.repeats, warmup=1 if args.case.startswith("p2phd") else 2)
    result.update(case=args.case, batch=args.batch, autocast=args.autocast, device=device,
                  autocast_dtype=args.autocast_dtype if args.autocast else None)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
