"""Parameter-free normalisation layers chosen by name (instance / batch / sync_batch / none)."""

import keras

__all__ = ["NORMS", "param_free_norm"]

NORMS = ("instance", "batch", "sync_batch", "none")


def param_free_norm(norm: str, name=None, epsilon: float = 1e-5):
    """A normalisation layer without learned scale/offset.

    ``instance`` is ``GroupNormalization(groups=-1)`` (per-sample, per-channel
    statistics; identical in training and inference, as PyTorch's
    ``InstanceNorm2d(affine=False)``). ``batch`` and ``sync_batch`` use batch
    statistics in training and moving averages at inference
    (``sync_batch`` synchronises them across replicas). ``epsilon`` 1e-5 is
    PyTorch's default that the reference code uses.
    """
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1, center=False, scale=False,
                                               epsilon=epsilon, name=name)
    if norm in ("batch", "sync_batch"):
        return keras.layers.BatchNormalization(center=False, scale=False, epsilon=epsilon,
                                               momentum=0.9, synchronized=norm == "sync_batch",
                                               name=name)
    if norm == "none":
        return keras.layers.Identity(name=name)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
