"""What the GAN tasks share, and the contract every front end relies on.

:class:`GANTask` (every family): the two optimisers, loss-term trackers, a
D-then-G ``train_step`` (a new family's default; every family here overrides
it with its official loop), ``test_step`` and the replica-aware loss
reduction; and the two contracts:

* **inference**: ``inference_specs()`` (the named inputs, declared once),
  ``infer(**tensors)`` (one graph-safe function from raw label ids to uint8
  photos, or from latents to raw label ids and colours) and
  ``inference_inputs(...)`` (arrays, seeds, style photos and clusters ->
  those named tensors). ``tfsem.Pipeline``, the SavedModel and TFLite
  exports, the dream chain and the studio all run ``infer``; they read the
  specs, never a capability attribute.
* **training**: ``from_experiment``, ``preview_grid``, ``periodic_scores``,
  ``load_stage_weights``, called by the trainer.

:class:`ConditionalGAN` (the label-to-photo tasks): the conditional
multi-scale discriminator pass, the semantic input, the VGG term and the
label-to-photo ``infer``. Models: keras-hub's ``Task``, TF Model Garden's
``ExportModule`` (the export wraps the task's own inference)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Dict, List, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfsem import losses as L
from tfsem import registry
from tfsem.data.labels import LabelCodec, load_label_space
from tfsem.data.preprocess import instance_edges, lookup_class_indices, semantic_map, uint8_image
from tfsem.data.visualize import edges_to_rgb, image_to_uint8, label_to_rgb, make_grid
from tfsem.layers.init import init_weights
from tfsem.optimizers import make_adam

__all__ = ["FORMAT_VERSION", "ConditionalGAN", "GANTask", "copy_matching_variables",
           "latent_for_seeds", "seed_list", "split_predictions"]

#: Where a ConditionalGAN keeps its VGG loss (``_set_vgg_loss``).
_VGG_SLOT = "__vgg_loss__"

#: Saved label-to-photo models carry this in their config. 2 (tfsem 0.2): the
#: networks compute what the official code computes (PyTorch nearest indexing,
#: pix2pixHD padding and discriminator depth, SPADE encoder width); models
#: saved by tfsem 0.1 (no version) give other outputs or do not fit.
FORMAT_VERSION = 2


def latent_for_seeds(seeds, z_dim, stream=0):
    """z [B, z_dim] for int seeds [B]: N(0, I), a pure function of each seed
    (the same in Python, the exported SavedModels and ``tfsem.dream``).
    ``stream`` 0 is SemGAN's latent; ``tfsem.dream`` draws a VAE renderer's
    style from stream 1 of the same seed. Without TensorFlow (LiteRT):
    ``tfsem.seed_latents.latent_for_seeds_numpy``."""
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
    return tf.map_fn(
        lambda s: tf.random.stateless_normal([z_dim], seed=tf.stack([s, tf.constant(stream, tf.int64)])),
        seeds, fn_output_signature=tf.float32)


def seed_list(seed, batch: int):
    """Int seeds for a batch: ``seed`` itself when a list, else seed, seed + 1, ..."""
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds = [int(s) for s in np.asarray(seed).reshape(-1)]
        if len(seeds) != batch:
            raise ValueError(f"seed: {len(seeds)} seeds for a batch of {batch}")
        return seeds
    return [int(seed) + i for i in range(batch)]


def split_predictions(pred) -> Tuple[list, list]:
    """Splits D outputs of concat([fake, real]) into the fake and real halves."""
    fake, real = [], []
    for scale in pred:
        halves = [tf.split(f, 2, axis=0) for f in scale]
        fake.append([h[0] for h in halves])
        real.append([h[1] for h in halves])
    return fake, real


class GANTask(keras.Model):
    """Base of every GAN task: a ``generator`` and a ``discriminator`` trained
    by alternating steps, each with its own optimiser.

    Subclasses set ``self.generator``, ``self.discriminator`` (and
    ``self.encoder``, trained with the generator, or None), the class
    attributes ``G_TERMS`` / ``D_TERMS``, implement ``build_networks()`` and
    ``compute_losses(batch, training, parts)`` (named per-example terms [B]),
    and call ``_init_tracking()``.
    """

    G_TERMS: Tuple[str, ...] = ()
    D_TERMS: Tuple[str, ...] = ()
    #: The ``model.type`` of this task's family in ``tfsem.registry``.
    FAMILY: str = ""
    #: The config section whose fields ARE this task's hyper-parameters: the
    #: keyword arguments its constructor takes, their defaults, the attributes
    #: they set and what ``get_config`` returns (:meth:`_init_hparams`); None
    #: for a task that lists its own.
    SECTION = None

    # -- what the family's networks are built with (read inside models/ only) ---------
    #: Renders photos from label maps (GauGAN, pix2pixHD); False: samples label
    #: maps from noise (SemGAN and its baseline).
    conditional = False
    #: Takes instance maps (edges; pix2pixHD's features average over instances).
    use_instances = False
    #: A VAE style encoder: a style photo or a random latent picks the look.
    use_vae = False
    #: pix2pixHD's instance features: needs feature clusters (or a photo) at inference.
    use_features = False
    #: Latent size: SemGAN's noise, GauGAN's style (0: none).
    z_dim = 0
    #: The output is a colour image (SemGAN's baseline), not class probabilities.
    outputs_colors = False
    #: The network trained with the generator (VAE / feature encoder), or None.
    encoder = None

    @classmethod
    def from_experiment(cls, config):
        """The (unbuilt) task of an experiment config (``tfsem.registry``)."""
        raise NotImplementedError

    # -- hyper-parameters, written once (the config section) ---------------------------
    @staticmethod
    def split_keras_kwargs(kwargs: dict) -> Tuple[dict, dict]:
        """(Keras Model kwargs: name, dtype, trainable; the rest: hyper-parameters)."""
        keras_keys = ("name", "dtype", "trainable")
        return ({k: v for k, v in kwargs.items() if k in keras_keys},
                {k: v for k, v in kwargs.items() if k not in keras_keys})

    def _init_hparams(self, hparams: dict):
        """Sets every field of :attr:`SECTION` as an attribute of the same name:
        the value in ``hparams``, else the section's default; unknown names and
        values the section's ``validate`` refuses are errors naming the task."""
        names = [f.name for f in dataclasses.fields(self.SECTION)]
        unknown = sorted(set(hparams) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {unknown}; its "
                            f"hyper-parameters are the fields of {self.SECTION.__name__}: "
                            f"{', '.join(names)}")
        section = self.SECTION(**hparams)
        for name, hint in typing.get_type_hints(self.SECTION).items():
            if typing.get_origin(hint) is typing.Literal and \
                    getattr(section, name) not in typing.get_args(hint):
                raise ValueError(f"{name} must be one of {typing.get_args(hint)}, got "
                                 f"{getattr(section, name)!r}")
        section.validate(type(self).__name__)
        for name in names:
            setattr(self, name, getattr(section, name))

    def hparams(self) -> dict:
        """The :attr:`SECTION` fields' values (what ``get_config`` adds)."""
        if self.SECTION is None:
            return {}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self.SECTION)}

    @staticmethod
    def experiment_sizes(config):
        """(label space, one-hot channels, (height, width)) of an experiment config."""
        space = load_label_space(config.data.label_space)
        return space, space.num_channels(config.data.dont_care), config.image_size()

    @staticmethod
    def section_kwargs(config, drop: Sequence[str] = ()) -> dict:
        """The model section of ``config`` as constructor keyword arguments."""
        section = config.model.section
        return {f: getattr(section, f) for f in section.__dataclass_fields__ if f not in drop}

    def family_defaults(self) -> Dict[str, float]:
        """The Adam settings of this task's family (``tfsem.registry``)."""
        return dict(registry.family(self.FAMILY).optimizer)

    # -- the inference contract ------------------------------------------------------
    def attach_label_space(self, space, dont_care: str = "extra_class"):
        """Gives ``infer`` the raw ids and colours of ``space`` (``tfsem.runs.load_run``
        and ``from_experiment`` call it; without it raw ids are class indices).
        Not saved with the model: the run's config names the label space."""
        self.__dict__["_label_codec"] = LabelCodec.from_space(space, dont_care, self.num_classes)

    def label_codec(self) -> LabelCodec:
        """The raw id <-> class index tables ``infer`` uses."""
        codec = self.__dict__.get("_label_codec")
        if codec is None:
            codec = self.__dict__["_label_codec"] = LabelCodec.identity(self.num_classes)
        return codec

    def inference_specs(self, batch=None, height=None, width=None,
                        optional: bool = False) -> List[tf.TensorSpec]:
        """The named inputs of :meth:`infer`, declared once: what the SavedModel
        signatures and the TFLite model take (``optional``: also the inputs only
        Python callers give, such as a style photo)."""
        raise NotImplementedError

    def infer(self, **inputs) -> Dict[str, tf.Tensor]:
        """Graph-safe inference over :meth:`inference_specs`' named tensors:
        ``{"image": uint8 [B,H,W,3]}`` for label-to-photo tasks, ``{"label_map":
        raw ids int32 [B,H,W], "color": uint8 [B,H,W,3], ...}`` for label-map
        tasks. Exports and pipelines wrap exactly this."""
        raise NotImplementedError

    def inference_inputs(self, label_map=None, instance_map=None, *, seed=0, z=None,
                         style=None, cluster=None, instance_clusters=None,
                         style_codes=None) -> dict:
        """Arrays and options -> the named tensors of :meth:`infer` (eager). Options
        a task cannot use are errors naming them."""
        raise NotImplementedError

    def attach_run_files(self, folder: str) -> None:
        """Loads what the task keeps beside its weights in a run folder (SEAN:
        ``mean_codes.npz``, its default look); nothing by default."""

    def alternate_looks(self, batch=None, height=None, width=None) -> Dict[str, list]:
        """Other ways to give the look, as extra export signatures: signature name
        -> the full input specs of ``infer`` for it (SEAN: ``predict_style``, a
        style photo instead of codes); {} by default."""
        return {}

    def random_look(self, seeds, stream: int = 1) -> Dict[str, tf.Tensor]:
        """Graph-safe: the inputs that pick a random look per int seed (a VAE
        latent from ``stream``, pix2pixHD's cluster), for the dream chain; {}
        when a task has none."""
        return {}

    def inference_size(self, height=None, width=None) -> Tuple[int, int]:
        """The (height, width) ``infer`` runs at for a fixed-shape export
        (default: the training size)."""
        if height or width:
            raise ValueError(f"--height/--width: a {type(self).__name__} model generates at "
                             "its training size only")
        return tuple(self.image_size)

    def cluster_counts(self) -> Dict[int, int]:
        """class index -> number of appearance clusters ``infer`` can pick ({}: none)."""
        return {}

    def size_multiple(self) -> int:
        """What the height and width of ``infer``'s maps must be multiples of."""
        return 1

    def inference_variables(self) -> list:
        """The variables :meth:`infer` reads over the required inputs (what an
        export must track)."""
        return list(self.generator.variables)

    def sample_label_maps(self, seeds, batch_size: int = 16):
        """Label-map tasks: (class indices int32 [N,H,W], colour outputs or None)."""
        raise TypeError(f"a {type(self).__name__} model renders photos from label maps; it "
                        "does not sample label maps (pass label maps instead)")

    def preview_grid(self, batch, label_space, dont_care) -> np.ndarray:
        """uint8 grid of the trainer's sample images for a fixed batch."""
        raise NotImplementedError

    def periodic_scores(self, batch) -> Dict[str, float]:
        """The scores the trainer logs every ``eval_every`` steps ({}: none)."""
        return {}

    @property
    def style_inputs(self) -> int:
        """How many style inputs (ws) style mixing can start from (0: the task
        takes no style mixing)."""
        return 0

    def device_controls(self, index: int, rng) -> Dict[str, np.ndarray]:
        """The optional inputs a fixed-shape device model (TFLite) also takes, as
        one batch-1 example (TFLite calibration and fidelity inputs; ``index``
        counts the examples, ``rng`` a numpy Generator); {}: none."""
        return {}

    def saved_overrides(self, config) -> List[str]:
        """``--set`` overrides that make the run's ``config`` build this loaded model
        (a run saved before a default changed); [] when it does."""
        return []

    def restored(self, checkpoint: str, log=print) -> None:
        """Called after ``checkpoint`` was restored into this model (hook: what an
        older checkpoint lacks gets its value here)."""

    def load_stage_weights(self, other) -> Dict[str, int]:
        """``train.init_from``: copy another run's weights; counts per part."""
        raise ValueError(f"train.init_from: {type(self).__name__} models cannot start from "
                         "another run's weights")

    @staticmethod
    def _checked_image_size(num_classes, gan_mode, image_size, factor, why=""):
        """Validates the arguments every task shares; returns image_size as a tuple."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if gan_mode not in L.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {L.GAN_MODES}, got {gan_mode!r}")
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or image_size[0] % factor or image_size[1] % factor:
            raise ValueError(f"image_size must be (height, width) with both multiples of "
                             f"{factor}{why}, got {image_size}")
        return image_size

    def build(self, input_shape=None):
        self.build_networks()

    def get_build_config(self):
        # Variables do not depend on input shapes: rebuilding needs no shape.
        return {"build_networks": True}

    def build_from_config(self, config):
        self.build_networks()

    def _init_tracking(self):
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in self.G_TERMS + self.D_TERMS + ("G_loss", "D_loss")}

    def optimizer_ratios(self) -> Tuple[float, float]:
        """(G, D) factors of StyleGAN2's lazy regularisation for the optimisers
        (``tfsem.optimizers.lazy_adam_settings``); 1: none (every family but
        SemGAN's lazy R1 / path length)."""
        return 1.0, 1.0

    def adam_kind(self, family_kind: str) -> str:
        """The Adam (``tfsem.optimizers.make_adam`` kind) of this task: the family's."""
        return family_kind

    def _compile_optimizers(self, g_optimizer, d_optimizer):
        self.build_networks()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.g_optimizer.build(self.generator_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def generator_variables(self):
        """What the G step trains: the generator (+ the encoder, trained jointly)."""
        out = list(self.generator.trainable_variables)
        if self.encoder is not None:
            out += list(self.encoder.trainable_variables)
        return out

    def generator_gradients(self, grads, variables):
        """Hook to change the G step's gradients (pix2pixHD freezes G1 here)."""
        return grads

    def train_step(self, batch):
        # Discriminator step, then generator step; each with its own tape and
        # an explicit variable list (no trainable toggling). Families with an
        # official training loop override this with that loop's order.
        with tf.GradientTape() as tape:
            d_terms = self.compute_losses(batch, training=True, parts=("discriminator",))
            d_loss = self._mean(d_terms.values())
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        with tf.GradientTape() as tape:
            g_terms = self.compute_losses(batch, training=True, parts=("generator",))
            g_loss = self._mean(g_terms.values())
        g_vars = self.generator_variables
        grads = self.generator_gradients(tape.gradient(g_loss, g_vars), g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars))
        return self._track_step(g_terms, d_terms)

    def test_step(self, batch):
        terms = self.compute_losses(batch, training=False)
        return self._track({**terms,
                            "G_loss": tf.add_n([terms[k] for k in self.G_TERMS]),
                            "D_loss": tf.add_n([terms[k] for k in self.D_TERMS])})

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _track_step(self, g_terms: Dict[str, tf.Tensor], d_terms: Dict[str, tf.Tensor]):
        """Tracks a training step's terms and their G_loss / D_loss sums."""
        return self._track({**g_terms, **d_terms,
                            "G_loss": tf.add_n(list(g_terms.values())),
                            "D_loss": tf.add_n(list(d_terms.values()))})

    def _track(self, terms: Dict[str, tf.Tensor]):
        for name, value in terms.items():
            self.trackers[name].update_state(tf.reduce_mean(value))
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @staticmethod
    def _mean(values):
        """Per-example terms -> the replica's share of the global mean."""
        return tf.nn.compute_average_loss(tf.add_n(list(values)))


class ConditionalGAN(GANTask):
    """Base of the tasks with a ``discriminator`` that sees concat(segmap, image).

    Beyond :class:`GANTask`, subclasses set ``self.lambda_vgg``,
    ``self.vgg_weights``, ``num_classes`` and ``use_instances``, and extend
    :meth:`style_specs` / :meth:`style_inputs` / :meth:`render` for what picks
    the look (a VAE latent, instance features).
    """

    conditional = True
    #: float [num_classes, 3] in [-1, 1]: the generator sees each class's colour
    #: (pix2pix's colour label input) instead of one-hot channels; None: one-hot.
    label_colors = None
    #: Photo-to-photo (``data.input: image``; pix2pix's RGB input, pix2pixHD's
    #: ``label_nc 0``): G and D are conditioned on an input photo, batch key
    #: ``input`` in [-1, 1], instead of a label map.
    input_image = False

    def condition(self, batch):
        """What G and D see besides the photo: the semantic map of the batch's
        label (+ instance) map, or its ``input`` photo (:attr:`input_image`)."""
        if self.input_image:
            if batch.get("input") is None:
                raise ValueError(f"this {type(self).__name__} model translates photos: pass "
                                 "the input photo as 'input' (float [B,H,W,3] in [-1, 1])")
            return tf.cast(batch["input"], tf.float32)
        return self.semantic_input(batch["label"], batch.get("instance"))

    @classmethod
    def from_experiment(cls, config):
        """The task of ``config``: its section's fields, sizes and ``use_instances``
        from the data section; named after the family (``gaugan``, ``pix2pixhd``)."""
        _, num_classes, image_size = cls.experiment_sizes(config)
        photo = {"input_image": True} if config.data.input == "image" else {}  # photo_input families
        return cls(num_classes=num_classes, image_size=image_size,
                   use_instances=config.data.use_instances, **cls.section_kwargs(config),
                   **photo, name=cls.FAMILY)

    # -- the inference contract ----------------------------------------------------------
    def inference_specs(self, batch=None, height=None, width=None,
                        optional: bool = False) -> List[tf.TensorSpec]:
        """``label_map`` int32 [B,H,W] of RAW label ids, ``instance_map`` (with
        instances), then what picks the look (:meth:`style_specs`); a
        photo-to-photo task: ``image`` uint8 [B,H,W,3]."""
        maps = [batch, height, width]
        if self.input_image:
            return [tf.TensorSpec(maps + [3], tf.uint8, name="image")]
        specs = [tf.TensorSpec(maps, tf.int32, name="label_map")]
        if self.use_instances:
            specs.append(tf.TensorSpec(maps, tf.int32, name="instance_map"))
        return specs + self.style_specs(batch, height, width, optional)

    def style_specs(self, batch=None, height=None, width=None, optional=False):
        """The inputs that pick the look (a VAE latent, clusters); here none."""
        return []

    def class_indices(self, label_map):
        """Raw label ids -> class indices (unknown ids: ``INVALID_INDEX``)."""
        index, _ = lookup_class_indices(tf.constant(self.label_codec().table), label_map)
        return index

    def infer(self, label_map=None, instance_map=None, image=None,
              **style) -> Dict[str, tf.Tensor]:
        """Raw ids (+ instance ids, + the look) -> ``{"image": uint8 [B,H,W,3]}``:
        class indices, the semantic map, :meth:`render`, uint8. Equal to
        ``model({"label": indices, ...})`` (the Keras call) by construction.
        A photo-to-photo task: uint8 ``image`` -> ``{"image": uint8}``."""
        if self.input_image:
            photo = tf.cast(image, tf.float32) / 127.5 - 1.0
            return {"image": uint8_image(self.render(photo, None))}
        index = self.class_indices(label_map)
        if self.use_instances and instance_map is None:
            raise ValueError("this model takes instance maps: pass 'instance_map'")
        segmap = self.semantic_input(index, instance_map if self.use_instances else None)
        return {"image": uint8_image(self.render(segmap, index, instance_map, **style))}

    def render(self, segmap, index, instance_map=None, **style):
        """The generator's photo in [-1, 1] for a semantic map (family hook of ``infer``)."""
        return self.generator(segmap, training=False)

    def size_multiple(self) -> int:
        """The generator's ``factor`` (1 for a generator without one)."""
        return int(getattr(self.generator, "factor", 1))

    def inference_size(self, height=None, width=None) -> Tuple[int, int]:
        height, width = height or self.image_size[0], width or self.image_size[1]
        factor = self.size_multiple()
        if height % factor or width % factor:
            raise ValueError(f"--height/--width must be multiples of {factor}, "
                             f"got {height}x{width}")
        return int(height), int(width)

    def inference_inputs(self, label_map=None, instance_map=None, *, seed=0, z=None,
                         style=None, cluster=None, instance_clusters=None,
                         style_codes=None, image=None) -> dict:
        """The named inputs of :meth:`infer` for raw label ids ``label_map``
        [B,H,W] at the model's size and ``instance_map`` (the label map stands in
        when the model takes instances and none is given). Ids outside the label
        space are a ValueError naming them.

        What picks the look (:meth:`style_inputs`): ``z`` a VAE latent, ``seed``
        (an int, or one per example) a random VAE style or random clusters,
        ``style`` a photo [B,H,W,3] in [-1, 1], pix2pixHD's ``cluster`` (an
        int, a digit string or ``"random"``) and ``instance_clusters``
        {instance id: cluster}; SEAN's ``style_codes`` [B, classes, length].

        A photo-to-photo task takes ``image``: uint8 photos [B,H,W,3] at the
        model's size."""
        if self.input_image:
            return self._photo_inputs(image, label_map, instance_map, z=z, style=style,
                                      cluster=cluster, instance_clusters=instance_clusters,
                                      style_codes=style_codes)
        if image is not None:
            raise ValueError(f"a {type(self).__name__} model renders label maps; it takes no "
                             "input photo (a photo-to-photo model does: data.input image)")
        if label_map is None:
            raise TypeError(f"a {type(self).__name__} model renders photos from label maps: "
                            "pass a label map")
        label_map = np.asarray(label_map, np.int64)
        if label_map.ndim != 3:
            raise ValueError(f"label_map must be [batch, height, width], got shape "
                             f"{label_map.shape}")
        self.label_codec().check(label_map)
        inputs = {"label_map": tf.constant(label_map, tf.int32)}
        if self.use_instances:
            instance = label_map if instance_map is None else np.asarray(instance_map)
            if instance.shape != label_map.shape:
                raise ValueError(f"instance_map has shape {instance.shape}, label_map "
                                 f"{label_map.shape}")
            inputs["instance_map"] = tf.constant(instance, tf.int32)
        seeds = seed_list(seed, label_map.shape[0])
        extra = {} if style_codes is None else {"style_codes": style_codes}
        inputs.update(self.style_inputs(inputs, seeds, z=z, style=style, cluster=cluster,
                                        instance_clusters=instance_clusters, **extra))
        return inputs

    def _photo_inputs(self, image, label_map=None, instance_map=None, **look) -> dict:
        """``inference_inputs`` of a photo-to-photo task: the checked photos."""
        if label_map is not None or instance_map is not None:
            raise ValueError(f"this {type(self).__name__} model translates photos: pass "
                             "image=, not label or instance maps")
        if image is None:
            raise TypeError(f"a {type(self).__name__} model translates photos: pass image=")
        image = np.asarray(image)
        if image.ndim != 4 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 [batch, height, width, 3], got "
                             f"{image.dtype} {image.shape}")
        self.style_inputs({}, [], **look)  # a photo-to-photo task takes none of them
        return {"image": tf.constant(image)}

    def style_inputs(self, inputs, seeds, z=None, style=None, cluster=None,
                     instance_clusters=None, style_codes=None) -> dict:
        """The look-picking inputs of ``infer``; here: a model without any."""
        name = type(self).__name__
        if style_codes is not None:
            raise ValueError(f"style codes need a SEAN model; this {name} model takes none")
        if style is not None:
            raise ValueError(f"a style photo needs a GauGAN with a style encoder (use_vae) or a "
                             f"pix2pixHD with instance features (use_features); this {name} "
                             "model has neither")
        if z is not None:
            raise ValueError(f"z needs a GauGAN with a style encoder (use_vae); this {name} "
                             "model takes no latent")
        if cluster not in (None, "0", 0) or instance_clusters:
            raise ValueError(f"feature clusters need a pix2pixHD model trained with "
                             f"use_features: true; this {name} model takes no features")
        return {}

    def load_stage_weights(self, other) -> Dict[str, int]:
        """Copies every network of a model of the same architecture (``train.init_from``:
        fine-tuning, e.g. from a converted official checkpoint). Returns counts per part."""
        if not isinstance(other, type(self)):
            raise ValueError(f"init_from must be a {type(self).__name__} run, got "
                             f"{type(other).__name__}")
        self.build_networks()
        other.build_networks()
        copied = {"generator": copy_matching_variables(other.generator, self.generator),
                  "discriminator": copy_matching_variables(other.discriminator,
                                                           self.discriminator)}
        if self.encoder is not None:
            if other.encoder is None:
                raise ValueError("init_from: this model has an encoder, the source has none")
            copied["encoder"] = copy_matching_variables(other.encoder, self.encoder)
        return copied

    def render_batch(self, batch):
        """Generated photos of a data batch (the trainer's samples and scores);
        the real photo is not an input here."""
        return self({k: v for k, v in batch.items() if k != "image"}, training=False)

    def preview_grid(self, batch, label_space, dont_care) -> np.ndarray:
        """One row per example: label | instance edges | generated | real
        (photo-to-photo: input | generated | real)."""
        fake = self.render_batch(batch)
        rows = []
        if self.input_image:
            for i in range(int(batch["input"].shape[0])):
                rows.append([image_to_uint8(batch["input"][i].numpy()),
                             image_to_uint8(fake[i].numpy()),
                             image_to_uint8(batch["image"][i].numpy())])
            return make_grid(rows)
        for i in range(int(batch["label"].shape[0])):
            row = [label_to_rgb(batch["label"][i].numpy(), label_space, dont_care)]
            if "instance" in batch:
                row.append(edges_to_rgb(instance_edges(batch["instance"][i]).numpy()))
            row.append(image_to_uint8(fake[i].numpy()))
            row.append(image_to_uint8(batch["image"][i].numpy()))
            rows.append(row)
        return make_grid(rows)

    def get_config(self):
        return {**super().get_config(), "format_version": FORMAT_VERSION}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        version = config.pop("format_version", 1)
        if version != FORMAT_VERSION:
            saved_by = "tfsem 0.1" if version == 1 else f"model format {version}"
            raise ValueError(
                f"this {cls.__name__} model was saved by {saved_by}; this tfsem reads format "
                f"{FORMAT_VERSION}, whose networks match the official code (nearest-resize "
                "indexing, pix2pixHD padding and discriminator depth, the SPADE encoder "
                "width), so its weights no longer "
                "reproduce its outputs: retrain it, or convert an official checkpoint with "
                "python -m tfsem.convert")
        return cls(**config)

    def semantic_input(self, label, instance=None):
        """INT label (+ instance) maps -> float [B,H,W,C(+1)]: one-hot or colours
        (``label_colors``) (+ the edge map)."""
        if self.use_instances and instance is None:
            raise ValueError("this model uses instance maps: pass 'instance' with the label map")
        return semantic_map(label, instance, self.num_classes, self.use_instances,
                            self.label_colors)

    def _init_tracking(self):
        super()._init_tracking()
        self._set_vgg_loss(None)

    def discriminate(self, segmap, fake, real, training):
        """(pred_fake, pred_real): fake and real in one batch, as the references."""
        pred = self.discriminator(tf.concat([tf.concat([segmap, fake], -1),
                                             tf.concat([segmap, real], -1)], 0), training=training)
        return split_predictions(pred)

    def discriminator_terms(self, batch, fake, training):
        """D_fake, D_real of a (constant) ``fake``: NVlabs/SPADE
        ``compute_discriminator_loss``, D on concat(fake, real) in one forward."""
        segmap = self.semantic_input(batch["label"], batch.get("instance"))
        real = tf.cast(batch["image"], fake.dtype)
        pred_fake, pred_real = self.discriminate(segmap, fake, real, training)
        return {"D_fake": L.gan_loss(pred_fake, False, True, self.gan_mode),
                "D_real": L.gan_loss(pred_real, True, True, self.gan_mode)}

    def discriminator_step(self, batch, fake) -> Dict[str, tf.Tensor]:
        """SPADE's ``run_discriminator_one_step`` after its forward: the D update on
        a constant ``fake``; returns the terms."""
        fake = tf.stop_gradient(fake)
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            d_terms = self.discriminator_terms(batch, fake, True)
            d_loss = self._mean(d_terms.values())
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        return d_terms

    def vgg_term(self, fake, real):
        if self.lambda_vgg <= 0:
            return tf.zeros([tf.shape(fake)[0]], tf.float32)
        vgg_loss = self.__dict__.get(_VGG_SLOT)
        if vgg_loss is None:
            raise ValueError("lambda_vgg > 0 but the VGG loss is not loaded: call compile() "
                             "first, or set lambda_vgg=0")
        return self.lambda_vgg * vgg_loss(fake, real)

    def _set_vgg_loss(self, vgg_loss):
        # Deliberately invisible to Keras: the fixed VGG19 weights (80 MB) are a
        # training-time tool, not part of the saved model. Keras' saving visits every
        # attribute dir() lists except those starting with "__" (a tracked attribute
        # or a property would put VGG19 into model.keras).
        self.__dict__[_VGG_SLOT] = vgg_loss

    def _init_networks(self, scheme, gain, seed=None):
        """The official initialisation of every network (``tfsem.layers.init``)."""
        for network in (self.generator, self.discriminator, self.encoder):
            if network is not None:
                init_weights(network, scheme, gain, seed)

    def compile(self, g_optimizer=None, d_optimizer=None, vgg_loss=None, **kwargs):
        """Sets the two optimisers and loads the VGG loss. Call inside
        ``strategy.scope()`` when distributing: the optimisers are built here,
        on the model's variables.

        Args:
            g_optimizer: for the generator (+ encoder); default: Adam with the
                family's settings from ``tfsem.registry`` (the numbers a config
                without an ``optimizer`` section gets).
            d_optimizer: for the discriminator; default as ``g_optimizer``.
            vgg_loss: a ``VGGPerceptualLoss`` to use (e.g. random weights in
                tests); default: built from ``vgg_weights`` when lambda_vgg > 0.
        """
        super().compile(**kwargs)
        d, kind = self.family_defaults(), registry.family(self.FAMILY).adam
        self._compile_optimizers(
            g_optimizer or make_adam(kind, d["g_lr"], d["beta_1"], d["beta_2"]),
            d_optimizer or make_adam(kind, d["d_lr"], d["beta_1"], d["beta_2"]))
        if self.lambda_vgg > 0:
            self._set_vgg_loss(vgg_loss or L.VGGPerceptualLoss(self.vgg_weights, name="vgg_loss"))


def copy_matching_variables(source, target) -> int:
    """Assigns ``source``'s variables to ``target``'s with the same path below
    their models; every target variable must be found, with the same shape
    (a stage-2 G1 has no RGB head, so the stage-1 head is left out)."""
    def key_of(v):  # the path below the owning model: "global_generator/conv_in/conv/kernel"
        return v.path.split("/", 1)[-1]

    sources = {key_of(v): v for v in source.variables}
    count = 0
    for v in target.variables:
        key = key_of(v)
        if key not in sources:
            raise ValueError(f"init_from: the source model has no variable {key!r} "
                             f"(source {source.name}: {len(sources)} variables)")
        if tuple(sources[key].shape) != tuple(v.shape):
            raise ValueError(f"init_from: {key!r} has shape {tuple(sources[key].shape)} in the "
                             f"source and {tuple(v.shape)} here: stage 2 needs ngf * "
                             f"2**n_local_enhancers equal to stage 1's ngf")
        v.assign(sources[key])
        count += 1
    return count
