"""Parameter-free normalisation layers chosen by name (instance / batch / sync_batch / none)."""

import keras
import numpy as np
import tensorflow as tf

from tfsem.layers.graph_target import current_graph_target
from tfsem.layers.interpolate import static_or_dynamic_shape

__all__ = ["NORMS", "AffineBatchNormalization", "InstanceNormalization",
           "ParamFreeBatchNormalization", "affine_norm_layer", "instance_norm",
           "instance_norm_method", "param_free_norm",
           "torch_batch_norm_training"]

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
        return ParamFreeBatchNormalization(epsilon=epsilon, momentum=0.9,
                                           synchronized=norm == "sync_batch", name=name)
    if norm == "none":
        return keras.layers.Identity(name=name)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def affine_norm_layer(norm: str, name=None, inference_statistics: str = "image"):
    """pix2pix's ``get_norm_layer`` (junyanz/pytorch-CycleGAN-and-pix2pix
    ``networks.py``): ``batch`` is ``BatchNorm2d(affine=True)``
    (:class:`AffineBatchNormalization`, with ``inference_statistics``);
    ``instance`` is ``InstanceNorm2d(affine=False)``, parameter-free;
    ``none`` the identity."""
    if norm == "batch":
        return AffineBatchNormalization(inference_statistics=inference_statistics, name=name)
    if norm in ("instance", "none"):
        return param_free_norm(norm, name=name)
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {norm!r}")


#: Instance norms of fewer elements than this are not worth a measurement
#: (well under a millisecond either way): they run ``fused``.
NORM_MEASURE_MIN_ELEMENTS = 2 ** 18
NORM_METHODS = ("fused", "moments")


def instance_norm_method(shape, dtype, training: bool = False, target: str = None) -> str:
    """How :func:`instance_norm` computes a norm of this NHWC ``shape``:
    ``fused`` (one fused batch-norm kernel) or ``moments`` (reductions and an
    elementwise pass; the only way in TFLite graphs). ``TFSEM_INSTANCE_NORM``
    pins one; else the faster on this machine (:mod:`tfsem.autotune`),
    measured with its gradient for a ``training`` step. Unknown shapes, small
    norms and GPUs (cuDNN) take ``fused``."""
    from tfsem import autotune

    target = target or current_graph_target()
    dims = list(shape)
    if target == "tflite":
        candidates = ["moments"]
    elif (len(dims) != 4 or None in dims or int(np.prod(dims)) < NORM_MEASURE_MIN_ELEMENTS
          or autotune.has_gpu()):
        candidates = ["fused"]
    else:
        candidates = ["fused", "moments"]
    dtype = tf.as_dtype(dtype)
    key = f"{target}|{dtype.name}|{'train' if training else 'infer'}|{'x'.join(map(str, dims))}"
    return autotune.pick("instance_norm", "TFSEM_INSTANCE_NORM", NORM_METHODS, candidates, key,
                         lambda method: _timed_norm(method, dims, dtype, training))


def _timed_norm(method, shape, dtype, training):
    """A zero-argument call running :func:`instance_norm` by ``method`` on random
    inputs (eagerly, outside any graph being traced), with its gradient when
    ``training``."""
    with tf.init_scope():
        x = tf.cast(tf.random.normal(shape), dtype)

        def forward(x):
            return tf.reduce_sum(tf.cast(instance_norm(x, method=method) ** 2, tf.float32))

        def backward(x):
            return tf.reduce_sum(tf.cast(tf.gradients(forward(x), [x])[0], tf.float32))

        step = tf.function(backward if training else forward, autograph=False)

    def run():
        with tf.init_scope():
            return step(x).numpy()
    return run


