"""Stride-1 3x3 convolutions, computed the way measured fastest on the machine
that runs them (:mod:`tfsem.autotune`), for their shape, dtype and
graph target (:mod:`tfsem.layers.graph_target`). Every way gives the same
function (tested against ``tf.nn.conv2d``); float32 results differ by
rounding only.

The ways:

* ``conv``: ``tf.nn.conv2d`` (oneDNN on the CPU). The only one in TFLite
  graphs, and the one for convs too small to be worth a measurement (under
  2**24 multiply-adds: a few milliseconds at most on any CPU).
* ``matmul``: im2col (nine shifted slices, one concat) and one GEMM. Plain
  TF ops, so SavedModels may carry it.
* ``tconv`` (float32): the same correlation computed by the transposed
  convolution op (``Conv2DBackpropInput``, the data gradient of a conv) with
  the kernel flipped and its channels swapped, over an output two pixels
  larger on each side, then cropped. oneDNN runs that op by other kernels than
  its forward conv: on the Xeon limited to AVX2 (docs/benchmarks.md), 256 -> 128
  channels at 64x128 took 118 ms as a conv and 32 ms this way. Plain TF ops, so
  SavedModels may carry it.
* ``winograd2`` / ``winograd4`` (this process's Keras graphs only; a bfloat16
  conv is cast to float32 for it and its output rounded back once, since the
  tile transforms need float32's precision):
  Winograd's minimal filtering (Lavin & Gray 2016, arXiv 1509.09308). F(4x4,
  3x3) does a 3x3 conv over 4x4 output tiles as 36 independent GEMMs on
  transformed 6x6 input tiles: 4x fewer multiplications; F(2x2, 3x3) on 4x4
  tiles, 2.25x fewer. The tile transforms are XLA-compiled. Rounding: ~2e-5
  of the output's range for F(4x4), 3e-6 for F(2x2), against ~1e-6 for a
  conv. F(4x4) is for inference only: its weight gradient sums large
  transformed terms that cancel (in one measured case, a pix2pixHD ResNet
  block at 4x16x32x256, conv_0's kernel gradient came out 4.7% of its
  largest entry off the plain convs'; F(2x2): 1e-6), so training steps choose
  among the others.

What wins differs between CPUs: on 2 cores of an Intel Xeon with AVX-512 and
AMX, 1024 channels at 32x64 took 224 ms as a conv, 125 ms im2col, 73 ms
F(2x2), 59 ms F(4x4); in bfloat16 oneDNN's conv (AMX) won but for maps of
8x16 and smaller at 1024 channels (the GEMM: 5.9 vs 9.7 ms). Those numbers
decide nothing here: each machine measures its own (``dev/benchmark.py
convs`` prints the table and the choices).
"""

from __future__ import annotations

import functools
from typing import List, Optional

import numpy as np
import tensorflow as tf

from tfsem import autotune
from tfsem.layers.graph_target import current_graph_target

__all__ = ["METHODS", "conv3x3", "conv3x3_as_matmul", "conv3x3_candidates", "conv3x3_method",
           "conv3x3_transposed",
           "winograd_conv3x3"]

#: Convs under this many multiply-adds are not worth a measurement: ``conv``.
MEASURE_MIN_MACS = 2 ** 24
METHODS = ("conv", "matmul", "winograd2", "winograd4", "tconv")

# Lavin & Gray's matrices: B^T (input tiles), G (kernel), A^T (output tiles).
_WINOGRAD = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
        np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]]),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]])),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]])),
}


def conv3x3_as_matmul(padded, kernel):
    """A VALID 3x3 conv of an already padded [B, H+2, W+2, C] input as im2col +
    one matmul with the [3, 3, C, F] kernel (same result as ``tf.nn.conv2d``)."""
    shape = tf.shape(padded)
    h, w = shape[1] - 2, shape[2] - 2
    cols = [padded[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)]
    channels, filters = kernel.shape[2], kernel.shape[3]
    patches = tf.reshape(tf.concat(cols, -1), [-1, 9 * channels])
    out = tf.matmul(patches, tf.cast(tf.reshape(kernel, [9 * channels, filters]), patches.dtype))
    return tf.reshape(out, [shape[0], h, w, filters])


