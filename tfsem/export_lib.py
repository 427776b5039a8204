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

import numpy as np
import tensorflow as tf

from tfsem.config import config_to_dict
from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import lookup_class_indices, semantic_map, uint8_image

__all__ = ["DEFAULT_MAX_PIXELS", "GeneratorGraph", "export_saved_model", "next_version",
           "write_version"]

DEFAULT_MAX_PIXELS = 4096 * 4096


class GeneratorGraph(tf.Module):
    """The inference graph of a label-to-photo model (GauGAN or pix2pixHD),
    shared by the SavedModel and the TFLite export: raw ids -> class indices,
    one-hot (+ instance edges), (+ pix2pixHD cluster features), generator,
    uint8. No validation here (asserts are not TFLite builtins).

    Optional inputs, in this order after ``label_map``: ``instance_map``
    (``use_instances``), ``z`` float [B, z_dim] (GauGAN VAE), ``cluster`` int
    [B] (pix2pixHD with instance features: every pixel takes centre
    ``cluster mod k`` of its class from the clusters of
    ``python -m tfsem.encode_features``, i.e. ``generate --cluster K``).
    """

    def __init__(self, model, table: np.ndarray, clusters: Optional[dict] = None):
        super().__init__(name="tfsem_generator")
        self.generator = model.generator
        # Track the underlying tf.Variables themselves (as keras.export.ExportArchive
        # does): without this the TF1 session loader, the path of TF Serving's
        # SavedModelBundle, cannot restore Keras 3 variables.
        self.tf_variables = [v.value for v in model.generator.variables]
        self.num_classes = model.num_classes
        self.use_instances = bool(model.use_instances)
        self.use_vae = bool(getattr(model, "use_vae", False))
        self.z_dim = getattr(model, "z_dim", 0)
        self.use_features = bool(getattr(model, "use_features", False))
        self.factor = self.generator.factor
        self.table = tf.constant(table)
        if self.use_features:
            if not clusters:
                raise ValueError("this pix2pixHD model takes instance features: export needs its "
                                 "clusters (python -m tfsem.encode_features, then --features)")
            k = max(len(c) for c in clusters.values())
            features = np.zeros((self.num_classes, k, model.feat_num), np.float32)
            counts = np.ones((self.num_classes,), np.int32)  # no clusters: zero features
            for cls, centres in clusters.items():
                if 0 <= cls < self.num_classes:
                    features[cls, :len(centres)] = centres
                    counts[cls] = len(centres)
            self.feature_table = tf.constant(features)
            self.cluster_counts = tf.constant(counts)

    def input_specs(self, batch=None, height=None, width=None, png=False):
        """TensorSpecs of the inputs, in call order."""
        maps = [batch] if png else [batch, height, width]
        dtype = tf.string if png else tf.int32
        prefix = ("label_png", "instance_png") if png else ("label_map", "instance_map")
        specs = [tf.TensorSpec(maps, dtype, name=prefix[0])]
        if self.use_instances:
            specs.append(tf.TensorSpec(maps, dtype, name=prefix[1]))
        if self.use_vae:
            specs.append(tf.TensorSpec([batch, self.z_dim], tf.float32, name="z"))
        if self.use_features:
            specs.append(tf.TensorSpec([batch], tf.int32, name="cluster"))
        return specs

    def split_args(self, args):
        """(label, instance, z, cluster) from positional args in input_specs order."""
        args = list(args)
        label = args.pop(0)
        instance = args.pop(0) if self.use_instances else None
        z = args.pop(0) if self.use_vae else None
        cluster = args.pop(0) if self.use_features else None
        return label, instance, z, cluster

    def features(self, index, cluster):
        """[B,H,W,feat_num]: centre ``cluster mod k`` of each pixel's class."""
        cls = tf.maximum(index, 0)
        count = tf.gather(self.cluster_counts, cls)
        k = tf.math.floormod(tf.cast(cluster, tf.int32)[:, None, None], count)
        feats = tf.gather_nd(self.feature_table, tf.stack([cls, k], -1))
        return feats * tf.cast(index >= 0, feats.dtype)[..., None]

    def render(self, label_map, instance_map=None, z=None, cluster=None):
        index, _ = lookup_class_indices(self.table, label_map)
        return self.render_indices(index, instance_map, z, cluster)

    def render_indices(self, index, instance_map=None, z=None, cluster=None):
        """As ``render``, from CLASS INDICES (the dream graph feeds SemGAN's maps)."""
        segmap = semantic_map(index, instance_map, self.num_classes, self.use_instances)
        if self.use_features:
            segmap = tf.concat([segmap, self.features(index, cluster)], -1)
        extra = {"z": z} if self.use_vae else {}
        return uint8_image(self.generator(segmap, training=False, **extra))


