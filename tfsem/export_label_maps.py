"""Export of SemGAN (and its colour baseline) and of the dream pipeline.

SavedModel signatures (TF Serving layout, written atomically as
``tfsem.export_lib``):

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

import json
import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfsem.config import config_to_dict
from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import resize_map
from tfsem.export_lib import GeneratorGraph, write_version
from tfsem.fileio import atomic_write_text
from tfsem.models.color_label_gan import nearest_palette_labels
from tfsem.models.label_map_gan import latent_for_seeds

__all__ = ["DreamGraph", "LabelMapGraph", "export_dream", "export_label_map_model",
           "export_label_map_tflite"]


class LabelMapGraph(tf.Module):
    """z -> (raw label ids, class indices, colours) of a SemGAN / baseline model."""

    def __init__(self, model, label_space, dont_care):
        super().__init__(name="tfsem_label_maps")
        from tfsem.generate import raw_label_ids

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

    def input_specs(self, batch=None):
        return [tf.TensorSpec([batch, self.z_dim], tf.float32, name="z")]

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

    def input_specs(self, batch=None):
        specs = self.labels.input_specs(batch)
        if self.renderer.use_vae:
            specs.append(tf.TensorSpec([batch, self.renderer.z_dim], tf.float32, name="style_z"))
        if self.renderer.use_features:
            specs.append(tf.TensorSpec([batch], tf.int32, name="cluster"))
        return specs

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


class _LabelMapServing(tf.Module):
    def __init__(self, graph: LabelMapGraph):
        super().__init__(name="tfsem_serving")
        self.graph = graph

    def _outputs(self, z):
        out = self.graph.outputs(z)
        return {"label_map": out["label_map"],
                "color_png_bytes": tf.map_fn(tf.io.encode_png, out["color"],
                                             fn_output_signature=tf.string)}

    def signatures(self):
        z_dim = self.graph.z_dim

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def from_seed(seed):
            return self._outputs(latent_for_seeds(seed, z_dim))

        @tf.function(input_signature=self.graph.input_specs())
        def from_z(z):
            finite = tf.debugging.assert_all_finite(z, "z must be finite")
            with tf.control_dependencies([finite]):
                return self._outputs(tf.identity(z))

        return {"serving_default": from_seed.get_concrete_function(),
                "from_z": from_z.get_concrete_function()}


class _DreamServing(tf.Module):
    def __init__(self, graph: DreamGraph):
        super().__init__(name="tfsem_serving")
        self.graph = graph

    def signatures(self):
        graph = self.graph

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def from_seed(seed):
            z = latent_for_seeds(seed, graph.labels.z_dim)
            style = (latent_for_seeds(seed, graph.renderer.z_dim, stream=1)
                     if graph.renderer.use_vae else None)
            cluster = tf.cast(seed, tf.int32) if graph.renderer.use_features else None
            raw, image = graph.dream(z, style, cluster)
            return {"label_map": raw, "image": image}

        return {"serving_default": from_seed.get_concrete_function()}


def _label_graph(model, config):
    if not getattr(model, "unconditional", False):
        raise TypeError(f"expected a SemGAN (or baseline) model, got {type(model).__name__}")
    space = load_label_space(config.data.label_space)
    return LabelMapGraph(model, space, config.data.dont_care), space


def export_label_map_model(model, config, base: str, version: Optional[int] = None) -> str:
    """SemGAN / baseline SavedModel in ``base/<version>``; returns the path."""
    graph, space = _label_graph(model, config)
    module = _LabelMapServing(graph)
    return write_version(base, version, module, module.signatures(),
                         {"config.json": config_to_dict(config),
                          "label_space.json": space.to_dict()})


def dream_graph(model, config, renderer, renderer_config, clusters=None) -> DreamGraph:
    from tfsem.dream import check_dream_pair

    check_dream_pair(model, config, renderer, renderer_config, "--model", "--renderer")
    labels, space = _label_graph(model, config)
    table = space.raw_to_index_table(renderer_config.data.dont_care)
    return DreamGraph(labels, GeneratorGraph(renderer, table, clusters), renderer.image_size)


def export_dream(model, config, renderer, renderer_config, base: str,
                 version: Optional[int] = None, clusters=None) -> str:
    """One SavedModel chaining SemGAN and a renderer; returns the path."""
    graph = dream_graph(model, config, renderer, renderer_config, clusters)
    module = _DreamServing(graph)
    space = load_label_space(config.data.label_space)
    return write_version(base, version, module, module.signatures(),
                         {"config.json": config_to_dict(config),
                          "renderer_config.json": config_to_dict(renderer_config),
                          "label_space.json": space.to_dict()})


# -- TFLite -----------------------------------------------------------------------------


def _tflite_function(graph):
    """Batch-1 concrete function of a LabelMapGraph or DreamGraph. Inputs go to
    ``graph.outputs`` by name: a pix2pixHD renderer without a VAE has ``cluster``
    right after ``z``, which must not land in ``style_z``."""
    specs = graph.input_specs(1)

    def run(*args):
        return graph.outputs(**{spec.name: arg for spec, arg in zip(specs, args)})

    return tf.function(run, input_signature=specs).get_concrete_function()


def tflite_inputs(graph, count: int, seed: int = 0) -> List[Dict[str, np.ndarray]]:
    """``count`` input dicts: z (and style_z) ~ N(0, I), cluster = the index."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        item = {}
        for spec in graph.input_specs(1):
            if spec.dtype == tf.float32:
                item[spec.name] = rng.standard_normal(spec.shape).astype(np.float32)
            else:
                item[spec.name] = np.array([i], np.int32)
        out.append(item)
    return out


