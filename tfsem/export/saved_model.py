"""SavedModels in the TF Serving layout (``<base>/<version>/``), for every
task, from its own ``infer`` (``tfsem.export.graph``).

Signatures, from the task's ``inference_specs``:

* A task that takes label maps (SPADE/GauGAN, pix2pixHD, pix2pix, ...):
  ``serving_default`` takes the specs as declared (``label_map`` int32
  [B, H, W] of RAW label ids, ``instance_map``, ``z``, ``cluster``, ...) ->
  ``image`` uint8 [B, H, W, 3]; ``predict_png`` takes every ``*_map`` as
  ``*_png`` string [B] (8- or 16-bit grey PNGs of raw ids, or palette PNGs
  read as the palette INDEX, as the label readers do) -> ``image_png_bytes``;
  ``predict_color_png`` the same with ``label_png`` a colour-coded label map
  (RGB / RGBA / palette PNG, each class in its label-space colour, exact;
  colours shared by several ids resolved by the export's ``--color-map``).
  Bad input is an InvalidArgument error with a clear message, never silent
  zeros: ids outside the label space, H/W not multiples of the model's
  factor, a PNG over ``max_pixels``, label and instance sizes that differ.
  Dynamic batch and dynamic H/W (multiples of the factor).
* A photo-to-photo task (``data.input: image``): ``serving_default`` takes
  ``image`` uint8 [B, H, W, 3] -> ``image``; ``predict_png`` ``image_png``
  string [B] -> ``image_png_bytes``.
* A task that samples from a latent ``z`` (SemGAN and its baseline):
  ``serving_default``: ``seed`` int64 [B] -> its outputs (``label_map`` raw
  ids; uint8 images PNG-encoded as ``<name>_png_bytes``: ``color_png_bytes``).
  Seed s gives the map ``tfsem.generate --seed s`` writes. ``from_z``: ``z``
  -> the same outputs.
  A task with other ways to give the look (``alternate_looks``) gets a
  signature for each: SEAN's ``predict_style`` takes ``label_map`` and a
  ``style_image`` uint8 [B, H, W, 3] (its Zencoder in the graph) instead of
  ``style_codes`` [B, S, L].
* The dream chain (``export_dream``): ``seed`` -> ``label_map`` (SemGAN's
  size) and ``image`` (the renderer's); the renderer's look comes from the
  seed (``random_look``, stream 1), as ``python -m tfsem.dream --seed``.

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
from tfsem.data.colors import ColorCodec
from tfsem.data.labels import load_label_space
from tfsem.data.pipeline import DataPipeline
from tfsem.data.preprocess import lookup_class_indices, photo_at_size, resize_map
from tfsem.export.base import (DEFAULT_MAX_PIXELS, ServingModule, bind, precision_asset, sample_input,
                               write_version)
from tfsem.export.graph import DreamGraph, InferenceGraph, check_dream_pair
from tfsem.models.base import latent_for_seeds

__all__ = ["DreamServing", "TaskServing", "calibration_inputs", "decode_palette_indices",
           "dream_graph", "export_dream", "export_saved_model", "inference_graph"]

_SEED = [tf.TensorSpec([None], tf.int64, name="seed")]


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


class _Untracked:
    """A function a served module calls but does not save as its own."""

    def __init__(self, fn):
        self.fn = fn


class TaskServing(ServingModule):
    """A task's ``InferenceGraph`` + in-graph validation and PNG coding: the
    served module (see the module doc for the signatures)."""

    def __init__(self, graph: InferenceGraph, max_pixels: int = DEFAULT_MAX_PIXELS,
                 colors: Optional[ColorCodec] = None):
        super().__init__(name="tfsem_serving")
        self.graph = graph
        self.max_pixels = int(max_pixels)
        #: the label space's colours -> ids: ``predict_color_png`` of a task taking label maps
        self.colors = colors
        self.names = graph.input_names()
        self.takes_maps = "label_map" in self.names
        self.takes_photos = self.names == ["image"]
        if not self.takes_maps and self.names not in (["z"], ["image"]):
            raise ValueError(f"a {graph.task_name} task takes {self.names}: the export serves "
                             "tasks that take label maps, a photo, or a latent 'z' only")
        # graph.outputs over the required inputs as one tf.function: serving_default,
        # predict_png and predict_color_png (from_seed and from_z) call the one trace
        # of the network instead of tracing it each. Held by a plain object: as an
        # attribute of the module, tf.saved_model.save would trace it once more.
        self._shared = _Untracked(bind(graph.input_specs(), graph.outputs))

    def _outputs(self, **inputs):
        """``graph.outputs``, through the shared trace when ``inputs`` are the
        required ones."""
        if sorted(inputs) == sorted(self.names):
            return self._shared.fn(*[inputs[name] for name in self.names])
        return self.graph.outputs(**inputs)

    # -- label maps in ------------------------------------------------------------
    def _check_size(self, shape, what: str = "label_map"):
        h, w = shape[1], shape[2]
        factor = self.graph.factor
        return [
            tf.debugging.assert_positive(
                shape[0], message=f"{what} holds no examples (an empty batch)"),
            tf.debugging.assert_positive(
                h * w, message=f"{what} is empty (height or width 0)"),
            tf.debugging.assert_equal(
                (h % factor == 0) & (w % factor == 0), True,
                message=f"height and width must be multiples of {factor}"),
            tf.debugging.assert_less_equal(
                tf.cast(h, tf.int64) * tf.cast(w, tf.int64), tf.constant(self.max_pixels, tf.int64),
                message=f"{what} has more than max_pixels={self.max_pixels} pixels"),
        ]

    def _check_ids(self, label_map):
        codec = self.graph.codec
        _, valid = lookup_class_indices(tf.constant(codec.table), label_map)
        return tf.debugging.assert_equal(
            tf.reduce_all(valid), True,
            message=f"label_map has ids outside the {codec.name} label space "
                    f"(valid ids: {codec.valid_ids})")

    def render(self, **inputs):
        label_map = tf.convert_to_tensor(inputs["label_map"])
        checks = self._check_size(tf.shape(label_map))
        with tf.control_dependencies(checks):
            checks.append(self._check_ids(label_map))
        for name, value in inputs.items():
            if name.endswith("_map") and name != "label_map":
                checks.append(tf.debugging.assert_equal(
                    tf.shape(value), tf.shape(label_map),
                    message=f"{name} must have the shape of label_map"))
            elif name.endswith("_image"):
                checks.append(tf.debugging.assert_equal(
                    tf.shape(value)[:3], tf.shape(label_map),
                    message=f"{name} must be [B, H, W, 3] of label_map's B, H and W"))
        with tf.control_dependencies(checks):
            inputs = {**inputs, "label_map": tf.identity(label_map)}
            return self._outputs(**inputs)

    def _png_header(self, png, what):
        """(png, bit depth [B], colour type [B], checks) of PNG bytes [B]: the
        signature and size checks from the IHDR header, made BEFORE decoding (a
        PNG over max_pixels is never decompressed)."""
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
                message=f"all {what} images of a batch must have the same size")]
        return png, depth, colour_type, checks

    def _decode(self, png, what):
        """PNG bytes [B] of id maps -> int32 ids [B, H, W]."""
        png, depth, colour_type, checks = self._png_header(png, what)
        checks += [
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

    # -- photos in (photo-to-photo) ------------------------------------------------------
    def render_photo(self, image):
        """uint8 photos [B,H,W,3] -> ``{"image": uint8}``, sizes checked first."""
        image = tf.convert_to_tensor(image)
        with tf.control_dependencies(self._check_size(tf.shape(image), "image")):
            return self._outputs(image=tf.identity(image))

    def render_photo_png(self, image_png):
        """``predict_png`` of a photo-to-photo export: PNG photos -> PNG photos."""
        png, _, _, checks = self._png_header(image_png, "image_png")
        with tf.control_dependencies(checks):
            photos = tf.map_fn(lambda data: tf.io.decode_png(data, channels=3, dtype=tf.uint8),
                               png, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
        image = self.render_photo(photos)["image"]
        return {"image_png_bytes": tf.map_fn(tf.io.encode_png, image,
                                             fn_output_signature=tf.string)}

    def _decode_colors(self, png, what):
        """PNG bytes [B] of colour label maps -> raw ids int32 [B, H, W]: each
        pixel's exact colour looked up in the label space's (``ColorCodec``)."""
        png, _, colour_type, checks = self._png_header(png, what)
        checks.append(tf.debugging.assert_equal(
            tf.reduce_all((colour_type == b"\x02") | (colour_type == b"\x06")
                          | (colour_type == b"\x03")), True,
            message=f"{what} must be an RGB, RGBA or palette PNG of label colours"))
        keys = tf.constant(self.colors.keys, tf.int64)
        ids = tf.constant(self.colors.ids, tf.int64)
        shared = "; ".join(f"{c} is ids {v}" for c, v in self.colors.shared.items())

        def decode(data):
            rgba = tf.cast(tf.io.decode_png(data, channels=4, dtype=tf.uint8), tf.int64)
            key = rgba[..., 0] * 65536 + rgba[..., 1] * 256 + rgba[..., 2]
            slot = tf.minimum(tf.searchsorted(keys, tf.reshape(key, [-1])), len(self.colors.keys) - 1)
            slot = tf.reshape(slot, tf.shape(key))
            found = tf.gather(keys, slot) == key
            raw = tf.gather(ids, slot)
            checks = [
                tf.debugging.assert_equal(
                    tf.reduce_all(rgba[..., 3] == 255), True,
                    message=f"{what} has transparent pixels; a colour label map is opaque"),
                tf.debugging.assert_equal(
                    tf.reduce_all(found), True,
                    message=f"{what} has pixels that are not colours of the "
                            f"{self.colors.space.name} label space (label colours must be "
                            "exact: no antialiasing, no JPEG)"),
                tf.debugging.assert_equal(
                    tf.reduce_all(raw >= 0), True,
                    message=f"{what} has colours shared by several ids ({shared}); export "
                            "with --color-map FILE to say which id each is")]
            with tf.control_dependencies(checks):
                return tf.cast(tf.identity(raw), tf.int32)

        with tf.control_dependencies(checks):
            return tf.map_fn(decode, png, fn_output_signature=tf.TensorSpec([None, None], tf.int32))

    def render_png(self, **inputs):
        return self._render_pngs(inputs, label_colors=False)

    def render_color_png(self, **inputs):
        """``predict_color_png``: ``predict_png`` with a colour label PNG."""
        return self._render_pngs(inputs, label_colors=True)

    def _render_pngs(self, inputs, label_colors: bool):
        for name in self.names:
            if name.endswith("_map"):
                png = name[:-len("_map")] + "_png"
                colors = label_colors and name == "label_map"
                inputs[name] = (self._decode_colors if colors else self._decode)(inputs.pop(png), png)
        image = self.render(**inputs)["image"]
        return {"image_png_bytes": tf.map_fn(tf.io.encode_png, image,
                                             fn_output_signature=tf.string)}

    def png_specs(self) -> List[tf.TensorSpec]:
        """The specs with every ``*_map`` as ``*_png`` string [B]."""
        return [tf.TensorSpec([None], tf.string, name=spec.name[:-len("_map")] + "_png")
                if spec.name.endswith("_map") else spec for spec in self.graph.input_specs()]

    # -- latents in -----------------------------------------------------------------
    def sample(self, z, **controls):
        """The task's outputs for ``z`` (and a style generator's ``controls``),
        uint8 images as PNG bytes."""
        out = {}
        for name, value in self._outputs(z=z, **controls).items():
            if value.dtype == tf.uint8 and value.shape.rank == 4:
                out[f"{name}_png_bytes"] = tf.map_fn(tf.io.encode_png, value,
                                                     fn_output_signature=tf.string)
            else:
                out[name] = value
        return out

    def from_z(self, z):
        finite = tf.debugging.assert_all_finite(z, "z must be finite")
        with tf.control_dependencies([finite]):
            return self.sample(tf.identity(z))

    def from_seed(self, seed):
        return self.sample(latent_for_seeds(seed, int(self.graph.input_specs()[0].shape[-1])))

    def from_seed_styled(self, seed, truncation_psi, mix_seed, mix_layer):
        """A style generator's seeds with truncation psi and style mixing: the ws
        from ``mix_layer`` on (negative: half of them) take ``mix_seed``'s style
        (per example; a seed mixed with itself is unmixed)."""
        z_dim = int(self.graph.input_specs()[0].shape[-1])
        return self.sample(latent_for_seeds(seed, z_dim), truncation_psi=truncation_psi,
                           mix_z=latent_for_seeds(mix_seed, z_dim), mix_layer=mix_layer)

    # -- signatures -------------------------------------------------------------------
    def input_specs(self) -> List[tf.TensorSpec]:
        return self.graph.input_specs() if self.takes_maps or self.takes_photos else list(_SEED)

    def serve(self, **inputs):
        if self.takes_photos:
            return self.render_photo(**inputs)
        return self.render(**inputs) if self.takes_maps else self.from_seed(**inputs)

    def extra_signatures(self):
        if self.takes_photos:
            return {"predict_png": ([tf.TensorSpec([None], tf.string, name="image_png")],
                                    self.render_photo_png)}
        if self.takes_maps:
            colors = ({} if self.colors is None else
                      {"predict_color_png": (self.png_specs(), self.render_color_png)})
            return {"predict_png": (self.png_specs(), self.render_png), **colors,
                    **{name: (specs, self.render)
                       for name, specs in self.graph.alternate_looks().items()}}
        signatures = {"from_z": (self.graph.input_specs(), self.from_z)}
        return {**signatures, **_styled_signature(self.graph, self.from_seed_styled)}


#: ``from_seed_styled``'s inputs beyond the seeds (a style SemGAN's).
_STYLED = [tf.TensorSpec([], tf.float32, name="truncation_psi"),
           tf.TensorSpec([None], tf.int64, name="mix_seed"),
           tf.TensorSpec([], tf.int32, name="mix_layer")]


def _styled_signature(labels: InferenceGraph, fn) -> dict:
    """``from_seed_styled`` (seed, truncation psi, mix seed, mix layer) -> ``fn``
    when the SemGAN graph ``labels`` takes truncation and style mixing; {}."""
    optional = {spec.name for spec in labels.optional_specs()}
    if {"truncation_psi", "mix_z", "mix_layer"} <= optional:
        return {"from_seed_styled": (list(_SEED) + list(_STYLED), fn)}
    return {}


class DreamServing(ServingModule):
    """``serving_default``: seed -> label_map + image (SemGAN, then the renderer)."""

    def __init__(self, graph: DreamGraph):
        super().__init__(name="tfsem_serving")
        self.graph = graph

    def input_specs(self):
        return list(_SEED)

    def serve(self, seed, **controls):
        z_dim = int(self.graph.labels.input_specs()[0].shape[-1])
        raw, image = self.graph.dream(latent_for_seeds(seed, z_dim),
                                      **self.graph.random_look(seed), **controls)
        return {"label_map": raw, "image": image}

    def from_seed_styled(self, seed, truncation_psi, mix_seed, mix_layer):
        """``serving_default`` with a style SemGAN's truncation and mixing (as
        ``TaskServing.from_seed_styled``); the renderer's look is the seed's."""
        z_dim = int(self.graph.labels.input_specs()[0].shape[-1])
        return self.serve(seed, truncation_psi=truncation_psi,
                          mix_z=latent_for_seeds(mix_seed, z_dim), mix_layer=mix_layer)

    def extra_signatures(self):
        return _styled_signature(self.graph.labels, self.from_seed_styled)


def inference_graph(model, config=None, clusters: Optional[dict] = None) -> InferenceGraph:
    """The graph of ``model``'s ``infer`` (``config``: attaches its label space;
    ``clusters``: pix2pixHD feature clusters to attach)."""
    if config is not None:
        model.attach_label_space(load_label_space(config.data.label_space),
                                 config.data.dont_care)
    if clusters is not None:
        model.attach_clusters(clusters)
    return InferenceGraph(model)


def _assets(config, model, renderer_config=None, renderer=None,
            color_map: Optional[dict] = None) -> dict:
    space = load_label_space(config.data.label_space)
    assets = {"config.json": config_to_dict(config), "label_space.json": space.to_dict(),
              "precision.json": precision_asset(model, renderer)}
    if color_map is not None:
        assets["color_map.json"] = color_map
    if renderer_config is not None:
        assets["renderer_config.json"] = config_to_dict(renderer_config)
    return assets


def export_saved_model(model, config, base: str, version: Optional[int] = None,
                       max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                       clusters: Optional[dict] = None, color_map: Optional[str] = None) -> str:
    """Exports ``model`` to ``base/<version>`` atomically; returns that path.
    ``clusters``: pix2pixHD feature clusters (``tfsem.inference.feature_clusters``);
    ``color_map``: a colour -> id JSON file for ``predict_color_png`` (colours the
    label space shares between ids), kept in the assets."""
    colors = ColorCodec.from_file(load_label_space(config.data.label_space), color_map)
    module = TaskServing(inference_graph(model, config, clusters),
                         DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels, colors)
    return write_version(base, version, module, _assets(
        config, model, color_map=None if color_map is None else colors.color_map))


def dream_graph(model, config, renderer, renderer_config, clusters=None) -> DreamGraph:
    """SemGAN ``model`` chained with the label-to-photo ``renderer``."""
    labels = inference_graph(model, config)
    rendering = inference_graph(renderer, renderer_config, clusters)
    check_dream_pair(labels, rendering, "--model", "--renderer")
    return DreamGraph(labels, rendering)


def export_dream(model, config, renderer, renderer_config, base: str,
                 version: Optional[int] = None, clusters=None) -> str:
    """One SavedModel chaining SemGAN and a renderer; returns the path."""
    graph = dream_graph(model, config, renderer, renderer_config, clusters)
    return write_version(base, version, DreamServing(graph),
                         _assets(config, model, renderer_config, renderer))


def calibration_inputs(graph, config=None, count: int = 8, split: str = "train",
                       seed: int = 0, skip: int = 0, height: Optional[int] = None,
                       width: Optional[int] = None) -> List[Dict[str, np.ndarray]]:
    """``count`` batch-1 input dicts of ``graph`` (TFLite calibration and
    fidelity). Graphs that take label maps read them from the run's data
    (toy_streets or the real dataset; raw ids resized (nearest) to H x W, the
    label map standing in for other maps); a photo-to-photo graph reads the
    data's input photos (resized bicubically); other inputs: floats ~ N(0, I)
    from ``seed``, ints = the index."""
    specs = graph.device_specs(1, height, width)
    names = [spec.name for spec in specs]
    rng = np.random.default_rng(seed)
    if names == ["image"]:
        photos = DataPipeline(config.data, split).examples().skip(skip).take(count)
        return [{"image": photo_at_size(ex["input"], (height, width))[None]} for ex in photos]
    if "label_map" not in names:
        return [sample_input(specs, i, rng, graph.device_sample(i, rng)) for i in range(count)]
    space = load_label_space(config.data.label_space)
    pipeline = DataPipeline(config.data, split)

    def resize(x):
        return resize_map(x[None], (height, width)).numpy().astype(np.int32)

    out = []
    for ex in pipeline.examples().skip(skip).take(count):
        label = resize(space.decode(ex["label"].numpy()))
        instance = resize(ex["instance"].numpy()) if "instance" in ex else label
        maps = {name: (instance if name == "instance_map" else label)
                for name in names if name.endswith("_map") and name != "cluster_map"}
        out.append(sample_input(specs, len(out), rng, maps))
    if not out:
        raise ValueError(f"no {split!r} examples in the run's data ({config.data.source}) "
                         f"for TFLite calibration/evaluation")
    return out
