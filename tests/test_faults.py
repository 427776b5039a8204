"""Nothing lost, nothing silent: the reproductions of the fault issue, each
failing safely with a clear message (or working). In process, tiny models."""

import io
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem.config import ConfigError, ExperimentConfig, config_from_dict, load_config
from tfsem.data import toy_streets
from tfsem.data.readers import DataError, read_label
from tfsem.train.trainer import Trainer
from tests.testing import run_module, tiny_experiment, write_json, write_png


def _snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)}


# -- 1. outputs never overwrite inputs -------------------------------------------------

def test_generate_refuses_outputs_that_would_overwrite_inputs(untrained_gaugan_run, tmp_path):
    labels = tmp_path / "labels"
    for name in ("000000184101.png", "scene.png", "scene_gtFine_labelIds.png", "grid.png"):
        write_png(str(labels / name), toy_streets.generate(0, 32, 64)["label"].astype(np.uint8))
    before = _snapshot(labels)
    run = str(untrained_gaugan_run)

    def generate(folder, out):
        return run_module("tfsem.generate", "--model", run, "--labels", str(folder), "--out", str(out))

    result = generate(labels, labels)  # --out is the label folder
    assert result.returncode == 2 and "would overwrite the input" in result.stderr
    only = tmp_path / "one"
    os.makedirs(only)
    shutil.copy(labels / "000000184101.png", only)
    result = generate(only, only)
    assert result.returncode == 2 and "000000184101.png" in result.stderr
    dupes = tmp_path / "dupes"
    os.makedirs(dupes)
    for name in ("scene.png", "scene_gtFine_labelIds.png"):
        shutil.copy(labels / name, dupes)
    result = generate(dupes, tmp_path / "out")
    assert result.returncode == 2 and "scene.png" in result.stderr and "scene_gtFine" in result.stderr
    result = generate(labels / "grid.png", tmp_path / "out2")  # an input named like the grid
    assert result.returncode == 2 and "the grid" in result.stderr
    assert _snapshot(labels) == before and not os.path.exists(tmp_path / "out")
    result = generate(only, tmp_path / "good")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "good")) == ["000000184101.png", "grid.png"]


# -- 2. resume keeps the run's settings, or records the changes ---------------------------

def _copy_run(tiny_gaugan_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_gaugan_run, run)
    return run


def _config(**train_and_optimizer):
    experiment = tiny_experiment()
    for key, value in train_and_optimizer.items():
        section, field = key.split("__")
        experiment.setdefault(section, {})[field] = value
    return config_from_dict(ExperimentConfig, experiment)


def test_resume_with_changed_settings_is_refused_or_applied_and_recorded(tiny_gaugan_run, tmp_path):
    run = _copy_run(tiny_gaugan_run, tmp_path)
    changed = _config(optimizer__g_lr=0.01, train__keep_checkpoints=1)
    with pytest.raises(ValueError) as err:
        Trainer(changed, str(run))
    assert "optimizer.g_lr: 0.0001 -> 0.01" in str(err.value)
    assert "train.keep_checkpoints: 3 -> 1" in str(err.value)
    assert "--allow-config-change" in str(err.value)
    assert os.path.exists(run / "checkpoints" / "ckpt-1.index")  # nothing deleted

    out = io.StringIO()
    trainer = Trainer(changed, str(run), stream=out, allow_config_change=True)
    assert trainer.resumed_from == 2
    assert float(trainer.model.g_optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    assert "config change at step 2: optimizer.g_lr" in out.getvalue()
    record = json.loads((run / "config_changes.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 2
    assert {c["field"] for c in record["changes"]} == {"optimizer.g_lr", "train.keep_checkpoints"}
    trainer.lock.release()
    # config.json now holds the applied settings; when to stop and the logging
    # cadence change freely
    Trainer(_config(optimizer__g_lr=0.01, train__keep_checkpoints=1, train__steps=9,
                    train__log_every=5), str(run)).lock.release()


# -- 3. one trainer per run dir --------------------------------------------------------

def test_a_second_trainer_is_refused_and_a_stale_lock_taken_over(tiny_gaugan_run, tmp_path):
    run = _copy_run(tiny_gaugan_run, tmp_path)
    lock = run / ".lock"
    lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname(), "started": "earlier"}))
    with pytest.raises(ValueError, match=r"another trainer is using this run dir \(pid 1 on "):
        Trainer(_config(), str(run))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    out = io.StringIO()
    trainer = Trainer(_config(), str(run), stream=out)
    assert f"took over the lock of a trainer that is gone (pid {dead.pid})" in out.getvalue()
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    trainer.lock.release()
    assert not lock.exists()


