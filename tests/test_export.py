import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem.config import ExperimentConfig, config_from_dict
from tfsem.data import toy_streets
from tfsem.data.labels import load_label_space
from tfsem.export.saved_model import export_saved_model
from tfsem.train.build import build_model
from tests.testing import REPO, tiny_experiment

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("export")


@pytest.fixture(scope="module")
def exported(tiny_gaugan_export, untrained_gaugan_run):
    """The shared export of the untrained tiny GauGAN (conftest), its Keras model
    and that model's photos of two test maps."""
    from tfsem.runs import load_run

    config, model = load_run(str(untrained_gaugan_run))
    examples = [toy_streets.generate(i, 32, 64, split="test") for i in range(2)]
    label = np.stack([e["label"] for e in examples]).astype(np.int32)
    instance = np.stack([e["instance"] for e in examples]).astype(np.int32)
    keras_out = model({"label": label, "instance": instance}).numpy()
    expected = np.round((np.clip(keras_out, -1, 1) + 1) * 127.5).astype(np.uint8)
    path = str(tiny_gaugan_export)
    return {"base": os.path.dirname(path), "path": path, "label": label, "instance": instance,
            "expected": expected, "config": config, "model": model}


@pytest.fixture(scope="module")
def signatures(exported):
    """The export loaded once (each load restores and retraces its functions)."""
    return tf.saved_model.load(exported["path"]).signatures


def _close(a, b):
    assert a.dtype == np.uint8 and a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_layout_and_assets(exported):
    assert os.path.basename(exported["path"]) == "1"
    assets = os.listdir(os.path.join(exported["path"], "assets"))
    assert sorted(assets) == ["config.json", "label_space.json", "precision.json"]
    assert not [d for d in os.listdir(exported["base"]) if d.startswith(".tmp")]


def test_tf1_session_loader_in_fresh_process_matches_keras(exported, tmp_path):
    np.save(tmp_path / "label.npy", exported["label"])
    np.save(tmp_path / "inst.npy", exported["instance"])
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "tf1_loader_task.py"), exported["path"],
         str(tmp_path / "out.npy"), f"label_map={tmp_path / 'label.npy'}",
         f"instance_map={tmp_path / 'inst.npy'}"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0, result.stderr[-3000:]
    _close(np.load(tmp_path / "out.npy"), exported["expected"])


def test_saved_model_cli_run_matches_keras(exported, tmp_path):
    np.save(tmp_path / "label.npy", exported["label"])
    np.save(tmp_path / "inst.npy", exported["instance"])
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "run", "--dir", exported["path"], "--tag_set", "serve",
         "--signature_def", "serving_default",
         "--inputs", f"label_map={tmp_path / 'label.npy'};instance_map={tmp_path / 'inst.npy'}",
         "--outdir", str(tmp_path / "cli")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    _close(np.load(tmp_path / "cli" / "image.npy"), exported["expected"])


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_predict_png_round_trip(exported, signatures):
    labels = [_png(x.astype(np.uint8)) for x in exported["label"]]       # 8-bit
    instances = [_png(x.astype(np.uint16)) for x in exported["instance"]]  # 16-bit
    out = signatures["predict_png"](label_png=tf.constant(labels),
                                           instance_png=tf.constant(instances))["image_png_bytes"]
    images = np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in out.numpy()])
    _close(images, exported["expected"])


