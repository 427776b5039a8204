"""Export of SemGAN (and its colour baseline) and of the dream pipeline.

SavedModel signatures (TF Serving layout, written atomically by
``tfsem.export.base.write_version``):

SemGAN (``python -m tfsem.export --model SEMGAN_RUN --out ...``)
  * ``serving_default``: ``seed`` int64 [B] -> ``label_map`` int32 [B, H, W]
    (RAW label ids, the labelIds PNG values) and ``color_png_bytes`` string
    [B] (colourised PNGs). Seed s gives the map ``tfsem.generate --seed s``
    writes.
  * ``from_z``: ``z`` float32 [B, z_dim] -> the same outputs.

Dream (``--model SEMGAN_RUN --renderer SPADE_OR_PIX2PIXHD_RUN``), one
SavedModel chaining SemGAN and the renderer:
  * ``serving_default``: ``seed`` int64 [B] -> ``label_map`` int32 [B, H, W]
    (SemGAN's size) and ``image`` uint8 [B, Hr, Wr, 3] (the renderer's size;
    maps are resized by nearest neighbour). A VAE renderer's style comes from
    the seed (stream 1), pix2pixHD's features are cluster ``seed mod k`` of
    each class: the same as ``python -m tfsem.dream --seed``.

TFLite (fixed batch 1): SemGAN ``z`` [1, z_dim] -> ``label_map`` int32 and
``color`` uint8 [1, H, W, 3]; dream ``z`` (+ ``style_z`` for a VAE renderer,
+ ``cluster`` int32 [1] for pix2pixHD features) -> ``label_map`` + ``image``.
Seeds are not used on device: stateless random ops are not TFLite builtins,
so the app draws z ~ N(0, I) itself. The report gives, per variant, size,
latency, the share of label pixels equal to the TensorFlow graph's and, for
dream, the PSNR of the photo.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from tfsem.config import config_to_dict
from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import resize_map
from tfsem.export.base import ServingModule, precision_asset, sample_input, write_version
from tfsem.export.generator import GeneratorGraph
from tfsem.inference.dream import check_dream_pair
from tfsem.inference.generate import raw_label_ids
from tfsem.models.base import latent_for_seeds
from tfsem.models.color_label_gan import nearest_palette_labels

__all__ = ["DreamGraph", "LabelMapGraph", "calibration_inputs", "dream_graph", "export_dream",
           "export_saved_model", "tflite_graph"]


class LabelMapGraph(tf.Module):
    """z -> (raw label ids, class indices, colours) of a SemGAN / baseline model."""

    def __init__(self, model, label_space, dont_care):
        super().__init__(name="tfsem_label_maps")
        self.generator = model.generator
        self.tf_variables = [v.value for v in model.generator.variables]
        self.z_dim, self.image_size = int(model.z_dim), tuple(model.image_size)
        self.outputs_colors = bool(model.outputs_colors)
        classes = np.arange(model.num_classes)
        self.raw_ids = tf.constant(raw_label_ids(classes, label_space).astype(np.int32))
        self.colors = tf.constant(label_space.colorize(classes, dont_care))
        if self.outputs_colors:
            self.palette_unit = tf.constant(np.asarray(model.palette, np.float32) / 127.5 - 1.0)

    def indices(self, z):
        out = tf.cast(self.generator(z, training=False), tf.float32)
        if self.outputs_colors:
            return nearest_palette_labels(tf.tanh(out), self.palette_unit)
        return tf.argmax(tf.nn.softmax(out, axis=-1), axis=-1, output_type=tf.int32)

    def sample(self, z):
        """(raw ids int32 [B,H,W], class indices [B,H,W], colours uint8 [B,H,W,3])."""
        index = self.indices(z)
        return tf.gather(self.raw_ids, index), index, tf.gather(self.colors, index)

    def input_specs(self, batch=None, height=None, width=None):
        """Named TensorSpecs of the inputs (the size is the model's: H, W are unused)."""
        return [tf.TensorSpec([batch, self.z_dim], tf.float32, name="z")]

    def tflite_size(self, height, width, default=None):
        if height or width:
            raise ValueError("--height/--width: SemGAN generates at its training size only")
        return self.image_size

    def outputs(self, z):
        """The TFLite outputs: ``label_map`` (raw ids) and ``color``."""
        raw, _, colors = self.sample(z)
        return {"label_map": raw, "color": colors}


class DreamGraph(tf.Module):
    """z (+ style z, + cluster) -> (raw label ids, photo): SemGAN, resize, renderer."""

    def __init__(self, labels: LabelMapGraph, renderer: GeneratorGraph, renderer_size):
        super().__init__(name="tfsem_dream")
        self.labels, self.renderer = labels, renderer
        self.renderer_size = tuple(int(s) for s in renderer_size)
        self.tf_variables = labels.tf_variables + renderer.tf_variables

    def input_specs(self, batch=None, height=None, width=None):
        specs = self.labels.input_specs(batch)
        if self.renderer.use_vae:
            specs.append(tf.TensorSpec([batch, self.renderer.z_dim], tf.float32, name="style_z"))
        if self.renderer.use_features:
            specs.append(tf.TensorSpec([batch], tf.int32, name="cluster"))
        return specs

    def tflite_size(self, height, width, default=None):
        return self.labels.tflite_size(height, width)

    def dream(self, z, style_z=None, cluster=None):
        raw, index, _ = self.labels.sample(z)
        if self.renderer_size != self.labels.image_size:
            index = resize_map(index, self.renderer_size)
        instance = index if self.renderer.use_instances else None
        return raw, self.renderer.render_indices(index, instance, style_z, cluster)

    def outputs(self, z, style_z=None, cluster=None):
        """The TFLite outputs: ``label_map`` (raw ids) and ``image``."""
        raw, image = self.dream(z, style_z, cluster)
        return {"label_map": raw, "image": image}


_SEED = [tf.TensorSpec([None], tf.int64, name="seed")]


class LabelMapServing(ServingModule):
    """``serving_default``: seed -> label_map + color_png_bytes; ``from_z``."""

    def __init__(self, graph: LabelMapGraph):
        super().__init__(name="tfsem_serving")
        self.graph = graph

    def _outputs(self, z):
        out = self.graph.outputs(z)
        return {"label_map": out["label_map"],
                "color_png_bytes": tf.map_fn(tf.io.encode_png, out["color"],
                                             fn_output_signature=tf.string)}

    def input_specs(self):
        return list(_SEED)

    def serve(self, seed):
        return self._outputs(latent_for_seeds(seed, self.graph.z_dim))

    def from_z(self, z):
        finite = tf.debugging.assert_all_finite(z, "z must be finite")
        with tf.control_dependencies([finite]):
            return self._outputs(tf.identity(z))

    def extra_signatures(self):
        return {"from_z": (self.graph.input_specs(), self.from_z)}


class DreamServing(ServingModule):
    """``serving_default``: seed -> label_map + image (SemGAN, then the renderer)."""

    def __init__(self, graph: DreamGraph):
        super().__init__(name="tfsem_serving")
        self.graph = graph

    def input_specs(self):
        return list(_SEED)

    def serve(self, seed):
        graph = self.graph
        z = latent_for_seeds(seed, graph.labels.z_dim)
        style = (latent_for_seeds(seed, graph.renderer.z_dim, stream=1)
                 if graph.renderer.use_vae else None)
        cluster = tf.cast(seed, tf.int32) if graph.renderer.use_features else None
        raw, image = graph.dream(z, style, cluster)
        return {"label_map": raw, "image": image}


def tflite_graph(model, config, clusters=None) -> LabelMapGraph:
    """The graph a SemGAN / baseline model's TFLite variants are converted from."""
    if model.conditional:
        raise TypeError(f"expected a SemGAN (or baseline) model, got {type(model).__name__}")
    space = load_label_space(config.data.label_space)
    return LabelMapGraph(model, space, config.data.dont_care)


def export_saved_model(model, config, base: str, version: Optional[int] = None,
                       max_pixels=None, clusters=None) -> str:
    """SemGAN / baseline SavedModel in ``base/<version>``; returns the path.
    (``max_pixels`` and ``clusters`` are for label-to-photo exports.)"""
    graph = tflite_graph(model, config)
    space = load_label_space(config.data.label_space)
    return write_version(base, version, LabelMapServing(graph),
                         {"config.json": config_to_dict(config),
                          "label_space.json": space.to_dict(),
                          "precision.json": precision_asset(model)})


def dream_graph(model, config, renderer, renderer_config, clusters=None) -> DreamGraph:
    """SemGAN ``model`` chained with the label-to-photo ``renderer``."""
    check_dream_pair(model, config, renderer, renderer_config, "--model", "--renderer")
    labels = tflite_graph(model, config)
    space = load_label_space(config.data.label_space)
    table = space.raw_to_index_table(renderer_config.data.dont_care)
    return DreamGraph(labels, GeneratorGraph(renderer, table, clusters), renderer.image_size)


def export_dream(model, config, renderer, renderer_config, base: str,
                 version: Optional[int] = None, clusters=None) -> str:
    """One SavedModel chaining SemGAN and a renderer; returns the path."""
    graph = dream_graph(model, config, renderer, renderer_config, clusters)
    space = load_label_space(config.data.label_space)
    return write_version(base, version, DreamServing(graph),
                         {"config.json": config_to_dict(config),
                          "renderer_config.json": config_to_dict(renderer_config),
                          "label_space.json": space.to_dict(),
                          "precision.json": precision_asset(model, renderer)})


def calibration_inputs(graph, config=None, count: int = 8, split: str = "train", seed: int = 0,
                       skip: int = 0, height=None, width=None) -> List[Dict[str, np.ndarray]]:
    """``count`` batch-1 input dicts of a LabelMapGraph or DreamGraph: z (and
    style_z) ~ N(0, I) from ``seed``, cluster = the index (no data needed;
    ``split`` and ``skip`` are unused: held-out inputs take another seed)."""
    rng = np.random.default_rng(seed)
    return [sample_input(graph.input_specs(1), i, rng) for i in range(count)]
