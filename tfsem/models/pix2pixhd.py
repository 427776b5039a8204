"""pix2pixHD (Wang et al. 2018, "High-Resolution Image Synthesis and Semantic
Manipulation with Conditional GANs", arXiv 1711.11585), the training task.

Owns the coarse-to-fine generator, the multi-scale discriminator (instance
norm, no spectral norm), the optional instance-level feature encoder and the
losses. Inputs are INT label maps + instance maps; one-hot and the instance
boundary map are computed inside the model.

Defaults follow NVIDIA/pix2pixHD: LSGAN summed over the discriminator
scales (``networks.py`` ``GANLoss``), feature matching 10, VGG 10; D loss
halved ((fake + real) / 2, ``train.py``); num_D 2, n_layers_D 3,
ngf = ndf = 64; G1 with 4 downsamplings and 9 blocks; Adam lr 2e-4, beta1 0.5
(``train_options.py``), linear decay over ``niter_decay`` (our
``optimizer.decay_epochs`` / ``decay_steps``).

Staged training (paper sec. 3.2): stage 1 trains G1 alone
(``n_local_enhancers=0``) at half resolution; stage 2 builds the local
enhancer around G1 (``n_local_enhancers=1``, ``ngf=32``, so G1 keeps width
64), starts from the stage-1 weights (``init_from``, see
``load_stage_weights``) and keeps G1 frozen for the first
``niter_fix_global`` steps, then trains everything jointly.

Feature encoder (sec. 3.4): with ``use_features`` an encoder E maps the real
photo to ``feat_num`` channels averaged over each instance; they are
concatenated to the generator input and E trains jointly with G. At test
time the features come from per-class k-means cluster centres
(``python -m tfsem.encode_features``), which gives several outputs per label
map and per-instance appearance editing.
"""

from __future__ import annotations

from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsem import losses as L
from tfsem.config.pix2pixhd import Pix2PixHDConfig
from tfsem.models.base import ConditionalGAN, copy_matching_variables
from tfsem.networks.multiscale_discriminator import MultiScaleDiscriminator
from tfsem.networks.pix2pixhd import FeatureEncoder, Pix2PixHDGenerator

__all__ = ["Pix2PixHD"]

G_TERMS = ("G_GAN", "G_feat", "G_VGG")
D_TERMS = ("D_real", "D_fake")


