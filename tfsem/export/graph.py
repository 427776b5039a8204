"""The graphs the exports serve and convert: a task's own ``infer``, and the
dream chain of two tasks. Nothing here knows a family: inputs come from the
task's ``inference_specs``, outputs from its ``infer``.

Both graphs have ``input_specs(batch, height, width)`` (named TensorSpecs),
``outputs(**inputs)`` (named tensors), ``tf_variables`` (what a SavedModel or
a TFLite conversion must track) and ``tflite_size``. Model: TF Model Garden
``official/core/export_base.py`` (``ExportModule`` wraps the model's own
inference step).
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
import tensorflow as tf

from tfsem.data.preprocess import resize_map

__all__ = ["DreamGraph", "InferenceGraph", "MAP_INPUTS"]

#: The label-map inputs of a label-to-photo task (the dream chain fills them).
MAP_INPUTS = ("label_map", "instance_map")
#: The dream chain's names for renderer inputs that collide with SemGAN's.
_DREAM_NAMES = {"z": "style_z"}


class InferenceGraph(tf.Module):
    """``task.infer`` over the task's required inputs (``inference_specs``).

    The task itself is not tracked (its discriminator, optimisers and VGG
    loss stay out of the export): the variables ``infer`` reads are. ``codec``
    is the task's label space tables (raw ids <-> class indices), read by the
    serving checks.
    """

    def __init__(self, task):
        super().__init__(name="tfsem_inference")
        # Track the underlying tf.Variables themselves (as keras.export.ExportArchive
        # does), not the Keras networks: the TF1 session loader, the path of TF
        # Serving's SavedModelBundle, cannot restore Keras 3 variables otherwise, and
        # a tracked Keras model would be traced on its own by tf.saved_model.save.
        self.tf_variables = [v.value for v in task.inference_variables()]
        self._infer, self._specs = task.infer, task.inference_specs
        self._size, self._random_look = task.inference_size, task.random_look
        self._alternates = task.alternate_looks
        self._controls = task.device_controls
        self.codec = task.label_codec()
        self.factor = int(task.size_multiple())
        self.image_size = tuple(int(s) for s in task.image_size)
        self.task_name = type(task).__name__

    def input_specs(self, batch=None, height=None, width=None) -> List[tf.TensorSpec]:
        return self._specs(batch, height, width)

    def input_names(self) -> List[str]:
        return [spec.name for spec in self.input_specs()]

    def optional_specs(self, batch=None, height=None, width=None) -> List[tf.TensorSpec]:
        """The inputs ``outputs`` also takes beyond the required ones."""
        names = set(self.input_names())
        return [spec for spec in self._specs(batch, height, width, optional=True)
                if spec.name not in names]

    def device_specs(self, batch=None, height=None, width=None) -> List[tf.TensorSpec]:
        """A fixed-shape device model's (TFLite's) inputs: the required ones, then
        the optional ones the task lets a device set (``device_controls``: a
        style SemGAN's truncation and mixing)."""
        controls = set(self.device_sample(0, np.random.default_rng(0)))
        return self.input_specs(batch, height, width) + [
            spec for spec in self.optional_specs(batch, height, width) if spec.name in controls]

    def device_sample(self, index: int, rng) -> Dict[str, np.ndarray]:
        """One batch-1 example of the device controls (the task's ``device_controls``)."""
        return self._controls(index, rng)

    def outputs(self, **inputs) -> Dict[str, tf.Tensor]:
        return self._infer(**inputs)

    def alternate_looks(self, batch=None, height=None, width=None) -> Dict[str, List]:
        """Extra signatures: name -> the full input specs (the task's ``alternate_looks``)."""
        return self._alternates(batch, height, width)

    def random_look(self, seeds, stream: int = 1) -> Dict[str, tf.Tensor]:
        return self._random_look(seeds, stream)

    def tflite_size(self, height=None, width=None, default=None):
        return self._size(height, width)


class DreamGraph(tf.Module):
    """SemGAN's ``infer`` (z -> raw label ids), the maps resized (nearest) to the
    renderer's size, then the renderer's ``infer`` (the label map stands in for
    the instance map): the chain ``tfsem.generate --num`` then ``--labels``
    computes through PNG files. Inputs: ``z``, then the renderer's look inputs
    (its ``z`` renamed ``style_z``); a style SemGAN's sampling controls
    (``truncation_psi``, ``mix_z``, ``mix_layer``) go to SemGAN."""

    def __init__(self, labels: InferenceGraph, renderer: InferenceGraph):
        super().__init__(name="tfsem_dream")
        self.labels, self.renderer = labels, renderer
        self.renderer_size = renderer.image_size
        self.tf_variables = labels.tf_variables + renderer.tf_variables
        self._renderer_names = renderer.input_names()
        self._control_names = {spec.name for spec in labels.optional_specs()}

    def look_specs(self, batch=None) -> List[tf.TensorSpec]:
        """The renderer's inputs beyond the maps, under their dream names."""
        return [tf.TensorSpec(spec.shape, spec.dtype, name=_DREAM_NAMES.get(spec.name, spec.name))
                for spec in self.renderer.input_specs(batch, *self.renderer_size)
                if spec.name not in MAP_INPUTS]

    def input_specs(self, batch=None, height=None, width=None) -> List[tf.TensorSpec]:
        return self.labels.input_specs(batch) + self.look_specs(batch)

    def device_specs(self, batch=None, height=None, width=None) -> List[tf.TensorSpec]:
        """The TFLite inputs: SemGAN's (with its device controls), then the look."""
        return self.labels.device_specs(batch) + self.look_specs(batch)

    def device_sample(self, index: int, rng) -> Dict[str, np.ndarray]:
        return self.labels.device_sample(index, rng)

    def tflite_size(self, height=None, width=None, default=None):
        return self.labels.tflite_size(height, width)

    def render_inputs(self, raw, look: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """The renderer's named inputs for SemGAN's raw maps and the look inputs
        (by their dream names)."""
        if tuple(raw.shape[1:3]) != self.renderer_size:
            raw = resize_map(raw, self.renderer_size)
        inputs = {name: raw for name in MAP_INPUTS if name in self._renderer_names}
        for name in self._renderer_names:
            if name not in MAP_INPUTS:
                inputs[name] = look[_DREAM_NAMES.get(name, name)]
        return inputs

    def dream(self, z, **look):
        """(raw label ids [B,H,W] at SemGAN's size, uint8 photo at the renderer's);
        ``look`` may hold SemGAN's sampling controls."""
        controls = {name: look.pop(name) for name in list(look) if name in self._control_names}
        raw = self.labels.outputs(z=z, **controls)["label_map"]
        return raw, self.renderer.outputs(**self.render_inputs(raw, look))["image"]

    def outputs(self, z, **look) -> Dict[str, tf.Tensor]:
        """The TFLite outputs: ``label_map`` (raw ids) and ``image``."""
        raw, image = self.dream(z, **look)
        return {"label_map": raw, "image": image}

    def random_look(self, seeds) -> Dict[str, tf.Tensor]:
        """The renderer's random look per seed (stream 1), by dream names."""
        return {_DREAM_NAMES.get(k, k): v for k, v in self.renderer.random_look(seeds, 1).items()}


def check_dream_pair(labels: InferenceGraph, renderer: InferenceGraph,
                     labels_name="--semgan", renderer_name="--renderer"):
    """A sampler of label maps and a renderer of the same label space."""
    if "z" not in labels.input_names() or "label_map" in labels.input_names():
        raise TypeError(f"{labels_name}: a {labels.task_name} model, not a SemGAN "
                        "(or baseline) run")
    if "label_map" not in renderer.input_names():
        raise TypeError(f"{renderer_name}: a {renderer.task_name} model; the renderer "
                        "must be a label-to-photo run (SPADE/GauGAN, SEAN, pix2pixHD, pix2pix)")
    a, b = labels.codec, renderer.codec
    if a.name != b.name or not np.array_equal(a.raw_ids, b.raw_ids):
        raise ValueError(f"{labels_name} uses the label space {a.name!r} ({len(a.raw_ids)} "
                         f"classes), {renderer_name} {b.name!r} ({len(b.raw_ids)} classes): the "
                         "renderer must be trained on the same label space")
