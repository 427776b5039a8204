"""bfloat16 fidelity against float32: PSNR of the uint8 renders, and toy-oracle mIoU.

    python dev/precision_fidelity.py [--run RUN ...] [--fixture CASE_DIR ...] [--config CONFIG ...]
        [--num 32] [--precision bfloat16] [--out JSON]

--run: a trained label-to-photo run on toy_streets: its first ``--num`` val
  maps rendered in float32 and in ``--precision``; PSNR (dB, uint8) of the
  low-precision renders against the float32 ones, and the toy-oracle mIoU and
  pixel accuracy of both.
--fixture: a case folder written by the official code's
  ``../shared/reference/tools/make_fixtures.py`` (e.g. the full-width
  ``spade_cityscapes_full`` / ``pix2pixhd_local_full``): its checkpoint is
  converted with tfsem.convert and its input rendered in both precisions;
  PSNR against float32 and against the official output ``G_out``.
--config: a label-to-photo experiment config at full width (e.g.
  ``configs/pix2pix_cityscapes.json``, whose official checkpoints are not
  here) built with the family's official initialisation, random batch-norm
  offsets (N(0, 0.1)) and the generator's last kernel scaled so the outputs
  span [-1, 1], rendering 4 toy_streets val maps at the config's size: PSNR
  against float32 on weights that are not trained.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def psnr_uint8(a, b) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else round(10 * np.log10(255.0 ** 2 / mse), 2)


def compare_uint8(low, reference) -> dict:
    """PSNR and largest difference (levels) of uint8 ``low`` against ``reference``."""
    import numpy as np

    return {"psnr_db": psnr_uint8(low, reference),
            "max_abs_diff_levels": int(np.max(np.abs(low.astype(int) - reference.astype(int))))}


def _uint8(images):
    import numpy as np

    from tfsem.data.visualize import image_to_uint8

    return np.stack([image_to_uint8(np.asarray(x, np.float32)) for x in images])


def run_fidelity(run, num, precision) -> dict:
    import numpy as np
    import tensorflow as tf

    from tfsem.data.pipeline import DataPipeline
    from tfsem.metrics.segmentation import toy_oracle_scores
    from tfsem.precision import with_precision
    from tfsem.runs import load_run

    config, model32 = load_run(run)
    renders = "label_map" in {spec.name for spec in model32.inference_specs()}
    if config.data.source != "toy_streets" or not renders:
        raise ValueError(f"--run {run}: needs a label-to-photo run trained on toy_streets "
                         "(the toy oracle reads its renders)")
    low = with_precision(config, model32, precision)
    pipeline = DataPipeline(config.data, "val")
    labels, out32, outlow = [], [], []
    for batch in pipeline.dataset(training=False, batch_size=8, repeat=False):
        out32.append(tf.cast(model32.render_batch(batch), tf.float32).numpy())
        outlow.append(tf.cast(low.render_batch(batch), tf.float32).numpy())
        labels.append(batch["label"].numpy())
        if sum(len(x) for x in labels) >= num:
            break
    labels = np.concatenate(labels)[:num]
    out32, outlow = np.concatenate(out32)[:num], np.concatenate(outlow)[:num]
    s32, slow = toy_oracle_scores(out32, labels), toy_oracle_scores(outlow, labels)
    u32, ulow = _uint8(out32), _uint8(outlow)
    return {"run": run, "family": config.model.type, "examples": int(len(labels)),
            "size": list(labels.shape[1:3]), **compare_uint8(ulow, u32),
            "toy_oracle_float32": s32, f"toy_oracle_{precision}": slow,
            "miou_change": round(slow["miou"] - s32["miou"], 4)}


def fixture_fidelity(case_dir, precision) -> dict:
    import numpy as np
    import tensorflow as tf

    from tfsem.convert import convert_model
    from tfsem.data.labels import load_label_space
    from tfsem.precision import with_precision

    with open(os.path.join(case_dir, "case.json")) as f:
        info = json.load(f)
    io = dict(np.load(os.path.join(case_dir, "io.npz")))
    config, model32, _ = convert_model(os.path.join(case_dir, "checkpoint"),
                                       image_size=(info["height"], info["width"]))
    low = with_precision(config, model32, precision)
    space = load_label_space(config.data.label_space)
    batch = {"label": tf.constant(space.encode(io.get("label_raw", io["label"]),
                                               config.data.dont_care))}
    if config.data.use_instances:
        batch["instance"] = tf.constant(io["instance"])
    if getattr(model32, "use_features", False):
        batch["image"] = tf.constant(io["image"])
    r32 = tf.cast(model32(batch, training=False), tf.float32).numpy()
    rlow = tf.cast(low(batch, training=False), tf.float32).numpy()
    official, u32, ulow = _uint8(io["G_out"]), _uint8(r32), _uint8(rlow)
    params = int(sum(np.prod(v.shape) for v in model32.generator.weights))
    return {"fixture": os.path.basename(os.path.normpath(case_dir)), "family": info["family"],
            "size": [info["height"], info["width"]], "generator_parameters": params,
            **compare_uint8(ulow, u32),
            "float32_vs_official_psnr_db": psnr_uint8(u32, official),
            f"{precision}_vs_official_psnr_db": psnr_uint8(ulow, official)}


def config_fidelity(config_path, precision) -> dict:
    import numpy as np
    import tensorflow as tf

    from tfsem.config import load_config
    from tfsem.data import toy_streets
    from tfsem.data.labels import load_label_space
    from tfsem.precision import with_precision
    from tfsem.train.build import build_model

    config = load_config(config_path)
    model32 = build_model(config)
    model32.build_networks()
    if "label_map" not in {s.name for s in model32.inference_specs()}:
        raise ValueError(f"--config {config_path}: needs a label-to-photo model")
    rng = np.random.default_rng(0)
    for variable in model32.generator.weights:
        if variable.path.endswith("beta"):
            variable.assign(rng.normal(0, 0.1, variable.shape).astype("float32"))
    height, width = config.image_size()
    space = load_label_space(config.data.label_space)
    examples = [toy_streets.generate(i, height, width, split="val") for i in range(4)]
    label = space.encode(np.stack([e["label"] for e in examples]), config.data.dont_care)
    batch = {"label": tf.constant(label)}
    if config.data.use_instances:
        batch["instance"] = tf.constant(np.stack([e["instance"] for e in examples]))
    # the last kernel scaled so that tanh's input peaks at 1.2: outputs span [-1, 1]
    last = [v for v in model32.generator.weights if v.path.endswith("kernel")][-1]
    out = model32(batch, training=False)
    peak = float(tf.reduce_max(tf.abs(tf.atanh(tf.clip_by_value(out, -0.999999, 0.999999)))))
    last.assign(last * (1.2 / max(peak, 1e-6)))
    low = with_precision(config, model32, precision)
    u32 = _uint8(tf.cast(model32(batch, training=False), tf.float32).numpy())
    ulow = _uint8(tf.cast(low(batch, training=False), tf.float32).numpy())
    params = int(sum(np.prod(v.shape) for v in model32.generator.weights))
    return {"config": config_path, "family": config.model.type, "size": [height, width],
            "weights": "random, official initialisation, last kernel scaled",
            "generator_parameters": params, **compare_uint8(ulow, u32)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="trained toy_streets run")
    parser.add_argument("--fixture", action="append", default=[],
                        help="a make_fixtures.py case folder (checkpoint/, io.npz, case.json)")
    parser.add_argument("--config", action="append", default=[],
                        help="a full-width label-to-photo config, random official-style weights")
    parser.add_argument("--num", type=int, default=32, help="--run: val maps (default 32)")
    parser.add_argument("--precision", default="bfloat16", choices=["bfloat16", "float16"])
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if not args.run and not args.fixture and not args.config:
        raise ValueError("pass --run RUN, --fixture CASE_DIR and/or --config CONFIG")
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    result = {"precision": args.precision,
              "runs": [run_fidelity(r, args.num, args.precision) for r in args.run],
              "fixtures": [fixture_fidelity(c, args.precision) for c in args.fixture],
              "configs": [config_fidelity(c, args.precision) for c in args.config]}
    text = json.dumps(result, indent=2)
    if args.out:
        from tfsem.fileio import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    from tfsem import cli

    sys.exit(cli.run_cli(main))
