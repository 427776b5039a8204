"""The SEAN task through the front ends, with no change to them: trained by the
train CLI (tiny), rendered per region from Python (codes as arrays, a style
photo), exported (SavedModel with ``style_codes``, TFLite) and reloaded."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfsem.data import toy_streets
from tests.testing import run_module, tiny_family_experiment, write_json

pytestmark = pytest.mark.xdist_group("sean")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sean")
    experiment = tiny_family_experiment("sean")
    # a large initial gain: after 2 steps the style branch already moves the photo
    experiment["model"]["sean"]["init_gain"] = 1.0
    config = write_json(root / "config.json", experiment)
    result = run_module("tfsem.train", "--config", config, "--out", str(root / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _scene(i):
    ex = toy_streets.generate(i, 32, 64, split="val")
    return ex["label"].astype(np.int32), ex["image"]


def test_region_codes_pick_each_regions_style(run):
    from tfsem import Pipeline

    pipe = Pipeline.from_run(str(run / "run"), precision="float32")
    assert pipe.input_names == ["label_map", "style_codes"]
    assert "style_image" in pipe.optional_names
    label, photo = _scene(0)
    _, other = _scene(1)
    encoder, task = pipe.task.encoder, pipe.task
    segmap = task.semantic_input(task.class_indices(tf.constant(label[None])))
    to_unit = lambda p: tf.constant(p[None].astype(np.float32) / 127.5 - 1.0)  # noqa: E731
    codes_a = encoder(to_unit(photo), segmap).numpy()
    codes_b = encoder(to_unit(other), segmap).numpy()
    from_photo = pipe(label, style=photo)
    np.testing.assert_array_equal(from_photo, pipe(label, style_codes=codes_a))
    # the region of one class takes B's code: that region changes most
    road = task.class_indices(tf.constant([[7]])).numpy()[0, 0]
    mixed = codes_a.copy()
    mixed[:, road] = codes_b[:, road]
    changed = np.abs(pipe(label, style_codes=mixed).astype(int) - from_photo.astype(int)).sum(-1)
    in_road = changed[label == 7].mean()
    assert in_road > 0 and in_road > changed[label != 7].mean()
    with pytest.raises(ValueError, match=r"style_codes must be \[batch, 35, 8\]"):
        pipe(label, style_codes=np.zeros((1, 3, 8), np.float32))


@pytest.mark.slow  # ~20 s: make test-slow (the contract's export path is in make test)
def test_export_takes_style_codes_and_tflite_converts(run, tmp_path):
    from tfsem import Pipeline

    out = tmp_path / "export"
    result = run_module("tfsem.export", "--model", str(run / "run"), "--out", str(out),
                        "--tflite", "fp32", "--calibration-examples", "2", "--eval-examples", "2",
                        "--precision", "float32")
    assert result.returncode == 0, result.stderr[-3000:]
    label, photo = _scene(2)
    pipe = Pipeline.from_run(str(run / "run"), precision="float32")
    codes = np.random.default_rng(0).normal(size=(1, 35, 8)).astype(np.float32) * 0.5
    expected = pipe(label, style_codes=codes)
    exported = Pipeline.from_run(str(out))
    np.testing.assert_allclose(exported(label, style_codes=codes).astype(int),
                               expected.astype(int), atol=1)
    report = json.loads((out / "tflite" / "v1" / "report.json").read_text())
    assert report[0]["input_names"] == ["label_map", "style_codes"]
    assert report[0]["max_abs_err"] <= 1 and not any(op.startswith("Flex")
                                                     for op in report[0]["ops"])
    assert os.path.exists(out / "tflite" / "v1" / "fp32.tflite")
