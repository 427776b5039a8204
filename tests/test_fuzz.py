"""Fuzzing the label-map readers and the ``predict_png`` signature (hypothesis):
mutated and random bytes give an id map or one of the documented errors
(``DataError`` from the readers, ``InvalidArgumentError`` from the graph),
never anything else. Default run: a few hundred inputs; ``--run-slow``: thousands."""

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
def predict_png(tmp_path_factory):
    from tfsem.config import ExperimentConfig, config_from_dict
    from tfsem.export.saved_model import export_saved_model
    from tfsem.train.build import build_model
    from tests.testing import tiny_experiment

    config = config_from_dict(ExperimentConfig, tiny_experiment())
    model = build_model(config)
    model.build_networks()
    path = export_saved_model(model, config, str(tmp_path_factory.mktemp("fuzz") / "m"),
                              max_pixels=64 * 64)
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
    """The three fuzz tests above with their slow counts, in a fresh process."""
    import subprocess
    import sys

    from tests.testing import REPO

    env = dict(os.environ, TFSEM_FUZZ_SLOW="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             os.path.join(REPO, "tests", "test_fuzz.py"), "-k", "not thousands"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout
