"""Photo-to-photo translation (``data.input: image``): pix2pix's RGB input and
pix2pixHD's ``label_nc 0``, trained, generated, exported (SavedModel, TFLite)
and served in the studio like the label models, on a paired set made from
toy_streets (its photo made grey and blurred -> its photo)."""

import base64
import io
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem.config import ConfigError, ExperimentConfig, config_from_dict
from tfsem.data import toy_streets
from tfsem.data.pipeline import DataPipeline
from tfsem.data.readers import DataError
from tests.testing import REPO, run_module, write_json

pytestmark = pytest.mark.xdist_group("photo")

SECTIONS = {"pix2pix": {"num_downs": 5, "ngf": 8, "ndf": 8},
            "pix2pixhd": {"ngf": 8, "ndf": 8, "n_downsample_global": 2, "n_blocks_global": 1,
                          "num_D": 1, "use_features": False, "lambda_vgg": 0.0}}


def _experiment(family, **data):
    return {"name": f"photo_{family}",
            "data": {"input": "image", "use_instances": False, "batch_size": 2,
                     "toy": {"num_examples": 4, "height": 32, "width": 64}, **data},
            "model": {"type": family, family: dict(SECTIONS[family])},
            "train": {"steps": 2, "checkpoint_every": 2, "sample_every": 2, "log_every": 1,
                      "num_samples": 2, "eval_every": 2, "eval_examples": 2}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-step run of each photo-to-photo family, trained by the CLI."""
    root = tmp_path_factory.mktemp("photo")
    out = {}
    for family in SECTIONS:
        config = write_json(root / f"{family}.json", _experiment(family))
        result = run_module("tfsem.train", "--config", config, "--out", str(root / family))
        assert result.returncode == 0, result.stderr[-3000:]
        assert "psnr" in result.stdout and "toy oracle mIoU" in result.stdout
        out[family] = root / family
    return out


def _photo(i, height=48, width=96):
    ex = toy_streets.generate(i, height, width, split="val")
    return toy_streets.degrade(ex["image"]), ex["image"]


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_toy_pairs_and_the_folder_layout(tmp_path):
    config = config_from_dict(ExperimentConfig, _experiment("pix2pix")).data
    batch = next(iter(DataPipeline(config).dataset(training=False, batch_size=2)))
    assert sorted(batch) == ["image", "input", "label"]  # the label map only scores the photos
    source, target = batch["input"].numpy(), batch["image"].numpy()
    assert source.shape == target.shape == (2, 32, 64, 3)
    np.testing.assert_array_equal(source[..., 0], source[..., 2])  # grey
    for split in ("train", "val"):
        for i in range(3):
            source, target = _photo(i, 32, 64)
            for folder, array in (("A", source), ("B", target)):
                os.makedirs(tmp_path / f"{split}_{folder}", exist_ok=True)
                Image.fromarray(array).save(tmp_path / f"{split}_{folder}" / f"{i:03d}.png")
    folder = config_from_dict(ExperimentConfig, _experiment(
        "pix2pixhd", source="folder", root=str(tmp_path))).data
    batch = next(iter(DataPipeline(folder, "val").dataset(training=False, batch_size=3)))
    assert sorted(batch) == ["image", "input"]
    expected = np.stack([_photo(i, 32, 64)[1] for i in range(3)]) / 127.5 - 1
    np.testing.assert_allclose(batch["image"].numpy(), expected, atol=1e-6)
    os.remove(tmp_path / "val_B" / "001.png")
    with pytest.raises(DataError, match=r"001.png: input photo has no target photo"):
        DataPipeline(folder, "val").files()


@pytest.mark.parametrize("data, message", [
    ({"source": "cityscapes", "root": "x"}, "data.input: 'image' reads photo pairs"),
    ({"use_instances": True}, "data.use_instances: photo-to-photo"),
])
def test_config_checks(data, message):
    def check(experiment):
        config_from_dict(ExperimentConfig, experiment).validate()

    with pytest.raises(ConfigError, match=message):
        check(_experiment("pix2pix", **data))
    gaugan = _experiment("pix2pix")
    gaugan["model"] = {"type": "gaugan", "gaugan": {"ngf": 4}}
    with pytest.raises(ConfigError, match="data.input: 'image' .photo-to-photo. is for the "
                                          "pix2pixhd and pix2pix families"):
        check(gaugan)
    features = _experiment("pix2pixhd")
    features["model"]["pix2pixhd"]["use_features"] = True
    with pytest.raises(ConfigError, match="use_features: instance features need label"):
        check(features)


@pytest.mark.parametrize("family", list(SECTIONS))
def test_generate_the_pipeline_and_the_exports_give_one_photo(runs, family, tmp_path):
    import tfsem

    run = runs[family]
    photos = tmp_path / "photos"
    photos.mkdir()
    inputs = [_photo(i)[0] for i in range(2)]
    for i, array in enumerate(inputs):
        Image.fromarray(array).save(photos / f"p{i}.png")
    result = run_module("tfsem.generate", "--model", str(run), "--images", str(photos),
                        "--out", str(tmp_path / "gen"))
    assert result.returncode == 0, result.stderr
    generated = np.asarray(Image.open(tmp_path / "gen" / "p0.png"))
    pipe = tfsem.Pipeline.from_run(str(run), precision="float32")
    assert pipe.input_names == ["image"] and generated.shape == (32, 64, 3)
    np.testing.assert_array_equal(pipe(inputs[0]), generated)  # resized 48x96 -> 32x64
    wrong = run_module("tfsem.generate", "--model", str(run), "--labels", str(photos),
                       "--out", str(tmp_path / "x"))
    assert wrong.returncode == 2 and "pass --images" in wrong.stderr

    result = run_module("tfsem.export", "--model", str(run), "--out", str(tmp_path / "exp"),
                        "--precision", "float32", "--tflite", "fp32",
                        "--calibration-examples", "1", "--eval-examples", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    exported = tfsem.Pipeline.from_run(str(tmp_path / "exp"))
    assert np.abs(exported(inputs[0]).astype(int) - generated).max() <= 1
    served = tf.saved_model.load(str(tmp_path / "exp" / "1")).signatures
    png = served["predict_png"](image_png=tf.constant([_png(pipe_input(pipe, inputs[0]))]))
    decoded = np.asarray(Image.open(io.BytesIO(png["image_png_bytes"].numpy()[0])))
    assert np.abs(decoded.astype(int) - generated).max() <= 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of"):
        served["serving_default"](image=tf.zeros([1, 30, 64, 3], tf.uint8))
    # TF Serving's REST API (a stand-in serving the export) through the client CLI
    from tests.serving_standin import rest_stand_in

    (tmp_path / "in.png").write_bytes(_png(pipe_input(pipe, inputs[0])))
    with rest_stand_in(tf.saved_model.load(str(tmp_path / "exp" / "1"))) as url:
        result = run_module("tfsem.serving", "--url", url, "--model", "tiny", "--image",
                            str(tmp_path / "in.png"), "--out", str(tmp_path / "served.png"))
        assert result.returncode == 0, result.stderr[-3000:]
        from tfsem.serving.__main__ import main as serving_main

        with pytest.raises(ValueError, match="pass --image"):
            serving_main(["--url", url, "--model", "tiny", "--labels", str(tmp_path / "in.png"),
                          "--out", str(tmp_path / "x.png")])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "served.png")), decoded)

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(tmp_path / "exp" / "tflite" / "v1" / "fp32.tflite"))
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    assert detail["dtype"] == np.uint8 and list(detail["shape"]) == [1, 32, 64, 3]
    interpreter.set_tensor(detail["index"], pipe_input(pipe, inputs[0])[None])
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    assert np.abs(lite.astype(int) - generated).max() <= 2
    # the on-device demo (LiteRT only) takes the photo too, at the model's size
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        import tflite_demo
    finally:
        sys.path.pop(0)
    Image.fromarray(pipe_input(pipe, inputs[0])).save(tmp_path / "small.png")
    demo, _ = tflite_demo.run(str(tmp_path / "exp" / "tflite" / "v1" / "fp32.tflite"), None,
                              str(tmp_path / "demo.png"), image=str(tmp_path / "small.png"))
    np.testing.assert_array_equal(demo, lite)


def pipe_input(pipe, photo):
    """The photo at the model's size, as the pipeline resizes it."""
    from tfsem.pipeline import photo_batch

    return photo_batch(photo, pipe.image_size)[0][0]


def test_evaluate_scores_against_the_targets(runs):
    result = run_module("tfsem.evaluate", "--model", str(runs["pix2pix"]), "--num", "2")
    assert result.returncode == 0, result.stderr
    assert "against the targets  PSNR" in result.stdout and "toy oracle" in result.stdout


def test_the_studio_translates_a_photo(runs, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import tfsem
    from tfsem.studio.app import create_app
    from tfsem.studio.backends import open_backend

    source = _photo(3)[0]
    expected = tfsem.Pipeline.from_run(str(runs["pix2pix"]), precision="float32")(source)
    export = run_module("tfsem.export", "--model", str(runs["pix2pix"]), "--out",
                        str(tmp_path / "exp"), "--precision", "float32")
    assert export.returncode == 0, export.stderr[-3000:]
    for model in (str(runs["pix2pix"]), str(tmp_path / "exp")):
        precision = "float32" if model == str(runs["pix2pix"]) else "auto"
        client = TestClient(create_app(open_backend(model, precision=precision)),
                            base_url="http://127.0.0.1")
        assert client.get("/api/info").json()["input"] == "image"
        body = {"image": base64.b64encode(_png(source)).decode()}
        response = client.post("/api/translate", json=body)
        assert response.status_code == 200, response.text
        got = np.asarray(Image.open(io.BytesIO(response.content)))
        assert np.abs(got.astype(int) - expected).max() <= 1
        refused = client.post("/api/render", json={"label_png": body["image"]})
        assert refused.status_code == 400 and "/api/translate" in refused.json()["detail"]
        bad = client.post("/api/translate", json={"image": base64.b64encode(b"nope").decode()})
        assert bad.status_code == 400 and "image: cannot decode" in bad.json()["detail"]


def test_label_models_refuse_photos(untrained_gaugan_run):
    import tfsem

    pipe = tfsem.Pipeline.from_run(str(untrained_gaugan_run))
    assert not pipe.takes_photos
    with pytest.raises(ValueError, match="it takes no input photo"):
        pipe.task.inference_inputs(image=np.zeros([1, 32, 64, 3], np.uint8))
