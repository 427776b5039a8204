"""Fuzzing the label-map readers and the ``predict_png`` signature (hypothesis):
mutated and random bytes give an id map or one of the documented errors
(``DataError`` from the readers, ``InvalidArgumentError`` from the graph),
never anything else; and every reader of label PNGs gives the same ids or
refuses. Default run: a few hundred inputs; ``--run-slow``: thousands."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tfsem.data.readers import DataError, decode_map_png, read_label  # noqa: E402


def _png(array, mode=None, fmt="PNG"):
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _palette_png(indices):
    """A 4-bit palette PNG with a transparency chunk (the chunk walker's case)."""
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0] * 4 + list(range(36)))  # repeated colours, as Cityscapes'
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", bits=4, transparency=0)
    return buffer.getvalue()


_rng = np.random.default_rng(0)
SEEDS = [
    _png(_rng.integers(0, 34, (16, 32)).astype(np.uint8)),                 # 8-bit grey
    _png(_rng.integers(0, 40000, (16, 32)).astype(np.uint16)),             # 16-bit grey
    _png(_rng.integers(0, 34, (16, 32)).astype(np.uint8), mode="P"),       # palette
    _palette_png(_rng.integers(0, 16, (16, 32)).astype(np.uint8)),          # 4-bit palette + tRNS
    _png(_rng.integers(0, 255, (16, 32, 3)).astype(np.uint8)),             # RGB
    _png(_rng.integers(0, 255, (16, 32)).astype(np.uint8), fmt="JPEG"),    # JPEG
]


@st.composite
def mutated(draw):
    """A seed file with byte flips, a cut, an insertion, or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=40))
    return bytes(data)


def _examples(default, slow):
    return slow if os.environ.get("TFSEM_FUZZ_SLOW") == "1" else default


COMMON = dict(deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])


@settings(max_examples=_examples(400, 4000), **COMMON)
@given(data=mutated())
def test_decode_map_png_gives_ids_or_a_data_error(data):
    try:
        ids = decode_map_png(data, "fuzz.png", max_pixels=1 << 22)
    except DataError as err:
        assert err.path == "fuzz.png" and err.reason
        return
    assert ids.dtype == np.int32 and ids.ndim == 2


@settings(max_examples=_examples(150, 1500), **COMMON)
@given(data=mutated())
def test_read_label_gives_ids_or_a_data_error(data, tmp_path):
    path = tmp_path / "label.png"
    path.write_bytes(data)
    try:
        ids = read_label(str(path))
    except DataError as err:
        assert err.path == str(path) and err.reason
        return
    assert ids.dtype == np.int32 and ids.ndim == 2


@pytest.fixture(scope="module")
def predict_png(tiny_gaugan_export):
    path = str(tiny_gaugan_export)  # max_pixels 64 * 64
    return tf.saved_model.load(path).signatures["predict_png"]


@settings(max_examples=_examples(60, 1000), **COMMON)
@given(label=mutated(), instance=mutated())
def test_predict_png_answers_or_refuses_with_invalid_argument(predict_png, label, instance):
    try:
        out = predict_png(label_png=tf.constant([label]), instance_png=tf.constant([instance]))
    except tf.errors.InvalidArgumentError as err:
        assert err.message
        return
    image = Image.open(io.BytesIO(out["image_png_bytes"].numpy()[0]))
    assert image.mode == "RGB"


@pytest.mark.slow  # 6500 inputs in a fresh process (~30 s): make test-slow
def test_fuzz_thousands_of_inputs(tmp_path):
    """The four fuzz tests above with their slow counts, in a fresh process."""
    import subprocess
    import sys

    from tests.testing import REPO

    env = dict(os.environ, TFSEM_FUZZ_SLOW="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             os.path.join(REPO, "tests", "test_fuzz.py"), "-k", "not thousands"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 passed" in result.stdout


def _grey_png(ids, bits):
    """A grey PNG of ``bits`` per pixel written by hand (Pillow writes no 2/4-bit grey)."""
    import struct
    import zlib

    height, width = ids.shape
    rows = []
    for row in ids.astype(np.uint32):
        if bits == 16:
            packed = row.astype(">u2").tobytes()
        elif bits == 8:
            packed = row.astype(np.uint8).tobytes()
        else:
            per = 8 // bits
            padded = np.zeros(-(-width // per) * per, np.uint32)
            padded[:width] = row
            groups = padded.reshape(-1, per)
            shifts = np.arange(per - 1, -1, -1) * bits
            packed = (groups << shifts).sum(1).astype(np.uint8).tobytes()
        rows.append(b"\0" + packed)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@st.composite
def id_map_files(draw):
    """PNGs of every kind a user may bring: grey of 1/2/4/8/16 bits, palettes of
    4 and 8 bits, RGB, grey + alpha, RGBA, and JPEG."""
    kind = draw(st.sampled_from(["grey1", "grey2", "grey4", "grey8", "grey16", "palette8",
                                 "palette4", "rgb", "la", "rgba", "jpeg"]))
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    if kind.startswith("grey"):
        bits = int(kind[4:])
        return _grey_png(rng.integers(0, min(2 ** bits, 40000), (height, width)), bits)
    if kind == "palette4":
        return _palette_png(rng.integers(0, 16, (height, width)).astype(np.uint8))
    if kind == "palette8":
        return _png(rng.integers(0, 34, (height, width)).astype(np.uint8), mode="P")
    channels = {"rgb": 3, "la": 2, "rgba": 4, "jpeg": 3}[kind]
    array = rng.integers(0, 255, (height, width, channels)).astype(np.uint8)
    return _png(array, fmt="JPEG" if kind == "jpeg" else "PNG")


@settings(max_examples=_examples(80, 800), **COMMON)
@given(data=id_map_files())
def test_every_reader_of_label_pngs_agrees(predict_png_module, data, tmp_path):
    """One rule for ids: the file reader, the studio's decoder, the TFLite demo's
    reader and the SavedModel's in-graph decoder give the same ids or all refuse."""
    import importlib.util

    from tests.testing import REPO

    spec = importlib.util.spec_from_file_location("tflite_demo",
                                                  os.path.join(REPO, "tools", "tflite_demo.py"))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    path = tmp_path / "label.png"
    path.write_bytes(data)
    answers = []
    for read in (lambda: decode_map_png(data, "label_png"), lambda: read_label(str(path)),
                 lambda: demo._read_ids(str(path), "label map"),
                 lambda: predict_png_module._decode(tf.constant([data]), "label_png")[0].numpy()):
        try:
            answers.append(np.asarray(read()))
        except (DataError, demo.DemoError, tf.errors.InvalidArgumentError):
            answers.append(None)
    refused = [a is None for a in answers]
    assert all(refused) or not any(refused), refused
    for other in answers[1:]:
        if other is not None:
            np.testing.assert_array_equal(other, answers[0])


@pytest.fixture(scope="module")
def predict_png_module(tmp_path_factory):
    """The served module of a tiny export (its in-graph PNG decoder)."""
    from tfsem.config import ExperimentConfig, config_from_dict
    from tfsem.export.saved_model import TaskServing, inference_graph
    from tfsem.train.build import build_model
    from tests.testing import tiny_experiment

    config = config_from_dict(ExperimentConfig, tiny_experiment())
    model = build_model(config)
    model.build_networks()
    return TaskServing(inference_graph(model, config))
