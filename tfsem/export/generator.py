"""Export of the label-to-photo families (SPADE/GauGAN, pix2pixHD): a
SavedModel in the TF Serving layout (``<base>/<version>/``) and the graph the
TFLite variants are converted from (``tfsem.export.tflite``).

Signatures:

* ``serving_default``: ``label_map`` int32 [B, H, W] of RAW label ids (as in
  the label PNGs; mapped to class indices in the graph), ``instance_map``
  int32 [B, H, W] when the model uses instances, ``z`` float32 [B, z_dim]
  for VAE models, ``cluster`` int32 [B] for pix2pixHD with instance features
  -> ``image`` uint8 [B, H, W, 3].
* ``predict_png``: ``label_png`` string [B] (8- or 16-bit grey PNGs of raw
  ids, or palette PNGs read as the palette INDEX, as the label readers do),
  ``instance_png`` when used, ``z`` / ``cluster`` as above ->
  ``image_png_bytes`` string [B]; decoded and encoded in the graph.

Bad input gets an InvalidArgument error with a clear message, never silent
zeros: ids outside the label space, H/W not multiples of the model's factor,
a PNG over ``max_pixels``, label and instance sizes that differ. Dynamic
batch and dynamic H/W (multiples of the factor).

A version is written atomically (``tfsem.export.base.write_version``); its
``assets/`` hold the resolved config and the label space as JSON.
"""

from __future__ import annotations

import struct
import zlib
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from tfsem.config import config_to_dict
from tfsem.data.labels import load_label_space
from tfsem.data.pipeline import DataPipeline
from tfsem.data.preprocess import lookup_class_indices, resize_map, semantic_map, uint8_image
from tfsem.export.base import (DEFAULT_MAX_PIXELS, ServingModule, precision_asset, sample_input,
                               write_version)

__all__ = ["GeneratorGraph", "GeneratorServing", "calibration_inputs", "export_saved_model",
           "tflite_graph"]


