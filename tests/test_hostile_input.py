"""Hostile input, each reproduction of the hardening issue: label PNGs whose
values are not ids, NaN weights and clusters, outputs over inputs, unbounded
reads, broken checkpoints and options, broken server answers, crafted
models. Each fails with one clear line naming the file, field or value (or
works correctly). The studio's are in tests/studio/test_studio_limits.py."""

import io
import json
import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from tfsem.data.readers import DataError, read_label
from tests.testing import REPO, run_module, save_untrained_run, write_png

EXAMPLES = os.path.join(REPO, "examples", "labels")


def _grey_png(ids, bits):
    from tests.test_fuzz import _grey_png as make

    return make(np.asarray(ids), bits)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return save_untrained_run("gaugan", tmp_path_factory.mktemp("hostile") / "run")


def _copy(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


# -- 4. label PNGs are ids or refused ---------------------------------------------------

@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_grey_label_pngs_are_refused_everywhere(run, tmp_path, bits):
    path = tmp_path / "label.png"
    path.write_bytes(_grey_png(np.ones((32, 64), np.uint8), bits))
    with pytest.raises(DataError, match=f"1, 2 or 4-bit grey PNGs are refused .*{bits}-bit"):
        read_label(str(path))
    result = run_module("tfsem.generate", "--model", str(run), "--labels", str(path),
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "1, 2 or 4-bit grey" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


# -- 5. non-finite values never become outputs ------------------------------------------

def test_nan_weights_are_refused_naming_the_file_and_the_weights(run, tmp_path):
    import keras

    copy = _copy(run, tmp_path)
    model = keras.saving.load_model(str(copy / "model.keras"), compile=False)
    weight = model.generator.weights[0]
    weight.assign(np.full(weight.shape, np.nan, np.float32))
    model.save(str(copy / "model.keras"))
    result = run_module("tfsem.generate", "--model", str(copy), "--labels", EXAMPLES,
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "model.keras: weights with NaN or Inf values" in result.stderr
    assert weight.path in result.stderr and not (tmp_path / "out").exists()


def test_the_converter_refuses_nan_tensors_and_empty_files(tmp_path):
    torch = pytest.importorskip("torch")
    from tfsem.convert import convert_checkpoint

    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save({"fc.weight": torch.full((4, 3), float("nan")), "fc.bias": torch.zeros(4)},
               str(folder / "latest_net_G.pth"))
    with pytest.raises(ValueError, match="tensors with NaN or Inf values: fc.weight"):
        convert_checkpoint(str(folder), str(tmp_path / "a"))
    (folder / "latest_net_G.pth").write_bytes(b"")
    result = run_module("tfsem.convert", "--checkpoint", str(folder), "--out",
                        str(tmp_path / "b"))
    assert result.returncode == 2 and "latest_net_G.pth: not a readable PyTorch" in result.stderr
    assert "unexpected error" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _features_run(tmp_path):
    return save_untrained_run("pix2pixhd_features", tmp_path / "p2p")


@pytest.mark.parametrize("case, message", [
    ("nan", "class_26 has NaN or Inf centres"),
    ("truncated", "not a clusters file"),
    ("pickle", "not a clusters file"),
    ("widths", "different widths"),
    ("not_npz", "not a clusters file"),
])
def test_every_bad_features_file_is_one_line_naming_it(tmp_path, case, message):
    from tfsem.inference.feature_clusters import load_clusters, save_clusters

    path = str(tmp_path / "features.npz")
    good = {26: np.ones((2, 3), np.float32)}
    if case == "nan":
        save_clusters(path, {26: np.full((2, 3), np.nan, np.float32)}, {})
    elif case == "truncated":
        save_clusters(path, good, {})
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    elif case == "pickle":
        np.savez(path, meta=np.array("{}"), class_26=np.array([{"x": 1}], dtype=object))
    elif case == "widths":
        save_clusters(path, {26: np.ones((2, 3), np.float32), 7: np.ones((2, 4), np.float32)},
                      {})
    else:
        open(path, "w").write("hello")
    with pytest.raises(ValueError, match=message) as info:
        load_clusters(path)
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


def test_generate_names_bad_clusters_of_a_run(tmp_path):
    from tfsem.inference.feature_clusters import save_clusters

    run = _features_run(tmp_path)
    save_clusters(str(run / "features.npz"), {26: np.full((2, 3), np.nan, np.float32)}, {})
    result = run_module("tfsem.generate", "--model", str(run), "--labels", EXAMPLES,
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "features.npz: class_26 has NaN" in result.stderr


# -- 6. nothing overwritten -------------------------------------------------------------

def test_train_refuses_a_folder_that_is_not_a_run_dir(tmp_path):
    from tests.testing import tiny_experiment

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"my own model")
    (folder / "eval.jsonl").write_text("{}\n")
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny_experiment()))
    result = run_module("tfsem.train", "--config", str(config), "--out", str(folder))
    assert result.returncode == 2 and "is not a tfsem run directory" in result.stderr
    assert "eval.jsonl, model.keras" in result.stderr and "--force" in result.stderr
    assert (folder / "model.keras").read_bytes() == b"my own model"
    assert sorted(os.listdir(folder)) == ["eval.jsonl", "model.keras"]


def test_a_killed_final_save_leaves_nothing_a_resume_keeps(tiny_gaugan_run, tmp_path):
    from tfsem.config import load_config
    from tfsem.train.trainer import Trainer

    copy = _copy(tiny_gaugan_run, tmp_path)
    stale = copy / ".tmp-model-12345.keras"
    stale.write_bytes(b"half a model")
    out = io.StringIO()
    trainer = Trainer(load_config(str(copy / "config.json")), str(copy), stream=out)
    trainer.lock.release()
    assert not stale.exists() and ".tmp-model-12345.keras" in out.getvalue()


def test_the_serving_client_never_writes_over_its_input(tmp_path):
    label = write_png(str(tmp_path / "same.png"), np.zeros((8, 8), np.uint8))
    before = open(label, "rb").read()
    result = run_module("tfsem.serving", "--url", "http://127.0.0.1:9", "--model", "m",
                        "--labels", label, "--out", label)
    assert result.returncode == 2 and "would overwrite the input" in result.stderr
    assert open(label, "rb").read() == before


# -- 7 / 8. checkpoints, options and small files are bounded and named ----------------------

def test_small_files_are_regular_bounded_and_literal(run, tmp_path, monkeypatch):
    from tfsem.config import load_config
    from tfsem.convert.state_dict import opt_number, read_opt_file
    from tfsem.data.labels import load_label_space

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "space.json").write_text("{}")
    with pytest.raises(ValueError, match="/dev/zero: the label space file must be a regular"):
        load_label_space("/dev/zero")  # read until MemoryError before
    with pytest.raises(ValueError, match=r"\$HOME/space.json: label space file not found"):
        load_label_space("$HOME/space.json")  # taken literally: no $VAR expansion
    with pytest.raises(ValueError, match="/dev/zero: the config file must be a regular file"):
        load_config("/dev/zero")
    result = run_module("tfsem.generate", "--model", str(run), "--config", "/dev/zero",
                        "--labels", EXAMPLES, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "must be a regular file" in result.stderr
    big = tmp_path / "opt.txt"
    big.write_bytes(b"a: 1\n" * (4 * 1024 * 1024))
    with pytest.raises(ValueError, match="larger than"):
        read_opt_file(str(big))
    opt = tmp_path / "nan_opt.txt"
    opt.write_text("crop_size: 256\naspect_ratio: nan\n")
    options = read_opt_file(str(opt))
    with pytest.raises(ValueError, match=r"nan_opt.txt: aspect_ratio: expected a positive float, "
                                         r"got 'nan'"):
        opt_number(options, "aspect_ratio", float)
    assert opt_number(options, "crop_size", int) == 256


# -- 9. the client on malformed answers -------------------------------------------------------

ANSWERS = {
    "b64_short": (b'{"outputs": [{"b64": "A"}]}', "not valid base64"),
    "b64_number": (b'{"outputs": [{"b64": 5}]}', "not base64 text"),
    "empty": (b'{"outputs": []}', r"answered 0 PNG\(s\) for 1 input\(s\)"),
    "deep": (b"[" * 100000 + b"]" * 100000, "nested too deep"),
    "strings": (b'{"outputs": [[["a"]]]}', "not a tensor of numbers"),
    "too_big": (b'{"outputs": [[[[300, 0, 0]]]]}', "values outside uint8"),
    "ragged": (b'{"outputs": [[[[1, 2, 3]], [[1, 2]]]]}', "not a tensor of numbers"),
    "nan": (b'{"outputs": [[[[NaN, 0, 0]]]]}', "NaN or Inf"),
    "one_by_three": (b'{"outputs": [[1, 2, 3]]}', "expected rank 4"),
}


class _Server:
    """A fake TF Serving answering each model name with ANSWERS' body; ``trickle``
    sends one byte a second; ``huge`` announces 2 GB."""

    def __enter__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                name = self.path.split("/v1/models/")[1].split(":")[0]
                if name == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(1)
                    return
                if name == "huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(2 * 1024 ** 3))
                    self.end_headers()
                    self.wfile.write(b"{")
                    return
                body = ANSWERS[name][0]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_every_malformed_answer_is_a_serving_error():
    from tfsem.serving.client import RestClient, ServingError

    label = np.zeros((1, 1, 1), np.int32)
    png = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(png, format="PNG")
    with _Server() as url:
        for name, (_, message) in ANSWERS.items():
            client = RestClient(url, name, timeout=10)
            with pytest.raises(ServingError, match=message):
                if name.startswith(("b64", "empty", "deep")):
                    client.predict_png([png.getvalue()])
                else:
                    client.predict(label)
        start = time.monotonic()
        with pytest.raises(ServingError, match="no whole answer within 2 s"):
            RestClient(url, "trickle", timeout=2).predict(label)
        assert time.monotonic() - start < 6  # a total deadline, not one per read
        with pytest.raises(ServingError, match="over the client's limit"):
            RestClient(url, "huge", timeout=10).predict(label)


# -- 10. clear messages ---------------------------------------------------------------------

def test_a_model_file_that_asks_to_run_code_is_refused_not_replaced(tiny_gaugan_run, tmp_path):
    import keras

    copy = _copy(tiny_gaugan_run, tmp_path)
    crafted = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)])
    crafted.save(str(copy / "model.keras"))
    assert os.listdir(copy / "checkpoints")  # a checkpoint it must NOT fall back to
    result = run_module("tfsem.generate", "--model", str(copy), "--labels", EXAMPLES,
                        "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "refused: it asks to run code" in result.stderr
    assert "truncated or corrupt" not in result.stderr and not (tmp_path / "out").exists()


def test_studio_options_out_of_range_are_clear_errors(run):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        for args, message in ((["--port", "99999"], "--port must be in 0..65535"),
                              (["--max-upload-mb", "inf"], "--max-upload-mb must be > 0"),
                              (["--max-upload-mb", "nan"], "--max-upload-mb must be > 0"),
                              (["--port", port], f"--port {port}: cannot listen there")):
            result = run_module("tfsem.studio", "--model", str(run), *args)
            assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
            assert "unexpected error" not in result.stderr


@pytest.mark.slow  # ~20 s (an export): make test-slow
def test_wrong_ranks_through_a_loaded_signature_get_the_rank_message(run, tmp_path):
    """TF2's loaded signatures (the studio's export back end) feed any rank too;
    the check runs before anything that would fail on it."""
    import tensorflow as tf

    from tfsem.export.saved_model import export_saved_model
    from tfsem.runs import load_run

    config, model = load_run(str(run))
    loaded = tf.saved_model.load(export_saved_model(model, config, str(tmp_path / "m")))
    serve = loaded.signatures["serving_default"]
    for value in (np.zeros((32, 64), np.int32), np.zeros((1, 32, 64, 1), np.int32)):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"label_map must have rank 3 \(\[batch, height, width\]\)"):
            serve(label_map=tf.constant(value), instance_map=tf.constant(value))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label_png must have rank 1"):
        loaded.signatures["predict_png"](label_png=tf.constant([[b"x"]]),
                                         instance_png=tf.constant([[b"x"]]))
