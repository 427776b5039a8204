import logging
import json
import os

import numpy as np
from PIL import Image

from tfsem.config import ExperimentConfig
from tfsem.data.inspect import inspect_data
from tests.testing import (REPO, run_module, run_subprocess, shared_data_dir, toy_data_config,
                           write_png)


def test_inspect_reports_numbers_and_writes_grid(tmp_path, caplog):
    out = str(tmp_path / "grid.png")
    with caplog.at_level(logging.INFO, logger="tfsem.data"):
        stats = inspect_data(ExperimentConfig(name="t", data=toy_data_config()), num=3, out=out)
    text = caplog.text
    assert "examples:    8" in text and "model input: 32x64" in text
    assert stats["seen"] == 3 and abs(sum(stats["histogram"].values()) - 1.0) < 1e-6
    assert "road" in stats["histogram"]
    grid = np.asarray(Image.open(out))
    assert grid.shape[0] > 3 * 32 and grid.shape[1] > 3 * 64  # 3 rows, 3 columns


def test_inspect_cli_on_real_cityscapes_sample(tmp_path):
    root = os.path.join(shared_data_dir(), "cityscapes_sample")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"name": "c", "data": {
        "source": "folder", "root": root, "preprocess": {"resize_to": [128, 256]}}}))
    out = tmp_path / "grid.png"
    result = run_subprocess("tfsem.data", "--config", str(config), "--out", str(out), "--num", "2")
    assert result.returncode == 0, result.stderr
    assert "examples:    8" in result.stdout
    assert "stored size: 1024x2048" in result.stdout and "model input: 128x256" in result.stdout
    assert " road " in result.stdout
    Image.open(out).verify()


def test_inspect_cli_errors_are_one_line(tmp_path):
    config = tmp_path / "typo.json"
    config.write_text(json.dumps({"name": "t", "data": {"batch_sise": 2}}))
    result = run_module("tfsem.data", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {config}: data.batch_sise: unknown key; did you mean 'batch_size'?")
    assert "Traceback" not in result.stderr

    write_png(str(tmp_path / "d" / "train_label" / "a.png"), np.full((8, 8), 99, np.uint8))
    write_png(str(tmp_path / "d" / "train_img" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    config.write_text(json.dumps({"name": "t", "data": {
        "source": "folder", "root": str(tmp_path / "d"), "use_instances": False}}))
    result = run_module("tfsem.data", "--config", str(config))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "train_label/a.png: label ids outside" in last and "99" in last


def test_readme_demo_config_runs(tmp_path):
    result = run_module("tfsem.data", "--config", os.path.join(REPO, "configs", "quickstart.json"),
                        "--num", "2", "--out", str(tmp_path / "g.png"))
    assert result.returncode == 0, result.stderr