def conv3x3_transposed(padded, kernel):
    """:func:`conv3x3` by the transposed convolution op: for a VALID 3x3
    correlation y[q] = sum_i x[q + i] k[i], the op's "full" output
    d[p] = sum_i x[p - i] f[i] with f[i] = k[2 - i] (and in / out channels
    swapped) gives y[q] = d[q + 2]."""
    kernel = tf.cast(kernel, padded.dtype)
    filters = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    shape = tf.shape(padded)
    full = tf.stack([shape[0], shape[1] + 2, shape[2] + 2, tf.shape(kernel)[-1]])
    out = tf.nn.conv2d_transpose(padded, filters, full, 1, "VALID")
    y = out[:, 2:-2, 2:-2, :]
    if padded.shape.rank == 4:
        h, w = padded.shape[1], padded.shape[2]
        y.set_shape([padded.shape[0], None if h is None else h - 2,
                     None if w is None else w - 2, kernel.shape[-1]])
    return y


def _combine(views, matrix):
    """``[sum_k matrix[r, k] * views[k] for r]`` with the zero terms skipped."""
    out = []
    for row in matrix:
        acc = None
        for coef, view in zip(row, views):
            if coef == 0:
                continue
            term = view if coef == 1 else -view if coef == -1 else view * float(coef)
            acc = term if acc is None else acc + term
        out.append(acc)
    return out


def _tile_views(x, axis, tile, step, count):
    """The ``tile`` strided views of ``x`` along ``axis``: view k holds element
    ``k + step * t`` for the ``count`` tiles t."""
    views = []
    for k in range(tile):
        index = [slice(None)] * 4
        index[axis] = slice(k, k + step * (count - 1) + 1, step)
        views.append(x[tuple(index)])
    return views


@functools.lru_cache(maxsize=None)
def _transforms(m: int):
    """XLA-compiled input / kernel / output transforms of F(m x m, 3x3)."""
    bt, g, at = _WINOGRAD[m]
    tile = m + 2
    kernel_matrix = np.kron(g, g).astype(np.float32)  # [tile*tile, 9]

    @tf.function(jit_compile=True)
    def inputs(padded):
        rows, cols = (padded.shape[1] - 2) // m, (padded.shape[2] - 2) // m
        tiles = []
        for t in _combine(_tile_views(padded, 1, tile, m, rows), bt):
            tiles.extend(_combine(_tile_views(t, 2, tile, m, cols), bt))
        return tf.reshape(tf.stack(tiles), [tile * tile, -1, padded.shape[3]])

    @tf.function(jit_compile=True)
    def kernel(k):
        u = tf.matmul(tf.constant(kernel_matrix), tf.reshape(k, [9, -1]))
        return tf.reshape(u, [tile * tile, k.shape[2], k.shape[3]])

    @tf.function(jit_compile=True)
    def outputs(products, rows, cols):
        batch = products.shape[1] // (rows * cols)
        products = tf.reshape(products, [tile, tile, batch, rows, cols, products.shape[-1]])
        out = []
        for r in _combine([products[i] for i in range(tile)], at):
            out.append(tf.stack(_combine([r[i] for i in range(tile)], at), axis=3))
        y = tf.stack(out, axis=2)  # [B, rows, m, cols, m, F]
        return tf.reshape(y, [batch, rows * m, cols * m, products.shape[-1]])

    return inputs, kernel, outputs


