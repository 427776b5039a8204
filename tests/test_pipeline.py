"""``tfsem.Pipeline``: arrays in, arrays out, on a run directory, a ``.keras``
file and an export, equal to each other (the task's ``infer`` everywhere);
SemGAN's samples and the dream chain equal their exports."""

import os

import numpy as np
import pytest
from PIL import Image

from tfsem import DreamPipeline, ExportedPipeline, Pipeline
from tfsem.data import toy_streets
from tests.testing import run_module, save_untrained_run, write_png

# Module fixtures: keep this file on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("pipeline")


def _maps(n=2, size=(32, 64)):
    examples = [toy_streets.generate(i, *size, split="val") for i in range(n)]
    return (np.stack([e["label"] for e in examples]).astype(np.int32),
            np.stack([e["instance"] for e in examples]).astype(np.int32))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    return {"gaugan": save_untrained_run("gaugan", root / "gaugan", init_gain=1.0),
            "semgan": save_untrained_run("semgan", root / "semgan"), "root": root}


@pytest.mark.slow  # ~25 s (an export + the generate CLI): make test-slow; the run and the
# export through the Pipeline stay in make test (test_extra_family, test_convert_cli)
def test_a_run_a_keras_file_and_an_export_give_the_same_photos(runs):
    run = str(runs["gaugan"])
    pipe = Pipeline.from_run(run, precision="float32")
    assert pipe.takes_label_maps and pipe.input_names == ["label_map", "instance_map"]
    labels, instances = _maps()
    photos = pipe(labels, instances)
    assert photos.shape == (2, 32, 64, 3) and photos.dtype == np.uint8
    np.testing.assert_array_equal(pipe(labels[0], instances[0]), photos[0])  # one map: [H,W]
    keras_file = Pipeline.from_run(os.path.join(run, "model.keras"), precision="float32")
    np.testing.assert_array_equal(keras_file(labels, instances), photos)
    # any size: resized (nearest) to the model's, as generate does
    big, big_inst = _maps(2, (64, 128))
    assert pipe(big, big_inst).shape == (2, 32, 64, 3)
    export = pipe.save(str(runs["root"] / "export"))
    exported = Pipeline.from_run(export)
    assert isinstance(exported, ExportedPipeline)
    assert set(exported.input_names) == set(pipe.input_names)
    assert np.abs(exported(labels, instances).astype(int) - photos.astype(int)).max() <= 1
    assert Pipeline.from_run(str(runs["root"] / "export")).path == export  # the base dir too
    # the generate CLI on the export: the same photos
    folder = runs["root"] / "labels"
    write_png(str(folder / "a_gtFine_labelIds.png"), labels[0].astype(np.uint8))
    write_png(str(runs["root"] / "inst" / "a_gtFine_instanceIds.png"),
              instances[0].astype(np.uint16))
    result = run_module("tfsem.generate", "--model", export, "--labels", str(folder),
                        "--instances", str(runs["root"] / "inst"), "--out",
                        str(runs["root"] / "gen"))
    assert result.returncode == 0, result.stderr[-3000:]
    written = np.asarray(Image.open(runs["root"] / "gen" / "a.png"))
    assert np.abs(written.astype(int) - photos[0].astype(int)).max() <= 1


def test_bad_input_names_the_problem(runs):
    pipe = Pipeline.from_run(str(runs["gaugan"]), precision="float32")
    labels, _ = _maps()
    with pytest.raises(ValueError, match="label ids outside the 'cityscapes' label space: 77"):
        pipe(np.full((32, 64), 77))
    with pytest.raises(ValueError, match="style photo needs"):
        pipe(labels, style=np.zeros((32, 64, 3), np.uint8))
    with pytest.raises(TypeError, match="call it with a label map"):
        pipe.sample([0])
    with pytest.raises(ValueError, match="rank 2 or 3"):
        pipe(labels[None])
    semgan = Pipeline.from_run(str(runs["semgan"]))
    with pytest.raises(TypeError, match="call .sample"):
        semgan(labels)


def test_semgan_samples_and_the_dream_chain_equal_their_exports(runs):
    semgan = Pipeline.from_run(str(runs["semgan"]))
    maps = semgan.sample([3, 4, 5])
    assert maps["label_map"].shape == (3, 32, 64) and maps["color"].shape == (3, 32, 64, 3)
    np.testing.assert_array_equal(semgan.sample([4])["label_map"][0], maps["label_map"][1])
    exported = Pipeline.from_run(semgan.save(str(runs["root"] / "semgan_export")))
    served = exported.sample([3, 4, 5])
    np.testing.assert_array_equal(served["label_map"], maps["label_map"])
    np.testing.assert_array_equal(served["color"], maps["color"])
    z = semgan.task.inference_inputs(seed=[4])["z"]
    np.testing.assert_array_equal(semgan.sample(z=z)["label_map"][0], maps["label_map"][1])

    renderer = Pipeline.from_run(str(runs["gaugan"]), precision="float32")
    dream = DreamPipeline(semgan, renderer)
    sample = dream.sample([1, 2])
    # the chain = generate on the written label maps (raw ids; the map stands in for instances)
    expected = renderer(sample["label_map"], sample["label_map"])
    np.testing.assert_array_equal(sample["image"], expected)
    path = dream.save(str(runs["root"] / "dream"))
    served = ExportedPipeline(path).sample([1, 2])
    np.testing.assert_array_equal(served["label_map"], sample["label_map"])
    assert np.abs(served["image"].astype(int) - sample["image"].astype(int)).max() <= 1