class _Serving(tf.Module):
    """GeneratorGraph + in-graph validation and PNG coding: the served module."""

    def __init__(self, graph: GeneratorGraph, label_space, max_pixels):
        super().__init__(name="tfsem_serving")
        self.graph = graph
        self.max_pixels = int(max_pixels)
        self.valid_ids = label_space.valid_ids_text()
        self.space_name = label_space.name

    def _check_size(self, shape):
        h, w = shape[1], shape[2]
        return [
            tf.debugging.assert_equal(
                (h % self.graph.factor == 0) & (w % self.graph.factor == 0), True,
                message=f"height and width must be multiples of {self.graph.factor}"),
            tf.debugging.assert_less_equal(
                tf.cast(h, tf.int64) * tf.cast(w, tf.int64), tf.constant(self.max_pixels, tf.int64),
                message=f"label map has more than max_pixels={self.max_pixels} pixels"),
        ]

    def _check_ids(self, label_map):
        _, valid = lookup_class_indices(self.graph.table, label_map)
        return tf.debugging.assert_equal(
            tf.reduce_all(valid), True,
            message=f"label_map has ids outside the {self.space_name} label space "
                    f"(valid ids: {self.valid_ids})")

    def render(self, label_map, instance_map=None, z=None, cluster=None):
        label_map = tf.convert_to_tensor(label_map)
        checks = self._check_size(tf.shape(label_map))
        with tf.control_dependencies(checks):
            checks.append(self._check_ids(label_map))
        if self.graph.use_instances:
            checks.append(tf.debugging.assert_equal(
                tf.shape(instance_map), tf.shape(label_map),
                message="instance_map must have the shape of label_map"))
        with tf.control_dependencies(checks):
            return self.graph.render(tf.identity(label_map), instance_map, z, cluster)

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

    def render_png(self, label_png, instance_png=None, z=None, cluster=None):
        labels = self._decode(label_png, "label_png")
        instances = self._decode(instance_png, "instance_png") if self.graph.use_instances else None
        image = self.render(labels, instances, z, cluster)
        return tf.map_fn(tf.io.encode_png, image, fn_output_signature=tf.string)

    def signatures(self):
        """serving_default and predict_png; inputs in GeneratorGraph.input_specs order."""
        def make(fn, png, out_name):
            def wrapped(*args):
                return {out_name: fn(*self.graph.split_args(args))}

            return tf.function(wrapped, input_signature=self.graph.input_specs(png=png)
                               ).get_concrete_function()

        return {"serving_default": make(self.render, False, "image"),
                "predict_png": make(self.render_png, True, "image_png_bytes")}


def next_version(base: str) -> int:
    """1 + the largest numeric version dir under ``base`` (1 if none)."""
    if not os.path.isdir(base):
        return 1
    versions = [int(d) for d in os.listdir(base) if d.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(model, config, base: str, version: Optional[int] = None,
                       max_pixels: int = DEFAULT_MAX_PIXELS, clusters: Optional[dict] = None) -> str:
    """Exports ``model`` to ``base/<version>`` atomically; returns that path.
    ``clusters``: pix2pixHD feature clusters (``tfsem.features.load_clusters``)."""
    if not hasattr(model, "generator") or not hasattr(model, "semantic_input"):
        raise TypeError(f"export_saved_model takes label-to-photo models (GauGAN, pix2pixHD), "
                        f"got {type(model).__name__}; SemGAN: tfsem.export_label_maps")
    space = load_label_space(config.data.label_space)
    graph = GeneratorGraph(model, space.raw_to_index_table(config.data.dont_care), clusters)
    module = _Serving(graph, space, max_pixels)
    return write_version(base, version, module, module.signatures(),
                         {"config.json": config_to_dict(config),
                          "label_space.json": space.to_dict()})


def write_version(base: str, version: Optional[int], module, signatures, assets: dict) -> str:
    """Saves ``module`` to ``base/<version>`` (default: the next free number)
    through a temporary dir and a rename; ``assets``: file name -> JSON data
    for ``assets/``. Returns the version dir."""
    version = next_version(base) if version is None else int(version)
    if version < 1:
        raise ValueError(f"--version must be >= 1, got {version}")
    final = os.path.join(base, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final}: this version exists; choose another --version")
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base)
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        for name, data in assets.items():
            with open(os.path.join(tmp, "assets", name), "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
