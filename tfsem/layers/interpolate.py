"""Resizing with PyTorch's index conventions, where the reference networks resize inside the graph.

``nearest_interpolate`` is ``torch.nn.functional.interpolate(mode="nearest")``
(NVlabs/SPADE ``normalization.py`` ``SPADE.forward`` and ``generator.py``
``SPADEGenerator.forward``): output pixel ``i`` takes source pixel
``floor(i * in / out)`` (ATen ``nearest_idx``). ``tf.image.resize(method=
"nearest")`` uses half-pixel centres instead and picks another source pixel
for most outputs (about 80% differ at a factor of 2), which changes what every
SPADE layer sees. Label maps read from files are resized elsewhere
(``tfsem.data.preprocess.resize_map``), as the official data loaders do with
PIL.
"""

import tensorflow as tf

__all__ = ["nearest_interpolate", "spatial_size", "static_or_dynamic_shape"]


def static_or_dynamic_shape(x):
    """``x``'s shape as a list: Python ints where the static shape knows them,
    scalar tensors elsewhere (a graph gets shape ops only for unknown dims)."""
    static = x.shape.as_list()
    if None not in static:
        return static
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def spatial_size(x, factor: int = 1):
    """(H, W) of NHWC ``x`` divided by ``factor``: Python ints where the static shape
    knows them (so ``nearest_interpolate`` can take its strided-slice path), else tensors."""
    dims = x.shape[1:3]
    if None not in dims:
        return [d // factor for d in dims]
    dynamic = tf.shape(x)
    return [d // factor if d is not None else dynamic[i + 1] // factor
            for i, d in enumerate(dims)]


def _source_index(size_in, size_out):
    # float32 arithmetic as ATen: floorf(dst * (float) in / out), clamped to in - 1.
    scale = tf.cast(size_in, tf.float32) / tf.cast(size_out, tf.float32)
    index = tf.cast(tf.floor(tf.cast(tf.range(size_out), tf.float32) * scale), tf.int32)
    return tf.minimum(index, size_in - 1)


def nearest_interpolate(x, size):
    """Nearest-neighbour resize of NHWC ``x`` to ``size`` = (height, width), PyTorch-style.

    Two gathers (rows, then columns): works with dynamic shapes, under XLA,
    and converts to TFLite builtins (GATHER), quantised too.
    """
    x = tf.convert_to_tensor(x)
    in_h, in_w = x.shape[1], x.shape[2]
    out_h, out_w = (tf.get_static_value(size[0]), tf.get_static_value(size[1]))
    if None not in (in_h, in_w, out_h, out_w) and in_h % out_h == 0 and in_w % out_w == 0:
        # Known integer factors (training, fixed-size exports): floor(i * f) = i * f,
        # a strided slice, which is cheaper than the gathers; none at factor 1.
        if in_h == out_h and in_w == out_w:
            return x
        return x[:, ::in_h // int(out_h), ::in_w // int(out_w)]
    shape = tf.shape(x)
    x = tf.gather(x, _source_index(shape[1], size[0]), axis=1)
    return tf.gather(x, _source_index(shape[2], size[1]), axis=2)
