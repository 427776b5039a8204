"""From the command line, as a user runs it: every reference case converts with
``tfsem.convert``, renders with ``tfsem.generate`` from label / instance PNGs
within 2 grey levels of the official code's output, and exports to a
SavedModel that gives the same picture. Plus the converter's refusals."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.testing import reference_cases, reference_dir, run_module, run_subprocess

torch = pytest.importorskip("torch", reason="reading .pth checkpoints needs PyTorch")



def _uint8(image):
    return np.round((np.asarray(image) + 1.0) * 127.5).clip(0, 255).astype(np.int32)


def _case(name):
    root = os.path.join(reference_dir(), "fixtures", name)
    with open(os.path.join(root, "case.json")) as f:
        info = json.load(f)
    return root, info, dict(np.load(os.path.join(root, "io.npz")))


def _write_inputs(io, folder):
    raw = io.get("label_raw", io["label"])[0]
    inst = io["instance"][0]
    os.makedirs(os.path.join(folder, "labels"))
    os.makedirs(os.path.join(folder, "inst"))
    Image.fromarray(raw.astype(np.uint8)).save(os.path.join(folder, "labels", "scene.png"))
    Image.fromarray(inst.astype(np.uint16 if inst.max() > 255 else np.uint8)).save(
        os.path.join(folder, "inst", "scene.png"))
    Image.fromarray(_uint8(io["image"][0]).astype(np.uint8)).save(os.path.join(folder, "photo.png"))
    return raw, inst


# By default pix2pixHD with features (--style photo, clusters, the cluster input of
# the SavedModel); the others are slow (~1 min each): their numerics are
# test_reference_equivalence.py's, every case, by default.
@pytest.mark.parametrize("case", reference_cases(
    slow=("spade_cityscapes", "spade_coco_vae", "pix2pixhd_local")))
def test_convert_generate_export_from_the_command_line(case, tmp_path):
    from tfsem.convert.__main__ import main as convert_main
    from tfsem.export.__main__ import main as export_main
    from tfsem.generate import main as generate_main

    root, info, io = _case(case)
    run = str(tmp_path / "run")
    args = ["--checkpoint", os.path.join(root, "checkpoint"), "--out", run]
    if info["family"] == "pix2pixhd":  # no opt.txt: the released models' sizes are the default
        args += ["--image-size", str(info["height"]), str(info["width"])]
    assert convert_main(args) == 0
    assert sorted(os.listdir(run)) == ["config.json", "model.keras", "provenance.json"]
    with open(os.path.join(run, "provenance.json")) as f:
        provenance = json.load(f)
    assert provenance["files"]["G"]["name"] == "latest_net_G.pth"
    assert len(provenance["files"]["G"]["sha256"]) == 64

    raw, inst = _write_inputs(io, str(tmp_path))
    with open(os.path.join(run, "config.json")) as f:
        use_instances = json.load(f)["data"]["use_instances"]
    gen = ["--model", run, "--labels", str(tmp_path / "labels"), "--out", str(tmp_path / "gen")]
    if use_instances:
        gen += ["--instances", str(tmp_path / "inst")]
    reference = io["G_out"]
    if "z" in io:  # VAE: the style photo's encoder mean
        gen += ["--style", str(tmp_path / "photo.png")]
        reference = io["G_out_from_mu"]
    if "E_features" in io:  # pix2pixHD features encoded from the photo (--use_encoded_image)
        gen += ["--style", str(tmp_path / "photo.png")]
    assert generate_main(gen) == 0
    rendered = np.asarray(Image.open(tmp_path / "gen" / "scene.png")).astype(np.int32)
    assert np.abs(rendered - _uint8(reference[0])).max() <= 2

    export = ["--model", run, "--out", str(tmp_path / "export")]
    serving = {"label_map": tf.constant(raw[None].astype(np.int32))}
    if use_instances:
        serving["instance_map"] = tf.constant(inst[None].astype(np.int32))
    if "E_features" in io:  # the SavedModel takes per-class clusters: make some, render cluster 0
        from tfsem.inference.feature_clusters import (cluster_features, instance_features,
                                                      save_clusters)
        from tfsem.runs import load_run

        _, model = load_run(run)
        feats = model.encode_features(tf.constant(io["image"]), tf.constant(io["instance"]))
        samples = {}
        for cls, vector in instance_features(feats[0].numpy(), io["label"][0], inst, 1):
            samples.setdefault(cls, []).append(vector)
        save_clusters(os.path.join(run, "features.npz"), cluster_features(samples, k=2),
                      {"label_space": "cityscapes", "feat_num": 3})
        # One implementation of cluster features (the task's): generate and the
        # SavedModel agree also where the fixture's random instance blocks span classes.
        assert generate_main(["--model", run, "--labels", str(tmp_path / "labels"), "--instances",
                              str(tmp_path / "inst"), "--cluster", "0",
                              "--out", str(tmp_path / "c0")]) == 0
        rendered = np.asarray(Image.open(tmp_path / "c0" / "scene.png")).astype(np.int32)
        serving["cluster"] = tf.constant([0], tf.int32)
    assert export_main(export) == 0
    loaded = tf.saved_model.load(str(tmp_path / "export" / "1"))
    if "z" in io:
        serving["z"] = tf.constant(io["z"])
        rendered = _uint8(io["G_out"][0])  # the SavedModel with the reference's own z
    image = loaded.signatures["serving_default"](**serving)["image"].numpy()[0].astype(np.int32)
    assert np.abs(image - rendered).max() <= 2
    # tfsem.Pipeline on the converted checkpoint and on its export: arrays only
    from tfsem import Pipeline

    look = {"z": io["z"]} if "z" in io else {"cluster": 0} if "cluster" in serving else {}
    for path in (run, str(tmp_path / "export")):
        photo = Pipeline.from_run(path)(raw, inst if use_instances else None, **look)
        assert np.abs(photo.astype(np.int32) - image).max() <= 2, path


def test_convert_command_line_smoke(tmp_path):
    root, _, _ = _case("spade_cityscapes")
    out = tmp_path / "run"
    result = run_subprocess("tfsem.convert", "--checkpoint", os.path.join(root, "checkpoint"),
                        "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "converted spade" in result.stdout and (out / "model.keras").is_file()
    again = run_module("tfsem.convert", "--checkpoint", os.path.join(root, "checkpoint"),
                       "--out", str(out))
    assert again.returncode == 2 and "already exists and is not empty" in again.stderr
    assert "Traceback" not in again.stderr


def _tampered(tmp_path, change):
    """A copy of the pix2pixHD local case's G with ``change(state_dict)`` applied."""
    root, _, _ = _case("pix2pixhd_local")
    state = torch.load(os.path.join(root, "checkpoint", "latest_net_G.pth"), map_location="cpu",
                       weights_only=True)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save(change(dict(state)), folder / "latest_net_G.pth")
    return str(folder)