def winograd_conv3x3(padded, kernel, m: int = 4):
    """A VALID 3x3 conv of an already padded [B, H+2, W+2, C] float32 input by
    Winograd's F(m x m, 3x3), m = 2 or 4; H and W static multiples of m."""
    if m not in _WINOGRAD:
        raise ValueError(f"winograd_conv3x3: m must be 2 or 4, got {m}")
    h, w = padded.shape[1], padded.shape[2]
    if h is None or w is None or (h - 2) % m or (w - 2) % m:
        raise ValueError(f"winograd_conv3x3: the output size must be static multiples of {m}, "
                         f"got input {padded.shape}")
    inputs, kernel_fn, outputs = _transforms(m)
    products = tf.matmul(inputs(padded), kernel_fn(tf.cast(kernel, padded.dtype)))
    return outputs(products, (h - 2) // m, (w - 2) // m)


def conv3x3_candidates(padded_shape, dtype, target: str = None, training: bool = False,
                       filters: Optional[int] = None) -> List[str]:
    """The methods that may compute this conv (``conv`` first): what the graph
    target can carry, what the size allows (Winograd tiles), and only ``conv``
    for small convs, unknown shapes and GPUs (cuDNN chooses there)."""
    target = target or current_graph_target()
    dtype = tf.as_dtype(dtype)
    batch, h, w, channels = (list(padded_shape) + [None] * 4)[:4]
    if target == "tflite" or None in (h, w, channels) or autotune.has_gpu():
        return ["conv"]
    h, w = h - 2, w - 2
    macs = (batch or 1) * h * w * channels * (filters or channels) * 9
    if macs < MEASURE_MIN_MACS:
        return ["conv"]
    out = ["conv", "matmul"]
    if dtype == tf.float32:
        out.append("tconv")
    if target == "keras" and dtype in (tf.float32, tf.bfloat16):
        if h % 2 == 0 and w % 2 == 0:
            out.append("winograd2")
        if h % 4 == 0 and w % 4 == 0 and not training:
            out.append("winograd4")
    return out


def conv3x3_method(padded_shape, dtype, target: str = None, training: bool = False,
                   filters: Optional[int] = None) -> str:
    """How :func:`conv3x3` computes a conv of this padded input and ``filters``
    outputs (default: as many as inputs): ``TFSEM_CONV3X3`` when it pins a
    method this conv may use, else the fastest candidate measured on this
    machine (:mod:`tfsem.autotune`). ``training``: a training step's
    conv (no F(4x4), and timed with its gradients)."""
    target = target or current_graph_target()
    dtype = tf.as_dtype(dtype)
    candidates = conv3x3_candidates(padded_shape, dtype, target, training, filters)
    batch, h, w, channels = padded_shape
    filters = filters or channels
    key = (f"{target}|{dtype.name}|{'train' if training else 'infer'}|"
           f"{batch or 1}x{h}x{w}x{channels}->{filters}")
    return autotune.pick("conv3x3", "TFSEM_CONV3X3", METHODS, candidates, key,
                         lambda method: _timed_call(method, (batch or 1, h, w, channels),
                                                    filters, dtype, training))


def _timed_call(method, shape, filters, dtype, training):
    """A zero-argument call running the conv ``method`` on random inputs of
    ``shape`` (eagerly, outside any graph being traced), with its gradients
    when ``training``."""
    with tf.init_scope():
        x = tf.random.normal(shape, dtype=tf.float32)
        k = tf.random.normal([3, 3, shape[-1], filters], stddev=0.05, dtype=tf.float32)
        x, k = tf.cast(x, dtype), tf.cast(k, dtype)

        def forward(x, k):
            return tf.reduce_sum(tf.cast(conv3x3(x, k, method), tf.float32))

        def backward(x, k):
            # tf.gradients, not a tape: tf.init_scope pauses every tape
            gx, gk = tf.gradients(forward(x, k), [x, k])
            return tf.reduce_sum(tf.cast(gx, tf.float32)) + tf.reduce_sum(tf.cast(gk, tf.float32))

        step = tf.function(backward if training else forward, autograph=False)

    def run():
        with tf.init_scope():
            return step(x, k).numpy()
    return run


def conv3x3(padded, kernel, method: str = None, training: bool = False):
    """A VALID stride-1 3x3 conv of an already padded NHWC input with a
    [3, 3, C, F] kernel (cast to the input's dtype), by ``method`` (default:
    :func:`conv3x3_method` for ``training`` or inference)."""
    padded = tf.convert_to_tensor(padded)
    method = method or conv3x3_method(padded.shape, padded.dtype, training=bool(training),
                                      filters=kernel.shape[-1])
    if method in ("winograd2", "winograd4"):
        # in float32 (its tile transforms need that precision): a bfloat16 conv is cast
        # in and its output rounded back once; for float32 both casts are no-ops
        out = winograd_conv3x3(tf.cast(padded, tf.float32), kernel, 4 if method == "winograd4" else 2)
        return tf.cast(out, padded.dtype)
    if method == "matmul":
        return conv3x3_as_matmul(padded, kernel)
    if method == "tconv":
        return conv3x3_transposed(padded, kernel)
    if method == "conv":
        return tf.nn.conv2d(padded, tf.cast(kernel, padded.dtype), 1, "VALID")
    raise ValueError(f"conv3x3: unknown method {method!r}")
