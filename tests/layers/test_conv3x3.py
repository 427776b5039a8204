"""tfsem.layers.conv3x3: every method is the same 3x3 conv as tf.nn.conv2d (values and
gradients); the choice follows dtype, size and graph target; exports carry no XLA."""

import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers.conv3x3 import conv3x3, conv3x3_method, winograd_conv3x3
from tfsem.layers.graph_target import current_graph_target, graph_target

METHODS = ["winograd4", "winograd2", "matmul", "conv"]


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


def test_method_follows_dtype_size_and_target():
    big = (1, 34, 66, 1024)  # pix2pixHD's ResNet blocks at 1024x512 (padded)
    assert conv3x3_method(big, "float32") == "winograd4"
    assert conv3x3_method((1, 18, 34, 1024), "float32") == "winograd2"   # 16x32
    assert conv3x3_method((4, 18, 34, 1024), "float32") == "winograd4"   # 4 x 16x32
    assert conv3x3_method(big, "float32", training=True) == "winograd2"  # see below
    assert conv3x3_method((1, 10, 18, 1024), "float32") == "matmul"      # 8x16: too small
    assert conv3x3_method((1, 34, 66, 128), "float32") == "conv"         # too few channels
    assert conv3x3_method((1, 35, 66, 1024), "float32") == "matmul"      # odd height
    assert conv3x3_method((None, None, None, 1024), "float32") == "matmul"
    assert conv3x3_method(big, "bfloat16") == "conv"
    assert conv3x3_method((1, 10, 18, 1024), "bfloat16") == "matmul"     # 8x16
    assert conv3x3_method((1, 10, 18, 256), "bfloat16") == "conv"
    assert conv3x3_method(big, "float32", target="saved_model") == "matmul"
    assert conv3x3_method(big, "float32", target="tflite") == "conv"
    with graph_target("tflite"):
        assert current_graph_target() == "tflite"
        assert conv3x3_method(big, "float32") == "conv"
    assert current_graph_target() == "keras"
    with pytest.raises(ValueError, match="graph target must be one of"):
        with graph_target("onnx"):
            pass


def xla_functions(concrete_function):
    """Names of the functions in a traced graph that XLA must compile."""
    library = concrete_function.graph.as_graph_def().library.function
    return [f.signature.name for f in library
            if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b]


def test_a_saved_model_graph_has_no_xla():
    """TF Serving runs XLA clusters only with --xla_cpu_compilation_enabled."""
    x, k = _case(batch=1, h=16, w=32, c=256, f=8)
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

    def spy(shape, dtype, target=None, training=False):
        seen.append(training)
        return real(shape, dtype, target, training)

    monkeypatch.setattr(module, "conv3x3_method", spy)
    x = tf.zeros([1, 4, 4, 8])
    for layer in (ResnetBlock(8), SpectralConv2D(8, 3, padding="same")):
        for training in (True, False):
            seen.clear()
            layer(x, training=training)
            assert seen and set(seen) == {training}, (layer.name, training)