def instance_norm(x, epsilon: float = 1e-5, training: bool = False, method: str = None):
    """Parameter-free instance norm of NHWC ``x`` (statistics in float32, output
    in ``x``'s dtype): ``(x - mean) / sqrt(var + epsilon)`` per image and
    channel over H and W, the biased variance, as PyTorch's
    ``InstanceNorm2d(affine=False)``.

    Two ways (``method``, default :func:`instance_norm_method`, measured per
    machine and shape; ``training`` says whether a gradient will be taken):

    * ``fused``: the training-mode fused batch norm, whose statistics are per
      channel over N, H and W: at batch 1 that IS instance norm; a larger batch
      is moved into the channels first (``[B,H,W,C] -> [1,H,W,B*C]``). One
      fused kernel (oneDNN on CPUs, cuDNN on GPUs) reads the tensor twice
      where the reductions make about eight passes: 103 -> 31 ms for norm +
      ReLU at 512x1024x64 on an Intel Xeon with oneDNN (docs/benchmarks.md). Its
      gradient (``FusedBatchNormGradV3``) is the full one, through the
      statistics.
    * ``moments``: ``tf.nn.moments`` in float32, then one subtract and multiply
      (MEAN, SQUARED_DIFFERENCE, RSQRT in a TFLite graph, builtin ops that
      ``int8_float_norm`` keeps in float; the only way there)."""
    x = tf.convert_to_tensor(x)
    method = method or instance_norm_method(x.shape, x.dtype, training=bool(training))
    if method == "moments":
        mean, var = tf.nn.moments(tf.cast(x, tf.float32), [1, 2], keepdims=True)
        inv = tf.math.rsqrt(var + epsilon)
        return tf.cast((tf.cast(x, tf.float32) - mean) * inv, x.dtype)
    if method != "fused":
        raise ValueError(f"instance_norm: unknown method {method!r}; use one of {NORM_METHODS}")
    dtype = x.dtype if x.dtype in (tf.float32, tf.bfloat16, tf.float16) else tf.float32
    batch = x.shape[0]
    if batch == 1:
        out = _fused_norm(tf.cast(x, dtype), epsilon)
    elif batch is None:  # serving signatures: batch 1 needs no transposes
        y = tf.cast(x, dtype)
        out = tf.cond(tf.equal(tf.shape(y)[0], 1), lambda: _fused_norm(y, epsilon),
                      lambda: _batch_in_channels(y, epsilon))
    else:
        out = _batch_in_channels(tf.cast(x, dtype), epsilon)
    out = tf.cast(out, x.dtype)
    if x.shape.rank is not None:
        out.set_shape(x.shape)
    return out


def _fused_norm(y, epsilon, mean=None, variance=None):
    """Parameter-free fused batch norm of NHWC ``y``: with the batch's statistics
    per channel (training mode) when ``mean`` / ``variance`` are None, else with
    those (float32)."""
    channels = [y.shape[-1]] if y.shape[-1] is not None else tf.shape(y)[-1:]
    ones, zeros = tf.ones(channels, tf.float32), tf.zeros(channels, tf.float32)
    training = mean is None
    # the raw op: tf.compat.v1.nn.fused_batch_norm raises epsilon to 1.001e-5
    return tf.raw_ops.FusedBatchNormV3(
        x=y, scale=ones, offset=zeros, mean=zeros if training else mean,
        variance=zeros if training else variance, epsilon=epsilon,
        exponential_avg_factor=1.0, data_format="NHWC", is_training=training)[0]


def _batch_in_channels(x, epsilon):
    """:func:`_fused_norm` per image: [B,H,W,C] -> [1,H,W,B*C] and back."""
    shape = static_or_dynamic_shape(x)
    y = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, shape[1], shape[2], -1])
    out = _fused_norm(y, epsilon)
    return tf.transpose(tf.reshape(out, [shape[1], shape[2], shape[0], shape[3]]), [2, 0, 1, 3])


