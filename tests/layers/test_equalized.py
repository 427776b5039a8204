"""StyleGAN2's resampling (tfsem.layers.equalized) against upfirdn2d written in
PyTorch from its definition (NVlabs/stylegan2-ada-pytorch torch_utils/ops/
upfirdn2d.py: upsample by zero insertion, pad, FIR filter with gain)."""

import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers.equalized import EqualizedDense, blur, up_conv2d, upsample2d

torch = pytest.importorskip("torch")


def _upfirdn2d(x, up, pad, gain):
    """x NCHW; the [1, 3, 3, 1] filter normalised to sum 1, times ``gain``."""
    import torch.nn.functional as F

    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    f = f / f.sum() * gain
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return F.conv2d(x, f.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 2, 4, 2), (1, 8, 8, 1)])
def test_resampling_is_upfirdn2d(shape):
    x = np.random.RandomState(0).randn(*shape).astype("float32")
    xt = torch.tensor(x).permute(0, 3, 1, 2)
    nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731
    # upsample2d: up 2, padding [(4 + 1) // 2, (4 - 2) // 2], gain 4
    np.testing.assert_allclose(upsample2d(tf.constant(x)).numpy(),
                               nhwc(_upfirdn2d(xt, 2, [2, 1], 4)), atol=1e-5)
    np.testing.assert_allclose(blur(tf.constant(x)).numpy(),
                               nhwc(_upfirdn2d(xt, 1, [1, 1], 4)), atol=1e-5)
    # conv2d_resample(up=2): conv_transpose2d stride 2, then the filter with padding 1
    weight = np.random.RandomState(1).randn(4, shape[-1], 3, 3).astype("float32")  # OIHW
    y = torch.nn.functional.conv_transpose2d(xt, torch.tensor(weight).transpose(0, 1), stride=2)
    kernel = np.transpose(weight, (2, 3, 1, 0))  # HWIO
    np.testing.assert_allclose(up_conv2d(tf.constant(x), tf.constant(kernel)).numpy(),
                               nhwc(_upfirdn2d(y, 1, [1, 1], 4)), atol=1e-4)


def test_equalized_dense_scales_at_run_time():
    layer = EqualizedDense(3, lr_multiplier=0.01, bias_init=1.0, seed=0)
    x = tf.random.stateless_normal([4, 16], seed=[0, 1])
    y = layer(x).numpy()
    np.testing.assert_allclose(
        y, x.numpy() @ (layer.kernel.numpy() * 0.01 / 4.0) + 0.01 * layer.bias.numpy(),
        rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.bias.numpy(), 1.0)
    with pytest.raises(ValueError, match="activation"):
        EqualizedDense(3, activation="relu")