def test_module_prefix_and_legacy_instance_norm_statistics_are_accepted(tmp_path):
    from tfsem.convert import convert_checkpoint

    def change(state):
        state = {"module." + k: v for k, v in state.items()}
        state["module.model.2.running_mean"] = torch.zeros(8)  # InstanceNorm of torch < 0.4
        return state

    convert_checkpoint(_tampered(tmp_path, change), str(tmp_path / "run"), image_size=(64, 128))
    assert (tmp_path / "run" / "model.keras").is_file()


@pytest.mark.parametrize("change, message", [
    (lambda s: {k: v for k, v in s.items() if k != "model1_2.2.weight"}, "missing key 'model1_2.2.weight'"),
    (lambda s: {**s, "model1_2.9.weight": s["model1_2.2.weight"]}, "unexpected key"),
    (lambda s: {**s, "model1_2.6.weight": s["model1_2.6.weight"][:, :2]},
     r"'model1_2.6.weight' has shape \(3, 2, 7, 7\) .* is \(7, 7, 4, 3\)"),
])
def test_bad_checkpoints_are_refused_naming_the_key(tmp_path, change, message):
    from tfsem.convert import convert_checkpoint

    with pytest.raises(ValueError, match=message):
        convert_checkpoint(_tampered(tmp_path, change), str(tmp_path / "run"), image_size=(64, 128))
    assert not (tmp_path / "run").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".run")]


def test_refusals(tmp_path):
    from tfsem.convert import convert_checkpoint

    root, _, _ = _case("spade_cityscapes")
    ckpt = os.path.join(root, "checkpoint")
    with pytest.raises(ValueError, match="--family pix2pixhd given, but the tensors are a spade"):
        convert_checkpoint(ckpt, str(tmp_path / "a"), family="pix2pixhd")
    with pytest.raises(ValueError, match="takes 36 semantic channels, but the 'coco_stuff'"):
        convert_checkpoint(ckpt, str(tmp_path / "b"), label_space="coco_stuff")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        convert_checkpoint(str(tmp_path / "nothing"), str(tmp_path / "c"))
    bad = tmp_path / "junk"
    bad.mkdir()
    (bad / "latest_net_G.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        convert_checkpoint(str(bad), str(tmp_path / "d"))
    shutil.rmtree(bad)


@pytest.mark.slow  # trains the converted SPADE model (~70 s): make test-slow
def test_fine_tune_a_converted_checkpoint_with_init_from(tmp_path):
    from tfsem.config import config_from_dict, config_to_dict, ExperimentConfig, load_config
    from tfsem.convert import convert_checkpoint
    from tfsem.runs import load_run
    from tfsem.train.trainer import Trainer

    root, info, _ = _case("spade_cityscapes")
    run = str(tmp_path / "official")
    convert_checkpoint(os.path.join(root, "checkpoint"), run)
    converted = config_to_dict(load_config(os.path.join(run, "config.json")))
    converted["model"]["gaugan"]["lambda_vgg"] = 0.0
    config = config_from_dict(ExperimentConfig, {
        "name": "finetune", "model": converted["model"],
        "data": {"source": "toy_streets", "batch_size": 1,
                 "toy": {"num_examples": 2, "height": info["height"], "width": info["width"]}},
        "train": {"steps": 1, "init_from": run, "eval_every": 100, "sample_every": 100}})
    trainer = Trainer(config, str(tmp_path / "finetune"))
    _, source = load_run(run)
    for a, b in zip(source.generator.weights + source.discriminator.weights,
                    trainer.model.generator.weights + trainer.model.discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    losses = trainer.train()
    assert np.isfinite(losses["G_loss"]) and os.path.isfile(tmp_path / "finetune" / "model.keras")


def test_models_saved_by_tfsem_0_1_are_refused_with_a_reason(tmp_path):
    import zipfile

    import keras

    from tfsem.models import GauGAN
    from tests.testing import tiny_gaugan_kwargs

    model = GauGAN(**tiny_gaugan_kwargs())
    model.build_networks()
    path = tmp_path / "old.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    assert config["config"].pop("format_version") == 2
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    with pytest.raises(ValueError, match="saved by tfsem 0.1"):
        keras.saving.load_model(str(path), compile=False)