def export_label_map_tflite(graph, out_dir: str, variants: Sequence[str],
                            calibration: Sequence[Dict[str, np.ndarray]],
                            evaluation: Sequence[Dict[str, np.ndarray]], label_space: dict,
                            num_threads: Optional[int] = None, repeats: int = 5,
                            log=print) -> List[dict]:
    """Writes ``<out_dir>/<variant>.tflite`` of a LabelMapGraph or DreamGraph,
    ``label_space.json`` and ``report.md``/``report.json``; returns the rows."""
    from tfsem.export_tflite import _interpreter, check_variants, psnr, write_variants

    check_variants(variants)
    fn = _tflite_function(graph)
    names = [spec.name for spec in fn.structured_input_signature[0]]
    references = [{k: v.numpy() for k, v in fn(*[tf.constant(ex[n]) for n in names]).items()}
                  for ex in evaluation]

    rows = []
    for variant, path, content, ops in write_variants(fn, names, graph, variants, calibration,
                                                      out_dir, log):
        runner = _interpreter(content, num_threads).get_signature_runner()
        outputs, times = [], []
        for i, ex in enumerate(evaluation):
            for _ in range(repeats if i == 0 else 1):
                start = time.perf_counter()
                out = runner(**{n: ex[n] for n in names})
                if i == 0:
                    times.append(time.perf_counter() - start)
            outputs.append(out)
        agree = np.mean([np.mean(o["label_map"] == r["label_map"])
                         for o, r in zip(outputs, references)])
        row = {"variant": variant, "file": os.path.basename(path), "size_bytes": len(content),
               "latency_ms": 1000 * float(np.median(times)), "label_agreement": float(agree),
               "input_names": names, "ops": ops}
        if "image" in references[0]:
            got = np.concatenate([o["image"] for o in outputs])
            ref = np.concatenate([r["image"] for r in references])
            row["psnr_db"] = psnr(got, ref)
            row["max_abs_err"] = int(np.abs(got.astype(int) - ref.astype(int)).max())
        rows.append(row)
        log(f"  {variant}: {row['size_bytes'] / 1e6:.2f} MB, {row['latency_ms']:.1f} ms, "
            f"label agreement {agree:.4f}" + (f", PSNR {row['psnr_db']:.1f} dB"
                                              if "psnr_db" in row else ""))
    atomic_write_text(os.path.join(out_dir, "label_space.json"), json.dumps(label_space, indent=1))
    atomic_write_text(os.path.join(out_dir, "report.json"), json.dumps(rows, indent=2))
    dream = "psnr_db" in rows[0] if rows else False
    lines = ["| variant | size (MB) | latency (ms) | label pixels equal to TF |"
             + (" photo PSNR (dB) | max abs err |" if dream else ""),
             "|---|---|---|---|" + ("---|---|" if dream else "")]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['size_bytes'] / 1e6:.2f} | {r['latency_ms']:.1f} | "
                     f"{r['label_agreement']:.4f} |" + (f" {r['psnr_db']:.1f} | {r['max_abs_err']} |"
                                                         if dream else ""))
    header = (f"# TFLite variants ({'dream' if dream else 'SemGAN'}), batch 1\n\n"
              f"Latency: median of {repeats} LiteRT runs, num_threads={num_threads or 'default'}. "
              f"Fidelity vs the TensorFlow graph (= the SavedModel) on {len(evaluation)} random "
              f"latents.\n\n")
    atomic_write_text(os.path.join(out_dir, "report.md"), header + "\n".join(lines) + "\n")
    return rows
