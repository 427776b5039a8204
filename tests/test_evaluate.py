import json

import keras
import numpy as np
import pytest

from tfsem.data import toy_streets
from tests.metrics.test_inception import _stand_in_graph
from tests.testing import run_module, run_subprocess

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("evaluate")


def _oracle_segmenter(path):
    """A 1x1 conv whose argmax is the toy oracle exactly: logits_k = 2 p.c_k - |c_k|^2
    for pixels p in 0..255, i.e. nearest reference colour; other classes never win."""
    colors = np.zeros((35, 3), np.float32)
    bias = np.full(35, -1e9, np.float32)
    for class_id, color in toy_streets.PHOTO_COLORS.items():
        colors[class_id] = color
        bias[class_id] = -float(np.sum(np.square(color)))
    inputs = keras.Input((None, None, 3))
    pixels = keras.layers.Rescaling(127.5, offset=127.5)(inputs)  # [-1, 1] -> 0..255
    conv = keras.layers.Conv2D(35, 1)
    model = keras.Model(inputs, conv(pixels))
    conv.set_weights([(2.0 * colors.T)[None, None], bias])
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, untrained_gaugan_run):
    """A folder with ``run`` (a copy of the shared tiny GauGAN run dir)."""
    import shutil

    tmp = tmp_path_factory.mktemp("eval")
    shutil.copytree(untrained_gaugan_run, tmp / "run")
    return tmp


def test_evaluate_cli_reports_oracle_fid_kid_and_segmenter(tiny_run):
    graph = _stand_in_graph(tiny_run / "fid.pb")
    segmenter = _oracle_segmenter(tiny_run / "seg.keras")
    out = tiny_run / "metrics.json"
    result = run_subprocess("tfsem.evaluate", "--model", str(tiny_run / "run"), "--num", "6",
                        "--batch-size", "3", "--inception", graph, "--segmenter", segmenter,
                        "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert metrics["examples"] == 6 and metrics["split"] == "val"
    assert metrics["toy_oracle_real"]["miou"] >= 0.95
    assert 0.0 <= metrics["toy_oracle"]["miou"] < metrics["toy_oracle_real"]["miou"]
    assert metrics["fid"] > 0 and np.isfinite(metrics["kid"])
    assert "GraphDef pool_3" in metrics["inception"]
    # The segmenter is the oracle itself, so its scores equal the oracle's.
    assert metrics["segmentation"]["miou"] == pytest.approx(metrics["toy_oracle"]["miou"])
    assert metrics["segmentation"]["pixel_accuracy"] == pytest.approx(
        metrics["toy_oracle"]["pixel_accuracy"])
    assert "toy oracle  mIoU" in result.stdout and "FID " in result.stdout


def test_evaluate_without_inception_weights_skips_fid_with_reason(tiny_run, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tiny_run / "empty_keras_home"))
    result = run_module("tfsem.evaluate", "--model", str(tiny_run / "run"), "--num", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FID/KID     skipped: no Inception weights" in result.stdout
    result = run_module("tfsem.evaluate", "--model", str(tiny_run / "run"), "--num", "2",
                        "--inception", str(tiny_run / "missing.pb"))
    assert result.returncode == 2 and "missing.pb does not exist" in result.stderr


def test_evaluate_pix2pixhd_with_instance_features(tmp_path):
    """A pix2pixHD run with instance features renders the val maps with the
    features of their own photos (render_batch), as the trainer's scores do;
    before, evaluate dropped the photo and the model refused the batch."""
    from tests.testing import save_untrained_run

    run = save_untrained_run("pix2pixhd_features", tmp_path / "run")
    result = run_module("tfsem.evaluate", "--model", str(run), "--num", "4",
                        "--batch-size", "2", "--precision", "float32")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "toy oracle  mIoU" in result.stdout
