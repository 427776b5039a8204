"""What the studio renders with: a run dir (Keras), an exported SavedModel
(its ``predict_png`` signature), or TF Serving over REST; and SemGAN runs
for the dream button. Every back end takes raw label-id maps at the model's
size and returns PNG bytes; what a model can vary (a seed, a style photo,
appearance clusters) is in :class:`StudioModel`, read from the task's
contract or from the export's signature, never guessed."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import threading
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
from PIL import Image

from tfsem.config import load_config
from tfsem.data.labels import LabelSpace
from tfsem.data.preprocess import resize_map
from tfsem.inference.feature_clusters import load_run_clusters
from tfsem.models.base import latent_for_seeds
from tfsem.pipeline import Pipeline, export_version_dir
from tfsem.precision import model_precision

__all__ = ["DreamSource", "KerasBackend", "SavedModelBackend", "ServingBackend", "StudioModel",
           "encode_png", "open_backend"]


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 photo [H, W, 3] or an id map [H, W] (8-bit grey when
    every id fits, else 16-bit)."""
    array = np.asarray(array)
    if array.ndim == 2 and array.dtype != np.uint8:
        array = array.astype(np.uint8 if array.max(initial=0) <= 255 else np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclasses.dataclass
class StudioModel:
    """What the page needs to know of the model it paints for.

    ``seed``: whether the seed changes the photo (a VAE's latent, pix2pixHD's
    clusters); ``style_image``: a style photo can be uploaded (VAE encoder,
    pix2pixHD feature encoder; in-process only); ``clusters``: class id ->
    number of appearance clusters, for choosing per object (pix2pixHD with
    instance features, in-process only); ``style_codes``: region style codes
    (SEAN): ``slots``, ``length``, ``encode`` (photos can be encoded: in-process
    only) and ``default`` (base64 float32 [slots * length], the codes a render
    takes without any: the run's mean codes, else zeros).
    """

    name: str
    backend: str
    height: int
    width: int
    space: LabelSpace
    dont_care: str
    use_instances: bool
    seed: bool = False
    style_image: bool = False
    clusters: Dict[int, int] = dataclasses.field(default_factory=dict)
    style_codes: Optional[dict] = None
    #: ``labels`` (paint a label map) or ``image`` (a photo-to-photo model: open a photo)
    input: str = "labels"

    def to_json(self) -> dict:
        classes = [{"id": c.id, "name": c.name, "color": list(c.color),
                    "thing": bool(c.has_instances)} for c in self.space.classes]
        return {"name": self.name, "backend": self.backend, "height": self.height,
                "width": self.width, "use_instances": self.use_instances,
                "label_space": {"name": self.space.name, "classes": classes},
                "seed": self.seed, "style_image": self.style_image,
                "clusters": {str(k): v for k, v in sorted(self.clusters.items())},
                "style_codes": self.style_codes, "input": self.input}


def codes_base64(codes: np.ndarray) -> str:
    """Style codes as the page and the API carry them: base64 float32 little-endian."""
    return base64.b64encode(np.asarray(codes, "<f4").tobytes()).decode("ascii")


def codes_info(shape, default: Optional[np.ndarray], encode: bool) -> dict:
    """``StudioModel.style_codes`` for codes of ``shape`` (slots, length)."""
    slots, length = shape
    default = np.zeros(shape, np.float32) if default is None else default
    return {"slots": slots, "length": length, "encode": encode,
            "default": codes_base64(default)}


class KerasBackend:
    """A run directory or ``.keras`` file, in this process (``tfsem.Pipeline``)."""

    kind = "keras"

    def __init__(self, path: str, precision: str = "auto"):
        if export_version_dir(os.path.abspath(path)) is not None and not os.path.isfile(
                os.path.join(path, "config.json")):
            raise ValueError(f"{path}: an export; the studio opens it as a SavedModel")
        self.pipe = Pipeline.from_run(path, precision=precision)
        self.config, self.model = self.pipe.config, self.pipe.task
        self.precision = model_precision(self.model)
        if not (self.pipe.takes_label_maps or self.pipe.takes_photos):
            raise ValueError(f"--model {path}: a {type(self.model).__name__} model samples "
                             "label maps; give it as --semgan, and a label-to-photo run as --model")
        self.space = self.pipe.label_space()
        self.dont_care = self.pipe.dont_care
        names, optional = self.pipe.input_names, self.pipe.optional_names
        if self.pipe.needs_clusters():
            load_run_clusters(path)  # no clusters: its error says what to run
        height, width = self.pipe.image_size
        self.info = StudioModel(
            name=os.path.basename(os.path.normpath(path)), backend=self.kind, height=height,
            width=width, space=self.space, dont_care=self.dont_care,
            use_instances="instance_map" in names,
            seed=bool({"z", "cluster"} & set(names)),
            style_image="style_image" in optional, clusters=self.pipe.cluster_counts(),
            style_codes=None if self.pipe.style_code_shape is None else codes_info(
                self.pipe.style_code_shape, self.pipe.default_style_codes(), encode=True),
            input="image" if self.pipe.takes_photos else "labels")
        self._lock = threading.Lock()  # Keras models are not built for concurrent calls

    def translate(self, photo: np.ndarray) -> bytes:
        """A photo-to-photo model's photo (PNG) of uint8 ``photo`` [H,W,3] (any size)."""
        with self._lock:
            return encode_png(self.pipe(photo))

    def render(self, label: np.ndarray, instance: Optional[np.ndarray], seed: int = 0,
               style: Optional[np.ndarray] = None,
               per_instance: Optional[Dict[int, int]] = None,
               style_codes: Optional[np.ndarray] = None) -> bytes:
        clusters = bool(self.info.clusters) and style is None
        codes = {} if style_codes is None else {"style_codes": style_codes[None]}
        with self._lock:
            image = self.pipe(label, instance, seed=seed, style=style,
                              cluster="random" if clusters else None,
                              instance_clusters=(per_instance or None) if clusters else None,
                              **codes)
        return encode_png(image)

    def encode_style(self, label: np.ndarray, photo: np.ndarray) -> np.ndarray:
        """Region codes [slots, length] of ``photo`` over the raw label map ``label``."""
        with self._lock:
            return self.pipe.encode_styles(label, photo)


def _version_dir(path: str) -> str:
    """An export's version folder: ``path`` itself, or its highest numbered version."""
    version = export_version_dir(path)
    if version is None:
        raise FileNotFoundError(f"{path}: not a run directory, a .keras file or a SavedModel "
                                "export (python -m tfsem.export)")
    return version


class SavedModelBackend:
    """An exported SavedModel (``python -m tfsem.export``) through its
    ``predict_png`` signature: PNGs in, PNG out. The seed draws the VAE latent
    (``latent_for_seeds``, as the Keras path does) or picks the cluster."""

    kind = "saved_model"

    def __init__(self, path: str):
        self.path = _version_dir(path)
        assets = os.path.join(self.path, "assets")
        config = load_config(os.path.join(assets, "config.json"), written=True)
        with open(os.path.join(assets, "label_space.json")) as f:
            self.space = LabelSpace.from_dict(json.load(f), where=assets)
        loaded = tf.saved_model.load(self.path)
        if "predict_png" not in loaded.signatures:
            raise ValueError(f"{self.path}: has no predict_png signature; it is not a "
                             "label-to-photo export (SemGAN exports go to --semgan as run dirs)")
        self._loaded = loaded  # keeps the signature's variables alive
        self._fn = loaded.signatures["predict_png"]
        specs = self._fn.structured_input_signature[1]
        self.z_dim = int(specs["z"].shape[-1]) if "z" in specs else 0
        self.cluster = "cluster" in specs
        self.codes_shape = (tuple(int(d) for d in specs["style_codes"].shape[1:])
                            if "style_codes" in specs else None)
        self.photos = "image_png" in specs  # a photo-to-photo export
        height, width = config.image_size()
        self.info = StudioModel(
            name=os.path.basename(os.path.dirname(self.path)) or "model", backend=self.kind,
            height=height, width=width, space=self.space, dont_care=config.data.dont_care,
            use_instances="instance_png" in specs, seed=bool(self.z_dim or self.cluster),
            style_codes=None if self.codes_shape is None else codes_info(
                self.codes_shape, None, encode=False),
            input="image" if self.photos else "labels")

    def translate(self, photo: np.ndarray) -> bytes:
        """A photo-to-photo export's photo (PNG) of uint8 ``photo`` [H,W,3],
        resized (bicubic) to the export's training size."""
        from tfsem.pipeline import photo_batch

        photo, _ = photo_batch(photo, (self.info.height, self.info.width))
        return self._translate_png(encode_png(photo[0]))

    def _translate_png(self, png: bytes) -> bytes:
        return self._fn(image_png=tf.constant([png]))["image_png_bytes"].numpy()[0]

    def _inputs(self, label, instance, seed):
        inputs = {"label_png": [encode_png(label)]}
        if self.info.use_instances:
            inputs["instance_png"] = [encode_png(label if instance is None else instance)]
        z = latent_for_seeds([seed], self.z_dim, stream=0).numpy() if self.z_dim else None
        cluster = np.array([seed], np.int32) if self.cluster else None
        return inputs, z, cluster

    def render(self, label, instance, seed=0, style=None, per_instance=None,
               style_codes=None) -> bytes:
        if style is not None or per_instance:
            raise ValueError("style photos and per-object clusters need the run dir (--model "
                             "RUN); an export takes a seed only")
        inputs, z, cluster = self._inputs(label, instance, seed)
        if self.codes_shape is not None:
            codes = (np.zeros(self.codes_shape, np.float32) if style_codes is None
                     else style_codes)
            inputs["style_codes"] = codes[None].astype(np.float32)
        return self._predict(inputs, z, cluster)

    def encode_style(self, label, photo):
        raise ValueError("encoding style photos needs the run dir (--model RUN); an export "
                         "takes style codes")

    def _predict(self, inputs, z, cluster) -> bytes:
        args = {k: tf.constant(v) for k, v in inputs.items()}
        if z is not None:
            args["z"] = tf.constant(z)
        if cluster is not None:
            args["cluster"] = tf.constant(cluster)
        return self._fn(**args)["image_png_bytes"].numpy()[0]


class ServingBackend(SavedModelBackend):
    """The same export served by TF Serving: requests go to its REST endpoint
    (``tfsem.serving.RestClient``); the local export describes the model."""

    kind = "serving"

    def __init__(self, path: str, url: str, model_name: str):
        from tfsem.serving.client import RestClient

        super().__init__(path)
        if self.codes_shape is not None:
            raise ValueError(f"{path}: a model with region style codes (SEAN); the studio sends "
                             "them to a local export (--model EXPORT), not yet through TF Serving")
        self.client = RestClient(url, model_name)

    def _predict(self, inputs, z, cluster) -> bytes:
        return self.client.predict_png(inputs["label_png"], inputs.get("instance_png"),
                                       z=z, cluster=cluster)[0]

    def _translate_png(self, png: bytes) -> bytes:
        return self.client.translate_png([png])[0]


class DreamSource:
    """A SemGAN run (``--semgan``): whole label maps by seed, as raw ids at the
    renderer's size; the label map stands in for the instance map, as in
    ``tfsem.dream``."""

    def __init__(self, path: str, renderer: StudioModel, precision: str = "auto"):
        self.pipe = Pipeline.from_run(path, precision=precision)
        self.config, self.model = self.pipe.config, self.pipe.task
        if self.pipe.takes_label_maps:
            raise ValueError(f"--semgan {path}: a {type(self.model).__name__} model renders "
                             "label maps; --semgan takes a SemGAN run")
        self.space = self.pipe.label_space()
        if self.space.name != renderer.space.name:
            raise ValueError(f"--semgan {path} makes {self.space.name!r} label maps, the model "
                             f"renders {renderer.space.name!r} ones")
        self.size = (renderer.height, renderer.width)
        self._lock = threading.Lock()

    @property
    def has_style_controls(self) -> bool:
        """Whether the SemGAN takes truncation and style mixing (a style generator)."""
        return "truncation_psi" in self.pipe.optional_names

    @property
    def style_inputs(self) -> int:
        """How many style inputs (ws) mixing can start from (0: no style generator)."""
        return int(self.model.style_inputs)

    def sample(self, seed: int, truncation: Optional[float] = None,
               mix_seed: Optional[int] = None, mix_layer: Optional[int] = None) -> np.ndarray:
        """SemGAN's map of ``seed`` at the renderer's size; a style generator also
        takes truncation psi and style mixing (``Pipeline.sample``)."""
        with self._lock:
            raw = self.pipe.sample([int(seed)], truncation=truncation, mix_seed=mix_seed,
                                   mix_layer=mix_layer)["label_map"]
        return resize_map(tf.constant(raw[:1]), self.size)[0].numpy()


def open_backend(model: str, serving_url: Optional[str] = None,
                 serving_model: Optional[str] = None, precision: str = "auto"):
    """The back end for ``--model`` (a run dir or ``.keras``: Keras, computing in
    ``precision``; a SavedModel export: its signature, in the precision it was
    exported with; with ``--serving-url``: that export served)."""
    if bool(serving_url) != bool(serving_model):
        raise ValueError("--serving-url and --serving-model go together")
    path = os.path.abspath(model)
    keras_run = not serving_url and (
        path.endswith(".keras") or os.path.isfile(os.path.join(path, "config.json")))
    if not keras_run and precision != "auto":
        raise ValueError(f"--precision {precision}: applies to run directories and .keras files; "
                         f"the export {model} computes in the precision chosen at export "
                         "(python -m tfsem.export --precision)")
    if serving_url:
        return ServingBackend(model, serving_url, serving_model)
    if keras_run:
        return KerasBackend(model, precision)
    return SavedModelBackend(model)
