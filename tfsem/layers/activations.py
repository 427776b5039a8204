"""LeakyReLU whose gradient reads the activation's output, not its input.

``tf.nn.leaky_relu``'s registered gradient is ``LeakyReluGrad(dy, features)``:
it keeps the *input* of the activation alive for the backward pass. When that
input is the end of a chain Grappler's remapper fuses into one kernel (with
oneDNN: ``Conv2D + BiasAdd + Add + LeakyRelu`` -> ``_FusedConv2D``, which
SPADE's ``x_norm * (1 + gamma) + beta`` followed by the ResBlock's activation
is, ``beta`` being a conv), the remapper deletes the intermediate ``Add``
while ``LeakyReluGrad`` still reads it, and gives up on the whole graph:

    E ... meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: Mutation::Apply
    error: fanout '.../LeakyRelu/LeakyReluGrad' exist for missing node '.../norm_0/add_1'

That drops every fusion of the training step, not just this one. TensorFlow
turns oneDNN on by default only on CPUs with AVX-512 VNNI/BF16 or AMX (Zen 4,
Sapphire Rapids), so the line shows there and not on AVX2 machines (where
``TF_ENABLE_ONEDNN_OPTS=1`` reproduces it).

For a slope ``0 < alpha``, ``y = leaky_relu(x)`` is positive exactly where
``x`` is, so ``LeakyReluGrad(dy, y)`` is the same gradient, bit for bit, read
from the output (as ``ReluGrad`` does). With it the pre-activation tensor has
one consumer, the fusion is legal, and the remapper keeps its fused kernels.
The forward op is still ``LeakyRelu``: exports and TFLite see no difference.
"""

import tensorflow as tf

__all__ = ["leaky_relu"]


def _leaky_relu_from_output(alpha: float):
    @tf.custom_gradient
    def fn(x):
        y = tf.nn.leaky_relu(x, alpha)

        def grad(dy):
            return tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=alpha)

        return y, grad

    return fn


_CACHE = {}


def leaky_relu(x, alpha: float = 0.2):
    """``tf.nn.leaky_relu(x, alpha)`` with the gradient computed from the output.

    Same values and the same gradients as the stock op (tested); only which
    tensor the backward pass reads differs (see the module docstring).
    """
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"leaky_relu: alpha must be in (0, 1) for the output-based gradient, got {alpha}")
    fn = _CACHE.get(alpha)
    if fn is None:
        fn = _CACHE[alpha] = _leaky_relu_from_output(alpha)
    return fn(tf.convert_to_tensor(x))
