"""What the GAN tasks share, and the contract every front end relies on.

:class:`GANTask` (every family: SemGAN, GauGAN, Pix2PixHD): the two
optimisers, loss-term trackers, a D-then-G ``train_step`` (SemGAN's; the
label-to-photo families override it with their official loop: GauGAN,
Pix2PixHD, Pix2Pix), ``test_step`` and the replica-aware loss reduction;
and the task contract: every
capability a front end may read, with its default (``conditional``,
``use_instances``, ``use_vae``, ``use_features``, ``z_dim``,
``outputs_colors``), and the methods the trainer, the CLIs and the exporters
call instead of asking what a model is (``from_experiment``,
``inference_inputs`` / ``sample_label_maps``, ``preview_grid``,
``periodic_scores``, ``load_stage_weights``). :class:`ConditionalGAN` (the
label-to-photo tasks): the conditional multi-scale discriminator pass, the
semantic input and the VGG term. Model: keras-hub's ``Task``."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfsem import losses as L
from tfsem import registry
from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import instance_edges, semantic_map
from tfsem.data.visualize import edges_to_rgb, image_to_uint8, label_to_rgb, make_grid
from tfsem.layers.init import init_weights
from tfsem.metrics.segmentation import toy_oracle_scores
from tfsem.optimizers import make_adam

__all__ = ["FORMAT_VERSION", "ConditionalGAN", "GANTask", "copy_matching_variables",
           "latent_for_seeds", "split_predictions"]

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
    style from stream 1 of the same seed."""
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
    return tf.map_fn(
        lambda s: tf.random.stateless_normal([z_dim], seed=tf.stack([s, tf.constant(stream, tf.int64)])),
        seeds, fn_output_signature=tf.float32)


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

    # -- capabilities: all a front end may ask of a task (subclasses override) --------
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

    # -- front-end methods -----------------------------------------------------------
    def inference_inputs(self, label, instance=None, **style):
        """Label-to-photo tasks: the inputs of ``model(inputs)`` for label maps."""
        raise TypeError(f"a {type(self).__name__} model samples label maps from noise; it "
                        "takes no label map (sample with seeds instead)")

    def sample_label_maps(self, seeds, batch_size: int = 16):
        """Label-map tasks: (class indices [N,H,W], raw outputs) for int ``seeds``."""
        raise TypeError(f"a {type(self).__name__} model renders photos from label maps; it "
                        "does not sample label maps (pass label maps instead)")

    def preview_grid(self, batch, label_space, dont_care) -> np.ndarray:
        """uint8 grid of the trainer's sample images for a fixed batch."""
        raise NotImplementedError

    def periodic_scores(self, batch) -> Dict[str, float]:
        """The scores the trainer logs every ``eval_every`` steps."""
        raise NotImplementedError

    def scores_available(self, data_config) -> bool:
        """Whether :meth:`periodic_scores` works on this data."""
        return False

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
    :meth:`add_style_inputs` for what picks the look (a VAE latent, features).
    """

    conditional = True
    #: float [num_classes, 3] in [-1, 1]: the generator sees each class's colour
    #: (pix2pix's colour label input) instead of one-hot channels; None: one-hot.
    label_colors = None

    @classmethod
    def from_experiment(cls, config):
        """The task of ``config``: its section's fields, sizes and ``use_instances``
        from the data section; named after the family (``gaugan``, ``pix2pixhd``)."""
        _, num_classes, image_size = cls.experiment_sizes(config)
        return cls(num_classes=num_classes, image_size=image_size,
                   use_instances=config.data.use_instances, **cls.section_kwargs(config),
                   name=cls.FAMILY)

    # -- front-end methods -----------------------------------------------------------
    def inference_inputs(self, label, instance=None, *, style=None, z=None, seed: int = 0,
                         clusters: Optional[dict] = None, cluster="0", per_instance=None):
        """The inputs of ``model(inputs)`` for label maps ``label`` (class indices
        [B,H,W] at the model's size) and ``instance`` (the label map stands in
        when the model takes instances and none is given).

        What picks the look (``add_style_inputs``): ``style`` a photo [B,H,W,3]
        in [-1, 1]; ``z`` a VAE latent; ``seed`` a random VAE style; pix2pixHD
        feature ``clusters`` (``tfsem.inference.feature_clusters``) with
        ``cluster`` (an int, a digit string or ``"random"``) and
        ``per_instance`` {instance id: cluster}. Options a model cannot use
        are an error naming them.
        """
        inputs = {"label": label}
        if self.use_instances:
            inputs["instance"] = label if instance is None else instance
        self.add_style_inputs(inputs, style=style, z=z, seed=seed, clusters=clusters,
                              cluster=cluster, per_instance=per_instance)
        return inputs

    def add_style_inputs(self, inputs, style=None, z=None, seed=0, clusters=None, cluster="0",
                         per_instance=None):
        """Adds the look-picking inputs to ``inputs``; here: a model without any."""
        name = type(self).__name__
        if style is not None:
            raise ValueError(f"a style photo needs a GauGAN with a style encoder (use_vae) or a "
                             f"pix2pixHD with instance features (use_features); this {name} "
                             "model has neither")
        if clusters is not None or per_instance:
            raise ValueError(f"feature clusters need a pix2pixHD model trained with "
                             f"use_features: true; this {name} model takes no features")

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

    def random_style(self, seeds, stream: int = 1):
        """A random look per int seed for :meth:`inference_inputs` (``z``), or None."""
        return None

    def render_batch(self, batch):
        """Generated photos of a data batch (the trainer's samples and scores);
        the real photo is not an input here."""
        return self({k: v for k, v in batch.items() if k != "image"}, training=False)

    def preview_grid(self, batch, label_space, dont_care) -> np.ndarray:
        """One row per example: label | instance edges | generated | real."""
        fake = self.render_batch(batch)
        rows = []
        for i in range(int(batch["label"].shape[0])):
            row = [label_to_rgb(batch["label"][i].numpy(), label_space, dont_care)]
            if "instance" in batch:
                row.append(edges_to_rgb(instance_edges(batch["instance"][i]).numpy()))
            row.append(image_to_uint8(fake[i].numpy()))
            row.append(image_to_uint8(batch["image"][i].numpy()))
            rows.append(row)
        return make_grid(rows)

    def periodic_scores(self, batch) -> Dict[str, float]:
        """Toy-oracle mIoU and pixel accuracy of the generated photos of ``batch``."""
        scores = toy_oracle_scores(self.render_batch(batch).numpy(), batch["label"].numpy())
        return {"oracle_miou": scores["miou"], "oracle_pixel_accuracy": scores["pixel_accuracy"]}

    def scores_available(self, data_config) -> bool:
        """The toy oracle knows toy_streets' colours only."""
        return data_config.source == "toy_streets"

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

    def _compile_gan(self, g_optimizer, d_optimizer, vgg_loss):
        """Optimisers (default: Adam with the family's settings from
        ``tfsem.registry``, the numbers a config without an ``optimizer``
        section gets) and the VGG loss."""
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
