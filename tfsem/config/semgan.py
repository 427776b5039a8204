"""``model.semgan``: SemGAN and its standard-GAN baseline
(``tfsem.models.SemGAN`` / ``ColorLabelGAN``)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Literal, Optional

from tfsem.config.schema import ConfigError, check_size_multiple, doc_field
from tfsem.registry import Family, register_family

__all__ = ["SemGANConfig"]

#: Fields only SemGAN proper (``output: classes``) uses.
_CLASSES_ONLY = frozenset({"relaxation", "tau_start", "tau_end", "tau_anneal_steps",
                           "real_smoothing", "fake_smoothing", "smoothing_end",
                           "smoothing_anneal_steps"})
_GUMBEL_ONLY = frozenset({"tau_start", "tau_end", "tau_anneal_steps"})
_STYLE_ONLY = ("mapping_layers", "mapping_lr_multiplier", "style_conv", "style_mixing",
               "noise_inputs", "pl_weight", "pl_interval")
#: StyleGAN2's Adam (stylegan2-ada-pytorch train.py, the paper256 and auto specs at
#: these sizes): the style block's optimizer defaults.
STYLEGAN2_ADAM = {"g_lr": 0.0025, "d_lr": 0.0025, "beta_1": 0.0, "beta_2": 0.99}


@dataclasses.dataclass(frozen=True)
class SemGANConfig:
    """Keyword arguments of ``tfsem.models.SemGAN`` / ``ColorLabelGAN``.

    ``output``: ``classes`` is SemGAN (per-pixel class distributions);
    ``colors`` is the paper's standard-GAN baseline (RGB colour label
    images, read back by the nearest palette colour), on the same backbone.
    Defaults were chosen by measurement on toy_streets (docs/models/semgan.md, "SemGAN
    report": softmax with real_smoothing 0.3 was closest to the data in class
    histogram and diversity; gumbel_st collapsed; without ``mode_seeking`` every
    option collapsed to nearly one scene, with 0.05 the maps are as diverse as
    the data's: docs/models/semgan.md, "Against collapse"; ``fake_smoothing`` cut
    the style block's isolated pixels by a third and brought its class mix
    within the target on three seeds, and is on for it: "Where the isolated
    pixels are"); the paper does not publish its architecture.
    """

    output: Literal["classes", "colors", "photos"] = doc_field(
        "classes", "classes: SemGAN (class distributions); colors: the colour-GAN baseline; "
                   "photos: the one-stage photo GAN (toy_streets, read by the toy oracle)")
    z_dim: int = doc_field(128, "latent size")
    ngf: int = doc_field(32, "generator base width")
    n_upsample: int = doc_field(4, "resolution doublings after the dense layer "
                                   "(size multiple of 2**n)")
    block: Literal["conv", "resnet", "style"] = doc_field(
        "conv", "generator: conv (DCGAN stages), resnet (SNGAN up-blocks) or style (StyleGAN2: "
                "mapping network, style convs, noise inputs, skip outputs)")
    mapping_layers: int = doc_field(8, "mapping network depth (block style only; StyleGAN2: 8)")
    mapping_lr_multiplier: float = doc_field(
        0.01, "learning-rate multiplier of the mapping network (block style only; StyleGAN2: "
              "0.01)")
    style_conv: Literal["modulated", "adain"] = doc_field(
        "modulated", "style convs (block style only): modulated (StyleGAN2's weight "
                     "(de)modulation) or adain (StyleGAN's instance norm + style)")
    style_mixing: float = doc_field(
        0.9, "probability of style mixing in training (block style only; StyleGAN2: 0.9)")
    noise_inputs: bool = doc_field(
        False, "per-pixel noise inputs after each style conv (block style only; StyleGAN2: on; "
               "off by default here: on label maps they turned into speckle, docs/models/semgan.md)")
    norm_G: Literal["batch", "instance", "none"] = doc_field(
        "batch", "generator norm (conv and resnet blocks)")
    ndf: int = doc_field(32, "discriminator base width")
    n_layers_D: int = doc_field(4, "stride-2 discriminator layers")
    spectral_norm_D: Optional[bool] = doc_field(
        None, "spectral norm on the discriminator (SNGAN); null: on, except for block style "
              "(StyleGAN2's objective regularises D with R1 instead)")
    minibatch_std: bool = doc_field(True, "minibatch standard-deviation channel in D")
    gan_mode: Literal["auto", "hinge", "lsgan", "original"] = doc_field(
        "auto", "GAN loss; auto: hinge, except for block style: original (StyleGAN2's "
                "non-saturating logistic loss)")
    r1_gamma: Optional[float] = doc_field(
        None, "weight gamma of the R1 penalty gamma/2 |grad D(real)|^2 (0: off); null: 0, "
              "except for block style: StyleGAN2-ADA's rule 0.0002 * H * W / batch")
    r1_interval: int = doc_field(
        16, "lazy regularisation: R1 every this many iterations as its own D step, weighted by "
            "it, D's Adam scaled by interval / (interval + 1) (StyleGAN2-ADA: 16); 1: in every "
            "D step")
    pl_weight: float = doc_field(
        0.0, "StyleGAN2's path-length regularisation of the style generator (StyleGAN2: 2; "
             "0: off, the default here: measured on three seeds in docs/models/semgan.md)")
    pl_interval: int = doc_field(
        4, "path-length regularisation every this many iterations as its own G step, weighted "
           "by it, G's Adam scaled as R1's (StyleGAN2-ADA: 4); 1: in every G step")
    ema_kimg: Optional[float] = doc_field(
        None, "half-life, in thousands of training images, of G_ema, the moving average of "
              "the generator's weights that samples come from (StyleGAN2); 0: off, samples come "
              "from G; null: 0, except for block style: StyleGAN2-ADA's batch * 10 / 32")
    ema_rampup: Optional[float] = doc_field(
        0.05, "G_ema's half-life is at most this fraction of the images seen so far "
              "(StyleGAN2-ADA: 0.05); null: no ramp-up")
    mode_seeking: float = doc_field(
        0.05, "weight of MSGAN's mode-seeking term (Mao et al. 2019): the generator is pushed "
              "to map distant latents to distant outputs; 0: off")
    relaxation: Literal["softmax", "gumbel_st"] = doc_field(
        "softmax", "what D sees of a fake map: softmax, or straight-through Gumbel one-hot "
                   "(classes only)")
    tau_start: float = doc_field(1.0, "Gumbel temperature at step 0 (gumbel_st only)")
    tau_end: float = doc_field(0.3, "Gumbel temperature after the anneal (gumbel_st only)")
    tau_anneal_steps: int = doc_field(2000, "G steps of the exponential anneal (gumbel_st only)")
    real_smoothing: float = doc_field(0.3, "softening s of the real one-hot maps: class weight "
                                           "~ U(1-s, 1) (classes only)")
    fake_smoothing: Optional[bool] = doc_field(
        None, "soften the fakes D sees the same way (instance noise on both sides; classes "
              "only; nothing to add with real_smoothing 0); null: on for block style, off for "
              "conv and resnet")
    smoothing_end: Optional[float] = doc_field(
        None, "anneal the softening linearly from real_smoothing to this value (annealed "
              "instance noise, Sonderby et al. 2017; classes only); null: no anneal")
    smoothing_anneal_steps: int = doc_field(
        2000, "training iterations of the smoothing anneal (smoothing_end only)")
    seed: int = doc_field(0, "seed of the training latents and the initialisation")

    def validate(self, path: str = "model.semgan") -> None:
        for name in ("z_dim", "ngf", "ndf", "n_layers_D", "mapping_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("n_upsample", "tau_anneal_steps", "smoothing_anneal_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")
        if not 0 < self.tau_end <= self.tau_start:
            raise ConfigError(f"{path}: need 0 < tau_end <= tau_start, got tau_start="
                              f"{self.tau_start}, tau_end={self.tau_end}")
        if self.r1_gamma is not None and self.r1_gamma < 0:
            raise ConfigError(f"{path}.r1_gamma: must be >= 0, got {self.r1_gamma}")
        if self.r1_interval < 1:
            raise ConfigError(f"{path}.r1_interval: must be >= 1, got {self.r1_interval}")
        if self.pl_weight < 0:
            raise ConfigError(f"{path}.pl_weight: must be >= 0, got {self.pl_weight}")
        if self.pl_interval < 1:
            raise ConfigError(f"{path}.pl_interval: must be >= 1, got {self.pl_interval}")
        if self.ema_kimg is not None and self.ema_kimg < 0:
            raise ConfigError(f"{path}.ema_kimg: must be >= 0, got {self.ema_kimg}")
        if self.ema_rampup is not None and self.ema_rampup <= 0:
            raise ConfigError(f"{path}.ema_rampup: must be > 0 or null, got {self.ema_rampup}")
        if self.pl_weight and self.block != "style":
            raise ConfigError(f"{path}.pl_weight: path-length regularisation needs block "
                              f"'style', not {self.block!r}")
        if self.mapping_lr_multiplier <= 0:
            raise ConfigError(f"{path}.mapping_lr_multiplier: must be > 0, got "
                              f"{self.mapping_lr_multiplier}")
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ConfigError(f"{path}.style_mixing: must be in [0, 1], got {self.style_mixing}")
        if self.mode_seeking < 0:
            raise ConfigError(f"{path}.mode_seeking: must be >= 0, got {self.mode_seeking}")
        if not 0.0 <= self.real_smoothing < 1.0:
            raise ConfigError(f"{path}.real_smoothing: must be in [0, 1), got {self.real_smoothing}")
        if self.smoothing_end is not None and not 0.0 <= self.smoothing_end < 1.0:
            raise ConfigError(f"{path}.smoothing_end: must be in [0, 1) or null, got "
                              f"{self.smoothing_end}")

    def objective(self, height: int, width: int, batch_size: int) -> Dict[str, object]:
        """``gan_mode``, ``spectral_norm_D``, ``r1_gamma`` and ``ema_kimg`` with auto /
        null resolved: StyleGAN2's objective (non-saturating loss, lazy R1, no
        spectral norm) and G_ema for block style, SNGAN's hinge + spectral norm
        without G_ema for the others."""
        style = self.block == "style"
        gamma = self.r1_gamma
        if gamma is None:
            gamma = 0.0002 * height * width / max(batch_size, 1) if style else 0.0
        return {"gan_mode": self.gan_mode if self.gan_mode != "auto" else
                ("original" if style else "hinge"),
                "spectral_norm_D": (not style) if self.spectral_norm_D is None
                else self.spectral_norm_D,
                "r1_gamma": float(gamma), "ema_kimg": self.resolved_ema_kimg(batch_size)}

    def resolved_ema_kimg(self, batch_size: int) -> float:
        """``ema_kimg`` with null resolved (StyleGAN2-ADA's ``auto`` spec: batch * 10 / 32
        for block style, else 0)."""
        if self.ema_kimg is not None:
            return float(self.ema_kimg)
        return batch_size * 10 / 32 if self.block == "style" else 0.0

    def optimizer_defaults(self) -> Optional[Dict[str, float]]:
        """The Adam settings a config without an ``optimizer`` section gets, where
        they are not the family's: StyleGAN2's for block style."""
        return dict(STYLEGAN2_ADAM) if self.block == "style" else None

    def variant(self) -> str:
        """The task variant (a registry key): ``classes`` or ``colors``."""
        return self.output

    def ignored_fields(self) -> Dict[str, str]:
        """Fields this variant does not use -> why (setting one in a config is an error)."""
        out = {}
        if self.block == "style":
            out["norm_G"] = "block is 'style' (its style convs normalise)"
        else:
            out.update((name, f"block is {self.block!r}") for name in _STYLE_ONLY)
        if self.output != "classes":
            out.update((name, f"output is {self.output!r}") for name in _CLASSES_ONLY)
        else:
            if self.relaxation == "softmax":
                out.update((name, "relaxation is 'softmax'") for name in _GUMBEL_ONLY)
            if self.smoothing_end is None:
                out["smoothing_anneal_steps"] = "smoothing_end is null"
        return out

    def factor(self) -> int:
        return 2 ** max(self.n_upsample, self.n_layers_D)

    def validate_experiment(self, experiment) -> None:
        check_size_multiple(experiment, self.factor(), f"SemGAN with n_upsample="
                                                       f"{self.n_upsample} and n_layers_D="
                                                       f"{self.n_layers_D}")
        if self.output == "photos":
            if experiment.data.source != "toy_streets":
                raise ConfigError("data.source: the one-stage photo GAN (output 'photos') reads "
                                  "its samples as label maps with the toy oracle, which knows "
                                  f"toy_streets only; got {experiment.data.source!r}")
            if not experiment.data.load_images:
                raise ConfigError("data.load_images: output 'photos' trains on photos; set it "
                                  "to true")
        if experiment.data.dont_care == "zero":
            raise ConfigError(
                "data.dont_care: SemGAN generates every pixel's class, don't-care included; "
                "use 'extra_class' (a generator cannot output the all-zero 'zero' vector)")


# The family, registered at its definition site (tfsem.registry).
register_family(Family(
    type="semgan", section=SemGANConfig,
    tasks={"classes": "tfsem.models.semgan:SemGAN",
           "colors": "tfsem.models.color_label_gan:ColorLabelGAN",
           "photos": "tfsem.models.photo_gan:PhotoGAN"},
    # The TTUR setting its report was measured with (the paper publishes none).
    optimizer={"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
    quickstarts={"default": "configs/quickstart_semgan.json",
                 "colors": "configs/quickstart_semgan_baseline.json",
                 "photos": "configs/quickstart_photogan.json"},
    summary="SemGAN: noise -> label map (classes), its colour-GAN baseline (colors), or the "
            "one-stage photo GAN (photos)",
    adam="keras"))