@keras.saving.register_keras_serializable(package="tfsem")
class Pix2PixHD(ConditionalGAN):
    """pix2pixHD for label map (+ instance map) to image.

    Call: ``model({"label": int [B,H,W], "instance": int [B,H,W] (if
    use_instances), "features": float [B,H,W,feat_num] (if use_features; or
    "image" to encode a photo's features)})`` -> image [B,H,W,3] in [-1, 1].

    Args:
        num_classes: one-hot channels of the label space (don't-care included).
        image_size: (height, width); multiples of 2**(n_downsample_global + n_local_enhancers).
        use_instances: add the instance boundary map as an input channel.
        **hparams: the fields of :class:`~tfsem.config.Pix2PixHDConfig`, with its
            defaults (NVIDIA/pix2pixHD's; ``python -m tfsem.config --describe
            pix2pixhd``): the generator (ngf, n_downsample_global,
            n_blocks_global, n_local_enhancers, n_blocks_local, norm), stage 2's
            niter_fix_global (steps with G1 frozen), the discriminator (ndf,
            num_D, n_layers_D), the feature encoder (use_features, feat_num,
            nef, n_downsample_E), gan_mode (``lsgan``), lambda_feat, lambda_vgg,
            vgg_weights (never downloaded), init, init_gain (``normal``
            N(0, 0.02), ``networks.py`` ``weights_init``).
    """

    G_TERMS = G_TERMS
    D_TERMS = D_TERMS
    FAMILY = "pix2pixhd"

    SECTION = Pix2PixHDConfig

    def __init__(self, num_classes, image_size, use_instances=True, input_image=False, **kwargs):
        kwargs, hparams = self.split_keras_kwargs(kwargs)
        super().__init__(**kwargs)
        image_size = self._checked_image_size(
            num_classes, hparams.get("gan_mode", "lsgan"), image_size,
            2 ** (hparams.get("n_downsample_global", 4) + hparams.get("n_local_enhancers", 0)))
        self._init_hparams(hparams)
        self.num_classes, self.image_size, self.use_instances = num_classes, image_size, use_instances
        self.input_image = bool(input_image)
        if self.input_image and (use_instances or self.use_features):
            raise ValueError("photo-to-photo (input_image) takes no instance maps or features")
        norm = self.norm
        self.generator = Pix2PixHDGenerator(
            ngf=self.ngf, n_downsample_global=self.n_downsample_global,
            n_blocks_global=self.n_blocks_global, n_local_enhancers=self.n_local_enhancers,
            n_blocks_local=self.n_blocks_local, norm=norm, name="generator")
        # pix2pixHD's n_layers_D counts the stride-2 convs; ours counts the stride-1 one too.
        self.discriminator = MultiScaleDiscriminator(num_D=self.num_D, n_layers=self.n_layers_D + 1,
                                                     ndf=self.ndf, norm=norm, spectral_norm=False,
                                                     name="discriminator")
        self.encoder = (FeatureEncoder(ngf=self.nef, n_downsampling=self.n_downsample_E,
                                       feat_num=self.feat_num, norm=norm, name="encoder")
                        if self.use_features else None)
        self._init_tracking()

    # -- inference -----------------------------------------------------------------
    def attach_clusters(self, clusters: Dict[int, np.ndarray]):
        """The per-class feature clusters ``infer`` picks from (class index ->
        centres [k, feat_num], ``python -m tfsem.encode_features``). Not saved
        with the model: they live in the run's ``features.npz``."""
        if not self.use_features:
            raise ValueError("this pix2pixHD model takes no instance features")
        if not clusters:
            raise ValueError("no feature clusters (python -m tfsem.encode_features)")
        k = max(len(c) for c in clusters.values())
        table = np.zeros((self.num_classes, k, self.feat_num), np.float32)
        counts = np.ones((self.num_classes,), np.int32)  # no clusters: zero features
        for cls, centres in clusters.items():
            centres = np.asarray(centres, np.float32)
            if centres.ndim != 2 or centres.shape[1] != self.feat_num:
                raise ValueError(f"clusters of class {cls}: expected [k, {self.feat_num}] "
                                 f"centres, got shape {centres.shape}")
            if 0 <= cls < self.num_classes and len(centres):
                table[cls, :len(centres)] = centres
                counts[cls] = len(centres)
        self.__dict__["_clusters"] = (table, counts, {int(c): len(v) for c, v in clusters.items()})

    def cluster_counts(self) -> Dict[int, int]:
        """class index -> number of attached clusters ({} without clusters)."""
        attached = self.__dict__.get("_clusters")
        return dict(attached[2]) if attached else {}

    def style_specs(self, batch=None, height=None, width=None, optional=False):
        """With instance features: ``cluster`` int32 [B] (every instance takes
        centre ``cluster mod k`` of its class); from Python also
        ``cluster_map`` int32 [B,H,W] (a cluster per pixel, i.e. per instance)
        and ``style_image`` (the encoded features of a photo)."""
        if not self.use_features:
            return []
        specs = [tf.TensorSpec([batch], tf.int32, name="cluster")]
        if optional:
            specs += [tf.TensorSpec([batch, height, width], tf.int32, name="cluster_map"),
                      tf.TensorSpec([batch, height, width, 3], tf.float32, name="style_image")]
        return specs

    def cluster_features(self, index, cluster=None, cluster_map=None):
        """[B,H,W,feat_num]: per pixel, centre ``choice mod k`` of its class, the
        choice ``cluster_map`` or else ``cluster`` [B]; zeros where a class has
        no clusters or the index is don't-care (-1). One implementation for
        Python, the SavedModel and TFLite."""
        attached = self.__dict__.get("_clusters")
        if attached is None:
            raise ValueError("this pix2pixHD model takes instance features: attach its "
                             "clusters (python -m tfsem.encode_features; tfsem.Pipeline "
                             "loads the run's features.npz) or pass a style photo")
        table, counts = tf.constant(attached[0]), tf.constant(attached[1])
        cls = tf.maximum(index, 0)
        count = tf.gather(counts, cls)
        choice = (tf.cast(cluster_map, tf.int32) if cluster_map is not None
                  else tf.cast(cluster, tf.int32)[:, None, None])
        k = tf.math.floormod(choice, count)
        feats = tf.gather_nd(table, tf.stack([cls, k], -1))
        return feats * tf.cast(index >= 0, feats.dtype)[..., None]

    def render(self, segmap, index, instance_map=None, cluster=None, cluster_map=None,
               style_image=None):
        x = segmap
        if self.use_features:
            if style_image is not None:
                instances = instance_map if self.use_instances else index
                features = self.encode_features(style_image, instances)
            else:
                if cluster is None and cluster_map is None:
                    raise ValueError("this pix2pixHD model takes instance features: pass "
                                     "'cluster' (or a style image)")
                features = self.cluster_features(index, cluster, cluster_map)
            x = tf.concat([segmap, tf.cast(features, segmap.dtype)], -1)
        return self.generator(x, training=False)

    def style_inputs(self, inputs, seeds, z=None, style=None, cluster=None,
                     instance_clusters=None, style_codes=None) -> dict:
        """Instance features: the encoding of the photo ``style`` over the
        instances (the official ``--use_encoded_image``), else the attached
        clusters: ``cluster`` (an int or digit string for every instance, or
        ``"random"``: per instance from its example's seed) and
        ``instance_clusters`` {instance id: cluster} for single instances."""
        if not self.use_features:
            return super().style_inputs(inputs, seeds, z=z, style=style, cluster=cluster,
                                        instance_clusters=instance_clusters,
                                        style_codes=style_codes)
        super().style_inputs(inputs, seeds, z=z, style_codes=style_codes)
        if style is not None:
            return {"style_image": tf.convert_to_tensor(style, tf.float32)}
        cluster = "0" if cluster is None else str(cluster)
        if cluster != "random" and not cluster.lstrip("-").isdigit():
            raise ValueError(f"cluster must be an integer or 'random', got {cluster!r}")
        batch = len(seeds)
        if cluster != "random" and not instance_clusters:
            return {"cluster": tf.fill([batch], int(cluster))}
        instances = np.asarray(inputs["instance_map" if self.use_instances else "label_map"])
        choice = np.zeros(instances.shape, np.int32)
        for b in range(batch):
            rng = np.random.default_rng(seeds[b])
            for inst in np.unique(instances[b]):
                value = (int(rng.integers(2 ** 31 - 1)) if cluster == "random"
                         else int(cluster))
                choice[b][instances[b] == inst] = (instance_clusters or {}).get(int(inst), value)
        return {"cluster": tf.zeros([batch], tf.int32), "cluster_map": tf.constant(choice)}

    def random_look(self, seeds, stream: int = 1):
        """With instance features: cluster = the seed, for every instance."""
        if not self.use_features:
            return {}
        return {"cluster": tf.cast(seeds, tf.int32)}

    def render_batch(self, batch):
        """As the base; with instance features, those of the batch's real photos."""
        if not self.use_features:
            return super().render_batch(batch)
        return self(dict(batch), training=False)

    def feature_instances(self, batch):
        """The map the encoder averages over: instances, or the labels without them."""
        return batch["instance"] if self.use_instances else batch["label"]

    def encode_features(self, image, instance, training=False):
        """Photo [B,H,W,3] in [-1, 1] -> instance-averaged features [B,H,W,feat_num]."""
        if self.encoder is None:
            raise ValueError("this model has no feature encoder: it was built with "
                             "use_features=False")
        return self.encoder(image, instance, training=training)

    def build_networks(self):
        """Creates all variables with one tiny forward pass."""
        if self.built:
            return
        # Reflection padding needs >= 2 pixels at the bottleneck, 4 at the input.
        size = 2 * max(self.generator.factor, 2 ** self.n_downsample_E if self.use_features else 1, 2)
        batch = ({"input": tf.zeros([1, size, size, 3])} if self.input_image
                 else {"label": tf.zeros([1, size, size], tf.int32)})
        if self.use_instances:
            batch["instance"] = tf.zeros([1, size, size], tf.int32)
        if self.use_features:
            batch["image"] = tf.zeros([1, size, size, 3])
        self.generate(batch)
        segmap = self.condition(batch)
        self.discriminator(tf.concat([segmap, tf.zeros([1, size, size, 3])], -1))
        # NVIDIA/pix2pixHD define_G / define_D: net.apply(weights_init)
        self._init_networks(self.init, self.init_gain)
        self.built = True

    # -- forward -----------------------------------------------------------------
    def generate(self, batch, training=False):
        """Fake image; with features, from ``batch["features"]`` or else the
        encoding of ``batch["image"]``; photo-to-photo: from ``batch["input"]``."""
        segmap = self.condition(batch)
        x = segmap
        if self.use_features:
            features = batch.get("features")
            if features is None:
                if batch.get("image") is None:
                    raise ValueError(
                        "this model uses instance features: pass 'features' (e.g. from the "
                        "clusters of python -m tfsem.encode_features) or a photo as 'image'")
                features = self.encode_features(batch["image"], self.feature_instances(batch),
                                                training=training)
            x = tf.concat([segmap, tf.cast(features, segmap.dtype)], -1)
        return self.generator(x, training=training)

    def call(self, inputs, training=False):
        # (a photo-to-photo model's missing 'input' is condition()'s error)
        if not isinstance(inputs, dict) or (not self.input_image and "label" not in inputs):
            raise ValueError("Pix2PixHD expects a dict with an int 'label' map (and "
                             "'instance', 'features' or 'image' when used)")
        return self.generate(inputs, training=training)

    # -- losses ------------------------------------------------------------------
    def compute_losses(self, batch, training=False,
                       parts: Sequence[str] = ("generator", "discriminator")) -> Dict[str, tf.Tensor]:
        """Named per-example loss terms [B] (weighted) of ONE forward, as
        NVIDIA/pix2pixHD ``Pix2PixHDModel.forward``: G_GAN, G_feat, G_VGG;
        D_real, D_fake (each halved: ``loss_D = 0.5 (D_fake + D_real)``).

        The official forward runs D three times: on the detached fake, on
        the real pair and on the fake again (for G). With instance norm (or
        none) D has no state and normalises each image alone, so one D
        forward on concat(fake, real) gives the same values and gradients;
        with batch norm the three forwards are made as there (each moves
        the running statistics)."""
        fake = self.generate({**batch, "features": None}, training=training)
        segmap = self.condition(batch)
        real = tf.cast(batch["image"], fake.dtype)
        if "generator" not in parts:
            fake = tf.stop_gradient(fake)
        if self.norm == "batch" and training:
            pred_fake_d = self.discriminator(tf.concat([segmap, tf.stop_gradient(fake)], -1),
                                             training=True)
            pred_real = self.discriminator(tf.concat([segmap, real], -1), training=True)
            pred_fake = (self.discriminator(tf.concat([segmap, fake], -1), training=True)
                         if "generator" in parts else pred_fake_d)
        else:
            pred_fake, pred_real = self.discriminate(segmap, fake, real, training)
            pred_fake_d = pred_fake
        terms: Dict[str, tf.Tensor] = {}
        if "discriminator" in parts:
            terms["D_fake"] = 0.5 * L.gan_loss(pred_fake_d, False, True, self.gan_mode, "sum")
            terms["D_real"] = 0.5 * L.gan_loss(pred_real, True, True, self.gan_mode, "sum")
        if "generator" in parts:
            # Summed over the scales, as pix2pixHD's GANLoss (SPADE averages).
            terms["G_GAN"] = L.gan_loss(pred_fake, True, False, self.gan_mode, "sum")
            # pix2pixHD weighs each layer by 4 / (n_layers_D + 1) (1 for n_layers 3).
            terms["G_feat"] = (self.lambda_feat * 4.0 / (self.n_layers_D + 1)
                               * L.feature_matching_loss(pred_fake, pred_real))
            terms["G_VGG"] = self.vgg_term(fake, real)
        return terms

    # -- training ----------------------------------------------------------------
    def train_step(self, batch):
        """One iteration of NVIDIA/pix2pixHD ``train.py``: ONE forward gives every
        loss; the G (+E) step on ``loss_G``, then the D step on ``loss_D =
        0.5 (D_fake + D_real)``, both gradients from that forward (D's at the
        weights before either update, G's fake as it was). With
        ``niter_fix_global``, G1 takes no update for the first steps and the
        G optimiser restarts when they end (``update_fixed_params()``)."""
        g_vars, d_vars = self.generator_variables, self.discriminator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            terms = self.compute_losses(batch, training=True)
            g_terms = {k: terms[k] for k in self.G_TERMS}
            d_terms = {k: terms[k] for k in self.D_TERMS}
            g_loss = self._mean(g_terms.values())
            d_loss = self._mean(d_terms.values())
        g_grads = self.generator_gradients(tape.gradient(g_loss, g_vars), g_vars)
        d_grads = tape.gradient(d_loss, d_vars)
        del tape
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        return self._track_step(g_terms, d_terms)

    def compile(self, g_optimizer=None, d_optimizer=None, vgg_loss=None, **kwargs):
        """Optimisers (default: Adam 2e-4, betas (0.5, 0.999), pix2pixHD's) and the VGG loss.

        With a local enhancer and ``niter_fix_global``, the G optimiser restarts
        when G1 unfreezes (``tfsem.optimizers.TorchAdam``, the default: its
        ``restart_step`` is set to ``niter_fix_global``); a Keras Adam, which
        cannot, is an error; a stateless optimiser (SGD) needs no restart."""
        super().compile(g_optimizer, d_optimizer, vgg_loss, **kwargs)
        if not (self.n_local_enhancers and self.niter_fix_global):
            return
        if hasattr(self.g_optimizer, "restart_step"):
            self.g_optimizer.restart_step = int(self.niter_fix_global)
        elif isinstance(self.g_optimizer, keras.optimizers.Adam):
            raise ValueError(
                "niter_fix_global: the G optimiser must restart when G1 unfreezes, as "
                "pix2pixHD's update_fixed_params() makes a new Adam; use "
                f"tfsem.optimizers.TorchAdam (got {type(self.g_optimizer).__name__})")

    def generator_gradients(self, grads, variables):
        if self.n_local_enhancers == 0 or self.niter_fix_global == 0:
            return grads
        # Stage 2 starts with G1 frozen: the official G optimiser holds only the
        # enhancer (keys ``model1_*``). Zero gradients leave TorchAdam's moments at
        # zero, so the update is exactly 0 and G1 stays bit-identical.
        frozen = self.g_optimizer.iterations < self.niter_fix_global
        fixed = {id(v) for v in self.generator.global_generator.trainable_variables}
        return [tf.where(frozen, tf.zeros_like(g), g) if id(v) in fixed else g
                for g, v in zip(grads, variables)]

    # -- staged training ---------------------------------------------------------
    def load_stage_weights(self, other: "Pix2PixHD") -> Dict[str, int]:
        """Copies G1 (without its RGB head when this model has enhancers) and the
        feature encoder from a trained model, e.g. stage 1 into stage 2; from a
        model of the same architecture, the whole generator and the
        discriminator too (fine-tuning).
        Returns how many variables were copied per part."""
        if not isinstance(other, Pix2PixHD):
            raise ValueError(f"init_from must be a pix2pixHD run, got {type(other).__name__}")
        self.build_networks()
        other.build_networks()
        if other.n_local_enhancers == self.n_local_enhancers:
            # The same architecture (fine-tuning, e.g. a converted official model):
            # everything, the enhancers and the discriminator included.
            copied = {"generator": copy_matching_variables(other.generator, self.generator),
                      "discriminator": copy_matching_variables(other.discriminator,
                                                               self.discriminator)}
        else:  # stage 2 from stage 1: G1 only (without its RGB head)
            copied = {"global_generator": copy_matching_variables(
                other.generator.global_generator, self.generator.global_generator)}
        if self.encoder is not None and other.encoder is not None:
            copied["encoder"] = copy_matching_variables(other.encoder, self.encoder)
        return copied

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "image_size": self.image_size, "use_instances": self.use_instances,
                "input_image": self.input_image, **self.hparams()}
