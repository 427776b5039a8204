"""SavedModel export in the TF Serving layout (``<base>/<version>/``).

Signatures of a label-to-photo model (GauGAN today):

* ``serving_default``: ``label_map`` int32 [B, H, W] of RAW label ids (as in
  the label PNGs; mapped to class indices in the graph), ``instance_map``
  int32 [B, H, W] when the model uses instances, ``z`` float32 [B, z_dim]
  for VAE models -> ``image`` uint8 [B, H, W, 3].
* ``predict_png``: ``label_png`` string [B] (8- or 16-bit grey PNGs of raw
  ids), ``instance_png`` when used, ``z`` for VAE models -> ``image_png_bytes``
  string [B]; decoded and encoded in the graph.

Bad input gets an InvalidArgument error with a clear message, never silent
zeros: ids outside the label space, H/W not multiples of the model's factor,
a PNG over ``max_pixels``, label and instance sizes that differ. Dynamic
batch and dynamic H/W (multiples of the factor).

A version is written to a temporary dir next to its final place and renamed,
so a server watching the base path never loads a half-written version. Its
``assets/`` hold the resolved config and the label space as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Optional

import tensorflow as tf

from tfsem.config import config_to_dict
from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import lookup_class_indices, semantic_map, uint8_image

__all__ = ["DEFAULT_MAX_PIXELS", "export_saved_model", "next_version"]

DEFAULT_MAX_PIXELS = 4096 * 4096


class _GauGANServing(tf.Module):
    """The inference graph only: label mapping, one-hot + edges, generator (+ encoder)."""

    def __init__(self, model, label_space, dont_care, max_pixels):
        super().__init__(name="tfsem_serving")
        self.generator = model.generator
        # Track the underlying tf.Variables themselves (as keras.export.ExportArchive
        # does): without this the TF1 session loader, the path of TF Serving's
        # SavedModelBundle, cannot restore Keras 3 variables.
        self.tf_variables = [v.value for v in model.generator.variables]
        self.num_classes = model.num_classes
        self.use_instances = model.use_instances
        self.use_vae = model.use_vae
        self.z_dim = model.z_dim
        self.factor = 2 ** model.generator.num_upsampling
        self.max_pixels = int(max_pixels)
        self.table = tf.constant(label_space.raw_to_index_table(dont_care))
        self.valid_ids = label_space.valid_ids_text()
        self.space_name = label_space.name

    def _check_size(self, shape):
        h, w = shape[1], shape[2]
        return [
            tf.debugging.assert_equal(
                (h % self.factor == 0) & (w % self.factor == 0), True,
                message=f"height and width must be multiples of {self.factor}"),
            tf.debugging.assert_less_equal(
                tf.cast(h, tf.int64) * tf.cast(w, tf.int64), tf.constant(self.max_pixels, tf.int64),
                message=f"label map has more than max_pixels={self.max_pixels} pixels"),
        ]

    def _indices(self, label_map):
        index, valid = lookup_class_indices(self.table, label_map)
        check = tf.debugging.assert_equal(
            tf.reduce_all(valid), True,
            message=f"label_map has ids outside the {self.space_name} label space "
                    f"(valid ids: {self.valid_ids})")
        with tf.control_dependencies([check]):
            return tf.identity(index)

    def render(self, label_map, instance_map=None, z=None):
        label_map = tf.convert_to_tensor(label_map)
        checks = self._check_size(tf.shape(label_map))
        with tf.control_dependencies(checks):
            index = self._indices(label_map)
        if self.use_instances:
            tf.debugging.assert_equal(tf.shape(instance_map), tf.shape(label_map),
                                      message="instance_map must have the shape of label_map")
        segmap = semantic_map(index, instance_map, self.num_classes, self.use_instances)
        image = self.generator(segmap, z=z, training=False)
        return uint8_image(image)

    def _decode(self, png, what):
        """PNG bytes [B] -> int32 ids [B, H, W]; size checks from the IHDR header
        BEFORE decoding (a PNG over max_pixels is never decompressed)."""
        png = tf.convert_to_tensor(png)
        long_enough = tf.debugging.assert_equal(
            tf.reduce_all(tf.strings.length(png) >= 24), True, message=f"{what} is not a PNG")
        with tf.control_dependencies([long_enough]):
            signature_ok = tf.debugging.assert_equal(
                tf.reduce_all(tf.strings.substr(png, 0, 8) == b"\x89PNG\r\n\x1a\n"), True,
                message=f"{what} is not a PNG")
            header = tf.cast(tf.io.decode_raw(tf.strings.substr(png, 16, 8), tf.uint8), tf.int64)
        weights = tf.constant([2 ** 24, 2 ** 16, 2 ** 8, 1], tf.int64)
        width = tf.reduce_sum(header[:, :4] * weights, axis=1)
        height = tf.reduce_sum(header[:, 4:] * weights, axis=1)
        checks = [
            signature_ok,
            tf.debugging.assert_less_equal(
                tf.reduce_max(width * height), tf.constant(self.max_pixels, tf.int64),
                message=f"{what} has more than max_pixels={self.max_pixels} pixels"),
            tf.debugging.assert_equal(
                tf.reduce_all((width == width[0]) & (height == height[0])), True,
                message=f"all {what} images of a batch must have the same size"),
        ]
        def decode(data):
            # decode_png(dtype=uint16) RESCALES 8-bit files (7 -> 1799): pick the
            # dtype from the file's bit depth (IHDR byte 24) so ids stay ids.
            depth = tf.io.decode_raw(tf.strings.substr(data, 24, 1), tf.uint8)[0]
            return tf.cond(
                depth == 16,
                lambda: tf.cast(tf.io.decode_png(data, channels=1, dtype=tf.uint16), tf.int32),
                lambda: tf.cast(tf.io.decode_png(data, channels=1, dtype=tf.uint8), tf.int32))[..., 0]

        with tf.control_dependencies(checks):
            return tf.map_fn(decode, png, fn_output_signature=tf.TensorSpec([None, None], tf.int32))

    def render_png(self, label_png, instance_png=None, z=None):
        labels = self._decode(label_png, "label_png")
        instances = self._decode(instance_png, "instance_png") if self.use_instances else None
        image = self.render(labels, instances, z)
        return tf.map_fn(tf.io.encode_png, image, fn_output_signature=tf.string)

    def signatures(self):
        """serving_default and predict_png; both take (label, [instance], [z]) in that order."""
        optional = [self.use_instances, self.use_vae]

        def make(fn, names, map_spec, out_name):
            specs = [tf.TensorSpec(map_spec.shape, map_spec.dtype, name=names[0]),
                     tf.TensorSpec(map_spec.shape, map_spec.dtype, name=names[1]),
                     tf.TensorSpec([None, self.z_dim], tf.float32, name="z")]
            used = [specs[0]] + [spec for spec, on in zip(specs[1:], optional) if on]

            def wrapped(*args):
                args = list(args)
                full = [args.pop(0)] + [args.pop(0) if on else None for on in optional]
                return {out_name: fn(*full)}

            return tf.function(wrapped, input_signature=used).get_concrete_function()

        return {
            "serving_default": make(self.render, ["label_map", "instance_map"],
                                    tf.TensorSpec([None, None, None], tf.int32), "image"),
            "predict_png": make(self.render_png, ["label_png", "instance_png"],
                                tf.TensorSpec([None], tf.string), "image_png_bytes"),
        }


def next_version(base: str) -> int:
    """1 + the largest numeric version dir under ``base`` (1 if none)."""
    if not os.path.isdir(base):
        return 1
    versions = [int(d) for d in os.listdir(base) if d.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(model, config, base: str, version: Optional[int] = None,
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """Exports ``model`` to ``base/<version>`` atomically; returns that path."""
    if not hasattr(model, "generator") or not hasattr(model, "semantic_input"):
        raise TypeError(f"export supports label-to-photo models (GauGAN), got {type(model).__name__}")
    version = next_version(base) if version is None else int(version)
    if version < 1:
        raise ValueError(f"--version must be >= 1, got {version}")
    final = os.path.join(base, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final}: this version exists; choose another --version")
    os.makedirs(base, exist_ok=True)
    space = load_label_space(config.data.label_space)
    module = _GauGANServing(model, space, config.data.dont_care, max_pixels)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base)
    try:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        assets = os.path.join(tmp, "assets")
        os.makedirs(assets, exist_ok=True)
        with open(os.path.join(assets, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config_to_dict(config), f, indent=2)
        with open(os.path.join(assets, "label_space.json"), "w", encoding="utf-8") as f:
            json.dump(space.to_dict(), f, indent=1)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