# -- 4. killed checkpoint writes and corrupt checkpoints --------------------------------

def _data_file(run, number):
    folder = run / "checkpoints"
    return folder / [n for n in os.listdir(folder) if n.startswith(f"ckpt-{number}.data")][0]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tiny_gaugan_run, tmp_path,
                                                                     damage):
    run = _copy_run(tiny_gaugan_run, tmp_path)
    leftover = run / "checkpoints" / "ckpt-3_temp"
    os.makedirs(leftover)
    (leftover / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x" * 1000)
    path = _data_file(run, 2)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    out = io.StringIO()
    trainer = Trainer(_config(), str(run), stream=out)
    text = out.getvalue()
    assert "ckpt-2 is unreadable" in text and "resumed from" in text and "ckpt-1" in text
    assert trainer.resumed_from == 1
    assert "removed" in text and not leftover.exists()
    trainer.lock.release()


# -- 5. exports: a failure publishes no version -----------------------------------------

def test_a_failed_export_leaves_no_new_version(untrained_gaugan_run, tmp_path, monkeypatch):
    from tfsem.export import api

    from tfsem.cli import run_cli
    from tfsem.export.__main__ import main as export_main

    out = tmp_path / "models" / "tiny"
    # One case as a real process (exit code and stderr), the others in this process
    # through the same run_cli wrapper (a process each costs ~15 s of TF start-up).
    result = run_module("tfsem.export", "--model", str(untrained_gaugan_run), "--out",
                        str(out), "--tflite", "fp33")
    assert result.returncode == 2 and "fp33" in result.stderr, result.stderr
    for args, message in (
            (["--tflite", "fp32", "--height", "33"], "33"),
            (["--max-pixels", "0"], "--max-pixels must be >= 1"),
            (["--max-pixels", "-5"], "--max-pixels must be >= 1")):
        stderr = io.StringIO()
        monkeypatch.setattr(sys, "stderr", stderr)
        code = run_cli(export_main, ["--model", str(untrained_gaugan_run), "--out", str(out),
                                     *args])
        monkeypatch.undo()
        assert code == 2 and message in stderr.getvalue(), (args, stderr.getvalue())
        assert not out.exists() or not [d for d in os.listdir(out) if d.isdigit()], args

    def broken(*args, **kwargs):
        raise ValueError("calibration data went missing")

    monkeypatch.setattr(api, "export_tflite", broken)
    with pytest.raises(ValueError, match="calibration data went missing"):
        api.export_run(str(untrained_gaugan_run), str(out), tflite="fp32",
                       calibration_examples=1, eval_examples=1)
    assert not [d for d in os.listdir(out) if d.isdigit()]
    assert not os.path.exists(out / "tflite" / "v1")


# -- 6. label inputs are ids, never pictures; hyperparameters are numbers --------------------

def test_label_maps_must_be_png_ids(untrained_gaugan_run, tmp_path):
    label = toy_streets.generate(0, 32, 64)["label"].astype(np.uint8)
    Image.fromarray(label).save(tmp_path / "scene.jpg", format="JPEG")
    shutil.copy(tmp_path / "scene.jpg", tmp_path / "disguised.png")  # JPEG bytes named .png
    for name in ("scene.jpg", "disguised.png"):
        with pytest.raises(DataError, match="must be a PNG of ids .* this is a JPEG"):
            read_label(str(tmp_path / name))
    result = run_module("tfsem.generate", "--model", str(untrained_gaugan_run), "--labels",
                        str(tmp_path / "disguised.png"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "this is a JPEG" in result.stderr
    palette = Image.fromarray(label).convert("P")  # a palette PNG: its indices are the ids
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    palette.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(read_label(str(tmp_path / "palette.png")), label)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.full((32, 64, 3), 20, np.uint8)).save(rgb)
    with pytest.raises(DataError, match="single-channel id map"):
        read_label(str(rgb))


def test_predict_png_reads_palette_indices_and_refuses_rgb(tiny_gaugan_export, tmp_path):
    from tfsem.export.saved_model import decode_palette_indices

    fn = tf.saved_model.load(tiny_gaugan_export).signatures["predict_png"]

    def png(image, **options):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", **options)
        return buffer.getvalue()

    # palette PNGs are read as the palette INDEX, as read_label does, even where the
    # palette repeats a colour (Cityscapes ids 0-3 are all black) or packs 1-4 bits
    ids = np.random.default_rng(3).integers(0, 16, (32, 64)).astype(np.uint8)
    for bits, transparency in ((None, None), (4, 0)):
        image = Image.fromarray(ids, "P")
        image.putpalette([0, 0, 0] * 4 + [60, 20, 200] * 12)
        data = png(image, **({"bits": bits, "transparency": transparency} if bits else {}))
        (tmp_path / "p.png").write_bytes(data)
        np.testing.assert_array_equal(read_label(str(tmp_path / "p.png")), ids)
        np.testing.assert_array_equal(decode_palette_indices(tf.constant(data), "p").numpy(), ids)
    grey = tf.constant([png(Image.fromarray(ids))])
    palette = tf.constant([data])
    out_grey = fn(label_png=grey, instance_png=grey)["image_png_bytes"].numpy()
    out_palette = fn(label_png=palette, instance_png=palette)["image_png_bytes"].numpy()
    assert out_grey[0] == out_palette[0]  # the same ids, the same photo

    flat = np.full((32, 64), 20, np.uint8)
    rgb = png(Image.fromarray(np.stack([flat] * 3, -1)))  # was read as id 20
    grey_alpha = png(Image.fromarray(np.stack([flat, flat], -1), "LA"))
    one_bit = png(Image.fromarray(flat > 10))
    for bad, match in ((rgb, "must be a grey PNG of ids"), (grey_alpha, "must be a grey PNG"),
                       (one_bit, "1, 2 or 4-bit grey PNGs are refused")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            fn(label_png=tf.constant([bad]), instance_png=grey)
    broken = bytearray(data)
    broken[data.index(b"PLTE") - 4: data.index(b"PLTE")] = (999).to_bytes(4, "big")
    with pytest.raises(tf.errors.InvalidArgumentError, match="malformed PLTE"):
        fn(label_png=tf.constant([bytes(broken)]), instance_png=grey)


def test_non_finite_hyperparameters_and_limits_are_config_errors(tmp_path):
    for text, field in (('{"optimizer": {"g_lr": NaN}}', "optimizer.g_lr"),
                        ('{"optimizer": {"d_lr": Infinity}}', "optimizer.d_lr")):
        experiment = tiny_experiment()
        experiment.update(json.loads(text))
        path = tmp_path / "c.json"
        path.write_text(json.dumps(experiment))
        with pytest.raises(ConfigError, match=f"{field}: must be a finite number"):
            load_config(str(path))
    experiment = tiny_experiment()
    experiment["train"]["keep_checkpoints"] = 0
    with pytest.raises(ConfigError, match="keep_checkpoints: must be >= 1"):
        load_config(write_json(tmp_path / "k.json", experiment))


def test_tflite_demo_rejects_a_file_that_is_not_tflite(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools"))
    try:
        import tflite_demo
    finally:
        sys.path.pop(0)
    fake = tmp_path / "model.tflite"
    fake.write_bytes(b"this is not a flatbuffer" * 10)
    label = write_png(str(tmp_path / "l.png"), np.zeros((32, 64), np.uint8))
    with pytest.raises(tflite_demo.DemoError, match="not a TFLite model"):
        tflite_demo.run(str(fake), label, str(tmp_path / "o.png"))
    # main(): one line and a non-zero exit, never a traceback; --out never an input
    assert tflite_demo.main(["--model", str(fake), "--labels", label, "--out", label]) == 2
    assert read_label(label).shape == (32, 64)
    def boom(*args, **kwargs):
        raise RuntimeError("interpreter exploded\nsecond line")
    monkeypatch.setattr(tflite_demo, "run", boom)
    assert tflite_demo.main(["--model", str(fake), "--labels", label,
                             "--out", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") <= 2 and "RuntimeError: interpreter exploded" in err
    assert "Traceback" not in err and "second line" not in err


# -- 7. the serving client on broken servers ---------------------------------------------

def test_serving_client_reports_broken_answers(tmp_path):
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tfsem.serving.client import RestClient, ServingError

    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    truncated = buffer.getvalue()[: len(buffer.getvalue()) // 2]

    class Broken(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            if "html" in self.path:
                body = b"<html><body>proxy login</body></html>"
            elif "drop" in self.path:
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"outputs": ')
                return  # the connection closes mid-answer
            else:
                body = json.dumps({"outputs": [{"b64": base64.b64encode(truncated).decode()}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    label = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(label, format="PNG")
    try:
        for model, message in (("html", "not TF Serving's JSON"), ("drop", "connection broke"),
                               ("png", "truncated or corrupt")):
            with pytest.raises(ServingError, match=message):
                RestClient(url, model, timeout=10).predict_png([label.getvalue()])
        bad = write_png(str(tmp_path / "l.png"), np.zeros((8, 8), np.uint8))
        open(bad, "r+b").truncate(40)
        result = run_module("tfsem.serving", "--url", url, "--model", "png", "--labels",
                            bad, "--out", str(tmp_path / "o.png"))
        assert result.returncode != 0 and "truncated or corrupt" in result.stderr
        assert result.stderr.count("\n") == 1
    finally:
        server.shutdown()


def test_a_truncated_keras_file_is_named_and_the_checkpoint_used(tiny_gaugan_run, tmp_path, capsys):
    from tfsem.runs import load_run

    run = _copy_run(tiny_gaugan_run, tmp_path)
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    _, model = load_run(str(run))  # the run's latest checkpoint stands in
    assert model.conditional
    assert "model.keras: cannot load it" in capsys.readouterr().err
    alone = tmp_path / "alone.keras"
    alone.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="alone.keras: cannot load it .* truncated or corrupt"):
        load_run(str(alone), config_path=str(run / "config.json"))


def test_an_unknown_split_is_an_error_not_toy_data(untrained_gaugan_run):
    result = run_module("tfsem.evaluate", "--model", str(untrained_gaugan_run), "--split",
                        "nosuchsplit", "--num", "2")
    assert result.returncode == 2
    assert "split 'nosuchsplit': toy_streets has the splits train, val, test" in result.stderr


def _train_command(config, run):
    from tests.testing import REPO

    return ([sys.executable, "-m", "tfsem.train", "--config", str(config), "--out", str(run)],
            dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO), REPO)


@pytest.mark.slow  # 20 real training processes killed at random moments (~6 min)
def test_twenty_kills_at_random_moments_lose_nothing(tmp_path):
    """SIGKILL during start-up, restore, training steps and checkpoint writes (a
    checkpoint every step): 5 of the 20 kills land at a random moment of the
    start-up, the others 0-3 s after the process has written its first new
    checkpoint. Each restart resumes at the newest whole checkpoint, never
    earlier; the finished run has its step and the optimizer states of every step."""
    import glob
    import random
    import signal
    import time

    config = write_json(tmp_path / "k.json", tiny_experiment(
        steps=2000, checkpoint_every=1, keep_checkpoints=2, sample_every=5000, eval_every=5000))
    run = tmp_path / "run"
    cmd, env, cwd = _train_command(config, run)
    rng, newest = random.Random(0), 0

    def saved():
        return sorted(int(p.split("ckpt-")[1].split(".")[0])
                      for p in glob.glob(str(run / "checkpoints" / "ckpt-*.index")))

    for kill in range(20):
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if kill % 4 == 0:
            time.sleep(rng.uniform(1.0, 20.0))  # start-up: imports, restore, tracing
        else:
            deadline = time.time() + 180
            while time.time() < deadline and (saved() or [0])[-1] <= newest:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 3.0))  # training and checkpoint writes
        assert proc.poll() is None, "the trainer ended before it was killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        steps = saved()
        assert not steps or steps[-1] >= newest, (steps, newest)  # nothing lost
        newest = steps[-1] if steps else newest
    assert newest > 10
    result = run_module("tfsem.train", "--config", config, "--out", str(run),
                        "--steps", str(newest + 3))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"at step {newest}" in result.stdout
    trainer = Trainer(load_config(config), str(run))
    assert trainer.resumed_from == newest + 3
    assert int(trainer.model.g_optimizer.iterations.numpy()) == newest + 3
    assert int(trainer.model.d_optimizer.iterations.numpy()) == newest + 3
    assert not glob.glob(str(run / "checkpoints" / "*_temp*"))
    trainer.lock.release()
    print(f"survived 20 kills; resumed at step {newest}")


def test_empty_batches_get_a_clear_invalid_argument(tiny_gaugan_export):
    signatures = tf.saved_model.load(tiny_gaugan_export).signatures
    empty = tf.zeros([0, 32, 64], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="holds no examples"):
        signatures["serving_default"](label_map=empty, instance_map=empty)
    with pytest.raises(tf.errors.InvalidArgumentError, match="label_png holds no images"):
        signatures["predict_png"](label_png=tf.constant([], tf.string),
                                  instance_png=tf.constant([], tf.string))


# -- 8. two trainer processes, and a full disk -------------------------------------------

@pytest.mark.slow  # two training processes (~75 s; the lock itself is tested in process above)
def test_a_second_trainer_process_on_a_run_dir_is_refused(tiny_gaugan_run, tmp_path):
    """Two real trainer processes on one run dir: the second is refused with the
    first's PID and host and writes nothing; the first finishes its steps with
    one eval line per step."""
    import time

    run = _copy_run(tiny_gaugan_run, tmp_path)
    config = write_json(tmp_path / "c.json", tiny_experiment(steps=4, eval_every=1))
    cmd, env, cwd = _train_command(config, run)
    first = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # the first holds the lock
            try:
                if json.loads((run / ".lock").read_text())["pid"] == first.pid:
                    break
            except (OSError, ValueError, KeyError):
                pass
            assert first.poll() is None, first.communicate()[1][-3000:]
            time.sleep(0.05)
        second = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=300)
        assert second.returncode == 2, second.stderr[-3000:]
        assert (f"another trainer is using this run dir (pid {first.pid} on "
                f"{socket.gethostname()}") in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # refused while the first was still running
        assert "resuming" not in second.stdout  # refused before it restored or wrote
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    assert "resuming" in out and "at step 2" in out
    steps = [json.loads(line)["step"] for line in (run / "eval.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4  # no step written twice
    assert not (run / ".lock").exists()


@pytest.mark.slow  # two training processes on a small tmpfs (~2 min): make test-slow
def test_a_full_disk_loses_nothing(tiny_gaugan_run, tmp_path):
    """Training resumed on a tmpfs with room for less than one more checkpoint:
    the trainer stops with one error line, the earlier checkpoints and the model
    are untouched; with room again the run resumes from its last checkpoint and
    finishes. Needs root (mount); skipped where tmpfs cannot be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    used = sum(f.stat().st_size for f in tiny_gaugan_run.rglob("*") if f.is_file())
    checkpoint = _data_file(tiny_gaugan_run, 2).stat().st_size
    size = used + checkpoint // 2
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        run = disk / "run"
        shutil.copytree(tiny_gaugan_run, run)
        model = (run / "model.keras").read_bytes()
        kept = {n: (run / "checkpoints" / n).read_bytes() for n in os.listdir(run / "checkpoints")}
        config = write_json(tmp_path / "c.json", tiny_experiment(steps=6))
        cmd, env, cwd = _train_command(config, run)
        full = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert full.returncode != 0, full.stdout[-2000:]
        errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0], full.stderr[-3000:]
        assert "Traceback" not in full.stderr
        assert (run / "model.keras").read_bytes() == model
        for name, data in kept.items():
            assert (run / "checkpoints" / name).read_bytes() == data, name
        assert not (run / ".lock").exists()

        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        again = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "at step 2" in again.stdout
        trainer = Trainer(load_config(config), str(run))
        assert trainer.resumed_from == 6
        assert int(trainer.model.g_optimizer.iterations.numpy()) == 6
        trainer.lock.release()
        assert not [n for n in os.listdir(run / "checkpoints") if "_temp" in n]
        print(f"full disk at {size} bytes: stopped with {errors[0]!r}; resumed and finished")
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_wrong_ranks_get_a_clear_invalid_argument(tiny_gaugan_export):
    """TF Serving feeds a tensor of any rank into a signature (only Python's
    session checks shapes against the spec): fed the same way here, through a
    TF1 session's unchecked run, every wrong rank gets the rank message."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], tiny_gaugan_export)
        for name, values, message in (
                ("serving_default", [np.zeros((32, 64), np.int32),
                                     np.zeros((1, 32, 64, 1), np.int32)],
                 "label_map must have rank 3 \\(\\[batch, height, width\\]\\)"),
                ("predict_png", [np.array(b"x", object), np.array([[b"x"]], object)],
                 "label_png must have rank 1 \\(\\[batch\\]\\)")):
            signature = meta.signature_def[name]
            inputs = [graph.get_tensor_by_name(t.name) for t in signature.inputs.values()]
            outputs = [graph.get_tensor_by_name(t.name) for t in signature.outputs.values()]
            for value in values:
                with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                    session._do_run(None, [], outputs, {t.ref(): value for t in inputs},
                                    None, None)