class GeneratorGraph(tf.Module):
    """The inference graph of a label-to-photo model (GauGAN, pix2pixHD or
    pix2pix), shared by the SavedModel and the TFLite export: raw ids -> class
    indices, one-hot or class colours (+ instance edges), (+ pix2pixHD cluster
    features), generator, uint8. No validation here (asserts are not TFLite builtins).

    Inputs by name (``input_specs``, ``outputs``): ``label_map``, and
    ``instance_map`` (``use_instances``), ``z`` float [B, z_dim] (GauGAN VAE),
    ``cluster`` int [B] (pix2pixHD with instance features: every pixel takes
    centre ``cluster mod k`` of its class from the clusters of ``python -m
    tfsem.encode_features``, i.e. ``generate --cluster K``).
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
        self.use_vae, self.z_dim = bool(model.use_vae), int(model.z_dim)
        self.use_features = bool(model.use_features)
        self.label_colors = model.label_colors
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
        """Named TensorSpecs of the inputs (PNG bytes instead of id maps with ``png``)."""
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

    def tflite_size(self, height, width, default):
        """The (height, width) of a fixed-shape TFLite model (default: the training size)."""
        height, width = height or default[0], width or default[1]
        if height % self.factor or width % self.factor:
            raise ValueError(f"--height/--width must be multiples of {self.factor}, "
                             f"got {height}x{width}")
        return height, width

    def outputs(self, label_map, instance_map=None, z=None, cluster=None) -> Dict[str, tf.Tensor]:
        """``{"image": uint8 [B,H,W,3]}`` (the TFLite model's outputs)."""
        return {"image": self.render(label_map, instance_map, z, cluster)}

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
        segmap = semantic_map(index, instance_map, self.num_classes, self.use_instances,
                              self.label_colors)
        if self.use_features:
            segmap = tf.concat([segmap, self.features(index, cluster)], -1)
        extra = {"z": z} if self.use_vae else {}
        return uint8_image(self.generator(segmap, training=False, **extra))


def _grey_ramp_plte(entries: int) -> bytes:
    """A PLTE chunk whose entry i is (i, i, i): decoded through it, a palette
    PNG's pixels are their palette indices."""
    data = bytes(v for i in range(entries) for v in (i, i, i))
    body = b"PLTE" + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


_RAMP_PLTE = [_grey_ramp_plte(n) for n in range(1, 257)]


def _be32(data, pos):
    """Big-endian uint32 (as int64) at byte ``pos`` of each string of ``data``
    (a scalar or a batch [B])."""
    raw = tf.io.decode_raw(tf.strings.substr(data, pos, tf.constant(4, tf.int64)), tf.uint8)
    raw = tf.cast(raw, tf.int64)
    return tf.reduce_sum(raw * tf.constant([2 ** 24, 2 ** 16, 2 ** 8, 1], tf.int64), axis=-1)


def decode_palette_indices(data, what: str):
    """A palette PNG (scalar string) -> int32 [H, W] of palette indices, in the
    graph: the PLTE chunk is swapped for a grey ramp (entry i = (i, i, i), a
    valid CRC) so libpng's decoding yields the indices. Colours are never
    matched back (palettes repeat colours: Cityscapes ids 0-3 are all black)."""
    n = tf.cast(tf.strings.length(data), tf.int64)
    limit = tf.maximum(n - 8, 0)

    def not_there(off):
        name = tf.strings.substr(data, tf.minimum(off + 4, n), tf.constant(4, tf.int64))
        return (off + 8 <= n) & tf.logical_not((name == b"PLTE") | (name == b"IDAT"))

    def next_chunk(off):
        return (off + 12 + _be32(data, tf.minimum(off, limit)),)

    offset, = tf.while_loop(not_there, next_chunk, (tf.constant(8, tf.int64),))
    found = tf.debugging.assert_equal(
        (offset + 8 <= n) & (tf.strings.substr(data, tf.minimum(offset + 4, n),
                                              tf.constant(4, tf.int64)) == b"PLTE"),
        True, message=f"{what}: a palette PNG without a PLTE chunk before its image data")
    with tf.control_dependencies([found]):
        length = _be32(data, offset)
    entries = length // 3
    sane = tf.debugging.assert_equal(
        (length % 3 == 0) & (entries >= 1) & (entries <= 256) & (offset + 12 + length <= n),
        True, message=f"{what}: a malformed PLTE chunk")
    with tf.control_dependencies([sane]):
        rest = offset + 12 + length
        swapped = tf.strings.join([
            tf.strings.substr(data, tf.constant(0, tf.int64), offset),
            tf.gather(tf.constant(_RAMP_PLTE), entries - 1),
            tf.strings.substr(data, rest, n - rest)])
    return tf.cast(tf.io.decode_png(swapped, channels=3, dtype=tf.uint8)[..., 0], tf.int32)


class GeneratorServing(ServingModule):
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
            tf.debugging.assert_positive(
                shape[0], message="label_map holds no examples (an empty batch)"),
            tf.debugging.assert_positive(
                h * w, message="label_map is empty (height or width 0)"),
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
        some = tf.debugging.assert_positive(
            tf.size(png), message=f"{what} holds no images (an empty batch)")
        with tf.control_dependencies([some]):
            png = tf.identity(png)
        long_enough = tf.debugging.assert_equal(
            tf.reduce_all(tf.strings.length(png) >= 26), True, message=f"{what} is not a PNG")
        with tf.control_dependencies([long_enough]):
            signature_ok = tf.debugging.assert_equal(
                tf.reduce_all(tf.strings.substr(png, 0, 8) == b"\x89PNG\r\n\x1a\n"), True,
                message=f"{what} is not a PNG")
            width = _be32(png, tf.constant(16, tf.int64))  # after the length check: in range
            height = _be32(png, tf.constant(20, tf.int64))
            depth = tf.io.decode_raw(tf.strings.substr(png, 24, 1), tf.uint8)[:, 0]
            colour_type = tf.strings.substr(png, 25, 1)
        checks = [
            signature_ok,
            tf.debugging.assert_less_equal(
                tf.reduce_max(width * height), tf.constant(self.max_pixels, tf.int64),
                message=f"{what} has more than max_pixels={self.max_pixels} pixels"),
            tf.debugging.assert_equal(
                tf.reduce_all((width == width[0]) & (height == height[0])), True,
                message=f"all {what} images of a batch must have the same size"),
            # IHDR colour type (byte 25) 0: grey, 3: palette (read as the index, as
            # the label readers do). RGB would be decoded to brightness, not ids.
            tf.debugging.assert_equal(
                tf.reduce_all((colour_type == b"\x00") | (colour_type == b"\x03")), True,
                message=f"{what} must be a grey PNG of ids (8 or 16 bit) or a palette PNG; "
                        "RGB and grey+alpha PNGs are refused: their brightness is not an id"),
            # 1/2/4-bit grey is scaled to 0..255 by libpng: not ids
            tf.debugging.assert_equal(
                tf.reduce_all((colour_type == b"\x03") | (depth >= 8)), True,
                message=f"{what}: 1, 2 or 4-bit grey PNGs are refused (their values are "
                        "rescaled on decoding); save ids as 8 or 16-bit grey"),
        ]
        def decode(item):
            # decode_png(dtype=uint16) RESCALES 8-bit files (7 -> 1799): pick the
            # dtype from the file's bit depth (IHDR byte 24) so ids stay ids.
            data, depth, palette = item
            return tf.case([
                (palette, lambda: decode_palette_indices(data, what)),
                (depth == 16, lambda: tf.cast(
                    tf.io.decode_png(data, channels=1, dtype=tf.uint16)[..., 0], tf.int32))],
                default=lambda: tf.cast(
                    tf.io.decode_png(data, channels=1, dtype=tf.uint8)[..., 0], tf.int32))

        with tf.control_dependencies(checks):
            return tf.map_fn(decode, (png, depth, colour_type == b"\x03"),
                             fn_output_signature=tf.TensorSpec([None, None], tf.int32))

    def render_png(self, label_png, instance_png=None, z=None, cluster=None):
        labels = self._decode(label_png, "label_png")
        instances = self._decode(instance_png, "instance_png") if self.graph.use_instances else None
        image = self.render(labels, instances, z, cluster)
        return {"image_png_bytes": tf.map_fn(tf.io.encode_png, image,
                                             fn_output_signature=tf.string)}

    def input_specs(self) -> List[tf.TensorSpec]:
        return self.graph.input_specs()

    def serve(self, label_map, instance_map=None, z=None, cluster=None):
        return {"image": self.render(label_map, instance_map, z, cluster)}

    def extra_signatures(self):
        return {"predict_png": (self.graph.input_specs(png=True), self.render_png)}


def tflite_graph(model, config, clusters: Optional[dict] = None) -> GeneratorGraph:
    """The graph a label-to-photo model's TFLite variants are converted from."""
    if not model.conditional:
        raise TypeError(f"this export takes label-to-photo models (GauGAN, pix2pixHD), got "
                        f"{type(model).__name__}; SemGAN: tfsem.export.label_maps")
    space = load_label_space(config.data.label_space)
    return GeneratorGraph(model, space.raw_to_index_table(config.data.dont_care), clusters)


def export_saved_model(model, config, base: str, version: Optional[int] = None,
                       max_pixels: int = DEFAULT_MAX_PIXELS, clusters: Optional[dict] = None) -> str:
    """Exports ``model`` to ``base/<version>`` atomically; returns that path.
    ``clusters``: pix2pixHD feature clusters (``tfsem.inference.feature_clusters``)."""
    graph = tflite_graph(model, config, clusters)
    space = load_label_space(config.data.label_space)
    module = GeneratorServing(graph, space, max_pixels)
    return write_version(base, version, module, {"config.json": config_to_dict(config),
                                                 "label_space.json": space.to_dict(),
                                                 "precision.json": precision_asset(model)})


def calibration_inputs(graph: GeneratorGraph, config, count: int, split: str = "train",
                       seed: int = 0, skip: int = 0, height: Optional[int] = None,
                       width: Optional[int] = None) -> List[Dict[str, np.ndarray]]:
    """``count`` batch-1 input dicts from the run's data (toy_streets or the real
    dataset): raw ids resized (nearest) to H x W, instance maps (the label map
    where there are none), ``z`` ~ N(0, I), ``cluster`` = the example's index."""
    space = load_label_space(config.data.label_space)
    pipeline = DataPipeline(config.data, split)
    rng = np.random.default_rng(seed)

    def resize(x):
        return resize_map(x[None], (height, width)).numpy().astype(np.int32)

    out = []
    for ex in pipeline.examples().skip(skip).take(count):
        maps = {"label_map": resize(space.decode(ex["label"].numpy())),
                "instance_map": resize(ex["instance"].numpy() if "instance" in ex
                                       else ex["label"].numpy())}
        out.append(sample_input(graph.input_specs(1, height, width), len(out), rng, maps))
    if not out:
        raise ValueError(f"no {split!r} examples in the run's data ({config.data.source}) "
                         f"for TFLite calibration/evaluation")
    return out
