"""tfsem.layers.normalization.instance_norm: both ways (the fused kernel, the
reductions) give PyTorch's InstanceNorm2d(affine=False) at any batch, in every
dtype and graph target; the way is measured per machine unless pinned."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers.graph_target import graph_target
from tfsem.layers.normalization import (InstanceNormalization, instance_norm,
                                        instance_norm_method)
from tests.testing import run_layer_test


def _numpy_instance_norm(x, eps=1e-5):
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased, as PyTorch normalises
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("target,method", [("keras", "fused"), ("keras", "moments"),
                                           ("tflite", None)])
def test_values_and_gradients(batch, target, method):
    rng = np.random.default_rng(batch)
    x = (rng.normal(size=(batch, 6, 10, 4)) * 3 + 2).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    xt = tf.constant(x)
    with graph_target(target), tf.GradientTape() as tape:
        tape.watch(xt)
        y = instance_norm(xt, method=method)
        loss = tf.reduce_sum(y * w)
    np.testing.assert_allclose(y, _numpy_instance_norm(x.astype("float64")), atol=2e-5)
    # d/dx of sum(w * (x - mean) / std) over each (image, channel)
    n = 60
    xhat = _numpy_instance_norm(x.astype("float64"))
    std = np.sqrt(x.astype("float64").var(axis=(1, 2), keepdims=True) + 1e-5)
    expected = (w - w.mean(axis=(1, 2), keepdims=True)
                - xhat * (w * xhat).sum(axis=(1, 2), keepdims=True) / n) / std
    np.testing.assert_allclose(tape.gradient(loss, xt), expected, atol=2e-5)


def test_unknown_batch_and_size_in_a_graph():
    fn = tf.function(instance_norm, input_signature=[tf.TensorSpec([None, None, None, 4])])
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 4)).astype("float32")
    for batch in (x, x[:1]):  # batch 1 skips the transposes (a tf.cond in the graph)
        y = fn(tf.constant(batch))
        assert y.shape == batch.shape
        np.testing.assert_allclose(y, _numpy_instance_norm(batch), atol=2e-5)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_keeps_float32_statistics(dtype):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32") * 50 + 300
    y = instance_norm(tf.cast(x, dtype))
    assert y.dtype == dtype
    # a bf16 input holds x to 1/256 of its value (~1.5 here, 0.1 std); float32
    # statistics keep the output within the input's own rounding
    reference = _numpy_instance_norm(tf.cast(tf.cast(x, dtype), tf.float32).numpy())
    np.testing.assert_allclose(tf.cast(y, tf.float32), reference, atol=0.05)


def test_the_way_is_measured_once_pinned_or_fixed_where_there_is_no_choice(monkeypatch,
                                                                          tmp_path):
    from tfsem import autotune
    from tfsem.layers import normalization as module

    monkeypatch.setenv("TFSEM_INSTANCE_NORM", "auto")
    monkeypatch.setenv("TFSEM_AUTOTUNE_CACHE", str(tmp_path))
    monkeypatch.setattr(autotune, "_CACHE", {})
    timings = {"fused": 5.0, "moments": 2.0}
    measured = []

    def fake_measure(run, repeats=3):
        measured.append(run.method)
        return timings[run.method]

    def fake_norm(method, shape, dtype, training):
        call = lambda: None  # noqa: E731
        call.method, call.training = method, training
        return call

    monkeypatch.setattr(autotune, "measure", fake_measure)
    monkeypatch.setattr(module, "_timed_norm", fake_norm)
    big = (1, 128, 256, 64)
    assert instance_norm_method(big, "float32") == "moments"
    assert instance_norm_method(big, "float32") == "moments" and len(measured) == 2
    assert instance_norm_method(big, "float32", training=True) == "moments"  # its own key
    assert len(measured) == 4
    (path,) = tmp_path.glob("*.json")
    keys = json.loads(path.read_text())["choices"]
    assert sorted(keys) == ["instance_norm|keras|float32|infer|1x128x256x64",
                            "instance_norm|keras|float32|train|1x128x256x64"]
    # no choice: TFLite graphs, small norms, unknown shapes
    assert instance_norm_method(big, "float32", target="tflite") == "moments"
    assert instance_norm_method((1, 8, 8, 4), "float32") == "fused"
    assert instance_norm_method((None, 128, 256, 64), "float32") == "fused"
    assert len(measured) == 4
    # within the timing noise the plain (first) way stays
    timings.update(moments=4.9)
    assert instance_norm_method((2, 128, 256, 64), "float32") == "fused"
    for method in ("fused", "moments"):
        monkeypatch.setenv("TFSEM_INSTANCE_NORM", method)
        assert instance_norm_method(big, "float32") == method
    assert instance_norm_method(big, "float32", target="tflite") == "moments"
    monkeypatch.setenv("TFSEM_INSTANCE_NORM", "fastest")
    with pytest.raises(ValueError, match="TFSEM_INSTANCE_NORM='fastest': use auto or one of"):
        instance_norm_method((1, 8, 8, 4), "float32")


def test_a_real_measurement_picks_a_way_that_computes_the_norm(monkeypatch, tmp_path):
    """On this machine: whichever way wins, with and without a gradient, the
    layer's output equals the pinned default's."""
    from tfsem import autotune

    x = np.random.default_rng(4).normal(size=(2, 64, 64, 32)).astype("float32") * 2 + 1
    layer = InstanceNormalization()
    pinned = layer(x, training=True).numpy()
    monkeypatch.setenv("TFSEM_INSTANCE_NORM", "auto")
    monkeypatch.setenv("TFSEM_AUTOTUNE_CACHE", str(tmp_path))
    monkeypatch.setattr(autotune, "_CACHE", {})
    got = tf.function(lambda v: layer(v, training=True))(tf.constant(x)).numpy()
    (path,) = tmp_path.glob("*.json")
    (entry,) = json.loads(path.read_text())["choices"].values()
    assert entry["method"] in ("fused", "moments") and set(entry["ms"]) == {"fused", "moments"}
    np.testing.assert_allclose(got, pinned, atol=2e-5)
    np.testing.assert_allclose(got, _numpy_instance_norm(x.astype("float64")), atol=2e-5)


def test_layer():
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype("float32")
    layer = run_layer_test(InstanceNormalization, {"epsilon": 1e-3}, x, x.shape)
    np.testing.assert_allclose(layer(x), _numpy_instance_norm(x, 1e-3), atol=2e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_training_updates_the_running_variance_as_pytorch(affine):
    """BatchNorm2d in training: output from the biased batch variance, running
    variance updated with the unbiased one (momentum 0.1)."""
    from tfsem.layers.normalization import AffineBatchNormalization, ParamFreeBatchNormalization

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (2, 3, 2, 4)).astype(np.float32)  # n = 12 values per channel
    layer = AffineBatchNormalization() if affine else ParamFreeBatchNormalization()
    out = layer(tf.constant(x), training=True).numpy()
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    expected = (x - mean) / np.sqrt(var + 1e-5)
    if affine:
        expected = expected * layer.gamma.numpy() + layer.beta.numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * var * 12 / 11, atol=1e-6)
