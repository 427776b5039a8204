"""Preprocessing as TensorFlow ops: geometric augmentation, edge maps, one-hot.

``augment`` applies one resize / crop / flip to label, instance and image
together (nearest neighbour for the id maps, bicubic for the photo), so they
stay aligned. ``instance_edges`` and ``one_hot`` are what models call inside
their graphs, so training and serving compute them the same way.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfsem.config import PreprocessConfig

__all__ = ["augment", "class_rows", "instance_edges", "lookup_class_indices", "one_hot",
           "photo_at_size", "resize_map", "resize_photo", "semantic_map", "target_size", "uint8_image"]


def instance_edges(instance: tf.Tensor) -> tf.Tensor:
    """Instance boundary map as NVIDIA/pix2pixHD ``get_edges`` defines it.

    A pixel is an edge when its instance id differs from its right, left,
    lower or upper neighbour. Works on ``[..., H, W]`` integer maps and
    returns float32 of the same shape (1.0 on edges, 0.0 elsewhere).
    """
    instance = tf.convert_to_tensor(instance)
    rank = instance.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"instance_edges expects [..., H, W] maps, got shape {instance.shape}")
    lead = [[0, 0]] * (rank - 2)
    dx = tf.not_equal(instance[..., :, 1:], instance[..., :, :-1])
    dy = tf.not_equal(instance[..., 1:, :], instance[..., :-1, :])
    edge = (
        tf.pad(dx, lead + [[0, 0], [1, 0]])
        | tf.pad(dx, lead + [[0, 0], [0, 1]])
        | tf.pad(dy, lead + [[1, 0], [0, 0]])
        | tf.pad(dy, lead + [[0, 1], [0, 0]])
    )
    return tf.cast(edge, tf.float32)


def one_hot(label: tf.Tensor, num_channels: int, dtype=tf.float32) -> tf.Tensor:
    """Class-index map [..., H, W] -> [..., H, W, C]; index -1 gives all zeros."""
    # Rows of an identity table (+ a zero row for index -1) instead of
    # tf.one_hot: the same values, but it survives full-int8 TFLite conversion
    # (a quantised ONE_HOT, also what equal+cast becomes, writes raw 0/1 codes).
    return class_rows(tf.eye(num_channels, dtype=dtype), label)


def class_rows(table: tf.Tensor, label: tf.Tensor) -> tf.Tensor:
    """Row ``label`` of ``table`` [C, K] per pixel: [..., H, W, K]; index -1
    gives zeros (one more, all-zero row)."""
    table = tf.convert_to_tensor(table)
    rows, width = int(table.shape[0]), int(table.shape[1])
    label = tf.cast(label, tf.int32)
    table = tf.concat([table, tf.zeros([1, width], table.dtype)], 0)
    return tf.gather(table, tf.where(label < 0, rows, label))


def semantic_map(label, instance, num_classes: int, use_instances: bool,
                 colors=None) -> tf.Tensor:
    """The generator input: one-hot class indices [..., H, W, C] (+ the instance
    edge map as one more channel). Training (``ConditionalGAN.semantic_input``)
    and inference (``ConditionalGAN.infer``) both build it here, so they cannot
    disagree. ``colors`` (float [C, 3]): each class's colour instead of its
    one-hot row (pix2pix's colour label input; index -1 gives zeros)."""
    segmap = (one_hot(label, num_classes) if colors is None
              else class_rows(tf.constant(colors, tf.float32), label))
    if use_instances:
        segmap = tf.concat([segmap, instance_edges(instance)[..., None]], axis=-1)
    return segmap


def uint8_image(image: tf.Tensor) -> tf.Tensor:
    """A generator's tanh output in [-1, 1] -> uint8 [0, 255], in the SavedModel
    and TFLite graphs alike. Written as ``x * 127.5 + 127.5`` without a clip:
    tanh already bounds it, and TFLite's full-int8 converter mis-scales both a
    clip after tanh and ``(x + 1) * 127.5`` (measured: PSNR 16 dB instead of 37)."""
    return tf.cast(tf.round(tf.cast(image, tf.float32) * 127.5 + 127.5), tf.uint8)


def lookup_class_indices(table: tf.Tensor, raw: tf.Tensor):
    """Raw label ids -> (class indices, valid mask) through a label space's
    ``raw_to_index_table``; ids outside the table or unknown are invalid."""
    from tfsem.data.labels import INVALID_INDEX

    raw = tf.cast(raw, tf.int32)
    in_table = (raw >= 0) & (raw < tf.shape(table)[0])
    index = tf.gather(table, tf.where(in_table, raw, 0))
    return index, in_table & (index != INVALID_INDEX)


def target_size(height: tf.Tensor, width: tf.Tensor, config: PreprocessConfig):
    """The (height, width) after the resize step (before cropping)."""
    if config.resize_to is not None:
        return tf.constant(config.resize_to[0]), tf.constant(config.resize_to[1])
    if config.scale_width is not None:
        scale = config.scale_width / tf.cast(width, tf.float32)
        new_h = tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32)
        return tf.maximum(new_h, 1), tf.constant(config.scale_width)
    return height, width


def _pil_nearest_index(size_in, size_out):
    """Source index of every output pixel of PIL's ``Image.resize(NEAREST)``:
    ``int(x0 + k * scale)`` with x0 = scale / 2, accumulated step by step in
    float64 as Pillow's ``affine_scale`` does (a direct ``(k + 0.5) * scale``
    rounds differently at exact ties, which are common)."""
    if isinstance(size_in, int) and isinstance(size_out, int):  # static: a constant
        scale = size_in / size_out
        steps = np.concatenate([[scale * 0.5], np.full(size_out - 1, scale)])
        return tf.constant(np.minimum(np.cumsum(steps).astype(np.int64), size_in - 1), tf.int32)
    scale = tf.cast(size_in, tf.float64) / tf.cast(size_out, tf.float64)
    steps = tf.concat([[scale * 0.5], tf.fill([size_out - 1], scale)], 0)
    return tf.minimum(tf.cast(tf.cumsum(steps), tf.int32), tf.cast(size_in, tf.int32) - 1)


