"""tfsem.layers.conv3x3: every method is the same 3x3 conv as tf.nn.conv2d (values and
gradients); the choice follows dtype, size and graph target; exports carry no XLA."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers.conv3x3 import conv3x3, conv3x3_candidates, conv3x3_method, winograd_conv3x3
from tfsem.layers.graph_target import current_graph_target, graph_target

METHODS = ["winograd4", "winograd2", "matmul", "conv", "tconv"]


def _case(batch=2, h=8, w=12, c=5, f=3, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, h + 2, w + 2, c)).astype("float32"))
    k = tf.Variable(rng.normal(size=(3, 3, c, f)).astype("float32"))
    return x, k


@pytest.mark.parametrize("method", METHODS)
def test_values_and_gradients_equal_conv2d(method):
    x, k = _case()
    grads = []
    for m in (method, None):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = conv3x3(x, k, m) if m else tf.nn.conv2d(x, k, 1, "VALID")
            loss = tf.reduce_sum(y * tf.sin(y))
        grads.append((y, tape.gradient(loss, x), tape.gradient(loss, k)))
    (y, gx, gk), (y0, gx0, gk0) = grads
    scale = float(tf.reduce_max(tf.abs(y0)))
    # Winograd F(4x4) rounds ~1e-5 of the output's range in float32; the others ~1e-6
    tol = 3e-5 if method == "winograd4" else 3e-6
    np.testing.assert_allclose(y / scale, y0 / scale, atol=tol)
    np.testing.assert_allclose(gx, gx0, atol=tol * float(tf.reduce_max(tf.abs(gx0))))
    np.testing.assert_allclose(gk, gk0, atol=tol * float(tf.reduce_max(tf.abs(gk0))))


@pytest.mark.parametrize("method", ["winograd4", "winograd2"])
def test_winograd_of_a_bfloat16_conv_computes_in_float32(method):
    """A bfloat16 conv by Winograd: cast to float32, transformed and multiplied
    there, rounded to bfloat16 once at the end: within that one rounding of the
    float32 conv of the same bfloat16 values, values and gradients."""
    x, k = _case(h=8, w=16, c=24, f=8, seed=4)
    xb, kb = tf.cast(x, tf.bfloat16), tf.Variable(tf.cast(k, tf.bfloat16))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xb)
        y = conv3x3(xb, kb, method)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2) / 2
    assert y.dtype == tf.bfloat16
    x32, k32 = tf.cast(xb, tf.float32), tf.cast(kb, tf.float32)
    with tf.GradientTape(persistent=True) as tape32:
        tape32.watch([x32, k32])
        y32 = tf.nn.conv2d(x32, k32, 1, "VALID")
        loss32 = tf.reduce_sum(tf.cast(tf.cast(y32, tf.bfloat16), tf.float32) ** 2) / 2
    scale = float(tf.reduce_max(tf.abs(y32)))
    y = tf.cast(y, tf.float32)
    # one bfloat16 rounding (2**-8 of the value) plus the float32 Winograd's own
    np.testing.assert_array_less(np.abs(y - y32), np.abs(y32) * 2 ** -8 + 3e-5 * scale)
    for got, want in ((tape.gradient(loss, xb), tape32.gradient(loss32, x32)),
                      (tape.gradient(loss, kb), tape32.gradient(loss32, k32))):
        assert got.dtype == tf.bfloat16
        np.testing.assert_allclose(tf.cast(got, tf.float32), want, rtol=2 ** -7,
                                   atol=2 ** -7 * float(tf.reduce_max(tf.abs(want))))


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_inside_tf_function_and_in_a_batch(m):
    x, k = _case(batch=3, h=4 * m, w=2 * m, c=4, f=6, seed=1)
    fn = tf.function(lambda v: winograd_conv3x3(v, k, m))
    np.testing.assert_allclose(fn(x), tf.nn.conv2d(x, k, 1, "VALID"), atol=1e-4)


def test_winograd_refuses_sizes_it_cannot_tile():
    x, k = _case(h=6, w=10)
    with pytest.raises(ValueError, match="multiples of 4"):
        winograd_conv3x3(x, k, 4)
    with pytest.raises(ValueError, match="m must be 2 or 4"):
        winograd_conv3x3(x, k, 3)


def test_candidates_follow_dtype_size_target_and_training():
    big = (1, 34, 66, 1024)  # pix2pixHD's ResNet blocks at 1024x512 (padded)
    every = ["conv", "matmul", "tconv", "winograd2", "winograd4"]
    assert conv3x3_candidates(big, "float32") == every
    assert conv3x3_candidates(big, "float32", training=True) == every[:4]  # no F(4x4)
    assert conv3x3_candidates((1, 35, 66, 1024), "float32") == every[:3]  # odd height
    assert conv3x3_candidates((1, 20, 66, 1024), "float32") == every[:4]  # 18 rows: not 4k
    # bfloat16: Winograd in float32 (its transforms need it), no tconv
    assert conv3x3_candidates(big, "bfloat16") == every[:2] + every[3:]
    assert conv3x3_candidates(big, "bfloat16", target="saved_model") == every[:2]
    assert conv3x3_candidates(big, "float32", target="saved_model") == every[:3]
    assert conv3x3_candidates(big, "float32", target="tflite") == ["conv"]
    assert conv3x3_candidates((None, None, None, 1024), "float32") == ["conv"]
    assert conv3x3_candidates((1, 10, 18, 64), "float32") == ["conv"]  # too small to measure
    assert conv3x3_candidates((1, 10, 18, 1024), "float32", filters=1) == ["conv"]
    with graph_target("tflite"):
        assert current_graph_target() == "tflite"
        assert conv3x3_candidates(big, "float32") == ["conv"]
    assert current_graph_target() == "keras"
    with pytest.raises(ValueError, match="graph target must be one of"):
        with graph_target("onnx"):
            pass


def test_a_pinned_method_applies_where_it_may(monkeypatch):
    big = (1, 34, 66, 1024)
    for method in METHODS:
        monkeypatch.setenv("TFSEM_CONV3X3", method)
        assert conv3x3_method(big, "float32") == method
        assert conv3x3_method(big, "float32", target="tflite") == "conv"
    monkeypatch.setenv("TFSEM_CONV3X3", "winograd4")
    assert conv3x3_method(big, "float32", training=True) == "conv"
    monkeypatch.setenv("TFSEM_CONV3X3", "fastest")
    with pytest.raises(ValueError, match="TFSEM_CONV3X3='fastest': use auto or one of"):
        conv3x3_method(big, "float32")


def test_auto_measures_once_per_machine_and_keeps_the_fastest(monkeypatch, tmp_path):
    from tfsem import autotune

    monkeypatch.setenv("TFSEM_CONV3X3", "auto")
    monkeypatch.setenv("TFSEM_AUTOTUNE_CACHE", str(tmp_path))
    monkeypatch.setattr(autotune, "_CACHE", {})
    timings = {"conv": 9.0, "matmul": 4.0, "winograd2": 2.0, "winograd4": 3.0, "tconv": 5.0}
    measured = []

    def fake_measure(run, repeats=3):
        measured.append(run.method)
        return timings[run.method]

    def fake_call(method, shape, filters, dtype, training):
        call = lambda: None  # noqa: E731
        call.method = method
        return call

    from tfsem.layers import conv3x3 as module

    monkeypatch.setattr(autotune, "measure", fake_measure)
    monkeypatch.setattr(module, "_timed_call", fake_call)
    big = (1, 34, 66, 1024)
    assert conv3x3_method(big, "float32") == "winograd2"
    assert sorted(measured) == sorted(timings)
    assert conv3x3_method(big, "float32") == "winograd2" and len(measured) == 5  # remembered
    assert conv3x3_method(big, "float32", training=True) == "winograd2"  # its own key
    assert len(measured) == 9  # conv, matmul, tconv, winograd2 with gradients
    # a new process on the same machine reads the file; nothing is measured again
    monkeypatch.setattr(autotune, "_CACHE", {})
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert saved["machine"]["tensorflow"] == tf.__version__ and saved["machine"]["cpu"]
    assert any(k.endswith("1x34x66x1024->1024") for k in saved["choices"])
    assert conv3x3_method(big, "float32") == "winograd2" and len(measured) == 9
    # a choice made before a way existed (a later tfsem added it) is measured again
    saved["choices"] = {k: {"method": "conv", "ms": {"conv": 9.0, "matmul": 9.9}}
                        for k in saved["choices"]}
    files[0].write_text(json.dumps(saved))
    monkeypatch.setattr(autotune, "_CACHE", {})
    assert conv3x3_method(big, "float32") == "winograd2" and len(measured) == 14
    # within the timing noise (5%), the plain conv stays: another shape
    timings.update(winograd2=8.7, winograd4=8.9, matmul=9.5, tconv=8.8)
    assert conv3x3_method((1, 34, 66, 512), "float32") == "conv"
    # another CPU (or TensorFlow) is another file
    real = autotune.machine
    monkeypatch.setattr(autotune, "machine",
                        lambda onednn=True: {**real(onednn), "cpu": "another CPU"})
    assert autotune.cache_path() != str(files[0])


def test_a_real_measurement_picks_a_method_that_computes_the_conv(monkeypatch, tmp_path):
    """On this machine, at a size worth measuring: whichever way wins, the conv
    is tf.nn.conv2d's within rounding (what every pinned method also gives)."""
    from tfsem import autotune

    monkeypatch.setenv("TFSEM_CONV3X3", "auto")
    monkeypatch.setenv("TFSEM_AUTOTUNE_CACHE", str(tmp_path))
    monkeypatch.setattr(autotune, "_CACHE", {})
    x, k = _case(batch=1, h=16, w=32, c=256, f=64, seed=3)
    method = conv3x3_method(x.shape, "float32", filters=64)
    assert method in ("conv", "matmul", "tconv", "winograd2", "winograd4")
    choice = json.loads(next(tmp_path.glob("*.json")).read_text())["choices"]
    (entry,) = choice.values()
    assert entry["method"] == method and set(entry["ms"]) == {"conv", "matmul", "tconv",
                                                               "winograd2", "winograd4"}
    got = tf.function(lambda v: conv3x3(v, k))(x)  # traced: the choice is read back
    want = tf.nn.conv2d(x, k, 1, "VALID")
    scale = float(tf.reduce_max(tf.abs(want)))
    np.testing.assert_allclose(got / scale, want / scale, atol=3e-5)


