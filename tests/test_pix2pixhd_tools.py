"""pix2pixHD from the command line: both training stages, feature clustering,
multi-modal generation and both kinds of editing; and their library parts."""

import json
import os

import numpy as np
import tensorflow as tf
import pytest
from PIL import Image

from tfsem.inference import feature_clusters as F
from tfsem.data import toy_streets
from tfsem.inference.edit import replace_classes
from tests.testing import run_module, run_subprocess, write_json, write_png

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("pix2pixhd_tools")

TINY_P2P = {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "ndf": 4, "n_layers_D": 2,
            "use_features": True, "nef": 4, "n_downsample_E": 2, "lambda_vgg": 0.0}


def _config(name, **model):
    return {
        "name": name,
        "data": {"source": "toy_streets", "batch_size": 2,
                 "toy": {"num_examples": 8, "height": 32, "width": 64}},
        "model": {"type": "pix2pixhd", "pix2pixhd": {**TINY_P2P, **model}},
        "train": {"steps": 2, "checkpoint_every": 2, "sample_every": 2, "log_every": 1,
                  "num_samples": 2, "eval_every": 2, "eval_examples": 2},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2p")
    stage1 = root / "stage1"
    result = run_module("tfsem.train", "--config",
                        write_json(root / "g.json", _config("g")), "--out", str(stage1))
    assert result.returncode == 0, result.stderr[-3000:]
    local = _config("l", ngf=2, n_local_enhancers=1, n_blocks_local=1, niter_fix_global=1)
    local["train"]["init_from"] = str(stage1)
    stage2 = root / "stage2"
    result2 = run_module("tfsem.train", "--config", write_json(root / "l.json", local),
                         "--out", str(stage2))
    encoded = run_subprocess("tfsem.encode_features", "--model", str(stage1), "--clusters", "3",
                         "--min-pixels", "4")
    ex = toy_streets.generate(3, 32, 64, split="val")
    labels = write_png(str(root / "toy_labelIds.png"), ex["label"].astype(np.uint8))
    instances = write_png(str(root / "toy_instanceIds.png"), ex["instance"].astype(np.uint16))
    return {"root": root, "stage1": stage1, "stage2": stage2, "stage2_result": result2,
            "encoded": encoded,
            "labels": labels, "instances": instances, "example": ex}


def test_stage_two_cli_starts_from_stage_one(runs):
    result = runs["stage2_result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "initialised from" in result.stdout and "global_generator" in result.stdout
    assert (runs["stage2"] / "model.keras").exists()


def test_encode_features_clusters_per_class(runs):
    result = runs["encoded"]
    assert result.returncode == 0, result.stderr[-3000:]
    clusters, meta = F.load_clusters(str(runs["stage1"] / "features.npz"))
    assert meta["feat_num"] == 3 and meta["examples"] == 8
    assert clusters and all(c.shape[1] == 3 and 1 <= len(c) <= 3 for c in clusters.values())
    counts = meta["instances_per_class"]
    assert sorted(int(k) for k in counts) == sorted(clusters)
    assert all(len(clusters[int(k)]) <= min(3, n) for k, n in counts.items())
    assert "clusters" in result.stdout


def test_generate_variants_from_clusters(runs, tmp_path):
    out = tmp_path / "gen"
    result = run_module("tfsem.generate", "--model", str(runs["stage1"]), "--labels",
                        runs["labels"], "--instances", runs["instances"], "--out", str(out),
                        "--variants", "3", "--seed", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    images = [np.asarray(Image.open(out / name)) for name in
              ("toy.png", "toy_v1.png", "toy_v2.png")]
    assert all(im.shape == (32, 64, 3) for im in images)


def test_generate_without_clusters_says_what_to_run(runs, tmp_path):
    result = run_module("tfsem.generate", "--model", str(runs["stage2"]), "--labels",
                        runs["labels"], "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "python -m tfsem.encode_features" in result.stderr


def test_edit_cli_writes_before_and_after(runs, tmp_path):
    inst = runs["example"]["instance"]
    car = int(next(i for i in np.unique(inst) if i >= 1000))
    out = tmp_path / "edit"
    result = run_subprocess("tfsem.edit", "--model", str(runs["stage1"]), "--labels", runs["labels"],
                        "--instances", runs["instances"], "--out", str(out),
                        "--replace", "vegetation:building", "--instance-cluster", f"{car}:2")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("before", "after", "labels_before", "labels_after", "grid"):
        assert (out / f"{name}.png").exists()
    result = run_module("tfsem.edit", "--model", str(runs["stage1"]), "--labels", runs["labels"],
                        "--out", str(out), "--replace", "vegetatoin:building")
    assert result.returncode == 2 and "unknown class 'vegetatoin'" in result.stderr


# -- library parts ---------------------------------------------------------------

def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [5, 5], [-5, 5]], np.float64)
    points = np.concatenate([c + 0.1 * rng.normal(size=(30, 2)) for c in centres])
    found = F.kmeans(points, 3, seed=1)
    order = np.argsort(found[:, 0] * 10 + found[:, 1])
    np.testing.assert_allclose(found[order], centres[np.argsort(centres[:, 0] * 10 + centres[:, 1])],
                               atol=0.1)
    assert F.kmeans(np.ones((4, 2)), 10).shape == (1, 2)  # fewer distinct points than k


def test_replace_classes_changes_only_the_replaced_pixels():
    raw = np.array([[21, 21, 7], [26, 21, 7]], np.int32)       # vegetation, road, car
    inst = np.array([[21, 21, 7], [26001, 21, 7]], np.int32)
    new_raw, new_inst = replace_classes(raw, inst, [(21, 11)])  # vegetation -> building
    mask = raw == 21
    assert (new_raw[mask] == 11).all() and (new_raw[~mask] == raw[~mask]).all()
    assert (new_inst[mask] == 11).all() and (new_inst[~mask] == inst[~mask]).all()


def test_cluster_features_edit_changes_only_the_chosen_instance():
    """One implementation of cluster features (Python, SavedModel, TFLite): per
    pixel, centre ``choice mod k`` of its class; the choice per instance."""
    from tfsem.models import Pix2PixHD

    model = Pix2PixHD(num_classes=2, image_size=(2, 4), ngf=4, n_downsample_global=1,
                      n_blocks_global=1, ndf=4, num_D=1, n_layers_D=1, use_features=True,
                      feat_num=3, nef=4, n_downsample_E=1, lambda_vgg=0.0)
    label = np.array([[[0, 0, 1, 1], [0, 1, 1, 1]]], np.int32)
    inst = np.array([[[5, 5, 8, 9], [5, 5, 8, 9]]], np.int32)  # instance 5 spans both classes
    model.attach_clusters({0: np.array([[1, 1, 1], [2, 2, 2]], np.float32),
                           1: np.array([[3, 3, 3], [4, 4, 4], [6, 6, 6]], np.float32)})

    def features(**options):
        inputs = model.inference_inputs(label, inst, **options)
        return model.cluster_features(tf.constant(label), inputs["cluster"],
                                      inputs.get("cluster_map")).numpy()[0]

    before = features(cluster=0)
    after = features(cluster=0, instance_clusters={9: 2})
    changed = np.any(before != after, axis=-1)
    np.testing.assert_array_equal(changed, inst[0] == 9)
    assert (after[inst[0] == 9] == 6).all() and (before[inst[0] == 8] == 3).all()
    assert (before[1, 1] == 3).all() and (before[0, 0] == 1).all()  # per pixel, its class
    np.testing.assert_array_equal(features(cluster=1)[0, 2], [4, 4, 4])
    random = [features(cluster="random", seed=s) for s in range(6)]
    assert len({r.tobytes() for r in random}) > 1  # multi-modal
    for r in random:  # one choice per instance
        for i in (5, 8, 9):
            same_class = (inst[0] == i) & (label[0] == 1)
            assert len(np.unique(r[same_class], axis=0)) == 1


def test_variants_and_edits_on_a_real_cityscapes_label_map(runs, tmp_path):
    import glob

    from tests.testing import shared_data_dir

    src = os.path.join(shared_data_dir(), "cityscapes_sample")
    label = sorted(glob.glob(os.path.join(src, "train_label", "*.png")))[0]
    inst = os.path.join(src, "train_inst",
                        os.path.basename(label).replace("_labelIds", "_instanceIds"))
    result = run_module("tfsem.generate", "--model", str(runs["stage1"]), "--labels", label,
                        "--instances", os.path.join(src, "train_inst"), "--out",
                        str(tmp_path / "gen"), "--variants", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    ids = np.unique(np.asarray(Image.open(inst)))
    car = int(next(i for i in ids if i >= 26000))
    result = run_module("tfsem.edit", "--model", str(runs["stage1"]), "--labels", label,
                        "--instances", inst, "--out", str(tmp_path / "edit"),
                        "--replace", "vegetation:building", "--instance-cluster", f"{car}:1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "edited" in result.stdout
    before = np.asarray(Image.open(tmp_path / "edit" / "labels_before.png"))
    after = np.asarray(Image.open(tmp_path / "edit" / "labels_after.png"))
    assert (before != after).any()


def test_export_with_cluster_input_matches_generate(runs, tmp_path):
    """SavedModel + TFLite of pix2pixHD: the clusters are in the graph and
    `cluster` picks the appearance, as `generate --cluster K` does."""
    import tensorflow as tf

    from tfsem.runs import load_run

    out = tmp_path / "models" / "p2p"
    result = run_subprocess("tfsem.export", "--model", str(runs["stage1"]), "--out", str(out),
                        "--tflite", "fp32", "--calibration-examples", "2", "--eval-examples", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "tflite" / "v1" / "report.json").read_text())
    assert report[0]["input_names"] == ["label_map", "instance_map", "cluster"]
    assert report[0]["max_abs_err"] <= 1
    fn = tf.saved_model.load(str(out / "1")).signatures["serving_default"]
    ex = runs["example"]
    label, inst = ex["label"][None].astype(np.int32), ex["instance"][None].astype(np.int32)
    _, model = load_run(str(runs["stage1"]))
    clusters, _ = F.load_clusters(str(runs["stage1"] / "features.npz"))
    model.attach_clusters(clusters)
    from tfsem.data.labels import load_label_space

    index = load_label_space("cityscapes").encode(ex["label"])
    for k in (0, 2):
        served = fn(label_map=label, instance_map=inst, cluster=tf.constant([k]))["image"].numpy()
        feats = model.cluster_features(tf.constant(index[None]), tf.constant([k]))
        keras_out = model({"label": index[None], "instance": inst, "features": feats}).numpy()
        expected = np.round(keras_out * 127.5 + 127.5).astype(int)
        assert np.abs(served.astype(int) - expected).max() <= 1