def test_predict_color_png_renders_what_predict_png_renders(exported, signatures):
    from tfsem.data.colors import ColorCodec
    from tfsem.export.saved_model import TaskServing, inference_graph

    space = load_label_space("cityscapes")
    label = np.where(np.isin(exported["label"], (17, 26)), 7, exported["label"])  # no shared colour
    instances = tf.constant([_png(x.astype(np.uint16)) for x in exported["instance"]])
    by_ids = signatures["predict_png"](
        label_png=tf.constant([_png(x.astype(np.uint8)) for x in label]),
        instance_png=instances)["image_png_bytes"].numpy()
    colours = [_png(ColorCodec(space).to_colors(x)) for x in label]
    by_colours = signatures["predict_color_png"](
        label_png=tf.constant(colours), instance_png=instances)["image_png_bytes"].numpy()
    assert list(by_colours) == list(by_ids)
    rgb = ColorCodec(space).to_colors(exported["label"][0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="colours shared by several ids"):
        signatures["predict_color_png"](label_png=tf.constant([_png(rgb)]),
                                        instance_png=instances[:1])
    rgb[0, 0] = (1, 2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not colours of the cityscapes"):
        signatures["predict_color_png"](label_png=tf.constant([_png(rgb)]),
                                        instance_png=instances[:1])
    # an export's --color-map decides the shared colours (the same decoding, in the graph)
    module = TaskServing(inference_graph(exported["model"], exported["config"]),
                         colors=ColorCodec(space, {"153,153,153": 17, "#00008e": 26}))
    rgb[0, 0] = rgb[0, 1]
    decoded = module._decode_colors(tf.constant([_png(rgb)]), "label_png").numpy()[0]
    expected = exported["label"][0].copy()
    expected[0, 0] = expected[0, 1]
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("case, message", [
    ("bad_id", "label_map has ids outside the cityscapes label space"),
    ("bad_size", "height and width must be multiples of 32"),
    ("too_big", "more than max_pixels=4096"),
    ("instance_shape", "instance_map must have the shape of label_map"),
])
def test_serving_default_rejects_bad_input(exported, signatures, case, message):
    fn = signatures["serving_default"]
    label, instance = exported["label"].copy(), exported["instance"]
    if case == "bad_id":
        label[0, 0, 0] = 99
    elif case == "bad_size":
        label, instance = label[:, :, :48], instance[:, :, :48]
    elif case == "too_big":
        label, instance = np.zeros((1, 64, 128), np.int32), np.zeros((1, 64, 128), np.int32)
    else:
        instance = instance[:, :, :32]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        fn(label_map=tf.constant(label), instance_map=tf.constant(instance))


def test_predict_png_rejects_non_png_and_oversized(signatures):
    fn = signatures["predict_png"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="label_png is not a PNG"):
        fn(label_png=tf.constant([b"GIF89a" + b"\0" * 40]), instance_png=tf.constant([b"x" * 40]))
    big = _png(np.zeros((128, 128), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than max_pixels"):
        fn(label_png=tf.constant([big]), instance_png=tf.constant([big]))


def test_versions_are_numbered_and_never_overwritten(exported, tmp_path):
    from tfsem.export.base import ServingModule, write_version

    base = tmp_path / "tiny"
    shutil.copytree(exported["base"], base)  # the shared export holds version 1

    class Identity(ServingModule):  # the numbering is write_version's, whatever is saved
        def input_specs(self):
            return [tf.TensorSpec([None], tf.float32, name="x")]

        def serve(self, x):
            return {"y": tf.identity(x)}

    second = write_version(str(base), None, Identity(), {})
    assert os.path.basename(second) == "2"
    with pytest.raises(FileExistsError, match="this version exists"):
        export_saved_model(exported["model"], exported["config"], str(base), version=1)
    assert sorted(os.listdir(base)) == ["1", "2"]


def test_vae_model_exports_with_z_input(tmp_path):
    """Regression: the generator's SeedGenerator state must be tracked too, or
    saving a VAE generator fails ('captures tensor ... not reachable from root')."""
    experiment = tiny_experiment()
    experiment["model"]["gaugan"].update(use_vae=True, z_dim=8)
    config = config_from_dict(ExperimentConfig, experiment)
    model = build_model(config)
    model.build_networks()
    path = export_saved_model(model, config, str(tmp_path / "vae"))
    fn = tf.saved_model.load(path).signatures["serving_default"]
    assert sorted(fn.structured_input_signature[1]) == ["instance_map", "label_map", "z"]
    label = np.full((1, 32, 64), 7, np.int32)
    z = np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32)
    out = fn(label_map=label, instance_map=label, z=z)["image"].numpy()
    keras_out = model({"label": label, "instance": label, "z": z}).numpy()
    _close(out, np.round((np.clip(keras_out, -1, 1) + 1) * 127.5).astype(np.uint8))


def test_saved_model_signatures_are_traced_for_tf_serving(tmp_path):
    """write_version traces inside graph_target("saved_model"): no XLA-compiled
    Winograd convs (TF Serving fails on XLA clusters unless started with
    --xla_cpu_compilation_enabled)."""
    from tfsem.export.base import ServingModule, write_version
    from tfsem.layers.conv3x3 import conv3x3
    from tfsem.layers.graph_target import current_graph_target

    kernel = tf.Variable(tf.random.normal([3, 3, 256, 4]))
    seen = []

    class Module(ServingModule):
        def __init__(self):
            super().__init__()
            self.kernel = kernel

        def input_specs(self):
            return [tf.TensorSpec([1, 34, 66, 256], tf.float32, name="x")]

        def serve(self, x):
            seen.append(current_graph_target())
            return {"y": conv3x3(x, self.kernel)}

    path = write_version(str(tmp_path / "m"), None, Module(), {})
    assert seen and set(seen) == {"saved_model"}
    loaded = tf.saved_model.load(path)
    library = loaded.signatures["serving_default"].graph.as_graph_def().library.function
    assert not [f.signature.name for f in library if f.attr["_XlaMustCompile"].b]
    x = tf.random.normal([1, 34, 66, 256])
    np.testing.assert_allclose(loaded.signatures["serving_default"](x=x)["y"],
                               tf.nn.conv2d(x, kernel, 1, "VALID"), rtol=1e-4, atol=1e-3)
