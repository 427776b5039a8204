"""``tfsem.Pipeline``: arrays in, arrays out, for a run, a converted
checkpoint or an export.

>>> pipe = tfsem.Pipeline.from_run("runs/quickstart")      # or an export dir
>>> photo = pipe(label_map)                                 # raw ids [H,W] -> uint8 [H,W,3]
>>> maps = tfsem.Pipeline.from_run("runs/semgan").sample([0, 1, 2])
>>> dream = tfsem.DreamPipeline.from_runs("runs/semgan", "runs/quickstart")
>>> dream.sample([0, 1])["image"]

A :class:`Pipeline` runs the task's own ``infer`` (the function the
SavedModel and TFLite exports serve): label maps are RAW label ids (the
values of labelIds PNGs) at any size, resized (nearest) to the model's;
what picks the look (``seed``, ``z``, a ``style`` photo, pix2pixHD's
``cluster`` and ``instance_clusters``) goes to ``task.inference_inputs``.
An :class:`ExportedPipeline` calls a SavedModel's signatures the same way.
Nothing here reads or writes files other than the model's; reports go to
``logging``. Model: diffusers ``DiffusionPipeline``.
"""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

__all__ = ["DreamPipeline", "ExportedPipeline", "Pipeline", "export_version_dir"]

log = logging.getLogger("tfsem.pipeline")


