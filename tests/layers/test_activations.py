"""tfsem.layers.activations.leaky_relu: the stock op's values and gradients, read from
the output, so Grappler's remapper can fuse the conv chain before it (see the module)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers.activations import leaky_relu
from tests.testing import REPO


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_same_values_and_gradients_as_the_stock_op(dtype):
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype("float32")
    x[0, 0, 0] = 0.0  # the kink: both give alpha * dy there
    x = tf.cast(tf.constant(x), dtype)
    dy = tf.cast(tf.random.stateless_normal(x.shape, seed=[1, 2]), dtype)
    results = []
    for fn in (lambda t: tf.nn.leaky_relu(t, 0.2), lambda t: leaky_relu(t, 0.2)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        results.append((y, tape.gradient(y, x, output_gradients=dy)))
    (y_stock, g_stock), (y_ours, g_ours) = results
    assert y_ours.dtype == y_stock.dtype == x.dtype
    np.testing.assert_array_equal(tf.cast(y_ours, tf.float32), tf.cast(y_stock, tf.float32))
    np.testing.assert_array_equal(tf.cast(g_ours, tf.float32), tf.cast(g_stock, tf.float32))
    assert float(tf.reduce_min(tf.cast(g_ours, tf.float32) / tf.cast(dy, tf.float32))) == \
        pytest.approx(0.2, rel=1e-2)


def test_second_order_gradient_matches():
    x = tf.constant(np.linspace(-2, 2, 9, dtype="float32"))
    grads = []
    for fn in (lambda t: tf.nn.leaky_relu(t, 0.2), lambda t: leaky_relu(t, 0.2)):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(fn(x) * x)
            g = inner.gradient(y, x)
        grads.append((g, outer.gradient(g, x)))
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][1], grads[0][1])


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_refuses_a_slope_where_the_output_does_not_tell_the_sign(alpha):
    with pytest.raises(ValueError, match="alpha must be in"):
        leaky_relu(tf.ones([2]), alpha)


def test_the_remapper_keeps_its_fusions():
    """SPADE's ``x * (1 + gamma) + beta`` (beta a conv) before a LeakyReLU, trained:
    with the stock op oneDNN's remapper logs 'remapper failed: ... fanout
    LeakyReluGrad exist for missing node' and drops every fusion of the step."""
    script = textwrap.dedent("""
        import sys
        import tensorflow as tf
        from tfsem.layers.activations import leaky_relu
        convs = [tf.keras.layers.Conv2D(4, 3, padding="same") for _ in range(3)]
        x, seg = tf.random.normal([2, 8, 8, 4]), tf.random.normal([2, 8, 8, 3])
        convs[0](seg); convs[1](seg); convs[2](x)
        variables = [v for c in convs for v in c.trainable_variables]
        @tf.function
        def step(x, seg):
            with tf.GradientTape() as tape:
                h = x * (1 + convs[0](seg)) + convs[1](seg)
                loss = tf.reduce_mean(tf.square(convs[2](leaky_relu(h, 0.2))))
            return tape.gradient(loss, variables)
        step(x, seg)
        print("done")
    """)
    # oneDNN (and so the remapper's oneDNN fusions) on, as on AVX-512-BF16 / AMX CPUs
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="0", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-2000:]
    assert "remapper failed" not in proc.stderr, proc.stderr[-2000:]
