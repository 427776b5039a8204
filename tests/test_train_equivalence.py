"""tfsem's training step is the official training loop, iteration for iteration.

Every case of ``../shared/reference/train_fixtures`` (official weights before
and after N iterations of NVlabs/SPADE's ``Pix2PixTrainer`` or
NVIDIA/pix2pixHD's ``train.py``, the batch as PNGs, every loss term of every
iteration) goes through the user's path (``dev/train_fidelity.py``): the
official W0 converted, a new run with ``train.init_from``, tfsem's folder
reader on the PNGs and the trainer's own training-step function.

Tolerances, and why:
- Iteration 1, every term: 1e-4 relative. From the same weights and batch the
  forward and the loss reductions are exact (measured: <= 6e-7).
- Later iterations and the weights: after an update, the difference is the
  floating-point noise of the update, which Adam amplifies: its first step is
  ``lr * g / (|g| + eps)``, about ``lr * sign(g)``, so every gradient entry
  that is zero up to rounding (hinge losses cancel exactly at initialisation,
  biases before a norm, one-hot channels of classes not in the batch) moves
  by +-lr with the sign its rounding gives. The official code itself is not
  reproducible beyond that: the same ``make_train_fixtures.py`` case run on
  another CPU gives SPADE weight changes that differ from the shared
  fixture's by rel 21.5% / 55.0% / 5.8% (G / D / E; cos 0.977 / 0.848 /
  0.998) and an iteration-2 GAN_Feat 2.4e-3 apart. So:
  - pix2pixHD (instance norm, no spectral norm, LSGAN): later terms 1e-4
    relative (measured <= 3e-6); weights rel <= 0.3, cos >= 0.95, agree >=
    99% (measured: rel <= 10.4% where oneDNN's fused graph kernels round
    G1's near-zero gradients after the restart, 0.28% without oneDNN).
  - SPADE (hinge loss at D ~ 0, beta_1 0, spectral norm): the noise grows
    with every iteration. Later terms within 2e-2 of max(|official|, 1)
    (measured: iteration 2 <= 3.2e-3, iteration 3 <= 8.8e-3); trainable
    weights cos >= 0.6, agree >= 60% (measured after 2 iterations: within 1%
    of the official-vs-official numbers above; after 3 iterations of a
    Cityscapes case, D cos 0.776, agree 68.5%); states (batch-norm
    statistics, spectral-norm vectors) rel <= 0.25, cos >= 0.98 (measured
    <= 12.6%, >= 0.992).
  The previous D-then-G step was off by rel 117% / 94% (G / D) and by 15% in
  iteration 1's G_GAN.
"""

import json
import os

import numpy as np
import pytest

from tests.testing import REPO

pytest.importorskip("torch", reason="reading .pth checkpoints needs PyTorch (tfsem[convert])")


TOLERANCES = {
    "pix2pixhd": {"later_terms": 1e-4, "trainable": {"rel": 0.3, "cos": 0.95, "agree": 0.99},
                  "state": {"rel": 0.1, "cos": 0.99}},
    "spade": {"later_terms": 2e-2, "trainable": {"cos": 0.6, "agree": 0.6},
              "state": {"rel": 0.25, "cos": 0.98}},
}
# SEAN trains with SPADE's trainer (hinge, beta_1 0, spectral norm): SPADE's tolerances.
TOLERANCES["sean"] = TOLERANCES["spade"]


def _fixtures_dir():
    return os.path.join(os.environ.get("TFSEM_REFERENCE",
                                       os.path.join(REPO, "..", "shared", "reference")),
                        "train_fixtures")


def _cases():
    root = _fixtures_dir()
    found = sorted(d for d in os.listdir(root) if os.path.isfile(
        os.path.join(root, d, "case.json"))) if os.path.isdir(root) else []
    return found or ["(no train_fixtures)"]


@pytest.mark.parametrize("case", _cases())
def test_official_training_fixture(case, tmp_path):
    root = os.path.join(_fixtures_dir(), case)
    if not os.path.isdir(root):
        pytest.skip(f"official training fixtures not found at {_fixtures_dir()} "
                    "(set TFSEM_REFERENCE)")
    from dev.train_fidelity import format_result, run_case

    result = run_case(root, str(tmp_path))
    print(format_result(result))
    with open(os.path.join(root, "case.json"), encoding="utf-8") as f:
        _check(result, json.load(f)["iterations"])


def _check(result, iterations):
    tol = TOLERANCES[result["family"]]
    assert len(result["losses"]) == iterations
    for row in result["losses"]:
        names = [k for k in row if k != "iteration"]
        assert names, "no loss term compared"
        for name in names:
            ours, official = row[name]["tfsem"], row[name]["official"]
            if row["iteration"] == 1:
                assert abs(ours - official) <= 1e-4 * max(abs(official), 1e-2), (name, row)
            else:
                scale = abs(official) if result["family"] == "pix2pixhd" else max(abs(official), 1)
                assert abs(ours - official) <= tol["later_terms"] * scale, (name, row)
    assert result["weights"], "no weights compared"
    for part, kinds in result["weights"].items():
        for kind, metrics in kinds.items():
            limits = tol[kind]
            assert metrics["rel"] <= limits.get("rel", float("inf")), (part, kind, metrics)
            assert metrics["cos"] >= limits["cos"], (part, kind, metrics)
            assert metrics["agree"] >= limits.get("agree", 0.0), (part, kind, metrics)


#: More cases, made at test time by the official code with the reference's fixture
#: maker (``tools/make_train_fixtures.py``): options the shared cases do not have.
MORE_CASES = {
    # SPADE Cityscapes: 35 labels + instance edges, 'more' upsampling, synchronized
    # batch norm at 1x2 pixels, no VAE; 3 iterations.
    "spade_cityscapes_train": (
        "spade_case", ["--dataset_mode", "cityscapes", "--ngf", "8", "--ndf", "8",
                       "--crop_size", "128", "--load_size", "128",
                       "--num_upsampling_layers", "more"], 5, 3, None),
    # SPADE ADE20K: 150 labels, ids shift down and 0 is don't-care, no instances.
    "spade_ade20k_train": (
        "spade_case", ["--dataset_mode", "ade20k", "--ngf", "4", "--ndf", "8", "--crop_size",
                       "128", "--load_size", "128"], 9, 2, list(range(0, 151, 7))),
    # pix2pixHD with instance features (the encoder, instance-wise pooling); 3 iterations.
    "p2phd_features_train": (
        "p2phd_case", ["--label_nc", "35", "--loadSize", "128", "--fineSize", "128",
                       "--netG", "global", "--ngf", "8", "--n_blocks_global", "2", "--ndf", "8",
                       "--num_D", "2", "--instance_feat", "--nef", "8"], 7, 3, None),
    # pix2pixHD without instance maps (--no_instance).
    "p2phd_no_instance_train": (
        "p2phd_case", ["--label_nc", "35", "--loadSize", "128", "--fineSize", "128",
                       "--netG", "global", "--ngf", "8", "--n_blocks_global", "2", "--ndf", "8",
                       "--num_D", "2", "--no_instance"], 11, 2, None),
}

_MAKE_CASE = """
import os, sys
sys.path.insert(0, os.path.join(os.environ["REFERENCE"], "tools"))
import make_train_fixtures as m
fn, args, seed, iters, out = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
label_ids = [int(i) for i in sys.argv[6].split(",")] if sys.argv[6] else m.CITY_IDS
getattr(m, fn)(out, "extra", args, label_ids, m.CITY_INST, seed=seed, iters=iters)
"""


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MORE_CASES))
def test_more_official_training_cases(case, tmp_path):
    """Cases the shared fixtures lack, made here by the official code (needs its
    files in the reference dir, PyTorch and dill), then checked as above."""
    import subprocess
    import sys

    reference = os.path.dirname(_fixtures_dir())
    if not os.path.isdir(os.path.join(reference, "code", "SPADE")):
        pytest.skip(f"the official code is not at {reference}/code")
    pytest.importorskip("dill", reason="NVlabs/SPADE's util imports dill")
    fn, args, seed, iters, label_ids = MORE_CASES[case]
    out = tmp_path / case
    out.mkdir()
    env = {**os.environ, "REF": os.path.join(reference, "code"), "REFERENCE": reference}
    subprocess.run([sys.executable, "-c", _MAKE_CASE, fn, " ".join(args), str(seed), str(iters),
                    str(out), ",".join(map(str, label_ids or []))], check=True, env=env,
                   cwd=str(tmp_path), capture_output=True)
    from dev.train_fidelity import format_result, run_case

    result = run_case(str(out), str(tmp_path / "work"))
    print(format_result(result))
    _check(result, iters)


