"""pix2pix from the command line, as a user runs it: train (then resume),
generate from label PNGs, export (SavedModel + TFLite, checked against the
Keras model), dream with pix2pix as the renderer, and the studio backend."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.testing import REPO, run_module, save_untrained_run, write_json

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadfile).
pytestmark = pytest.mark.xdist_group("pix2pix_cli")

EXAMPLES = os.path.join(REPO, "examples", "labels")


def _experiment():
    return {
        "name": "tiny_pix2pix_cli",
        "data": {"source": "toy_streets", "batch_size": 2, "use_instances": False,
                 "toy": {"num_examples": 8, "height": 64, "width": 128}},
        "model": {"type": "pix2pix",
                  "pix2pix": {"num_downs": 6, "ngf": 4, "ndf": 4, "n_layers_D": 2}},
        "train": {"steps": 2, "checkpoint_every": 1, "sample_every": 2, "log_every": 1,
                  "num_samples": 2, "eval_every": 2, "eval_examples": 2},
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2p")
    config = write_json(str(root / "tiny.json"), _experiment())
    result = run_module("tfsem.train", "--config", config, "--out", str(root / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "toy oracle mIoU" in result.stdout
    return root


def test_training_resumes_and_writes_the_run(run):
    names = set(os.listdir(run / "run"))
    assert {"config.json", "model.keras"} <= names
    saved = json.loads((run / "run" / "config.json").read_text())
    assert saved["model"] == {"type": "pix2pix", "pix2pix": saved["model"]["pix2pix"]}
    assert saved["optimizer"]["g_lr"] == 2e-4 and saved["optimizer"]["beta_1"] == 0.5
    again = run_module("tfsem.train", "--config", str(run / "tiny.json"), "--out",
                       str(run / "run"), "--set", "train.steps=3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resum" in (again.stdout + again.stderr).lower()


def test_generate_renders_label_pngs_as_the_model_does(run, tmp_path):
    from tfsem.data.labels import load_label_space
    from tfsem.runs import load_run

    result = run_module("tfsem.generate", "--model", str(run / "run"), "--labels", EXAMPLES,
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(f for f in os.listdir(tmp_path / "out") if f.endswith(".png"))
    assert len(written) >= 3
    config, model = load_run(str(run / "run"))
    space = load_label_space(config.data.label_space)
    first = sorted(os.listdir(EXAMPLES))[0]
    label = space.encode(np.asarray(Image.open(os.path.join(EXAMPLES, first))))
    expected = np.round((model({"label": label[None]}).numpy()[0] + 1) * 127.5)
    stem = first.split("_gtFine")[0]
    photo = [f for f in written if f.startswith(stem)][0]
    got = np.asarray(Image.open(tmp_path / "out" / photo).convert("RGB")).astype(int)
    assert np.abs(got - expected).max() <= 1


def test_export_saved_model_and_tflite_match_keras(run, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from tfsem.runs import load_run

    result = run_module("tfsem.export", "--model", str(run / "run"), "--out",
                        str(tmp_path / "p2p"), "--tflite", "fp32,fp16", "--eval-examples", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    _, model = load_run(str(run / "run"))
    label = np.stack([np.asarray(Image.open(os.path.join(EXAMPLES, f)))
                      for f in sorted(os.listdir(EXAMPLES))[:2]]).astype(np.int32)
    from tfsem.data.labels import load_label_space

    index = load_label_space("cityscapes").encode(label)
    expected = np.round((np.clip(model({"label": index}).numpy(), -1, 1) + 1) * 127.5)
    serving = tf.saved_model.load(str(tmp_path / "p2p" / "1")).signatures["serving_default"]
    image = serving(label_map=tf.constant(label))["image"].numpy().astype(int)
    assert np.abs(image - expected).max() <= 1
    lite = sorted((tmp_path / "p2p" / "tflite" / "v1").glob("*fp32*.tflite"))[0]
    interpreter = Interpreter(model_path=str(lite))
    runner = interpreter.get_signature_runner()
    inputs = runner.get_input_details()
    name = [n for n in inputs if "label" in n][0]
    shape = inputs[name]["shape"]
    out = runner(**{name: label[:1, :shape[1], :shape[2]].astype(inputs[name]["dtype"])})
    lite_image = list(out.values())[0].astype(int)
    assert np.abs(lite_image[0] - expected[0]).max() <= 2


def test_dream_with_a_pix2pix_renderer(run, tmp_path):
    semgan = save_untrained_run("semgan", tmp_path / "semgan")
    result = run_module("tfsem.dream", "--semgan", str(semgan), "--renderer", str(run / "run"),
                        "--num", "2", "--out", str(tmp_path / "dream"))
    assert result.returncode == 0, result.stderr[-3000:]
    images = sorted(os.listdir(tmp_path / "dream" / "image"))
    assert len(images) == 2
    photo = np.asarray(Image.open(tmp_path / "dream" / "image" / images[0]))
    assert photo.shape == (64, 128, 3)


def test_studio_backend_renders_a_pix2pix_run(run):
    from tfsem.runs import load_run
    from tfsem.studio.backends import KerasBackend

    backend = KerasBackend(str(run / "run"))
    assert (backend.info.height, backend.info.width) == (64, 128)
    assert not backend.info.seed and not backend.info.style_image  # one photo per map
    label = np.asarray(Image.open(os.path.join(EXAMPLES, sorted(os.listdir(EXAMPLES))[0])))
    png = backend.render(label, None)
    photo = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    _, model = load_run(str(run / "run"))
    index = backend.space.encode(label)
    expected = np.round((np.clip(model({"label": index[None]}).numpy()[0], -1, 1) + 1) * 127.5)
    assert np.abs(photo - expected).max() <= 1