def xla_functions(concrete_function):
    """Names of the functions in a traced graph that XLA must compile."""
    library = concrete_function.graph.as_graph_def().library.function
    return [f.signature.name for f in library
            if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b]


def test_a_saved_model_graph_has_no_xla(monkeypatch):
    """TF Serving runs XLA clusters only with --xla_cpu_compilation_enabled:
    a pinned Winograd applies to this process's Keras graphs only."""
    monkeypatch.setenv("TFSEM_CONV3X3", "winograd2")
    x, k = _case(batch=1, h=16, w=32, c=256, f=64)
    for target, xla in (("keras", True), ("saved_model", False), ("tflite", False)):
        with graph_target(target):
            fn = tf.function(lambda v: conv3x3(v, k)).get_concrete_function(x)
        assert bool(xla_functions(fn)) == xla, target


def test_layers_tell_conv3x3_whether_they_train(monkeypatch):
    """F(4x4) is for inference only: in one measured case (a pix2pixHD ResNet
    block at 4x16x32x256, random input) its kernel gradient of conv_0 came out
    4.7% (of its largest entry) off the plain convs' (F(2x2): 1e-6), the
    Winograd domain's cancellation in the weight gradient. So the layers pass
    ``training`` and a train step takes F(2x2)."""
    from tfsem.layers import conv3x3 as module
    from tfsem.layers.resnet_block import ResnetBlock
    from tfsem.layers.spectral_conv2d import SpectralConv2D

    seen = []
    real = module.conv3x3_method

    def spy(shape, dtype, target=None, training=False, filters=None):
        seen.append(training)
        return real(shape, dtype, target, training, filters)

    monkeypatch.setattr(module, "conv3x3_method", spy)
    x = tf.zeros([1, 4, 4, 8])
    for layer in (ResnetBlock(8), SpectralConv2D(8, 3, padding="same")):
        for training in (True, False):
            seen.clear()
            layer(x, training=training)
            assert seen and set(seen) == {training}, (layer.name, training)


def test_tconv_with_unknown_batch_and_size_in_a_graph():
    """The transposed-conv way in a serving signature (shape known at run time)."""
    from tfsem.layers.conv3x3 import conv3x3_transposed

    x, k = _case(batch=2, h=6, w=10, c=4, f=3, seed=2)
    fn = tf.function(lambda v: conv3x3_transposed(v, k),
                     input_signature=[tf.TensorSpec([None, None, None, 4])])
    for batch in (x, x[:1, :5, :7]):
        want = tf.nn.conv2d(batch, k, 1, "VALID")
        np.testing.assert_allclose(fn(batch), want, atol=1e-5)