def test_pix2pix_training_step_is_the_official_one():
    """``tests/fixtures/pix2pix_train.npz`` (``dev/make_pix2pix_train_fixture.py``:
    the official networks, GANLoss and torch.optim.Adam in ``optimize_parameters``'
    order, batch norm, 3 iterations of batch 2, dropout off): the weights go
    through ``tfsem.convert.pix2pix``; tfsem's step (one G forward, the D step,
    the G step against the updated D; TorchAdam; PyTorch's running variance)
    reproduces every loss term of every iteration within 1e-4 relative (measured
    <= 1.6e-7) and the weights and batch-norm statistics after the last one.
    Measured: weights rel
    1e-4 (G) and 4e-6 (D), statistics 1e-7; no gradient here sits at rounding
    level, unlike SPADE's and pix2pixHD's first steps (above)."""
    import tensorflow as tf

    from tfsem.convert.pix2pix import infer_pix2pix, load_pix2pix_weights
    from tfsem.convert.state_dict import StateDict
    from tfsem.models import Pix2Pix
    from dev.train_fidelity import variables_by_path, weight_metrics

    with np.load(os.path.join(REPO, "tests", "fixtures", "pix2pix_train.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    case, official = json.loads(str(arrays["case"])), json.loads(str(arrays["losses"]))

    def model_at(tag):
        G = StateDict({k[3:]: v for k, v in arrays.items() if k.startswith(f"G{tag}.")}, "G.pth")
        D = StateDict({k[3:]: v for k, v in arrays.items() if k.startswith(f"D{tag}.")}, "D.pth")
        info = infer_pix2pix(G, D)
        model = Pix2Pix(num_classes=case["num_classes"], image_size=(case["height"], case["width"]),
                        palette=arrays["palette"], label_input="colors", use_dropout=False,
                        **info["model"])
        model.build_networks()
        load_pix2pix_weights(model, G, D)
        return model

    model = model_at(0)
    model.compile()  # the family's defaults: TorchAdam 2e-4, betas (0.5, 0.999)
    batch = {"label": tf.constant(arrays["label"]),
             "image": tf.constant(arrays["photo"].astype(np.float32) / 127.5 - 1.0)}
    step = tf.function(model.train_step)
    for it, expected in enumerate(official):
        model.reset_metrics()
        out = {k: float(v) for k, v in step(batch).items()}
        ours = {"G_GAN": out["G_GAN"], "G_L1": out["G_L1"], "D_real": 2 * out["D_real"],
                "D_fake": 2 * out["D_fake"]}
        for name, value in expected.items():
            assert abs(ours[name] - value) <= 1e-4 * abs(value), (it + 1, name, ours, expected)
    start, after = model_at(0), model_at(1)
    for part in ("generator", "discriminator"):
        w0, ref, ours = (variables_by_path(getattr(m, part)) for m in (start, after, model))
        trainable = {v.path.split("/", 1)[-1] for v in getattr(model, part).trainable_variables}
        train_m = weight_metrics(w0, ref, ours, [k for k in w0 if k in trainable])
        state_m = weight_metrics(w0, ref, ours, [k for k in w0 if k not in trainable])
        print(part, train_m, state_m)
        assert train_m["rel"] <= 0.01 and train_m["cos"] >= 0.9999, (part, train_m)
        assert state_m["rel"] <= 1e-3 and state_m["cos"] >= 0.9999, (part, state_m)