@keras.saving.register_keras_serializable(package="tfsem")
class InstanceNormalization(keras.layers.Layer):
    """Parameter-free instance norm over H and W of NHWC tensors
    (:func:`instance_norm`).

    The same function as ``keras.layers.GroupNormalization(groups=-1,
    center=False, scale=False)``, with statistics in float32 under mixed
    precision, and faster on CPU (one fused kernel).
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x, training=None):
        return instance_norm(x, self.epsilon, training=training is True)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def torch_batch_norm_training(layer, inputs, mask=None):
    """A Keras ``BatchNormalization`` in training, as PyTorch's ``BatchNorm2d``
    (and SPADE's synchronized version) computes it: normalised with the
    batch's biased variance, the running variance updated with the UNBIASED
    one (``var * n / (n - 1)``, n the values per channel, over all replicas
    when ``synchronized``); Keras updates it with the biased one."""
    x = tf.cast(inputs, tf.float32)
    mean, variance = layer._moments(x, mask)
    n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
    if layer.synchronized:
        context = tf.distribute.get_replica_context()
        n *= float(context.num_replicas_in_sync if context is not None else 1)
    unbiased = variance * n / tf.maximum(n - 1.0, 1.0)
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum + unbiased * (1.0 - momentum))
    gamma = tf.cast(layer.gamma, tf.float32) if layer.scale else None
    beta = tf.cast(layer.beta, tf.float32) if layer.center else None
    out = tf.nn.batch_normalization(x, mean, variance, beta, gamma, layer.epsilon)
    return tf.cast(out, layer.compute_dtype)


@keras.saving.register_keras_serializable(package="tfsem")
class ParamFreeBatchNormalization(keras.layers.BatchNormalization):
    """Keras' ``BatchNormalization(center=False, scale=False)``: batch statistics
    in training (synchronised across replicas with ``synchronized``; the
    running variance updated as PyTorch, :func:`torch_batch_norm_training`), the
    moving ones at inference, where it runs as ONE fused kernel
    (inference-mode ``FusedBatchNormV3``, float32 statistics) instead of
    Keras' cast to float32, subtract, multiply and cast back: four passes over
    a bfloat16 map. The same values (tested); TFLite graphs keep Keras' ops.
    """

    def __init__(self, epsilon=1e-5, momentum=0.9, synchronized=False, **kwargs):
        kwargs.pop("center", None)
        kwargs.pop("scale", None)
        super().__init__(epsilon=epsilon, momentum=momentum, synchronized=synchronized,
                         center=False, scale=False, **kwargs)

    def call(self, inputs, training=None, mask=None):
        x = tf.convert_to_tensor(inputs)
        if training and self.trainable and self.axis in (-1, 3):
            return torch_batch_norm_training(self, x, mask)
        if training or self.axis not in (-1, 3) or x.shape.rank != 4 \
                or current_graph_target() == "tflite" \
                or x.dtype not in (tf.float32, tf.bfloat16, tf.float16):
            return super().call(inputs, training=training, mask=mask)
        # the moving statistics are float32 variables that Keras does not autocast
        out = _fused_norm(x, self.epsilon, tf.cast(self.moving_mean, tf.float32),
                          tf.cast(self.moving_variance, tf.float32))
        return tf.cast(out, self.compute_dtype)


@keras.saving.register_keras_serializable(package="tfsem")
class AffineBatchNormalization(keras.layers.BatchNormalization):
    """PyTorch's ``nn.BatchNorm2d(affine=True)`` (momentum 0.1, eps 1e-5): batch
    statistics in training, updating the running ones as PyTorch does
    (:func:`torch_batch_norm_training`: the unbiased variance).

    At inference, ``inference_statistics="image"`` normalises each image with
    its own mean and variance over H and W (with the learned scale and
    offset): what ``BatchNorm2d`` computes in train mode at batch size 1, the
    way pix2pix's ``test.py`` renders without ``--eval`` (the paper's protocol,
    batch statistics at test time, and its batch size of 1), and it does not
    depend on what else is in the batch. ``"running"``: the running
    statistics (``model.eval()``, ``--eval``).
    """

    def __init__(self, inference_statistics="image", momentum=0.9, epsilon=1e-5, **kwargs):
        if inference_statistics not in ("image", "running"):
            raise ValueError(f"inference_statistics must be 'image' or 'running', got "
                             f"{inference_statistics!r}")
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)
        self.inference_statistics = inference_statistics

    def call(self, x, training=None, mask=None):
        if training and self.trainable and self.axis in (-1, 3):
            return torch_batch_norm_training(self, x, mask)
        if training or self.inference_statistics == "running":
            return super().call(x, training=training)
        mean, var = tf.nn.moments(tf.cast(x, tf.float32), [1, 2], keepdims=True)
        scale = tf.cast(self.gamma, tf.float32) * tf.math.rsqrt(var + self.epsilon)
        out = (tf.cast(x, tf.float32) - mean) * scale + tf.cast(self.beta, tf.float32)
        return tf.cast(out, x.dtype)

    def get_config(self):
        return {**super().get_config(), "inference_statistics": self.inference_statistics}
