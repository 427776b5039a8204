"""Helpers shared by the tests: paths to the real sample data, tiny configs, CLI runs."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfsem.config import DataConfig, ToyStreetsConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_dir() -> str:
    """``$TFSEM_SHARED_DATA`` or ``../shared/data``; the test skips when it is absent."""
    path = os.environ.get("TFSEM_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
    if not os.path.isdir(path):
        pytest.skip(f"real sample data not found at {path} (set TFSEM_SHARED_DATA)")
    return os.path.abspath(path)


def toy_data_config(**overrides) -> DataConfig:
    """A tiny toy_streets data config (32x64, 8 examples, batch 2)."""
    settings = dict(source="toy_streets", batch_size=2,
                    toy=ToyStreetsConfig(num_examples=8, height=32, width=64, seed=0))
    settings.update(overrides)
    return DataConfig(**settings)


def write_png(path: str, array: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def run_module(module: str, *args: str, cwd: str = REPO, timeout: int = 300):
    """Runs ``python -m module args`` in a fresh process; returns CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
