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

__all__ = ["nearest_interpolate"]


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
    shape = tf.shape(x)
    x = tf.gather(x, _source_index(shape[1], size[0]), axis=1)
    return tf.gather(x, _source_index(shape[2], size[1]), axis=2)
