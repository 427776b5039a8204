"""SemGAN and dream exports: SavedModel signatures (also through the TF1
session loader in a fresh process) and TFLite variants."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem.config import config_from_dict, ExperimentConfig
from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import resize_map
from tfsem.export.saved_model import (calibration_inputs, dream_graph, export_dream,
                                      export_saved_model, inference_graph)
from tfsem.export.tflite import export_tflite, tflite_function
from tfsem.data.labels import raw_label_ids
from tfsem.train.build import build_model
from tfsem.models.label_map_gan import latent_for_seeds
from tests.test_semgan_cli import semgan_experiment
from tests.testing import REPO, tiny_experiment

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("export_semgan")

SPACE = load_label_space("cityscapes")


def _built(experiment):
    config = config_from_dict(ExperimentConfig, experiment)
    model = build_model(config)
    model.build_networks()
    return config, model


@pytest.fixture(scope="module")
def semgan():
    return _built(semgan_experiment())


@pytest.fixture(scope="module")
def baseline():
    return _built(semgan_experiment("colors", "tiny_baseline"))


@pytest.fixture(scope="module")
def style():
    """SemGAN with the style-based generator (fixed noise at inference)."""
    experiment = semgan_experiment(name="tiny_style")
    experiment["model"]["semgan"]["block"] = "style"
    return _built(experiment)


@pytest.mark.parametrize("which", ["semgan", "baseline", "style"])
def test_semgan_saved_model_matches_keras(which, request, tmp_path):
    config, model = request.getfixturevalue(which)
    path = export_saved_model(model, config, str(tmp_path / "m"))
    assert path.endswith(os.path.join("m", "1"))
    assert os.path.exists(os.path.join(path, "assets", "label_space.json"))
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](seed=tf.constant([3, 4], tf.int64))
    expected = model.sample_seeds([3, 4]).numpy()
    np.testing.assert_array_equal(out["label_map"].numpy(), raw_label_ids(expected, SPACE))
    for i in range(2):
        colour = np.asarray(Image.open(io.BytesIO(out["color_png_bytes"][i].numpy())))
        np.testing.assert_array_equal(colour, SPACE.colorize(expected[i]))
    z = latent_for_seeds([4], model.z_dim)
    by_z = loaded.signatures["from_z"](z=z)
    np.testing.assert_array_equal(by_z["label_map"].numpy()[0], out["label_map"].numpy()[1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="z must be finite"):
        loaded.signatures["from_z"](z=tf.fill([1, model.z_dim], np.nan))


def test_style_truncation_and_mixing_in_python_and_the_export(style, semgan, tmp_path):
    from tfsem import Pipeline
    from tfsem.pipeline import ExportedPipeline

    config, model = style
    model.attach_label_space(SPACE, config.data.dont_care)
    model.generator.w_avg.assign(tf.random.stateless_normal([model.z_dim], [5, 6]))
    pipe = Pipeline(model, config)
    seeds = [0, 1, 2]
    own = pipe.sample(seeds)["label_map"]
    np.testing.assert_array_equal(pipe.sample(seeds, truncation=1.0)["label_map"], own)
    flat = pipe.sample(seeds, truncation=0.0)["label_map"]  # every seed: the average style
    assert (flat == flat[:1]).all()
    num_ws = model.generator.num_ws
    mixed = pipe.sample(seeds, mix_seed=9, mix_layer=0)["label_map"]  # all of seed 9's style
    np.testing.assert_array_equal(mixed, np.repeat(pipe.sample([9])["label_map"], 3, 0))
    np.testing.assert_array_equal(pipe.sample(seeds, mix_seed=9, mix_layer=num_ws)["label_map"],
                                  own)
    half = pipe.sample(seeds, mix_seed=9, truncation=0.7)
    path = export_saved_model(model, config, str(tmp_path / "m"))
    exported = ExportedPipeline(path)
    np.testing.assert_array_equal(exported.sample(seeds, mix_seed=9, truncation=0.7)["label_map"],
                                  half["label_map"])
    np.testing.assert_array_equal(exported.sample(seeds, truncation=0.0)["label_map"], flat)
    with pytest.raises(ValueError, match=f"--mix-layer: must be in 0..{num_ws}"):
        pipe.sample(seeds, mix_seed=1, mix_layer=num_ws + 1)
    # a conv generator has no styles to truncate or mix
    semgan_config, semgan_model = semgan
    with pytest.raises(ValueError, match="--truncation: only a style generator"):
        Pipeline(semgan_model, semgan_config).sample(seeds, truncation=0.5)
    plain = export_saved_model(semgan_model, semgan_config, str(tmp_path / "plain"))
    assert "from_seed_styled" not in tf.saved_model.load(plain).signatures
    with pytest.raises(ValueError, match="from_seed_styled"):
        ExportedPipeline(plain).sample(seeds, mix_seed=3)


def test_semgan_export_through_the_tf1_session_loader(semgan, tmp_path):
    config, model = semgan
    path = export_saved_model(model, config, str(tmp_path / "m"))
    np.save(tmp_path / "seed.npy", np.array([7, 8], np.int64))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "tf1_loader_task.py"), path,
         f"label_map={tmp_path / 'out.npy'}", f"seed={tmp_path / 'seed.npy'}"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"),
                                  raw_label_ids(model.sample_seeds([7, 8]).numpy(), SPACE))


def _renderer(size=(64, 128)):
    experiment = tiny_experiment()
    experiment["data"]["toy"].update(height=size[0], width=size[1])
    return _built(experiment)


def test_dream_saved_model_chains_semgan_and_the_renderer(semgan, tmp_path):
    config, model = semgan
    renderer_config, renderer = _renderer()  # 64x128: SemGAN's 32x64 maps are resized
    path = export_dream(model, config, renderer, renderer_config, str(tmp_path / "d"))
    out = tf.saved_model.load(path).signatures["serving_default"](
        seed=tf.constant([1, 2], tf.int64))
    labels = model.sample_seeds([1, 2])
    raw = raw_label_ids(labels.numpy(), SPACE)
    np.testing.assert_array_equal(out["label_map"].numpy(), raw)
    # The chain renders the raw ids, as generate does with the written label PNGs.
    resized = resize_map(SPACE.encode(raw), (64, 128))
    expected = renderer({"label": resized, "instance": resized}, training=False)
    assert out["image"].shape == (2, 64, 128, 3) and out["image"].dtype == tf.uint8
    got = out["image"].numpy().astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(got, expected.numpy(), atol=1.5 / 127.5)
    assert os.path.exists(os.path.join(path, "assets", "renderer_config.json"))
    with pytest.raises(TypeError, match="must be a label-to-photo run"):
        dream_graph(model, config, model, config)


def test_tflite_variants_of_semgan_and_dream(semgan, baseline, style, tmp_path):
    for name, (config, model) in (("semgan", semgan), ("baseline", baseline), ("style", style)):
        graph = inference_graph(model, config)
        rows = export_tflite(graph, str(tmp_path / name), ["fp32", "dynamic_int8"],
                             calibration_inputs(graph, count=2),
                             calibration_inputs(graph, count=3, seed=1),
                             SPACE.to_dict(), log=lambda *a: None)
        fp32 = rows[0]
        controls = ["truncation_psi", "mix_z", "mix_layer"] if name == "style" else []
        assert fp32["input_names"] == ["z"] + controls and fp32["label_agreement"] >= 0.999
        assert not any(op.startswith("Flex") for op in fp32["ops"])
        assert 0.5 <= rows[1]["label_agreement"] <= 1.0
        assert os.path.exists(tmp_path / name / "report.md")
    config, model = semgan
    renderer_config, renderer = _renderer((32, 64))
    graph = dream_graph(model, config, renderer, renderer_config)
    rows = export_tflite(graph, str(tmp_path / "dream"), ["fp32"],
                         calibration_inputs(graph, count=2),
                         calibration_inputs(graph, count=2, seed=1),
                         SPACE.to_dict(), log=lambda *a: None)
    assert rows[0]["label_agreement"] >= 0.999 and rows[0]["psnr_db"] > 40


def test_rest_client_samples_from_the_semgan_export(semgan, tmp_path):
    from tfsem.serving.client import RestClient
    from tests.serving_standin import rest_stand_in

    config, model = semgan
    loaded = tf.saved_model.load(export_saved_model(model, config, str(tmp_path / "m")))
    with rest_stand_in(loaded) as url:
        out = RestClient(url, "tiny").sample([3, 4])
    expected = model.sample_seeds([3, 4]).numpy()
    np.testing.assert_array_equal(out["label_map"], raw_label_ids(expected, SPACE))
    colour = np.asarray(Image.open(io.BytesIO(out["color_png_bytes"][1])))
    np.testing.assert_array_equal(colour, SPACE.colorize(expected[1]))


def test_dream_tflite_function_passes_the_cluster_by_name(semgan):
    """A pix2pixHD renderer with features but no VAE: the TFLite inputs are
    (z, cluster), and cluster must reach the renderer, not the style slot."""
    from tfsem.models import Pix2PixHD

    config, model = semgan
    renderer = Pix2PixHD(num_classes=35, image_size=(32, 64), use_instances=True, ngf=4,
                         n_downsample_global=2, n_blocks_global=1, ndf=4, num_D=1, n_layers_D=2,
                         use_features=True, feat_num=3, nef=4, n_downsample_E=2, lambda_vgg=0.0)
    renderer.build_networks()
    rng = np.random.default_rng(0)
    clusters = {c: rng.normal(size=(3, 3)).astype(np.float32) for c in range(35)}
    graph = dream_graph(model, config, renderer, config, clusters)
    fn = tflite_function(graph)
    assert [spec.name for spec in fn.structured_input_signature[0]] == ["z", "cluster"]
    z = latent_for_seeds([2], model.z_dim)
    for cluster in (0, 1):
        got = fn(z, tf.constant([cluster], tf.int32))
        raw, image = graph.dream(z, cluster=tf.constant([cluster], tf.int32))
        np.testing.assert_array_equal(got["label_map"].numpy(), raw.numpy())
        # the TFLite trace's instance norm is the reductions, the Keras one the
        # fused kernel (graph_target): the uint8 photo may round 1 level apart
        np.testing.assert_allclose(got["image"].numpy().astype(int),
                                   image.numpy().astype(int), atol=1)


def test_serving_cli_samples_the_semgan_export(semgan, tmp_path):
    """``python -m tfsem.serving --num``: the served SemGAN's maps, written as
    ``tfsem.generate --num`` writes them; a label map is refused."""
    from tfsem.data.readers import read_label
    from tests.serving_standin import rest_stand_in
    from tests.testing import run_module

    config, model = semgan
    loaded = tf.saved_model.load(export_saved_model(model, config, str(tmp_path / "m")))
    with rest_stand_in(loaded) as url:
        result = run_module("tfsem.serving", "--url", url, "--model", "tiny", "--num", "2",
                            "--seed", "3", "--out", str(tmp_path / "maps"))
        assert result.returncode == 0, result.stderr[-3000:]
        Image.fromarray(np.zeros((32, 64), np.uint8)).save(tmp_path / "label.png")
        refused = run_module("tfsem.serving", "--url", url, "--model", "tiny", "--labels",
                             str(tmp_path / "label.png"), "--out", str(tmp_path / "o.png"))
        assert refused.returncode == 2 and "pass --num N" in refused.stderr
    raw = read_label(str(tmp_path / "maps" / "label" / "sample_000004_gtFine_labelIds.png"))
    expected = model.sample_seeds([4]).numpy()[0]
    np.testing.assert_array_equal(raw, raw_label_ids(expected, SPACE))
    colour = np.asarray(Image.open(tmp_path / "maps" / "color" / "sample_000004_gtFine_color.png"))
    np.testing.assert_array_equal(colour, SPACE.colorize(expected))


def test_style_tflite_and_dream_exports_take_truncation_and_mixing(style, tmp_path):
    """The style SemGAN's TFLite file and its dream SavedModel give the Python
    maps of a seed with truncation and style mixing."""
    from tfsem.export.tflite import convert, run_tflite
    from tfsem.pipeline import ExportedPipeline

    config, model = style
    graph = inference_graph(model, config)
    fn = tflite_function(graph)
    assert [s.name for s in fn.structured_input_signature[0]] == \
        ["z", "truncation_psi", "mix_z", "mix_layer"]
    content = convert(fn, "fp32", trackable_obj=graph)
    num_ws = model.sampler.num_ws
    z, other = latent_for_seeds([5], 8).numpy(), latent_for_seeds([9], 8).numpy()
    for psi, layer in ((1.0, num_ws), (0.5, num_ws), (0.7, 2), (1.0, 0)):
        out = run_tflite(content, {"z": z, "truncation_psi": np.float32(psi), "mix_z": other,
                                   "mix_layer": np.int32(layer)}, output=None)[0]
        expected = model.infer(z=tf.constant(z), truncation_psi=tf.constant(psi),
                               mix_z=tf.constant(other), mix_layer=tf.constant(layer))
        np.testing.assert_array_equal(out["label_map"], expected["label_map"].numpy())
    # psi 1 without mixing is the plain sample
    np.testing.assert_array_equal(
        run_tflite(content, {"z": z, "truncation_psi": np.float32(1.0), "mix_z": other,
                             "mix_layer": np.int32(num_ws)}, output=None)[0]["label_map"],
        model.infer(z=tf.constant(z))["label_map"].numpy())
    # the on-device demo (LiteRT only): --z or --seed (Python's latent of the
    # seed, drawn without TensorFlow), --truncation, --mix-seed / --mix-layer
    from tests.test_export_tflite import NO_TF

    model_file, z_file = tmp_path / "style.tflite", tmp_path / "z.npy"
    model_file.write_bytes(content)
    np.save(z_file, z)
    for given, name in ((["--z", str(z_file)], "z.png"), (["--seed", "11"], "seed.png")):
        result = subprocess.run(
            [sys.executable, "-c", NO_TF, os.path.join(REPO, "tools", "tflite_demo.py"),
             "--model", str(model_file), *given, "--truncation", "0.7",
             "--mix-seed", "4", "--mix-layer", "2", "--out", str(tmp_path / name),
             "--repeats", "1"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
    for name, inputs in (("z.png", {"z": z}), ("seed.png", {"seed": [11]})):
        expected = model.infer(**model.inference_inputs(**inputs, truncation=0.7, mix_seed=4,
                                                        mix_layer=2))
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name)),
                                      expected["color"].numpy()[0])
    sys.path.insert(0, os.path.join(REPO, "tools"))
    try:
        import tflite_demo
    finally:
        sys.path.pop(0)
    with pytest.raises(tflite_demo.DemoError, match="--mix-layer needs --mix-seed"):
        tflite_demo.run(str(model_file), None, str(tmp_path / "x.png"), mix_layer=2)
    # the dream SavedModel: from_seed_styled = Python's maps of the same controls
    renderer_config, renderer = _renderer()
    path = export_dream(model, config, renderer, renderer_config, str(tmp_path / "dream"))
    pipe = ExportedPipeline(path)
    got = pipe.sample([3, 4], truncation=0.6, mix_seed=7, mix_layer=2)
    inputs = model.inference_inputs(seed=[3, 4], truncation=0.6, mix_seed=7, mix_layer=2)
    np.testing.assert_array_equal(got["label_map"], model.infer(**inputs)["label_map"].numpy())
    assert got["image"].shape == (2, 64, 128, 3)
    # the dream TFLite file takes the controls too, and passes them to SemGAN
    graph = dream_graph(model, config, renderer, renderer_config)
    fn = tflite_function(graph)
    assert [s.name for s in fn.structured_input_signature[0]][:4] == \
        ["z", "truncation_psi", "mix_z", "mix_layer"]
    out = run_tflite(convert(fn, "fp32", trackable_obj=graph),
                     {"z": z, "truncation_psi": np.float32(0.7), "mix_z": other,
                      "mix_layer": np.int32(2)}, output=None)[0]
    expected = model.infer(z=tf.constant(z), truncation_psi=tf.constant(0.7),
                           mix_z=tf.constant(other), mix_layer=tf.constant(2))
    np.testing.assert_array_equal(out["label_map"], expected["label_map"].numpy())
    assert out["image"].shape == (1, 64, 128, 3)
