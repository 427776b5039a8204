"""What SemGAN and its standard-GAN baseline share: an unconditional GAN whose
samples are semantic label maps.

The generator (:class:`~tfsem.networks.LabelMapGenerator`) maps z to an
output (class logits or colours), the discriminator
(:class:`~tfsem.networks.LabelMapDiscriminator`) sees real label maps and
generated outputs in one representation that each subclass defines:

* ``real_input(label, training)``: int class-index maps -> D input;
* ``fake_input(raw, training)``: the generator's raw output -> D input
  (``discriminator_fake`` may add noise to it that mode seeking does not see);
* ``call(z)``: the user-facing output (class probabilities / colours);
* ``labels_from_output(out)``: that output -> int class-index maps.

Training data are dicts with an int ``label`` map [B, H, W] (class indices);
nothing else is read. Latents: ``latent_for_seeds(seeds)`` gives the SAME z
for a seed everywhere (``tfsem.generate``, ``tfsem.dream`` and the exported
SavedModel), so a seed names a sample.
"""

from __future__ import annotations

from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsem import losses as L
from tfsem.config.semgan import STYLEGAN2_ADAM
from tfsem.data.preprocess import uint8_image
from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid
from tfsem.metrics import label_maps as M
from tfsem.models.base import GANTask, latent_for_seeds
from tfsem.networks.label_map_discriminator import LabelMapDiscriminator
from tfsem.networks.label_map_generator import LabelMapGenerator
from tfsem.networks.style_generator import StyleLabelMapGenerator
from tfsem.optimizers import FusedAdam, lazy_adam_settings, make_adam

__all__ = ["LabelMapGAN", "latent_for_seeds", "mode_seeking_loss"]


def mode_seeking_loss(outputs, z, eps=1e-5):
    """MSGAN's mode-seeking term per example [B]: example i is paired with
    example (i + B/2) mod B, and the term is ``1 / (d_out / d_z + eps)`` with
    ``d_out``, ``d_z`` the mean absolute differences of the pair's outputs and
    latents (Mao et al. 2019, eq. 3; their code takes one ratio of batch
    means). Minimising it pushes the generator to map distant latents to
    distant outputs. A batch of one has no pair: 0."""
    outputs, z = tf.cast(outputs, tf.float32), tf.cast(z, tf.float32)
    shift = tf.shape(z)[0] // 2
    d_out = tf.reduce_mean(tf.abs(outputs - tf.roll(outputs, shift, axis=0)), axis=[1, 2, 3])
    d_z = tf.maximum(tf.reduce_mean(tf.abs(z - tf.roll(z, shift, axis=0)), axis=1), eps)
    return tf.where(shift > 0, 1.0 / (d_out / d_z + eps), 0.0)


