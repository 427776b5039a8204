import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers import SPADE, SPADEResBlock, SpectralConv2D, param_free_norm
from tests.testing import run_layer_test

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 8, 16, 6)).astype("float32")
SEG = RNG.random((2, 32, 64, 5)).astype("float32")


def test_spade_config_shape_and_formula():
    layer = run_layer_test(SPADE, {"norm": "instance", "hidden_channels": 8}, [X, SEG], X.shape)
    # out = instance_norm(x) * (1 + gamma) + beta, gamma/beta from the nearest-resized map;
    # PyTorch's nearest takes source pixel floor(i * 4) = 4i at a factor of 4.
    seg_small = SEG[:, ::4, ::4]
    actv = layer.mlp_shared(seg_small)
    gamma, beta = layer.mlp_gamma(actv), layer.mlp_beta(actv)
    mean, var = np.mean(X, axis=(1, 2), keepdims=True), np.var(X, axis=(1, 2), keepdims=True)
    x_hat = (X - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(layer([X, SEG]).numpy(), x_hat * (1 + gamma) + beta,
                               rtol=1e-4, atol=1e-4)


def test_spade_honours_training_for_batch_norm_only():
    for norm, differs in (("batch", True), ("sync_batch", True), ("instance", False)):
        layer = SPADE(norm=norm, hidden_channels=4)
        train, infer = layer([X, SEG], training=True), layer([X, SEG], training=False)
        assert (not np.allclose(train, infer, atol=1e-3)) == differs, norm


def test_param_free_norm_rejects_unknown():
    with pytest.raises(ValueError, match="norm must be one of"):
        param_free_norm("spectralinstance")
    with pytest.raises(ValueError, match="norm must be one of"):
        SPADE(norm="layer")


def test_spade_res_block_learned_shortcut_only_when_channels_change():
    same = run_layer_test(SPADEResBlock, {"filters": 6, "hidden_channels": 4, "spectral_norm": True},
                          [X, SEG], (2, 8, 16, 6))
    assert not same.learned_shortcut
    changed = run_layer_test(SPADEResBlock, {"filters": 3, "hidden_channels": 4,
                                             "spectral_norm": False}, [X, SEG], (2, 8, 16, 3))
    assert changed.learned_shortcut and changed.conv_s.bias is None
    assert changed.conv_0.filters == 3  # min(fin, fout)


def test_spectral_conv_normalises_and_is_scale_invariant():
    conv = run_layer_test(SpectralConv2D, {"filters": 4, "kernel_size": (3, 3), "padding": "same"},
                          X, (2, 8, 16, 4))
    # A kernel with known singular values (3, 1, 0.5, 0.2): a clear spectral gap,
    # so power iteration converges in a few steps whatever u and v start at.
    rng = np.random.default_rng(0)
    left, _ = np.linalg.qr(rng.normal(size=(3 * 3 * 6, 4)))
    right, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    kernel = (left * np.array([3.0, 1.0, 0.5, 0.2])) @ right.T
    conv.kernel.assign(kernel.reshape(3, 3, 6, 4).astype("float32"))
    for _ in range(30):
        conv(X, training=True)
    assert float(conv.sigma()) == pytest.approx(3.0, rel=1e-4)
    w = conv.normalized_kernel(False).numpy().reshape(-1, 4)
    assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1.0) < 1e-3
    # Scaling the raw kernel does not change the output: W / sigma(W).
    before = conv(X).numpy()
    conv.kernel.assign(conv.kernel * 7.0)
    np.testing.assert_allclose(conv(X).numpy(), before, rtol=1e-4, atol=1e-4)


def test_spectral_conv_inference_does_not_update_u_and_gradient_sees_sigma():
    conv = SpectralConv2D(4, 3, padding="same")
    conv(X, training=True)
    u = conv.sn_u.numpy().copy()
    conv(X, training=False)
    np.testing.assert_array_equal(conv.sn_u.numpy(), u)
    # d(output)/d(kernel) along the kernel direction is 0 (scale invariance),
    # which only holds if the gradient flows through sigma.
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(conv(X) ** 2)
    grad = tape.gradient(out, conv.kernel)
    assert abs(float(tf.reduce_sum(grad * conv.kernel))) < 1e-3 * float(tf.norm(grad) * tf.norm(conv.kernel))


def test_layers_are_registered_for_saving():
    for cls in (SPADE, SPADEResBlock, SpectralConv2D):
        assert keras.saving.get_registered_object(f"tfsem>{cls.__name__}") is cls


def test_nearest_interpolate_is_pytorch_nearest():
    torch = pytest.importorskip("torch")
    from tfsem.layers.interpolate import nearest_interpolate

    x = RNG.normal(size=(1, 37, 50, 3)).astype("float32")
    for size in [(8, 16), (74, 100), (13, 29), (37, 50)]:
        expected = torch.nn.functional.interpolate(
            torch.from_numpy(x.transpose(0, 3, 1, 2)), size=size, mode="nearest")
        np.testing.assert_array_equal(nearest_interpolate(x, size).numpy(),
                                      expected.numpy().transpose(0, 2, 3, 1))
