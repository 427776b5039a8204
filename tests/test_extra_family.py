"""A family added from outside the package, as the Architecture page's "Adding a family"
says: its config section, its task (a one-layer generator) and one
registration, all in this file. It trains (``python -m tfsem.train``),
generates (``python -m tfsem.generate``, ``tfsem.Pipeline``), exports
(SavedModel and TFLite, ``python -m tfsem.export``) and renders in the
studio's back ends, with nothing in ``tfsem/export``, ``inference``,
``studio``, ``serving`` or ``train`` knowing it: each front end runs the
task's own ``infer`` over its declared specs."""

import dataclasses
import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem import losses as L
from tfsem import registry
from tfsem.config.schema import ConfigError, doc_field
from tfsem.models.base import ConditionalGAN
from tfsem.networks.multiscale_discriminator import MultiScaleDiscriminator
from tests.testing import REPO, run_module, tiny_experiment, write_json

# Module fixtures: keep this file on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("extra_family")

FAMILY = "one_layer"
EXAMPLES = os.path.join(REPO, "examples")


@dataclasses.dataclass(frozen=True)
class OneLayerConfig:
    """Keyword arguments of :class:`OneLayerGAN` (a family written in a test)."""

    kernel: int = doc_field(3, "the generator's one conv: kernel size")
    lambda_L1: float = doc_field(10.0, "L1 weight")

    def validate(self, path: str = f"model.{FAMILY}") -> None:
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"{path}.kernel: must be odd and >= 1, got {self.kernel}")

    def ignored_fields(self):
        return {}

    def validate_experiment(self, experiment) -> None:
        pass


@keras.saving.register_keras_serializable(package="tfsem_tests")
class OneLayerGAN(ConditionalGAN):
    """Label map (+ instance edges) -> photo with ONE conv (tanh); hinge GAN + L1.
    Only the task's own methods: its networks, forward and losses."""

    G_TERMS = ("G_GAN", "G_L1")
    D_TERMS = ("D_real", "D_fake")
    FAMILY = FAMILY

    def __init__(self, num_classes, image_size, use_instances=False, kernel=3, lambda_L1=10.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.image_size = num_classes, tuple(image_size)
        self.use_instances, self.kernel, self.lambda_L1 = use_instances, kernel, lambda_L1
        self.lambda_vgg, self.vgg_weights = 0.0, None
        self.generator = keras.Sequential(
            [keras.layers.Conv2D(3, kernel, padding="same", activation="tanh")], name="generator")
        self.discriminator = MultiScaleDiscriminator(num_D=1, n_layers=2, ndf=4, norm="none",
                                                     spectral_norm=False, name="discriminator")
        self._init_tracking()

    def build_networks(self):
        if self.built:
            return
        segmap = self.semantic_input(tf.zeros([1, 8, 8], tf.int32),
                                     tf.zeros([1, 8, 8], tf.int32) if self.use_instances else None)
        self.generator(segmap)
        self.discriminator(tf.concat([segmap, tf.zeros([1, 8, 8, 3])], -1))
        self.built = True

    def call(self, inputs, training=False):
        return self.generator(self.semantic_input(inputs["label"], inputs.get("instance")),
                              training=training)

    def compute_losses(self, batch, training=False, parts=("generator", "discriminator")):
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        fake = self.generator(segmap, training=training)
        real = tf.cast(batch["image"], fake.dtype)
        terms = {}
        if "discriminator" in parts:
            pred_fake, pred_real = self.discriminate(segmap, tf.stop_gradient(fake), real,
                                                     training)
            terms["D_fake"] = L.gan_loss(pred_fake, False, True, "hinge")
            terms["D_real"] = L.gan_loss(pred_real, True, True, "hinge")
        if "generator" in parts:
            pred_fake, _ = self.discriminate(segmap, fake, real, training)
            terms["G_GAN"] = L.gan_loss(pred_fake, True, False, "hinge")
            terms["G_L1"] = self.lambda_L1 * tf.reduce_mean(tf.abs(fake - real), [1, 2, 3])
        return terms

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "image_size": self.image_size, "use_instances": self.use_instances,
                "kernel": self.kernel, "lambda_L1": self.lambda_L1}


