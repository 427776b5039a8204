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
    # predict_style: a uint8 style photo, the Zencoder in the graph
    np.testing.assert_allclose(exported(label, style=photo).astype(int),
                               pipe(label, style=photo).astype(int), atol=1)
    signature = exported.signature("predict_style")
    assert set(signature.structured_input_signature[1]) == {"label_map", "style_image"}
    with pytest.raises(Exception, match="style_image must be"):
        signature(label_map=tf.constant(label[None]),
                  style_image=tf.zeros([1, 16, 16, 3], tf.uint8))
    # generate on the export: a whole style photo, and codes from a file
    from PIL import Image

    from tfsem.generate import main as generate_main
    from tfsem.styles import Styles, save_styles
    from tfsem.studio.backends import SavedModelBackend

    Image.fromarray(label.astype(np.uint8)).save(tmp_path / "scene.png")
    Image.fromarray(photo).save(tmp_path / "photo.png")
    save_styles(str(tmp_path / "codes.npz"), Styles(codes, np.ones((1, 35), bool)))
    for extra, expected_photo in ((["--style", str(tmp_path / "photo.png")],
                                   exported(label, style=photo)),
                                  (["--style-codes", str(tmp_path / "codes.npz")],
                                   exported(label, style_codes=codes))):
        target = tmp_path / f"gen{len(extra[0])}"
        assert generate_main(["--model", str(out), "--labels", str(tmp_path / "scene.png"),
                              "--out", str(target), *extra]) == 0
        np.testing.assert_array_equal(np.asarray(Image.open(target / "scene.png")),
                                      expected_photo)
    with pytest.raises(ValueError, match="needs the run directory"):
        generate_main(["--model", str(out), "--labels", str(tmp_path / "scene.png"), "--out",
                       str(tmp_path / "x"), "--style-from", f"road={tmp_path / 'photo.png'}"])
    # the studio on the export: codes in, no photo encoding
    backend = SavedModelBackend(str(out))
    assert backend.info.style_codes["encode"] is False
    import io

    served = np.asarray(Image.open(io.BytesIO(backend.render(label, None,
                                                             style_codes=codes[0]))))
    np.testing.assert_array_equal(served, exported(label, style_codes=codes))
    report = json.loads((out / "tflite" / "v1" / "report.json").read_text())
    assert report[0]["input_names"] == ["label_map", "style_codes"]
    assert report[0]["max_abs_err"] <= 1 and not any(op.startswith("Flex")
                                                     for op in report[0]["ops"])
    assert os.path.exists(out / "tflite" / "v1" / "fp32.tflite")


def test_style_codes_as_files_from_the_command_line(run, tmp_path, monkeypatch):
    """encode_styles writes per-photo and per-class mean codes; generate renders
    with them, replaces one class's style from another photo (alpha blend) and
    interpolates; the files equal the Pipeline's arrays."""
    from PIL import Image

    from tfsem import Pipeline
    from tfsem.encode_styles import main as encode_main
    from tfsem.generate import main as generate_main
    from tfsem.styles import load_styles

    labels, images = tmp_path / "labels", tmp_path / "images"
    labels.mkdir()
    images.mkdir()
    for i in range(3):
        label, photo = _scene(i)
        Image.fromarray(label.astype(np.uint8)).save(labels / f"s{i}.png")
        Image.fromarray(photo).save(images / f"s{i}.png")
    codes_file, mean_file = tmp_path / "codes.npz", tmp_path / "mean.npz"
    assert encode_main(["--model", str(run / "run"), "--labels", str(labels), "--images",
                        str(images), "--out", str(codes_file), "--mean-out", str(mean_file)]) == 0
    pipe = Pipeline.from_run(str(run / "run"))
    styles, mean = load_styles(str(codes_file), 35, 8), load_styles(str(mean_file), 35, 8)
    assert styles.names == ["s0", "s1", "s2"]
    label0, photo0 = _scene(0)
    np.testing.assert_allclose(styles.codes[0], pipe.encode_styles(label0, photo0), atol=1e-6)
    held = styles.present.sum(0)
    assert np.array_equal(mean.count, held) and held.max() == 3
    total = (styles.codes * styles.present[..., None]).sum(0)
    np.testing.assert_allclose(mean.codes[0][held > 0], (total / held[:, None])[held > 0],
                               atol=1e-6)  # over the photos holding the class only
    assert not mean.codes[0][held == 0].any()

    # every CLI call below parses, checks and writes as a user's; the run is loaded
    # once per folder (a load costs ~2 s here)
    loaded, from_run = {}, Pipeline.from_run

    def cached(path, **kwargs):
        if path not in loaded:
            loaded[path] = from_run(path, **kwargs)
        return loaded[path]

    monkeypatch.setattr(Pipeline, "from_run", staticmethod(cached))

    def render(*extra, model=run / "run"):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        assert generate_main(["--model", str(model), "--labels", str(labels / "s0.png"),
                              "--out", str(out), *extra]) == 0
        return out

    def photo_of(out, name="s0.png"):
        return np.asarray(Image.open(out / name))

    base = photo_of(render("--style-codes", str(codes_file), "--style-name", "s0"))
    np.testing.assert_array_equal(base, pipe(label0, style_codes=styles.codes[:1]))
    np.testing.assert_array_equal(base, photo_of(render("--style", str(images / "s0.png"))))
    road = ["--style-codes", str(codes_file), "--style-name", "s0", "--style-from",
            f"road={images / 's1.png'}"]
    whole, half = photo_of(render(*road)), photo_of(render(*road, "--alpha", "0.5"))
    codes_b = pipe.encode_styles(label0, _scene(1)[1])  # s1's photo over s0's map
    mixed = styles.codes[0].copy()
    road_slot = pipe.label_space().names.index("road")
    mixed[road_slot] = codes_b[road_slot]
    np.testing.assert_array_equal(whole, pipe(label0, style_codes=mixed[None]))
    mixed[road_slot] = 0.5 * styles.codes[0, road_slot] + 0.5 * codes_b[road_slot]
    np.testing.assert_array_equal(half, pipe(label0, style_codes=mixed[None]))
    frames = render("--style-codes", str(codes_file), "--interpolate", str(images / "s2.png"),
                    "--steps", "3")
    assert sorted(p.name for p in frames.glob("s0*.png")) == ["s0.png", "s0_v1.png", "s0_v2.png"]
    np.testing.assert_array_equal(photo_of(frames), base)
    # RUN/mean_codes.npz (encode_styles' default) is generate's default look
    import shutil

    copy = tmp_path / "run_copy"
    shutil.copytree(run / "run", copy)
    assert encode_main(["--model", str(copy), "--labels", str(labels), "--images",
                        str(images)]) == 0
    assert (copy / "style_codes.npz").exists() and (copy / "mean_codes.npz").exists()
    loaded.pop(str(copy))  # a new process: the run loads with its mean codes
    default = photo_of(render(model=copy))
    np.testing.assert_array_equal(default, pipe(label0, style_codes=mean.codes))
    np.testing.assert_array_equal(default, photo_of(render("--mean-codes", str(mean_file))))
    with pytest.raises(ValueError, match="unknown class 'nope'"):
        render("--style-from", f"nope={images / 's1.png'}")
    with pytest.raises(ValueError, match="--alpha must be in"):
        render("--style", str(images / "s0.png"), "--alpha", "2")


def test_dream_renders_semgan_maps_with_the_mean_codes(run, tmp_path):
    """A SemGAN map rendered by SEAN: the run's mean codes (RUN/mean_codes.npz) are
    the dream chain's look, in Python and in the dream export's graph."""
    import shutil

    from tfsem import DreamPipeline, Pipeline
    from tfsem.styles import Styles, save_styles
    from tests.testing import save_untrained_run

    semgan = save_untrained_run("semgan", tmp_path / "semgan")
    copy = tmp_path / "sean"
    shutil.copytree(run / "run", copy)
    mean = np.random.default_rng(1).normal(size=(35, 8)).astype(np.float32)
    save_styles(str(copy / "mean_codes.npz"), Styles(mean[None], np.ones((1, 35), bool)))
    renderer = Pipeline.from_run(str(copy))
    dream = DreamPipeline(Pipeline.from_run(str(semgan)), renderer)
    sample = dream.sample([1, 2])
    np.testing.assert_array_equal(renderer(sample["label_map"]),
                                  renderer(sample["label_map"], style_codes=mean))
    np.testing.assert_array_equal(sample["image"], renderer(sample["label_map"]))
    zero = renderer(sample["label_map"], style_codes=np.zeros((35, 8), np.float32))
    assert np.abs(zero.astype(int) - sample["image"].astype(int)).max() > 0  # the codes count