def _dim(value):
    """A Python int where the value is known when tracing, else the tensor."""
    static = tf.get_static_value(value)
    return int(static) if static is not None else value


def resize_map(x, size) -> tf.Tensor:
    """Nearest-neighbour resize of id maps [..., H, W] to ``size`` (ids stay ids).

    The pixels PIL's ``Image.resize(size, Image.NEAREST)`` takes, which is how
    the official data loaders resize label and instance maps (NVlabs/SPADE and
    NVIDIA/pix2pixHD ``data/base_dataset.py``, ``method=Image.NEAREST``), so a
    label PNG gives the same network input as in the official test scripts.
    (``tf.image.resize(method="nearest")`` differs at some ties.) With static
    shapes the indices are constants, so exported graphs stay TFLite builtins.
    """
    x = tf.convert_to_tensor(x)
    rank = x.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"resize_map expects [..., H, W] maps, got shape {x.shape}")
    shape = tf.shape(x)
    rows = _pil_nearest_index(_dim(x.shape[rank - 2] or shape[rank - 2]), _dim(size[0]))
    cols = _pil_nearest_index(_dim(x.shape[rank - 1] or shape[rank - 1]), _dim(size[1]))
    return tf.gather(tf.gather(x, rows, axis=rank - 2), cols, axis=rank - 1)


def resize_photo(image, size) -> tf.Tensor:
    """A photo [..., H, W, 3] resized as the official loaders do: PIL's ``BICUBIC``,
    which antialiases when shrinking (``transforms.Resize`` / ``img.resize``)."""
    return tf.image.resize(tf.cast(image, tf.float32), size, method="bicubic", antialias=True)


def photo_at_size(photo, size) -> np.ndarray:
    """uint8 photos [..., H, W, 3] at ``size`` (H, W): unchanged at that size,
    else resized as :func:`resize_photo` and rounded back to uint8."""
    photo = np.asarray(photo)
    if tuple(photo.shape[-3:-1]) == tuple(size):
        return photo
    return np.clip(np.round(resize_photo(photo, size).numpy()), 0, 255).astype(np.uint8)


#: The id maps of an example (resized by nearest neighbour) and its photos (bicubic).
MAP_KEYS = ("label", "instance")
PHOTO_KEYS = ("input", "image")


def augment(
    example: Dict[str, tf.Tensor],
    config: PreprocessConfig,
    training: bool,
    seed: Optional[tf.Tensor] = None,
) -> Dict[str, tf.Tensor]:
    """Resize, crop and flip every map and photo of one example identically.

    Args:
        example: ``label`` int32 [H,W], optional ``instance`` int32 [H,W] and
            ``image`` (uint8 or float in [-1,1]) [H,W,3]; photo-to-photo: the
            input photo ``input`` (as ``image``), with or without ``label``.
        config: the preprocessing section of the data config.
        training: random crop and flip when True; centre crop, no flip otherwise.
        seed: int [2] seed of the stateless random ops (needed when training).
    Returns:
        The same keys, ``image`` (and ``input``) as float32 in [-1, 1].
    """
    out = dict(example)
    maps = [k for k in MAP_KEYS if k in out]
    photos = [k for k in PHOTO_KEYS if k in out]
    first = out[(maps + photos)[0]]
    height, width = tf.shape(first)[0], tf.shape(first)[1]
    new_h, new_w = target_size(height, width, config)
    if config.resize_to is not None or config.scale_width is not None:
        size = tf.stack([new_h, new_w])
        for key in maps:
            out[key] = resize_map(out[key], size)
        for key in photos:
            out[key] = resize_photo(out[key], size)
    for key in photos:
        image = tf.cast(out[key], tf.float32)
        if example[key].dtype == tf.uint8:
            image = image / 127.5 - 1.0
        out[key] = tf.clip_by_value(image, -1.0, 1.0)

    if seed is None:
        seed = tf.constant([0, 0], tf.int64)
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if config.crop_to is not None:
        ch, cw = config.crop_to
        tf.debugging.assert_greater_equal(
            tf.stack([new_h, new_w]), tf.constant([ch, cw]),
            message=f"preprocess.crop_to {list(config.crop_to)} is larger than the resized example",
        )
        if training:
            off_h = tf.random.stateless_uniform([], crop_seed, 0, new_h - ch + 1, dtype=tf.int32)
            off_w = tf.random.stateless_uniform(
                [], crop_seed[::-1], 0, new_w - cw + 1, dtype=tf.int32)
        else:
            off_h, off_w = (new_h - ch) // 2, (new_w - cw) // 2
        for key in maps + photos:
            out[key] = out[key][off_h:off_h + ch, off_w:off_w + cw]
    if training and config.flip:
        do_flip = tf.random.stateless_uniform([], flip_seed) < 0.5
        for key in maps + photos:
            value = out[key]
            out[key] = tf.cond(do_flip, lambda v=value: tf.reverse(v, [1]), lambda v=value: v)
    return out


def style_photo(image, size) -> tf.Tensor:
    """A style photo uint8 [H, W, 3] (or [B, H, W, 3]) as a model input [B, h, w, 3]:
    prepared as the data pipeline prepares photos, resized to ``size``, then [-1, 1]."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(f"a style photo must be [height, width, 3] RGB, got shape {image.shape}")
    photo = resize_photo(image, size)
    return tf.clip_by_value(photo / 127.5 - 1.0, -1.0, 1.0)
