"""Stride-1 3x3 convolutions, computed the way measured fastest for their size,
dtype and graph target (:mod:`tfsem.layers.graph_target`). Every way gives the
same function (tested against ``tf.nn.conv2d``); float32 results differ by
rounding only.

What was measured (2 cores of an Intel Xeon with AVX-512 and AMX, TF 2.21's
oneDNN; ``dev/benchmark.py convs`` prints the table, BENCHMARKS.md):

* bfloat16 / float16: oneDNN's convolution (AMX, ~1.5 TFLOP/s), but for
  maps of 8x16 and smaller at 512 channels and more (SPADE's head and middle
  blocks): the im2col GEMM (5.9 vs 9.7 ms at 8x16, 1024 channels).
* float32, 256 input channels and more, a map of at least 16x32 (in this
  process only, not in exports): Winograd's minimal filtering (Lavin & Gray
  2016, arXiv 1509.09308). F(4x4, 3x3) does a 3x3 conv over 4x4 output tiles
  as 36 independent GEMMs on transformed 6x6 input tiles: 4x fewer
  multiplications; F(2x2, 3x3) on 4x4 tiles, 2.25x fewer. The tile
  transforms are XLA-compiled (one fused loop each; as separate TF ops they
  cost more than the GEMMs save). 1024 channels at 32x64 (pix2pixHD's
  ResNet blocks): 224 ms as a conv, 125 ms im2col, 73 ms F(2x2), 59 ms
  F(4x4). Rounding of the outputs: ~2e-5 of their range for F(4x4), 3e-6 for
  F(2x2), against ~1e-6 for a conv (pix2pixHD's G1 at 1024x512 renders within
  1 level of the plain convs, 82 / 87 dB); cuDNN makes the same trade on
  GPUs. F(4x4) is for inference only: its weight gradient sums large
  transformed terms that cancel, and in one measured case (a pix2pixHD
  ResNet block, 4x16x32x256, random input) conv_0's kernel gradient came out
  4.7% (of its largest entry) off the plain convs' (F(2x2): 1e-6), so
  training uses F(2x2).
* float32, 512 input channels and more otherwise: im2col (nine shifted
  slices, one concat) and one GEMM; oneDNN's conv runs 1024 channels at 8x16
  at ~80 GFLOP/s, the GEMM at ~220.
* everything else, and every TFLite graph: ``tf.nn.conv2d``.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from tfsem.layers.graph_target import current_graph_target

__all__ = ["conv3x3", "conv3x3_as_matmul", "conv3x3_method", "winograd_conv3x3"]

#: float32 input channels from which the im2col GEMM beats oneDNN's conv.
MATMUL_MIN_CHANNELS = 512
#: bfloat16 / float16: maps up to this many pixels (8x16) go through the GEMM
#: at MATMUL_MIN_CHANNELS and more (1024 channels at 8x16: 9.7 ms as a conv,
#: 5.9 ms as the GEMM).
LOW_PRECISION_MATMUL_MAX_PIXELS = 128
#: float32 input channels and output pixels from which Winograd pays.
WINOGRAD_MIN_CHANNELS = 256
WINOGRAD_MIN_PIXELS = 512        # F(2x2, 3x3): 16x32 and up (over the batch)
WINOGRAD_F4_MIN_PIXELS = 2048    # F(4x4, 3x3): 32x64 and up (over the batch)

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


@functools.lru_cache(maxsize=None)
def _has_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def conv3x3_method(padded_shape, dtype, target: str = None, training: bool = False) -> str:
    """``"winograd4"``, ``"winograd2"``, ``"matmul"`` or ``"conv"``: how
    :func:`conv3x3` computes a conv of this padded input (see the module).
    ``training``: no F(4x4), whose kernel gradients are not accurate enough."""
    target = target or current_graph_target()
    dtype = tf.as_dtype(dtype)
    channels = padded_shape[-1]
    if target == "tflite" or channels is None or _has_gpu():
        return "conv"
    h, w = padded_shape[1], padded_shape[2]
    if dtype != tf.float32:
        small = h is not None and w is not None and (h - 2) * (w - 2) <= LOW_PRECISION_MATMUL_MAX_PIXELS
        return "matmul" if small and channels >= MATMUL_MIN_CHANNELS else "conv"
    if target == "keras" and channels >= WINOGRAD_MIN_CHANNELS and h is not None \
            and w is not None:
        h, w = h - 2, w - 2
        pixels = h * w * (padded_shape[0] or 1)  # over the batch: the GEMMs' rows
        if pixels >= WINOGRAD_F4_MIN_PIXELS and h % 4 == 0 and w % 4 == 0 and not training:
            return "winograd4"
        if pixels >= WINOGRAD_MIN_PIXELS and h % 2 == 0 and w % 2 == 0:
            return "winograd2"
    return "matmul" if channels >= MATMUL_MIN_CHANNELS else "conv"


def conv3x3(padded, kernel, method: str = None, training: bool = False):
    """A VALID stride-1 3x3 conv of an already padded NHWC input with a
    [3, 3, C, F] kernel (cast to the input's dtype), by ``method`` (default:
    :func:`conv3x3_method` for ``training`` or inference)."""
    padded = tf.convert_to_tensor(padded)
    method = method or conv3x3_method(padded.shape, padded.dtype, training=bool(training))
    if method == "winograd4":
        return winograd_conv3x3(padded, kernel, 4)
    if method == "winograd2":
        return winograd_conv3x3(padded, kernel, 2)
    if method == "matmul":
        return conv3x3_as_matmul(padded, kernel)
    if method == "conv":
        return tf.nn.conv2d(padded, tf.cast(kernel, padded.dtype), 1, "VALID")
    raise ValueError(f"conv3x3: unknown method {method!r}")
