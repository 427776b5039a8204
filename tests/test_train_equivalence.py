"""tfsem's training step is the official training loop, iteration for iteration.

Every case of ``../shared/reference/train_fixtures`` (official weights before
and after N iterations of NVlabs/SPADE's ``Pix2PixTrainer`` or
NVIDIA/pix2pixHD's ``train.py``, the batch as PNGs, every loss term of every
iteration) goes through the user's path (``tools/train_fidelity.py``): the
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

import pytest

from tests.testing import REPO

pytest.importorskip("torch", reason="reading .pth checkpoints needs PyTorch (tfsem[convert])")


TOLERANCES = {
    "pix2pixhd": {"later_terms": 1e-4, "trainable": {"rel": 0.3, "cos": 0.95, "agree": 0.99},
                  "state": {"rel": 0.1, "cos": 0.99}},
    "spade": {"later_terms": 2e-2, "trainable": {"cos": 0.6, "agree": 0.6},
              "state": {"rel": 0.25, "cos": 0.98}},
}


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
    from tools.train_fidelity import format_result, run_case

    result = run_case(root, str(tmp_path))
    print(format_result(result))
    tol = TOLERANCES[result["family"]]
    assert len(result["losses"]) == json.load(open(os.path.join(root, "case.json")))["iterations"]
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
