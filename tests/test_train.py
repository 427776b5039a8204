import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem.config import ExperimentConfig, config_from_dict, save_config
from tfsem.data import toy_streets
from tfsem.train.trainer import NonFiniteLossError, Trainer
from tests.testing import (REPO, run_module, run_subprocess, shared_data_dir, tiny_experiment,
                           tiny_family_experiment, write_json, write_png)


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)


def test_train_resume_and_generate_cli(tmp_path, tiny_gaugan_run):
    # The first 2 steps: the shared run of the train CLI (tests/conftest.py), copied.
    config = str(tiny_gaugan_run.parent / "tiny.json")
    stdout = (tiny_gaugan_run.parent / "train_stdout.txt").read_text()
    run = tmp_path / "run"
    shutil.copytree(tiny_gaugan_run, run)
    for name in ("config.json", "model.keras", "samples/step_000002.png", "checkpoints/checkpoint"):
        assert (run / name).exists(), name
    assert glob.glob(str(run / "logs" / "events.out.tfevents.*"))
    grid = np.asarray(Image.open(run / "samples" / "step_000002.png"))
    assert grid.shape[0] > 2 * 32 and grid.shape[1] > 4 * 64  # 2 rows x 4 columns
    assert json.loads((run / "config.json").read_text())["model"]["gaugan"]["ngf"] == 4
    entry = json.loads((run / "eval.jsonl").read_text().splitlines()[-1])
    assert entry["step"] == 2 and 0.0 <= entry["oracle_miou"] <= 1.0
    assert "toy oracle mIoU" in stdout

    # The train CLI's smoke test: a fresh process resumes the run.
    result = run_subprocess("tfsem.train", "--config", config, "--out", str(run), "--steps", "4",
                            "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in result.stdout and "at step 2" in result.stdout
    assert (run / "checkpoints" / "ckpt-4.index").exists()

    labels = tmp_path / "labels"
    for i in range(2):
        write_png(str(labels / f"scene{i}_gtFine_labelIds.png"),
                  toy_streets.generate(i, 64, 128, split="test")["label"])
    out = tmp_path / "gen"
    result = run_subprocess("tfsem.generate", "--model", str(run), "--labels", str(labels), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("scene0.png", "scene1.png", "grid.png"):
        Image.open(out / name).verify()
    assert Image.open(out / "scene0.png").size == (64, 32)  # the model's training size

    write_png(str(tmp_path / "bad" / "x.png"), np.full((32, 64), 77, np.uint8))
    result = run_module("tfsem.generate", "--model", str(run / "model.keras"),
                        "--labels", str(tmp_path / "bad"), "--out", str(out))
    assert result.returncode == 2
    assert "x.png: label ids outside the 'cityscapes' label space: 77" in result.stderr


def test_generate_on_real_cityscapes_label_map(tmp_path, untrained_gaugan_run):
    src = os.path.join(shared_data_dir(), "cityscapes_sample")
    run = untrained_gaugan_run
    label = sorted(glob.glob(os.path.join(src, "train_label", "*.png")))[0]
    inst_dir = os.path.join(src, "train_inst")
    result = run_module("tfsem.generate", "--model", str(run), "--labels", label,
                        "--instances", inst_dir, "--out", str(tmp_path / "gen"))
    assert result.returncode == 0, result.stderr[-3000:]
    Image.open(tmp_path / "gen" / "aachen_000000_000019.png").verify()


def test_train_cli_errors_are_one_line(tmp_path):
    data_only = write_json(tmp_path / "d.json", {"name": "d", "data": {}})
    result = run_module("tfsem.train", "--config", data_only, "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert (result.stderr.strip().splitlines()[-1]
            == "error: config 'd' has no 'model' section: it only describes data")
    result = run_module("tfsem.train", "--config", data_only, "--out", str(tmp_path / "r"), "--resume")
    assert result.returncode == 2
    missing_data = tiny_experiment()
    missing_data["data"] = {"source": "folder", "root": str(tmp_path / "nowhere"),
                            "preprocess": {"resize_to": [32, 64]}}
    result = run_module("tfsem.train", "--config", write_json(tmp_path / "m.json", missing_data),
                        "--out", str(tmp_path / "r2"))
    assert result.returncode == 2 and "nowhere/train_label: label folder not found" in result.stderr
    assert not (tmp_path / "r2").exists()  # nothing written before the data is found


def test_run_dir_with_another_model_is_not_reused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    other = tiny_experiment()
    other["model"]["gaugan"]["ngf"] = 8
    save_config(config_from_dict(ExperimentConfig, other), str(run / "config.json"))
    with pytest.raises(ValueError, match="different 'model' section"):
        Trainer(config_from_dict(ExperimentConfig, tiny_experiment()), str(run))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    # The trainer's check is the same for every family: the cheapest to trace trains.
    data = tiny_family_experiment("semgan")
    data["train"] = dict(data["train"], steps=5)
    config = config_from_dict(ExperimentConfig, data)
    trainer = Trainer(config, str(tmp_path / "run"))
    real = trainer._train_function()
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        out = real(batch)
        if calls["n"] == 3:
            out = dict(out, G_GAN=float("nan"))
        return out

    trainer._train_function = lambda: flaky
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 3: G_GAN=nan"):
        trainer.train()
    assert trainer.manager.latest_checkpoint.endswith("ckpt-2")
    assert not (tmp_path / "run" / "checkpoints" / "ckpt-3.index").exists()


@pytest.mark.slow  # a real process killed mid-run (~80 s): make test-slow
def test_resume_after_sigkill(tmp_path):
    config = write_json(tmp_path / "tiny.json", tiny_experiment(steps=400, checkpoint_every=5,
                                                                sample_every=1000))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "tfsem.train", "--config", config, "--out", str(run)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not glob.glob(str(run / "checkpoints" / "ckpt-10.index")):
            time.sleep(0.5)
        assert glob.glob(str(run / "checkpoints" / "ckpt-10.index")), "no checkpoint in time"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = sorted(int(p.split("ckpt-")[1].split(".")[0])
                   for p in glob.glob(str(run / "checkpoints" / "ckpt-*.index")))
    result = run_module("tfsem.train", "--config", config, "--out", str(run),
                        "--steps", str(saved[-1] + 2))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming {run} at step {saved[-1]}" in result.stdout
    assert saved[-1] % 5 == 0 and saved[-1] >= 10


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run_workers(config, run_dir, weights_prefix):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                       "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tests", "multiworker_task.py"), config,
             str(run_dir), f"{weights_prefix}{i}.npz"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    a, b = np.load(f"{weights_prefix}0.npz"), np.load(f"{weights_prefix}1.npz")
    assert len(a.files) > 50
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    return outputs


def _first_multi_worker_run(tmp_path):
    run = tmp_path / "run"
    config = write_json(tmp_path / "tiny.json", tiny_experiment(steps=2, strategy="multi_worker"))
    outputs = _run_workers(config, run, str(tmp_path / "first"))
    assert "chief=True" in outputs[0] and "chief=False" in outputs[1]
    assert all("resumed_from=None, step=2" in out for out in outputs)
    assert (run / "model.keras").exists()
    return run


@pytest.mark.slow  # two worker processes over gRPC (~65 s): make test-slow
def test_multi_worker_training_on_loopback(tmp_path):
    _first_multi_worker_run(tmp_path)


@pytest.mark.slow  # four more TF processes (~1 min); run with make test-slow
def test_multi_worker_resume_restores_chief_checkpoint_on_every_worker(tmp_path):
    run = _first_multi_worker_run(tmp_path)
    # Restart both workers with more steps: both resume from the chief's checkpoint.
    longer = write_json(tmp_path / "longer.json", tiny_experiment(steps=3, strategy="multi_worker"))
    outputs = _run_workers(longer, run, str(tmp_path / "second"))
    assert all("resumed_from=2, step=3" in out for out in outputs)


def test_epochs_become_steps_of_the_training_split(tmp_path):
    """train.epochs with 8 toy examples at batch 2: 4 steps per epoch; the
    learning rates decay over optimizer.decay_epochs of them."""
    data = tiny_experiment()
    data["train"] = {"epochs": 3, "checkpoint_every": 1, "sample_every": 2, "log_every": 1,
                     "num_samples": 2}
    data["optimizer"] = {"decay_epochs": 1}
    trainer = Trainer(config_from_dict(ExperimentConfig, data), str(tmp_path / "run"))
    assert (trainer.total_steps, trainer.decay_steps) == (12, 4)
    schedule = trainer.model.g_optimizer._learning_rate  # the LinearDecay schedule
    assert (schedule.total, schedule.decay) == (12, 4)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["epochs"] == 3 and saved["train"]["steps"] is None


@pytest.mark.parametrize("family", ["gaugan", "semgan_style", "pix2pix"])
def test_checkpoints_hold_every_weight(family, tmp_path):
    """What no optimiser trains (batch-norm statistics, spectral-norm vectors,
    G_ema) is in the checkpoint too: a resumed run or a run loaded from its
    checkpoint has every weight it was saved with."""
    from tfsem.train.build import build_model, compile_model
    from tfsem.train.rundir import model_checkpoint

    config = config_from_dict(ExperimentConfig, tiny_family_experiment(family))

    def built():
        model = build_model(config)
        model.build_networks()
        compile_model(model, config)
        return model

    model = built()
    floats = [v for v in model.weights if "float" in str(v.dtype)]
    assert any(not v.trainable for v in floats)  # the case this is about
    for i, v in enumerate(floats):
        v.assign(tf.fill(v.shape, float(i % 7) + 0.5))
    counted = hasattr(model, "train_iterations")  # SemGAN: its iteration count (lazy steps)
    if counted:
        model.train_iterations.assign(7)
    path = model_checkpoint(model, g_optimizer=model.g_optimizer,
                            d_optimizer=model.d_optimizer).write(str(tmp_path / "ckpt"))
    again = built()
    model_checkpoint(again, g_optimizer=again.g_optimizer,
                     d_optimizer=again.d_optimizer).restore(path).expect_partial()
    saved = {v.path: v.numpy() for v in floats}
    if counted:
        assert int(again.train_iterations.numpy()) == 7
    for v in again.weights:
        if v.path in saved:
            np.testing.assert_array_equal(v.numpy(), saved[v.path], err_msg=v.path)
