"""SEAN's training step is ZPdesu/SEAN's training loop, iteration for iteration.

The official trainer, options and model run here on the CPU
(``dev/make_sean_train_case.py``: 19 labels, no instances, 32x32, batch 2,
the ACE noise of every call recorded), 2 iterations; tfsem goes through the
same user path as the shared official cases (``dev/train_fidelity.py``: the
official W0 converted, ``train.init_from``, the folder reader on the PNGs,
the trainer's own step) with the recorded noise injected, and is held to
SPADE's tolerances (``tests/test_train_equivalence.py``: SEAN trains with
SPADE's trainer). Measured: iteration 1 within 1.1e-7 relative; iteration 2
within 2.4e-2 relative of a G_GAN of 3.5e-3 (8.5e-5 absolute), GAN_Feat
exact; weights after 2 iterations rel <= 0.74%, cos 1.0000 (G, D,
Zencoder); at 64x64, rel 23% / 35% / 21%, cos 0.974 / 0.940 / 0.979."""

import os
import subprocess
import sys

import pytest

from tests.testing import REPO

pytest.importorskip("torch", reason="the official code needs PyTorch")


def test_sean_training_is_the_official_loop(tmp_path):
    from dev.sean_official import SEAN_CODE
    from dev.train_fidelity import format_result, run_case
    from tests.test_train_equivalence import _check

    if not os.path.isdir(SEAN_CODE):
        pytest.skip(f"the official SEAN code is not at {SEAN_CODE}")
    case = tmp_path / "sean_case"
    subprocess.run([sys.executable, os.path.join(REPO, "dev", "make_sean_train_case.py"),
                    str(case), "--size", "32"], check=True, capture_output=True,
                   cwd=str(tmp_path))
    result = run_case(str(case), str(tmp_path / "work"))
    print(format_result(result))
    assert set(result["weights"]) == {"generator", "discriminator", "encoder"}
    assert result["losses"][0]["GAN_Feat"]["official"] > 0  # the terms were compared
    _check(result, 2)
