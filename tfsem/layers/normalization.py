"""Parameter-free normalisation layers chosen by name (instance / batch / sync_batch / none)."""

import keras
import tensorflow as tf

__all__ = ["NORMS", "InstanceNormalization", "param_free_norm"]

NORMS = ("instance", "batch", "sync_batch", "none")


def param_free_norm(norm: str, name=None, epsilon: float = 1e-5):
    """A normalisation layer without learned scale/offset.

    ``instance`` is :class:`InstanceNormalization` (per-sample, per-channel
    statistics; identical in training and inference, as PyTorch's
    ``InstanceNorm2d(affine=False)``). ``batch`` and ``sync_batch`` use batch
    statistics in training and moving averages at inference
    (``sync_batch`` synchronises them across replicas). ``epsilon`` 1e-5 is
    PyTorch's default that the reference code uses.
    """
    if norm == "instance":
        return InstanceNormalization(epsilon=epsilon, name=name)
    if norm in ("batch", "sync_batch"):
        return keras.layers.BatchNormalization(center=False, scale=False, epsilon=epsilon,
                                               momentum=0.9, synchronized=norm == "sync_batch",
                                               name=name)
    if norm == "none":
        return keras.layers.Identity(name=name)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


@keras.saving.register_keras_serializable(package="tfsem")
class InstanceNormalization(keras.layers.Layer):
    """Parameter-free instance norm over H and W of NHWC tensors.

    The same function as ``keras.layers.GroupNormalization(groups=-1,
    center=False, scale=False)``, written with ``tf.nn.moments``: 25% faster
    on CPU at 512x1024x64 (86 vs 113 ms), and statistics in float32 under
    mixed precision.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x, training=None):
        mean, var = tf.nn.moments(tf.cast(x, tf.float32), [1, 2], keepdims=True)
        inv = tf.math.rsqrt(var + self.epsilon)
        return tf.cast((tf.cast(x, tf.float32) - mean) * inv, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