class LabelMapGAN(GANTask):
    """Base of :class:`~tfsem.models.SemGAN` and :class:`~tfsem.models.ColorLabelGAN`.

    Args:
        num_classes: classes of the label space (don't-care channel included).
        image_size: (height, width) of the maps; multiples of
            ``2 ** n_upsample`` and ``2 ** n_layers_D``.
        z_dim, ngf, n_upsample, block, norm_G: the generator (see
            ``LabelMapGenerator``); ``block="style"``: ``StyleLabelMapGenerator``
            (StyleGAN2) with ``mapping_layers``, ``mapping_lr_multiplier``,
            ``style_conv``, ``style_mixing`` and ``noise_inputs`` (default off:
            on label maps StyleGAN2's noise inputs turned into speckle, docs/models/semgan.md;
            norm_G unused).
        ndf, n_layers_D, spectral_norm_D, minibatch_std: the discriminator.
        gan_mode: ``hinge`` (default, with spectral norm as SNGAN),
            ``lsgan`` or ``original``.
        seed: seed of the training latents.
        mode_seeking: weight of MSGAN's mode-seeking term ``G_MS`` (Mao et al.
            2019, eq. 3): the batch is paired with itself rolled by half, and
            the generator minimises ``weight / (d_out / d_z + 1e-5)`` per pair,
            ``d_out`` / ``d_z`` the mean absolute differences of the two
            outputs (D's inputs) and latents; under tf.distribute the pairs
            are formed within each replica's batch. 0: off (the term is 0). The
            default 0.05 was chosen by measurement on toy_streets (docs/models/semgan.md).
        pl_weight, pl_interval: StyleGAN2's path-length regularisation of a
            style generator (term ``G_PL``; 0: off): on half the batch,
            ``(|J_w^T y| - a)^2 * pl_weight`` with ``y`` Gaussian noise over
            the output logits scaled by 1/sqrt(H W), ``J_w`` their Jacobian in
            the ws and ``a`` the running mean of the lengths (decay 0.01);
            scheduled as R1 (``pl_interval`` k > 1: StyleGAN2-ADA's ``Greg``
            phase every k-th iteration, weighted by k).
        r1_gamma, r1_interval: StyleGAN2's lazy R1 regularisation of D (term
            ``D_R1``): ``r1_gamma / 2 * |grad_x D(x)|^2`` on the real maps.
            ``r1_interval`` 1: added to D's loss every iteration; k > 1: its own
            D step (StyleGAN2-ADA's ``Dreg`` phase, after ``Dmain``) every k-th
            iteration (the first included), weighted by k; 0 on the others.
            ``r1_gamma`` 0: off.
        ema_kimg, ema_rampup: G_ema (StyleGAN2; NVlabs/stylegan2-ada-pytorch
            ``training_loop.py``): after every training step each weight of
            ``generator_ema``, a copy of the generator, moves to the
            generator's by ``w_ema = w + (w_ema - w) * beta`` with ``beta =
            0.5 ** (batch / (1000 * ema_kimg))`` (its buffers are copied);
            ``ema_rampup``: the half-life is at most ``ema_rampup`` times the
            images seen before the step (None: no ramp-up). Samples, scores
            and exports come from G_ema. ``ema_kimg`` 0: off, samples come
            from the generator.

    A training iteration (``train_step``) is StyleGAN2-ADA's for the style
    block: G (``Gmain``), its lazy regularisation (``Greg``), then D
    (``Dmain``), D's (``Dreg``), each phase with its own latents, then G_ema;
    for the conv and resnet blocks D's phases come first (DCGAN's order). A
    lazy regularisation step is a separate optimiser step (Adam shared with
    the main phase: build it with ``optimizer_ratios``). ``train_iterations``
    counts the iterations (it is in checkpoints, not in ``model.keras``).
    """

    G_TERMS = ("G_GAN", "G_MS", "G_PL")
    D_TERMS = ("D_real", "D_fake", "D_R1")
    FAMILY = "semgan"
    # conditional = False (GANTask's default): samples are label maps, none goes in.

    def __init__(self, num_classes, image_size, z_dim=128, ngf=32, n_upsample=4, block="conv",
                 norm_G="batch", ndf=32, n_layers_D=4, spectral_norm_D=True, minibatch_std=True,
                 gan_mode="hinge", seed=None, mapping_layers=8, mapping_lr_multiplier=0.01,
                 style_conv="modulated", style_mixing=0.9, mode_seeking=0.05, r1_gamma=0.0,
                 r1_interval=16, pl_weight=0.0, pl_interval=4, noise_inputs=False, ema_kimg=0.0,
                 ema_rampup=0.05, **kwargs):
        super().__init__(**kwargs)
        image_size = self._checked_image_size(
            num_classes, gan_mode, image_size, 2 ** max(n_upsample, n_layers_D),
            " (2**n_upsample and 2**n_layers_D)")
        self.num_classes, self.image_size = int(num_classes), image_size
        self.z_dim, self.ngf, self.n_upsample = z_dim, ngf, n_upsample
        self.block, self.norm_G = block, norm_G
        self.ndf, self.n_layers_D, self.spectral_norm_D = ndf, n_layers_D, spectral_norm_D
        self.minibatch_std = minibatch_std
        self.gan_mode, self.seed = gan_mode, seed
        self.mapping_layers = mapping_layers
        self.mapping_lr_multiplier, self.style_conv = mapping_lr_multiplier, style_conv
        self.style_mixing, self.noise_inputs = style_mixing, bool(noise_inputs)
        if mode_seeking < 0:
            raise ValueError(f"mode_seeking must be >= 0, got {mode_seeking}")
        self.mode_seeking = float(mode_seeking)
        if r1_gamma < 0 or int(r1_interval) < 1:
            raise ValueError(f"need r1_gamma >= 0 and r1_interval >= 1, got {r1_gamma}, "
                             f"{r1_interval}")
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        if pl_weight < 0 or int(pl_interval) < 1:
            raise ValueError(f"need pl_weight >= 0 and pl_interval >= 1, got {pl_weight}, "
                             f"{pl_interval}")
        if pl_weight and block != "style":
            raise ValueError("pl_weight: path-length regularisation needs the style generator "
                             f"(block 'style'), not {block!r}")
        self.pl_weight, self.pl_interval = float(pl_weight), int(pl_interval)
        if ema_kimg < 0 or (ema_rampup is not None and ema_rampup <= 0):
            raise ValueError(f"need ema_kimg >= 0 and ema_rampup > 0 or None, got {ema_kimg}, "
                             f"{ema_rampup}")
        self.ema_kimg = float(ema_kimg)
        self.ema_rampup = None if ema_rampup is None else float(ema_rampup)
        if block == "style":
            self.generator = StyleLabelMapGenerator(
                out_channels=self.output_channels, output_size=image_size, z_dim=z_dim, ngf=ngf,
                n_upsample=n_upsample, mapping_layers=mapping_layers,
                mapping_lr_multiplier=mapping_lr_multiplier, style_conv=style_conv,
                style_mixing=style_mixing, noise_inputs=noise_inputs, seed=seed,
                name="generator")
        else:
            self.generator = LabelMapGenerator(
                out_channels=self.output_channels, output_size=image_size, z_dim=z_dim, ngf=ngf,
                n_upsample=n_upsample, block=block, norm=norm_G, name="generator")
        #: G_ema (``ema_kimg`` > 0): what samples come from; None: the generator
        self.generator_ema = None
        if self.ema_kimg:
            self.generator_ema = type(self.generator).from_config(
                {**self.generator.get_config(), "name": "generator_ema"})
            self.generator_ema.trainable = False
        self.discriminator = LabelMapDiscriminator(
            input_size=image_size, ndf=ndf, n_layers=n_layers_D, spectral_norm=spectral_norm_D,
            minibatch_std=minibatch_std, name="discriminator")
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.pl_seed = keras.random.SeedGenerator(None if seed is None else seed + 3)
        #: StyleGAN2's running mean of the path lengths (decay 0.01; style generators)
        self.pl_mean = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                       name="pl_mean", aggregation="mean") \
            if block == "style" else None
        #: training iterations done (a tf.Variable: checkpoints hold it, model.keras
        #: files do not, so files from before it still load)
        self.train_iterations = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="train_iterations",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._init_tracking()

    # -- subclass interface --------------------------------------------------------
    @property
    def output_channels(self) -> int:
        raise NotImplementedError

    def real_input(self, label, training=False):
        raise NotImplementedError

    def fake_input(self, raw, training=False):
        raise NotImplementedError

    def labels_from_output(self, output):
        raise NotImplementedError

    def discriminator_fake(self, fake, training=False):
        """What D sees of ``fake_input``'s output (mode seeking sees ``fake`` itself):
        unchanged here; SemGAN's ``fake_smoothing`` adds its instance noise."""
        return fake

    def real_maps(self, batch, training=False):
        """What D sees of a real example: ``real_input`` of its label map (the
        one-stage photo GAN: its photo)."""
        return self.real_input(batch["label"] if isinstance(batch, dict) else batch, training)

    @classmethod
    def experiment_kwargs(cls, config, drop: Sequence[str] = ()) -> dict:
        """The model section's constructor arguments, its objective resolved for the
        block and the data (``SemGANConfig.objective``)."""
        kwargs = cls.section_kwargs(config, drop=("output",) + tuple(drop))
        height, width = config.image_size()
        kwargs.update(config.model.section.objective(height, width, config.data.batch_size))
        return kwargs

    # -- networks --------------------------------------------------------------------
    def build_networks(self):
        """Creates all variables with one forward pass (no data needed)."""
        if self.built:
            return
        self.generator(tf.zeros([1, self.z_dim]), training=False)
        if self.generator_ema is not None:
            self.generator_ema(tf.zeros([1, self.z_dim]), training=False)
            self.copy_to_ema()
        self.discriminator(tf.zeros([1, *self.image_size, self.output_channels]), training=False)
        self.built = True

    # -- G_ema -------------------------------------------------------------------------
    @property
    def sampler(self):
        """The network samples come from: G_ema when kept, else the generator."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def inference_variables(self) -> list:
        return list(self.sampler.variables)

    def copy_to_ema(self) -> None:
        """G_ema := the generator (at the start, and for checkpoints without G_ema)."""
        for ema, weight in zip(self.generator_ema.weights, self.generator.weights):
            ema.assign(weight)

    def ema_beta(self, batch_size):
        """StyleGAN2-ADA's G_ema decay for an iteration of ``batch_size`` images
        (global), ``train_iterations`` iterations having come before it."""
        nimg = tf.constant(self.ema_kimg * 1000.0, tf.float32)
        if self.ema_rampup is not None:
            seen = tf.cast(self.train_iterations, tf.float32) * batch_size
            nimg = tf.minimum(nimg, seen * self.ema_rampup)
        return tf.pow(0.5, batch_size / tf.maximum(nimg, 1e-8))

    def update_ema(self, batch_size) -> None:
        """One G_ema update (see the class doc) for a step of ``batch_size``
        images on this replica: in cross-replica context, so every replica's
        copy gets the same values."""
        if self.generator_ema is None:
            return

        def update(strategy, size):
            size = tf.cast(strategy.reduce("SUM", size, axis=None), tf.float32)
            beta = self.ema_beta(size)
            for ema, weight in zip(self.generator_ema.weights, self.generator.weights):
                value = tf.convert_to_tensor(weight)
                if weight.trainable:
                    value = value + (tf.convert_to_tensor(ema) - value) * tf.cast(beta, value.dtype)
                ema.assign(value)

        context = tf.distribute.get_replica_context()
        if context is None:
            update(tf.distribute.get_strategy(), batch_size)
        else:
            context.merge_call(update, args=(batch_size,))

    def saved_overrides(self, config) -> list:
        """A style run from before G_ema: its config now resolves to G_ema, its
        saved model has none."""
        kept = config.model.section.resolved_ema_kimg(config.data.batch_size)
        return [] if kept == self.ema_kimg else [f"model.semgan.ema_kimg={self.ema_kimg}"]

    def restored(self, checkpoint: str, log=print) -> None:
        """After a checkpoint restore: a checkpoint from before ``train_iterations``
        counts its generator steps as iterations; one without the whole G_ema (a
        run from before G_ema) gives G_ema the generator's weights."""
        names = [name for name, _ in tf.train.list_variables(checkpoint)]
        if not any("train_iterations" in name for name in names) and hasattr(self, "g_optimizer"):
            self.train_iterations.assign(tf.cast(self.g_optimizer.iterations, tf.int64))
        if self.generator_ema is None:
            return
        held = sum("generator_ema" in name for name in names)
        if held < len(self.generator_ema.weights):
            self.copy_to_ema()
            log(f"note: {checkpoint} has no G_ema (a run from before it); samples come "
                "from its generator")

    # -- training ------------------------------------------------------------------------
    @property
    def stylegan2_order(self) -> bool:
        """Whether an iteration runs G's phases before D's (StyleGAN2-ADA's
        ``training_loop.py``: the style block) or after (DCGAN's: conv, resnet)."""
        return self.block == "style"

    def optimizer_ratios(self):
        """(G, D): ``k / (k + 1)`` for a network with a lazy regularisation every
        ``k > 1`` iterations (its Adam: ``tfsem.optimizers.lazy_adam_settings``), else 1."""
        def ratio(weight, interval):
            return interval / (interval + 1.0) if weight and interval > 1 else 1.0
        return ratio(self.pl_weight, self.pl_interval), ratio(self.r1_gamma, self.r1_interval)

    def adam_kind(self, family_kind: str) -> str:
        """StyleGAN2's ``torch.optim.Adam`` for the style block, else the family's."""
        return "pytorch" if self.block == "style" else family_kind

    def train_step(self, batch):
        """One iteration (see the class doc): the phases, G_ema, the count."""
        label = batch["label"] if isinstance(batch, dict) else batch
        if self.stylegan2_order:
            g_terms = self.generator_phases(batch)
            d_terms = self.discriminator_phases(batch)
        else:
            d_terms = self.discriminator_phases(batch)
            g_terms = self.generator_phases(batch)
        self.update_ema(tf.shape(label)[0])
        self.train_iterations.assign_add(1)
        return self._track_step(g_terms, d_terms)

    def generator_phases(self, batch) -> Dict[str, tf.Tensor]:
        """``Gmain`` (G_GAN, G_MS and an every-iteration G_PL), then ``Greg`` (a
        lazy G_PL, its own step, on new latents)."""
        with tf.GradientTape() as tape:
            terms = self.compute_losses(batch, training=True, parts=("generator",))
            loss = self._mean(terms.values())
        g_vars = self.generator_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, g_vars), g_vars))
        if self.pl_weight and self.pl_interval > 1:
            label = batch["label"] if isinstance(batch, dict) else batch
            z = self.random_latent(tf.shape(label)[0])

            def loss():  # pl_mean moves after the step's cond (its update is a merge_call)
                term, mean = self.path_length_loss(z)
                return term * float(self.pl_interval), [mean]

            terms["G_PL"] = self.lazy_step(self.g_optimizer, g_vars, self.pl_interval, loss,
                                           tf.shape(z)[:1], state=[self.pl_mean])
        return terms

    def discriminator_phases(self, batch) -> Dict[str, tf.Tensor]:
        """``Dmain`` (D_fake, D_real and an every-iteration D_R1), then ``Dreg`` (a
        lazy D_R1, its own step, on the same real maps)."""
        real = self.real_maps(batch, training=True)
        with tf.GradientTape() as tape:
            terms = self.discriminator_terms(real, training=True)
            loss = self._mean(terms.values())
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, d_vars), d_vars))
        if self.r1_gamma and self.r1_interval > 1:
            weight = self.r1_gamma / 2.0 * self.r1_interval
            terms["D_R1"] = self.lazy_step(
                self.d_optimizer, d_vars, self.r1_interval,
                lambda: (self.r1_penalty(real, training=True) * weight, []), tf.shape(real)[:1])
        return terms

    def lazy_step(self, optimizer, variables, interval, loss, size, state=()):
        """StyleGAN2's lazy regularisation phase: on every ``interval``-th iteration
        (the first included) one ``optimizer`` step on ``loss()``'s per-example
        term [B]; on the others no step. Returns the term [B] (0 off its
        iterations). ``loss()`` returns (term, new values of the ``state``
        variables), assigned on the active iterations only.

        The gradients come from a ``tf.cond``; the step is
        ``FusedAdam.apply_gated`` and the assignments follow the cond (a step
        or an aggregated assignment in control flow is refused under
        tf.distribute). Every variable gets a gradient, zero where the term
        does not reach it, as torch's ``(logits * 0 + penalty)`` in
        StyleGAN2-ADA's phases (Adam's second moments decay there too)."""
        def active():
            return tf.equal(tf.math.floormod(self.train_iterations, interval), 0)

        def run():
            with tf.GradientTape() as tape:
                term, values = loss()
                term = tf.cast(term, tf.float32)
                total = tf.nn.compute_average_loss(term)
            grads = tape.gradient(total, variables)
            return [term] + [tf.zeros_like(v) if g is None else tf.cast(g, v.dtype)
                             for g, v in zip(grads, variables)] + list(values)

        def skip():
            return [tf.zeros(size, tf.float32)] + [tf.zeros_like(v) for v in variables] + [
                tf.convert_to_tensor(var) for var in state]

        out = tf.cond(active(), run, skip)
        n = len(variables)
        optimizer.apply_gated(out[1:1 + n], variables, active)
        for var, value in zip(state, out[1 + n:]):
            var.assign(value)
        return out[0]

    # -- sampling ----------------------------------------------------------------------
    def latent_for_seeds(self, seeds):
        """z [B, z_dim] for int seeds [B] (see :func:`latent_for_seeds`)."""
        return latent_for_seeds(seeds, self.z_dim)

    def random_latent(self, batch_size):
        return keras.random.normal([batch_size, self.z_dim], seed=self.noise_seed)

    @property
    def has_style_controls(self) -> bool:
        """Whether samples take truncation and style mixing (``block: style``)."""
        return isinstance(self.generator, StyleLabelMapGenerator)

    def call(self, z, training=False, **style):
        """z [B, z_dim] -> the model's output maps (see the subclass). ``style``
        (``block: style``, inference): ``truncation_psi``, ``mix_z``, ``mix_layer``
        (``StyleLabelMapGenerator.styled``)."""
        if isinstance(z, dict):
            z = z["z"]
        style = {k: v for k, v in style.items() if v is not None}
        if not style:
            return self.generator(z, training=True) if training else self.sampler(z, training=False)
        self._check_style_controls(sorted(style))
        return self.sampler.styled(z, **style)

    def _check_style_controls(self, names) -> None:
        """Truncation and style mixing (``names``, as the caller calls them) need a
        style generator."""
        if names and not self.has_style_controls:
            raise ValueError(f"{', '.join(names)}: only a style generator (model.semgan.block: "
                             f"style) takes truncation and style mixing; this one is "
                             f"{self.block!r}")

    def sample(self, z):
        """z [B, z_dim] -> int32 class-index maps [B, H, W]."""
        return self.labels_from_output(self(z, training=False))

    def sample_seeds(self, seeds):
        """int seeds [B] -> int32 class-index maps [B, H, W] (see ``latent_for_seeds``)."""
        return self.sample(self.latent_for_seeds(seeds))

    # -- the inference contract ------------------------------------------------------
    def inference_specs(self, batch=None, height=None, width=None, optional=False):
        """``z`` float32 [B, z_dim] (``latent_for_seeds`` of a seed); ``optional``,
        for a style generator: ``truncation_psi`` float32 [], ``mix_z`` float32
        [B, z_dim] and ``mix_layer`` int32 [] (the ws from it on take ``mix_z``'s
        style)."""
        specs = [tf.TensorSpec([batch, self.z_dim], tf.float32, name="z")]
        if optional and self.has_style_controls:
            specs += [tf.TensorSpec([], tf.float32, name="truncation_psi"),
                      tf.TensorSpec([batch, self.z_dim], tf.float32, name="mix_z"),
                      tf.TensorSpec([], tf.int32, name="mix_layer")]
        return specs

    @property
    def style_inputs(self) -> int:
        return self.sampler.num_ws if self.has_style_controls else 0

    def device_controls(self, index: int, rng) -> Dict[str, np.ndarray]:
        """A style generator's TFLite model also takes ``truncation_psi``, ``mix_z``
        and ``mix_layer`` (psi 1 with ``mix_layer`` = ``num_ws``: z's own style)."""
        if not self.has_style_controls:
            return {}
        return {"truncation_psi": np.array(rng.uniform(0.5, 1.0), np.float32),
                "mix_z": rng.standard_normal((1, self.z_dim)).astype(np.float32),
                "mix_layer": np.array(index % (self.sampler.num_ws + 1), np.int32)}

    def infer(self, z, truncation_psi=None, mix_z=None, mix_layer=None) -> Dict[str, tf.Tensor]:
        """z -> ``label_map`` (RAW ids int32 [B,H,W], the labelIds PNG values),
        ``color`` (the label space's colours, uint8) and, for the colour
        baseline, ``raw_color`` (its output before snapping, uint8). A style
        generator also takes ``truncation_psi``, ``mix_z`` and ``mix_layer``."""
        output = self(z, training=False, truncation_psi=truncation_psi, mix_z=mix_z,
                      mix_layer=mix_layer)
        index = self.labels_from_output(output)
        codec = self.label_codec()
        out = {"label_map": tf.gather(tf.constant(codec.raw_ids), index),
               "color": tf.gather(tf.constant(codec.colors), index)}
        if self.outputs_colors:
            out["raw_color"] = uint8_image(output)
        return out

    def inference_inputs(self, label_map=None, instance_map=None, *, seed=0, z=None,
                         style=None, cluster=None, instance_clusters=None,
                         style_codes=None, truncation=None, mix_seed=None,
                         mix_layer=None) -> dict:
        """``z`` (given, or ``latent_for_seeds`` of ``seed``: an int or a list); a
        style generator also takes ``truncation`` (psi), ``mix_seed`` (the style
        source of the layers from ``mix_layer`` on, default ``num_ws // 2``)."""
        self._check_style_controls(["--" + k.replace("_", "-") for k, v in (
            ("truncation", truncation), ("mix_seed", mix_seed), ("mix_layer", mix_layer))
            if v is not None])
        if mix_layer is not None and mix_seed is None:
            raise ValueError("--mix-layer needs --mix-seed (whose style the layers take)")
        if mix_layer is not None and not 0 <= int(mix_layer) <= self.generator.num_ws:
            raise ValueError(f"--mix-layer: must be in 0..{self.generator.num_ws} (the "
                             f"generator's style inputs), got {mix_layer}")
        out = self._latent_inputs(label_map, instance_map, seed, z, style, cluster,
                                  instance_clusters, style_codes)
        if truncation is not None:
            out["truncation_psi"] = tf.constant(float(truncation), tf.float32)
        if mix_seed is not None:
            n = int(out["z"].shape[0])
            out["mix_z"] = tf.convert_to_tensor(self.latent_for_seeds([int(mix_seed)] * n),
                                                tf.float32)
            out["mix_layer"] = tf.constant(-1 if mix_layer is None else int(mix_layer),
                                           tf.int32)  # -1: half of them (generator.mix)
        return out

    def _latent_inputs(self, label_map, instance_map, seed, z, style, cluster,
                       instance_clusters, style_codes) -> dict:
        if label_map is not None or instance_map is not None:
            raise TypeError(f"a {type(self).__name__} model samples label maps from noise; it "
                            "takes no label map (sample with seeds instead)")
        if style is not None or cluster is not None or instance_clusters or \
                style_codes is not None:
            raise ValueError(f"a {type(self).__name__} model takes a seed or z only")
        if z is None:
            seeds = [int(s) for s in np.asarray(seed).reshape(-1)]
            z = self.latent_for_seeds(seeds)
        return {"z": tf.convert_to_tensor(z, tf.float32)}

    def sample_label_maps(self, seeds, batch_size: int = 16):
        """(class indices int32 [N,H,W], colour outputs [N,H,W,3] in [-1, 1] of
        the colour baseline or None) as numpy, one sample per int seed (the same
        map for a seed everywhere)."""
        seeds = list(seeds)
        labels, outputs = [], []
        for start in range(0, len(seeds), batch_size):
            output = self(self.latent_for_seeds(seeds[start:start + batch_size]), training=False)
            labels.append(self.labels_from_output(output).numpy())
            outputs.append(output.numpy())
        return np.concatenate(labels), (np.concatenate(outputs) if self.outputs_colors else None)

    def preview_grid(self, batch, label_space, dont_care) -> np.ndarray:
        """One row per example: a sample of a fixed seed | its raw colours
        (the baseline) | a real map of ``batch``."""
        labels, output = self.sample_label_maps(range(len(batch["label"])))
        rows = []
        for i, label in enumerate(labels):
            row = [label_to_rgb(label, label_space, dont_care)]
            if output is not None:
                row.append(image_to_uint8(output[i]))
            rows.append(row + [label_to_rgb(batch["label"][i].numpy(), label_space, dont_care)])
        return make_grid(rows)

    def periodic_scores(self, batch) -> Dict[str, float]:
        """Label-map statistics of samples from fixed seeds against ``batch``'s real maps."""
        labels, output = self.sample_label_maps(range(len(batch["label"])))
        real, classes = batch["label"].numpy(), self.num_classes
        scores = {"valid_pixel_fraction": M.valid_pixel_fraction(labels, classes),
                  "class_tv_distance": M.class_tv_distance(labels, real, classes),
                  "isolated_pixel_fraction": M.isolated_pixel_fraction(labels),
                  "pairwise_difference": M.pairwise_difference(labels)}
        if output is not None:  # the baseline
            scores["color_validity"] = M.color_validity(output, self.palette)
        return scores

    # -- losses --------------------------------------------------------------------------
    def compute_losses(self, batch, training=False,
                       parts: Sequence[str] = ("generator", "discriminator")) -> Dict[str, tf.Tensor]:
        """Per-example terms [B] of the main phases, each part on its own latents:
        D_real, D_fake, D_R1 (discriminator) and G_GAN, G_MS, G_PL (generator);
        G_MS is 0 with ``mode_seeking`` 0, D_R1 and G_PL are 0 unless training
        with interval 1 (lazy ones are their own steps: ``train_step``)."""
        terms: Dict[str, tf.Tensor] = {}
        if "discriminator" in parts:
            terms.update(self.discriminator_terms(self.real_maps(batch, training=training),
                                                  training))
        if "generator" in parts:
            label = batch["label"] if isinstance(batch, dict) else batch
            z = self.random_latent(tf.shape(label)[0])
            fake = self.fake_input(self.generator(z, training=training), training=training)
            pred = self.discriminator(self.discriminator_fake(fake, training), training=training)
            terms["G_GAN"] = L.gan_loss([pred], True, False, self.gan_mode)
            zeros = tf.zeros_like(terms["G_GAN"])
            terms["G_MS"] = (mode_seeking_loss(fake, z) * self.mode_seeking if self.mode_seeking
                             else zeros)
            terms["G_PL"] = zeros
            if training and self.pl_weight and self.pl_interval == 1:
                terms["G_PL"], mean = self.path_length_loss(z)
                self.pl_mean.assign(mean)
        return terms

    def discriminator_terms(self, real, training=False) -> Dict[str, tf.Tensor]:
        """D_fake (on new latents), D_real and an every-iteration D_R1 [B] for the
        real maps ``real`` (what D sees of them)."""
        z = self.random_latent(tf.shape(real)[0])
        fake = tf.stop_gradient(self.discriminator_fake(
            self.fake_input(self.generator(z, training=training), training=training), training))
        real = tf.cast(real, fake.dtype)
        # Separate passes: with minibatch_std a batch must not mix real and fake.
        pred_fake = self.discriminator(fake, training=training)
        pred_real = self.discriminator(real, training=training)
        terms = {"D_fake": L.gan_loss([pred_fake], False, True, self.gan_mode),
                 "D_real": L.gan_loss([pred_real], True, True, self.gan_mode)}
        every_step = training and self.r1_gamma and self.r1_interval == 1
        terms["D_R1"] = (self.r1_penalty(real, training) * (self.r1_gamma / 2.0) if every_step
                         else tf.zeros_like(terms["D_real"]))
        return terms

    def path_length_penalty(self, z, update=True):
        """StyleGAN2's path-length penalty per example [B // 2] for latents ``z``
        (the first half of them), moving ``pl_mean`` when ``update``."""
        penalty, mean = self.path_lengths(z)
        if update:
            self.pl_mean.assign(mean)
        return penalty

    def path_lengths(self, z):
        """(the path-length penalty [B // 2] of ``z``'s first half, the running mean
        ``pl_mean`` moved 1% toward their lengths)."""
        g = self.generator
        z = z[:tf.maximum(tf.shape(z)[0] // 2, 1)]
        ws = g.broadcast(g.map(z, training=True, update_w_avg=False))
        with tf.GradientTape() as tape:
            tape.watch(ws)
            out = tf.cast(g.synthesis(ws, training=True), tf.float32)
            size = tf.cast(tf.shape(out)[1] * tf.shape(out)[2], tf.float32)
            noise = keras.random.normal(tf.shape(out), seed=self.pl_seed) / tf.sqrt(size)
            total = tf.reduce_sum(out * noise)
        grads = tf.cast(tape.gradient(total, ws), tf.float32)
        lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), 2), 1))
        mean = self.pl_mean + (tf.reduce_mean(lengths) - self.pl_mean) * 0.01
        return tf.square(lengths - mean), tf.stop_gradient(mean)

    def path_length_loss(self, z):
        """(``G_PL`` [B] for latents ``z``: the mean path-length penalty of their
        first half times ``pl_weight``, on every example; the moved ``pl_mean``,
        for the caller to assign)."""
        penalty, mean = self.path_lengths(z)
        return tf.zeros(tf.shape(z)[:1], tf.float32) + tf.reduce_mean(penalty) * self.pl_weight, mean

    def r1_penalty(self, real, training=True):
        """|grad_x sum D(x)|^2 per example [B] at the real maps ``real`` (R1,
        Mescheder et al. 2018; StyleGAN2's ``r1_penalty``)."""
        real = tf.convert_to_tensor(real)
        with tf.GradientTape() as tape:
            tape.watch(real)
            total = tf.reduce_sum(tf.cast(self.discriminator(real, training=training),
                                          tf.float32))
        grads = tf.cast(tape.gradient(total, real), tf.float32)
        return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])

    # -- compiling -----------------------------------------------------------------------
    def compile(self, g_optimizer=None, d_optimizer=None, vgg_loss=None, **kwargs):
        """Sets the two optimisers; default: the Adam ``python -m tfsem.train`` gives a
        config without an ``optimizer`` section, with ``optimizer_ratios``
        applied: StyleGAN2's (``torch.optim.Adam`` 0.0025, betas 0 and 0.99) for
        the style block, the family's (``tfsem.registry``: TTUR 1e-4 / 4e-4,
        betas 0 and 0.9) for the others.

        Call inside ``strategy.scope()`` when distributing. ``vgg_loss`` is
        accepted for a uniform interface and ignored (no perceptual loss here).
        """
        super().compile(**kwargs)
        adam = STYLEGAN2_ADAM if self.block == "style" else self.family_defaults()
        kind = self.adam_kind("keras")
        g_ratio, d_ratio = self.optimizer_ratios()

        def default(lr, ratio):
            return make_adam(kind, *lazy_adam_settings(lr, adam["beta_1"], adam["beta_2"], ratio))

        g_optimizer = g_optimizer or default(adam["g_lr"], g_ratio)
        d_optimizer = d_optimizer or default(adam["d_lr"], d_ratio)
        for name, optimizer, ratio in (("g_optimizer", g_optimizer, g_ratio),
                                       ("d_optimizer", d_optimizer, d_ratio)):
            if ratio != 1.0 and not isinstance(optimizer, FusedAdam):
                raise TypeError(f"{name}: lazy regularisation (r1_interval / pl_interval > 1) "
                                "takes its own steps with tfsem.optimizers.FusedAdam or "
                                f"TorchAdam (apply_gated); got {type(optimizer).__name__}")
        self._compile_optimizers(g_optimizer, d_optimizer)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "image_size": self.image_size, "z_dim": self.z_dim, "ngf": self.ngf,
                "n_upsample": self.n_upsample, "block": self.block, "norm_G": self.norm_G,
                "ndf": self.ndf, "n_layers_D": self.n_layers_D,
                "spectral_norm_D": self.spectral_norm_D, "minibatch_std": self.minibatch_std,
                "gan_mode": self.gan_mode, "seed": self.seed,
                "mapping_layers": self.mapping_layers,
                "mapping_lr_multiplier": self.mapping_lr_multiplier,
                "style_conv": self.style_conv, "style_mixing": self.style_mixing,
                "noise_inputs": self.noise_inputs,
                "mode_seeking": self.mode_seeking, "r1_gamma": self.r1_gamma,
                "r1_interval": self.r1_interval, "pl_weight": self.pl_weight,
                "pl_interval": self.pl_interval, "ema_kimg": self.ema_kimg,
                "ema_rampup": self.ema_rampup}
