"""tfsem's training step against an official training fixture, iteration for iteration.

    python dev/train_fidelity.py CASE_DIR [CASE_DIR ...] [--json OUT]

A case folder is what ``../shared/reference/tools/make_train_fixtures.py``
writes (``../shared/reference/train_fixtures/<case>``): the official
checkpoint before training (``w0/``) and after N iterations of the official
trainer (``w2/``), the batch as a folder dataset of PNGs (``data/``), every
loss term of every iteration (``losses.json``), the settings (``case.json``)
and, with a VAE, the reparameterisation noise of each encoder call
(``vae_eps.npy``).

What runs is the user's path: ``w0`` converted with ``tfsem.convert``, a new
run that starts from it with ``train.init_from`` (fresh optimisers, as the
official ``--continue_train`` starts), the batch read by tfsem's folder
reader from the PNGs (no flip, no shuffle, ``resize_to`` its own size, VGG
off), and the trainer's own distributed training-step function, N times.
Printed per case: every loss term of every iteration next to the official
one, and for each network's trainable weights and state (batch-norm
statistics, spectral-norm vectors) after the last iteration: ``rel`` = |ours
- official| / |official change| (norms over all elements), ``cos`` = cosine
of our change and the official change, ``agree`` = the share of elements
whose error is within a quarter of the largest official change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict

import numpy as np

#: tfsem's loss term -> (official name, factor): pix2pixHD's D terms are halved in
#: tfsem (its loss_D = 0.5 (D_fake + D_real)); the official logs them unhalved.
LOSS_NAMES = {
    "spade": {"G_GAN": ("GAN", 1.0), "G_feat": ("GAN_Feat", 1.0), "KLD": ("KLD", 1.0),
              "D_fake": ("D_Fake", 1.0), "D_real": ("D_real", 1.0)},
    "pix2pixhd": {"G_GAN": ("G_GAN", 1.0), "G_feat": ("G_GAN_Feat", 1.0),
                  "D_fake": ("D_fake", 2.0), "D_real": ("D_real", 2.0)},
}
# SEAN logs SPADE's terms (its trainer is SPADE's; no KLD, which its losses.json lacks).
LOSS_NAMES["sean"] = LOSS_NAMES["spade"]


def _experiment(case: dict, case_dir: str, converted_config, converted: str):
    """The converted run's config, set up as the fixture's training from ``converted``."""
    from tfsem.config import ExperimentConfig, config_from_dict, config_to_dict

    data = config_to_dict(converted_config)
    section = data["model"][data["model"]["type"]]
    section["lambda_vgg"] = 0.0
    if case.get("niter_fix_global_iters"):
        section["niter_fix_global"] = int(case["niter_fix_global_iters"])
    # the fixture maker's layout whatever the dataset (ADE20K's own is annotations/{split})
    data["data"].update(source="folder", root=os.path.join(case_dir, "data"), split="train",
                        batch_size=int(case["batch"]), shuffle=False,
                        folders={"label_dir": "{split}_label", "image_dir": "{split}_img",
                                 "instance_dir": "{split}_inst"})
    data["data"]["preprocess"] = {"resize_to": [case["height"], case["width"]], "flip": False}
    data["optimizer"] = {"g_lr": case["G_lr"], "d_lr": case["D_lr"]}
    data["train"] = {"steps": int(case["iterations"]), "init_from": converted}
    return config_from_dict(ExperimentConfig, data)


def _inject_vae_noise(model, draws: np.ndarray):
    """The model's reparameterisation noise becomes the fixture's draws, in order
    (graph-safe: a variable bank and a counter)."""
    import tensorflow as tf

    bank = tf.Variable(draws.astype(np.float32), trainable=False)
    count = tf.Variable(0, dtype=tf.int32, trainable=False)

    def vae_noise(shape):
        index = count.assign_add(1) - 1
        return tf.reshape(tf.gather(bank, index), shape)

    model.vae_noise = vae_noise


def _inject_ace_noise(model, noise: Dict[str, np.ndarray]):
    """SEAN's ACE noise becomes the case's draws: the k-th ACE call of a training
    iteration (G step, then D step) takes ``call_<k>`` at the iteration's index
    (the D optimiser's step count, which both forwards of an iteration share)."""
    import tensorflow as tf

    banks = [tf.constant(noise[f"call_{k}"]) for k in range(len(noise))]
    calls = [0]

    def ace_noise(name, x):
        k = calls[0] % len(banks)
        calls[0] += 1
        value = tf.gather(banks[k], tf.cast(model.d_optimizer.iterations, tf.int32))
        value.shape.assert_is_compatible_with(x.shape[:3].concatenate([1]))
        return tf.cast(value, x.dtype)

    model.ace_noise = ace_noise


def variables_by_path(network) -> Dict[str, np.ndarray]:
    """A network's variables by their path below the model."""
    return {v.path.split("/", 1)[-1]: v.numpy() for v in network.variables}


def weight_metrics(w0, ref, ours, keys) -> dict:
    """rel, cos and agree (see the module docstring) over ``keys``."""
    change = np.concatenate([(ref[k] - w0[k]).ravel() for k in keys])
    error = np.concatenate([(ours[k] - ref[k]).ravel() for k in keys])
    norm = float(np.linalg.norm(change))
    mine = change + error
    cos = float(change @ mine) / max(norm * float(np.linalg.norm(mine)), 1e-30)
    scale = float(np.abs(change).max())
    return {"elements": int(change.size), "official_change": norm,
            "rel": float(np.linalg.norm(error)) / max(norm, 1e-30), "cos": cos,
            "agree": float((np.abs(error) <= 0.25 * scale).mean()) if scale > 0 else 1.0}


def run_case(case_dir: str, work_dir: str) -> dict:
    """Trains tfsem from the case's w0 as the case says; returns the losses (ours
    and official per iteration) and the weight metrics per network part."""
    from tfsem.convert import convert_model, save_converted
    from tfsem.train.trainer import Trainer

    with open(os.path.join(case_dir, "case.json"), encoding="utf-8") as f:
        case = json.load(f)
    with open(os.path.join(case_dir, "losses.json"), encoding="utf-8") as f:
        official = json.load(f)
    size = (case["height"], case["width"])
    # w0 as a run dir (train.init_from reads it, as a user's would); both in memory
    # for the weight metrics (w2 is never trained from, so it is not written)
    w0_dir = os.path.join(work_dir, "w0")
    start_config, start, provenance = convert_model(os.path.join(case_dir, "w0"),
                                                    image_size=size)
    save_converted(w0_dir, start_config, start, provenance)
    _, after, _ = convert_model(os.path.join(case_dir, "w2"), image_size=size)
    config = _experiment(case, case_dir, start_config, w0_dir)
    trainer = Trainer(config, os.path.join(work_dir, "run"))
    model = trainer.model
    eps = os.path.join(case_dir, "vae_eps.npy")
    if os.path.exists(eps):
        _inject_vae_noise(model, np.load(eps))
    ace = os.path.join(case_dir, "ace_noise.npz")
    if os.path.exists(ace):
        with np.load(ace) as f:
            _inject_ace_noise(model, {k: f[k] for k in f.files})
    step = trainer._train_function()  # the trainer's own (distributed) step
    batches = iter(trainer.strategy.experimental_distribute_dataset(
        trainer.pipeline.dataset(training=True)))
    names = LOSS_NAMES[case["family"]]
    losses = []
    for it in range(int(case["iterations"])):
        out = {k: float(v) for k, v in step(next(batches)).items()}
        losses.append({"iteration": it + 1, **{
            official_name: {"tfsem": out[ours] * factor, "official": official[it][official_name]}
            for ours, (official_name, factor) in names.items() if official_name in official[it]}})
    weights = {}
    for part in ("generator", "discriminator", "encoder"):
        if getattr(start, part, None) is None:
            continue
        w0, ref = variables_by_path(getattr(start, part)), variables_by_path(getattr(after, part))
        ours = variables_by_path(getattr(model, part))
        trainable = {v.path.split("/", 1)[-1] for v in getattr(model, part).trainable_variables}
        # biases the converter cancels (before an instance norm) have no place in tfsem
        keys = [k for k in w0 if k in ours]
        weights[part] = {"trainable": weight_metrics(
            w0, ref, ours, [k for k in keys if k in trainable])}
        state = [k for k in keys if k not in trainable]
        if state and any(np.any(ref[k] != w0[k]) for k in state):
            weights[part]["state"] = weight_metrics(w0, ref, ours, state)
    return {"case": os.path.basename(os.path.normpath(case_dir)), "family": case["family"],
            "iterations": int(case["iterations"]), "losses": losses, "weights": weights}


def format_result(result: dict) -> str:
    lines = [f"## {result['case']} ({result['family']}, {result['iterations']} iterations)", "",
             "| iteration | term | tfsem | official | relative difference |",
             "|---|---|---:|---:|---:|"]
    for row in result["losses"]:
        for name, v in row.items():
            if name == "iteration":
                continue
            rel = abs(v["tfsem"] - v["official"]) / max(abs(v["official"]), 1e-12)
            lines.append(f"| {row['iteration']} | {name} | {v['tfsem']:.6g} | {v['official']:.6g} "
                         f"| {rel:.1e} |")
    lines += ["", "| network | weights | elements | rel | cos | agree |",
              "|---|---|---:|---:|---:|---:|"]
    for part, kinds in result["weights"].items():
        for kind, m in kinds.items():
            lines.append(f"| {part} | {kind} | {m['elements']} | {m['rel']:.2%} | {m['cos']:.4f} "
                         f"| {m['agree']:.2%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="official training fixture folders")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    for case_dir in args.cases:
        with tempfile.TemporaryDirectory() as work:
            result = run_case(case_dir, work)
        results.append(result)
        print(format_result(result), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