@pytest.fixture(scope="module")
def family():
    entry = registry.register_family(registry.Family(
        type=FAMILY, section=OneLayerConfig, tasks={"default": OneLayerGAN},
        optimizer={"g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
        quickstarts={}, summary="a one-layer test family", adam="keras"))
    yield entry
    registry.unregister_family(FAMILY)


@pytest.fixture(scope="module")
def run(family, tmp_path_factory):
    root = tmp_path_factory.mktemp("extra")
    experiment = tiny_experiment(steps=2)
    experiment["name"] = "one_layer"
    experiment["data"]["use_instances"] = True
    experiment["model"] = {"type": FAMILY, FAMILY: {"kernel": 3}}
    config = write_json(root / "config.json", experiment)
    result = run_module("tfsem.train", "--config", config, "--out", str(root / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _label(name="toy_0"):
    label = np.asarray(Image.open(os.path.join(EXAMPLES, "labels", f"{name}_gtFine_labelIds.png")))
    inst = np.asarray(Image.open(os.path.join(EXAMPLES, "instances",
                                              f"{name}_gtFine_instanceIds.png")))
    return label.astype(np.int32), inst.astype(np.int32)


def test_the_family_trains_through_the_cli(run):
    written = json.loads((run / "run" / "config.json").read_text())
    assert written["model"] == {"type": FAMILY, FAMILY: {"kernel": 3, "lambda_L1": 10.0}}
    assert (run / "run" / "model.keras").exists()
    logs = [json.loads(line) for line in open(run / "run" / "eval.jsonl")] \
        if (run / "run" / "eval.jsonl").exists() else []
    assert all("oracle_miou" in entry for entry in logs)  # the trainer's scorer, toy data


def test_generate_and_the_pipeline_run_the_tasks_infer(run, tmp_path):
    from tfsem import Pipeline
    from tfsem.runs import load_run

    out = tmp_path / "gen"
    result = run_module("tfsem.generate", "--model", str(run / "run"), "--labels",
                        os.path.join(EXAMPLES, "labels"), "--instances",
                        os.path.join(EXAMPLES, "instances"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    label, inst = _label()
    pipe = Pipeline.from_run(str(run / "run"), precision="float32")
    photo = pipe(label, inst)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "toy_0.png")), photo)
    config, model = load_run(str(run / "run"))
    from tfsem.data.preprocess import resize_map

    maps = resize_map(tf.constant(np.stack([label, inst])), model.image_size)
    keras_photo = model({"label": model.class_indices(maps[:1]), "instance": maps[1:]},
                        training=False)[0].numpy() * 127.5 + 127.5
    np.testing.assert_allclose(photo, keras_photo, atol=0.5 + 1e-3)


def test_export_saved_model_tflite_and_studio_back_ends(run, tmp_path):
    from tfsem import Pipeline
    from tfsem.studio.backends import KerasBackend, SavedModelBackend, encode_png

    out = tmp_path / "export"
    result = run_module("tfsem.export", "--model", str(run / "run"), "--out", str(out),
                        "--tflite", "fp32", "--calibration-examples", "2", "--eval-examples",
                        "2")
    assert result.returncode == 0, result.stderr[-3000:]
    label, inst = _label("toy_1")
    expected = Pipeline.from_run(str(run / "run"), precision="float32")(label, inst)
    exported = Pipeline.from_run(str(out))
    np.testing.assert_array_equal(exported(label, inst), expected)
    report = json.loads((out / "tflite" / "v1" / "report.json").read_text())
    assert report[0]["input_names"] == ["label_map", "instance_map"]
    assert report[0]["max_abs_err"] <= 1
    from tfsem.data.preprocess import resize_map
    from tfsem.export.tflite import run_tflite

    content = (out / "tflite" / "v1" / "fp32.tflite").read_bytes()
    small = {name: resize_map(tf.constant(m[None]), (32, 64)).numpy()
             for name, m in (("label_map", label), ("instance_map", inst))}
    tflite, _ = run_tflite(content, small, output=None)
    assert np.abs(tflite["image"][0].astype(int) - expected.astype(int)).max() <= 1
    keras_backend = KerasBackend(str(run / "run"), precision="float32")
    assert keras_backend.info.use_instances and not keras_backend.info.seed
    assert keras_backend.render(small["label_map"][0], small["instance_map"][0]) == \
        encode_png(expected)
    saved = SavedModelBackend(str(out))
    png = saved.render(small["label_map"][0], small["instance_map"][0], seed=3)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), expected)