def export_version_dir(path: str) -> Optional[str]:
    """An export's version folder (``path`` itself, or its highest numbered
    version holding a ``saved_model.pb``), or None when ``path`` is no export."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.isdir(path):
        return None
    for version in sorted((int(d) for d in os.listdir(path) if d.isdigit()), reverse=True):
        if os.path.isfile(os.path.join(path, str(version), "saved_model.pb")):
            return os.path.join(path, str(version))
    return None


def _batched(array, name: str, rank: int):
    """(array with a batch axis, whether one was added)."""
    if array is None:
        return None, False
    array = np.asarray(array)
    if array.ndim == rank - 1:
        return array[None], True
    if array.ndim != rank:
        raise ValueError(f"{name} must have rank {rank - 1} or {rank}, got shape {array.shape}")
    return array, False


def _resized(maps: Optional[np.ndarray], size) -> Optional[np.ndarray]:
    from tfsem.data.preprocess import resize_map

    if maps is None or tuple(maps.shape[1:3]) == tuple(size):
        return maps
    return resize_map(tf.constant(maps.astype(np.int32)), size).numpy()


def photo_batch(photo, size) -> Tuple[np.ndarray, bool]:
    """(uint8 photos [B,H,W,3] at ``size``, whether a batch axis was added) of a
    photo-to-photo model's input: uint8 [H,W,3] or [B,H,W,3], resized as the data
    pipeline resizes photos (bicubic, antialiased)."""
    from tfsem.data.preprocess import photo_at_size

    photo, single = _batched(photo, "image", 4)
    if photo.shape[-1] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [height, width, 3] (or a batch of them), got "
                         f"{photo.dtype} {photo.shape}")
    return photo_at_size(photo, size), single


def _seeds(seed, batch: int) -> List[int]:
    from tfsem.models.base import seed_list

    return seed_list(seed, batch)


class Pipeline:
    """A task (a Keras model with its label space) as a function of arrays.

    ``input_names``: the names ``infer`` takes (``inference_specs``): a
    label-to-photo task takes ``label_map``; a label-map task takes ``z``.
    """

    def __init__(self, task, config=None, name: Optional[str] = None):
        self.task, self.config = task, config
        self.name = name or type(task).__name__
        self.input_names = [spec.name for spec in task.inference_specs()]
        self.optional_names = [spec.name for spec in task.inference_specs(optional=True)
                               if spec.name not in self.input_names]
        self.image_size = tuple(int(s) for s in task.image_size)

    # -- loading ---------------------------------------------------------------
    @staticmethod
    def from_run(path: str, *, precision: str = "auto", features: Optional[str] = None,
                 config: Optional[str] = None):
        """A :class:`Pipeline` of a run directory, a ``.keras`` file or a
        converted official checkpoint (``python -m tfsem.convert`` writes a run
        directory), computing in ``precision``; an :class:`ExportedPipeline` of a
        SavedModel export (a version folder or its base). pix2pixHD with
        instance features loads the run's clusters (``features``, default
        ``RUN/features.npz``) when they exist."""
        from tfsem.inference.feature_clusters import default_clusters_path, load_run_clusters
        from tfsem.runs import load_run

        version = export_version_dir(os.path.abspath(path))
        if version is not None and not os.path.isfile(os.path.join(path, "config.json")):
            if precision != "auto" or features or config:
                raise ValueError(f"{path}: an export; --precision, --features and --config "
                                 "apply to run directories (choose them at export)")
            return ExportedPipeline(version)
        run_config, task = load_run(path, config, precision)
        if "cluster" in [spec.name for spec in task.inference_specs()]:
            if features or os.path.isfile(default_clusters_path(path)):
                source = features or default_clusters_path(path)
                try:
                    task.attach_clusters(load_run_clusters(path, features))
                except ValueError as err:
                    message = str(err)
                    raise ValueError(message if message.startswith(source)
                                     else f"{source}: {message}") from None
        elif features:
            raise ValueError(f"--features {features}: this {type(task).__name__} model takes "
                             "no instance-feature clusters")
        return Pipeline(task, run_config, name=os.path.basename(os.path.normpath(path)))

    # -- what it works on ------------------------------------------------------------
    @property
    def takes_label_maps(self) -> bool:
        """Whether the pipeline renders label maps (else it samples them)."""
        return "label_map" in self.input_names

    @property
    def style_code_shape(self):
        """(slots, length) of the region style codes the task takes (SEAN), or None."""
        for spec in self.task.inference_specs():
            if spec.name == "style_codes":
                return int(spec.shape[1]), int(spec.shape[2])
        return None

    @property
    def encodes_styles(self) -> bool:
        """Whether :meth:`encode_styles` works (a task with region codes)."""
        return self.style_code_shape is not None

    def default_style_codes(self) -> Optional[np.ndarray]:
        """The codes [S, L] a render takes when given none (SEAN: the run's mean
        codes, else zeros), or None for a task without region codes."""
        if self.style_code_shape is None:
            return None
        return self.task.random_look(tf.constant([0]))["style_codes"].numpy()[0]

    def encode_styles(self, label_map, photo, instance_map=None) -> np.ndarray:
        """Region style codes [B, S, L] (or [S, L] for one map) of photos uint8
        [H,W,3] (or [B,H,W,3]) over their own raw label maps (any size: both
        resized to the model's), for a task that takes ``style_codes``."""
        from tfsem.data.preprocess import style_photo

        if self.style_code_shape is None:
            raise ValueError(f"{self.name}: a {type(self.task).__name__} model takes no "
                             "region style codes (SEAN does)")
        label_map, single = _batched(label_map, "label_map", 3)
        instance_map, _ = _batched(instance_map, "instance_map", 3)
        label_map = _resized(label_map, self.image_size)
        self.task.label_codec().check(label_map)
        instance_map = _resized(instance_map, self.image_size)
        if instance_map is None and "instance_map" in self.input_names:
            instance_map = label_map
        photo = style_photo(photo, self.image_size)
        if photo.shape[0] != label_map.shape[0]:
            raise ValueError(f"{photo.shape[0]} photos for {label_map.shape[0]} label maps")
        codes = self.task.encode_styles(label_map, photo, instance_map).numpy()
        return codes[0] if single else codes

    def label_space(self):
        from tfsem.data.labels import load_label_space

        return load_label_space(self.config.data.label_space)

    @property
    def dont_care(self) -> str:
        return self.config.data.dont_care

    def needs_clusters(self) -> bool:
        """Whether the task picks its look from clusters and none are attached
        (``python -m tfsem.encode_features`` makes them)."""
        return "cluster" in self.input_names and not self.task.cluster_counts()

    def cluster_counts(self) -> Dict[int, int]:
        """RAW label id -> number of appearance clusters (pix2pixHD's attached
        clusters; {} for other models)."""
        counts = self.task.cluster_counts()
        raw = self.task.label_codec().raw_ids
        return {int(raw[c]): n for c, n in sorted(counts.items()) if 0 <= c < len(raw)}

    # -- inference ------------------------------------------------------------------
    def infer(self, **inputs) -> Dict[str, np.ndarray]:
        """The task's ``infer`` on named arrays (its ``inference_specs``)."""
        out = self.task.infer(**{k: tf.convert_to_tensor(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in out.items()}

    def inputs(self, label_map, instance_map=None, *, seed=0, z=None, style=None,
               cluster=None, instance_clusters=None, style_codes=None) -> dict:
        """The named inputs of ``infer`` for raw ids [B,H,W] at any size."""
        from tfsem.data.preprocess import style_photo

        label_map = _resized(label_map, self.image_size)
        instance_map = _resized(instance_map, self.image_size)
        photo = None if style is None else style_photo(style, self.image_size)
        if photo is not None and photo.shape[0] != label_map.shape[0]:
            photo = tf.repeat(photo, label_map.shape[0], axis=0)
        return self.task.inference_inputs(label_map, instance_map, seed=seed, z=z, style=photo,
                                          cluster=cluster, instance_clusters=instance_clusters,
                                          style_codes=style_codes)

    @property
    def takes_photos(self) -> bool:
        """Whether the pipeline translates photos (a photo-to-photo model)."""
        return self.input_names == ["image"]

    def __call__(self, label_map, instance_map=None, *, seed=0, z=None, style=None,
                 cluster=None, instance_clusters=None, style_codes=None) -> np.ndarray:
        """uint8 photos [B,H,W,3] (or [H,W,3] for one map [H,W]) of raw label ids
        at any size (resized, nearest, to the model's size). ``instance_map``:
        instance ids (the label map stands in when the model takes instances);
        ``seed`` (an int or one per map): a VAE's random style or random
        clusters; ``z``: a VAE latent; ``style``: a photo uint8 [H,W,3] whose
        style to take; ``cluster``: pix2pixHD's cluster for every instance (an
        int or ``"random"``); ``instance_clusters``: {instance id: cluster};
        ``style_codes``: SEAN's codes [B, classes, length] (or one [classes, length]).

        A photo-to-photo model takes a photo instead: ``pipe(photo)``, uint8
        [H,W,3] or [B,H,W,3] of any size (resized bicubically to the model's)."""
        if self.takes_photos:
            photo, single = photo_batch(label_map, self.image_size)
            inputs = self.task.inference_inputs(
                image=photo, instance_map=instance_map, z=z, style=style, cluster=cluster,
                instance_clusters=instance_clusters, style_codes=style_codes)
            image = self.infer(**inputs)["image"]
            return image[0] if single else image
        if not self.takes_label_maps:
            raise TypeError(f"{self.name}: a {type(self.task).__name__} model samples label "
                            "maps; call .sample(seeds)")
        label_map, single = _batched(label_map, "label_map", 3)
        instance_map, _ = _batched(instance_map, "instance_map", 3)
        inputs = self.inputs(label_map, instance_map, seed=seed, z=z, style=style,
                             cluster=cluster, instance_clusters=instance_clusters,
                             style_codes=style_codes)
        image = self.infer(**inputs)["image"]
        return image[0] if single else image

    def sample(self, seeds: Sequence[int] = (0,), *, z=None, batch_size: int = 16,
               truncation: Optional[float] = None, mix_seed: Optional[int] = None,
               mix_layer: Optional[int] = None) -> Dict[str, np.ndarray]:
        """Label-map models: ``{"label_map": raw ids int32 [N,H,W], "color": uint8
        [N,H,W,3], ...}`` (the colour baseline adds ``raw_color``), one per int
        seed (a seed gives the same map in Python and the exports), or for
        latents ``z`` [N, z_dim]. A style generator (``block: style``) also
        takes ``truncation`` (psi: 1 the latent's own style, 0 the average's)
        and ``mix_seed`` / ``mix_layer`` (its layers from ``mix_layer`` on take
        seed ``mix_seed``'s style)."""
        if self.takes_label_maps or self.takes_photos:
            raise TypeError(f"{self.name}: a {type(self.task).__name__} model renders "
                            f"{'photos' if self.takes_photos else 'label maps'}; call it with "
                            f"{'a photo' if self.takes_photos else 'a label map'}")
        controls = dict(truncation=truncation, mix_seed=mix_seed, mix_layer=mix_layer)
        if z is not None:
            return self.infer(**self.task.inference_inputs(z=z, **controls))
        seeds = [int(s) for s in seeds]
        parts = [self.infer(**self.task.inference_inputs(seed=seeds[i:i + batch_size],
                                                         **controls))
                 for i in range(0, len(seeds), batch_size)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def save(self, out: str, *, version: Optional[int] = None,
             max_pixels: Optional[int] = None) -> str:
        """A SavedModel of this pipeline in ``out/<version>`` (TF Serving layout);
        returns the version folder."""
        from tfsem.export.saved_model import export_saved_model

        if self.config is None:
            raise ValueError("save: this pipeline has no run config (load it with from_run)")
        clusters = None  # attached to the task already
        return export_saved_model(self.task, self.config, out, version, max_pixels, clusters)


class ExportedPipeline:
    """A SavedModel export (``python -m tfsem.export``) as a function of arrays:
    the same calls as :class:`Pipeline`, through its signatures (a seed picks a
    VAE latent with ``latent_for_seeds`` or, for pix2pixHD, the cluster)."""

    def __init__(self, path: str):
        from tfsem.config import load_config
        from tfsem.data.labels import LabelSpace

        self.path = export_version_dir(os.path.abspath(path))
        if self.path is None:
            raise FileNotFoundError(f"{path}: not a SavedModel export (python -m tfsem.export)")
        assets = os.path.join(self.path, "assets")
        self.config = load_config(os.path.join(assets, "config.json"), written=True)
        with open(os.path.join(assets, "label_space.json"), encoding="utf-8") as f:
            self.space = LabelSpace.from_dict(json.load(f), where=assets)
        self.dream_export = os.path.isfile(os.path.join(assets, "renderer_config.json"))
        self._loaded = tf.saved_model.load(self.path)
        self._serve = self._loaded.signatures["serving_default"]
        self.specs = dict(self._serve.structured_input_signature[1])
        self.input_names = list(self.specs)
        # an export takes its signatures' inputs only (a whole style photo: predict_style)
        self.optional_names: List[str] = (["style_image"] if "predict_style" in
                                          self._loaded.signatures else [])
        self.name = os.path.basename(os.path.dirname(self.path)) or "model"
        self.image_size = tuple(self.config.image_size())

    @property
    def takes_label_maps(self) -> bool:
        return "label_map" in self.input_names

    @property
    def style_code_shape(self):
        """(slots, length) of the region style codes the export takes, or None."""
        spec = self.specs.get("style_codes")
        return None if spec is None else (int(spec.shape[1]), int(spec.shape[2]))

    #: An export renders a style photo whole (``predict_style``) but does not
    #: hand out its region codes.
    encodes_styles = False

    def default_style_codes(self):
        """None: an export's default codes are not read back."""
        return None

    def encode_styles(self, label_map, photo, instance_map=None):
        raise ValueError(f"{self.path}: an export takes region style codes, or a whole style "
                         "photo; encoding a photo's codes (--style-from/--interpolate with "
                         "photos, encode_styles) needs the run directory")

    def label_space(self):
        return self.space

    @property
    def dont_care(self) -> str:
        return self.config.data.dont_care

    def cluster_counts(self) -> Dict[int, int]:
        return {}

    def needs_clusters(self) -> bool:
        return False  # an export holds its clusters

    def signature(self, name: str):
        return self._loaded.signatures[name]

    def look_inputs(self, batch: int, seed=0, z=None, cluster=None) -> dict:
        """``z`` (given, or ``latent_for_seeds`` of the seeds) and ``cluster``
        (given, or the seed) where the export takes them."""
        from tfsem.models.base import latent_for_seeds

        seeds = _seeds(seed, batch)
        out = {}
        if "z" in self.specs:
            out["z"] = (np.asarray(z, np.float32) if z is not None else
                        latent_for_seeds(seeds, int(self.specs["z"].shape[-1])).numpy())
        elif z is not None:
            raise ValueError(f"{self.path}: this export takes no latent z")
        if "cluster" in self.specs:
            if cluster == "random":
                raise ValueError("cluster 'random' (per instance) needs the run dir; an export "
                                 "takes one cluster per map")
            out["cluster"] = (np.full([batch], int(cluster), np.int32) if cluster is not None
                              else np.asarray(seeds, np.int32))
        elif cluster not in (None, 0, "0"):
            raise ValueError(f"{self.path}: this export takes no feature clusters")
        return out

    @property
    def takes_photos(self) -> bool:
        return self.input_names == ["image"]

    def __call__(self, label_map, instance_map=None, *, seed=0, z=None, style=None,
                 cluster=None, instance_clusters=None, style_codes=None) -> np.ndarray:
        if self.takes_photos:
            if any(v is not None for v in (instance_map, z, style, cluster, instance_clusters,
                                           style_codes)):
                raise ValueError(f"{self.path}: a photo-to-photo export takes the photo only")
            photo, single = photo_batch(label_map, self.image_size)
            image = self._serve(image=tf.constant(photo))["image"].numpy()
            return image[0] if single else image
        if not self.takes_label_maps:
            raise TypeError(f"{self.path}: this export samples label maps; call .sample(seeds)")
        served_style = style is not None and "predict_style" in self._loaded.signatures
        if (style is not None and not served_style) or instance_clusters:
            raise ValueError("style photos and per-instance clusters need the run dir; an "
                             "export takes a seed, z or one cluster")
        label_map, single = _batched(label_map, "label_map", 3)
        instance_map, _ = _batched(instance_map, "instance_map", 3)
        label_map = _resized(label_map, self.image_size)
        inputs = {"label_map": label_map.astype(np.int32)}
        if "instance_map" in self.specs:
            instance = label_map if instance_map is None else _resized(instance_map,
                                                                        self.image_size)
            inputs["instance_map"] = instance.astype(np.int32)
        if served_style:  # the export's Zencoder takes the photo's region codes
            from tfsem.data.preprocess import style_photo

            photo = style_photo(style, self.image_size)
            photo = np.asarray(np.round((photo.numpy() + 1.0) * 127.5), np.uint8)
            if photo.shape[0] != label_map.shape[0]:
                photo = np.repeat(photo, label_map.shape[0], axis=0)
            served = self._loaded.signatures["predict_style"]
            inputs["style_image"] = photo
            image = served(**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()
            return image[0] if single else image
        inputs.update(self.look_inputs(len(label_map), seed, z, cluster))
        if "style_codes" in self.specs:
            if style_codes is None:
                raise ValueError(f"{self.path}: this export takes style_codes")
            inputs["style_codes"] = np.asarray(style_codes, np.float32)
        image = self._serve(**{k: tf.constant(v) for k, v in inputs.items()})["image"].numpy()
        return image[0] if single else image

    def sample(self, seeds: Sequence[int] = (0,), *, z=None, truncation: Optional[float] = None,
               mix_seed: Optional[int] = None,
               mix_layer: Optional[int] = None) -> Dict[str, np.ndarray]:
        """As :meth:`Pipeline.sample` (a dream export adds ``image``); truncation
        and style mixing through the ``from_seed_styled`` signature."""
        from PIL import Image

        if self.takes_label_maps:
            raise TypeError(f"{self.path}: this export renders label maps; call it with one")
        styled = truncation is not None or mix_seed is not None or mix_layer is not None
        if styled and "from_seed_styled" not in self._loaded.signatures:
            raise ValueError(f"{self.path}: --truncation / --mix-seed need an export of a style "
                             "generator (model.semgan.block: style), which has the "
                             "from_seed_styled signature")
        if mix_layer is not None and mix_seed is None:
            raise ValueError("--mix-layer needs --mix-seed (whose style the layers take)")
        if z is not None:
            if styled:
                raise ValueError(f"{self.path}: truncation and mixing take seeds, not z")
            out = self.signature("from_z")(z=tf.constant(np.asarray(z, np.float32)))
        elif styled:
            seeds = [int(s) for s in seeds]
            out = self.signature("from_seed_styled")(
                seed=tf.constant(seeds, tf.int64),
                truncation_psi=tf.constant(1.0 if truncation is None else truncation, tf.float32),
                mix_seed=tf.constant(seeds if mix_seed is None else [int(mix_seed)] * len(seeds),
                                     tf.int64),
                mix_layer=tf.constant(-1 if mix_layer is None else int(mix_layer), tf.int32))
        else:
            out = self._serve(seed=tf.constant([int(s) for s in seeds], tf.int64))
        result = {}
        for name, value in out.items():
            value = value.numpy()
            if name.endswith("_png_bytes"):
                result[name[:-len("_png_bytes")]] = np.stack(
                    [np.asarray(Image.open(io.BytesIO(v)).convert("RGB")) for v in value])
            else:
                result[name] = value
        return result


class DreamPipeline:
    """SemGAN's maps rendered by a label-to-photo pipeline: the same chain as
    the dream export (``tfsem.export.graph.DreamGraph``: raw ids, resized
    nearest to the renderer's size, the label map standing in for instances,
    the renderer's look from each seed: stream 1)."""

    def __init__(self, labels: Pipeline, renderer: Pipeline):
        from tfsem.export.graph import DreamGraph, InferenceGraph, check_dream_pair

        self.labels, self.renderer = labels, renderer
        graphs = InferenceGraph(labels.task), InferenceGraph(renderer.task)
        check_dream_pair(*graphs, f"--semgan {labels.name}", f"--renderer {renderer.name}")
        self.graph = DreamGraph(*graphs)

    @classmethod
    def from_runs(cls, semgan: str, renderer: str, *, precision: str = "auto",
                  features: Optional[str] = None) -> "DreamPipeline":
        return cls(Pipeline.from_run(semgan, precision=precision),
                   Pipeline.from_run(renderer, precision=precision, features=features))

    def sample(self, seeds: Sequence[int] = (0,), *, cluster=None, truncation=None,
               mix_seed=None, mix_layer=None) -> Dict[str, np.ndarray]:
        """``{"label_map": raw ids [N,H,W] (SemGAN's size), "color": uint8,
        "image": uint8 [N,Hr,Wr,3] (the renderer's)}`` for int seeds.
        ``cluster`` (pix2pixHD renderers): an int or ``"random"`` instead of
        the seed's cluster. ``truncation``, ``mix_seed``, ``mix_layer``: a style
        SemGAN's (:meth:`Pipeline.sample`)."""
        seeds = [int(s) for s in seeds]
        maps = self.labels.task.infer(**self.labels.task.inference_inputs(
            seed=seeds, truncation=truncation, mix_seed=mix_seed, mix_layer=mix_layer))
        raw = maps["label_map"]
        if cluster is None:  # DreamGraph.dream's inputs
            inputs = self.graph.render_inputs(raw, self.graph.random_look(tf.constant(seeds)))
        else:
            resized = _resized(raw.numpy(), self.renderer.image_size)
            inputs = self.renderer.task.inference_inputs(resized, seed=seeds, cluster=cluster)
        image = self.renderer.task.infer(**inputs)["image"]
        return {"label_map": raw.numpy(), "color": maps["color"].numpy(),
                "image": image.numpy()}

    def save(self, out: str, *, version: Optional[int] = None) -> str:
        """The dream SavedModel (``seed`` -> ``label_map``, ``image``) of this
        pair in ``out/<version>``; returns the version folder."""
        from tfsem.export.saved_model import export_dream

        labels, renderer = self.labels, self.renderer
        if labels.config is None or renderer.config is None:
            raise ValueError("save: both pipelines need their run configs (from_run)")
        return export_dream(labels.task, labels.config, renderer.task, renderer.config, out,
                            version)
