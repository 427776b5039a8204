"""``model.gaugan``: the SPADE / GauGAN section (``tfsem.models.GauGAN``)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Literal

from tfsem.config.schema import ConfigError, check_size_multiple, doc_field
from tfsem.registry import Family, register_family

__all__ = ["GauGANConfig", "NORMS", "UPSAMPLING_LAYERS"]

NORMS = Literal["instance", "batch", "sync_batch", "none"]

#: Upsamplings of the SPADE generator per ``num_upsampling_layers`` (NVlabs/SPADE):
#: the one table (``tfsem.networks.spade_generator`` reads it).
UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}


@dataclasses.dataclass(frozen=True)
class GauGANConfig:
    """Keyword arguments of ``tfsem.models.GauGAN``; defaults are NVlabs/SPADE's
    (``options/base_options.py``, ``train_options.py``). ``num_classes``,
    ``image_size`` and ``use_instances`` come from the data section."""

    ngf: int = doc_field(64, "generator base width (SPADE --ngf)")
    ndf: int = doc_field(64, "discriminator base width (--ndf)")
    num_D: int = doc_field(2, "discriminator scales (--num_D)")
    n_layers_D: int = doc_field(4, "conv layers per discriminator scale (--n_layers_D)")
    num_upsampling_layers: Literal["normal", "more", "most"] = doc_field(
        "normal", "generator upsamplings: normal 5, more 6, most 7 (size multiple of 2**n)")
    norm_G: NORMS = doc_field("sync_batch", "parameter-free norm inside SPADE (G)")
    norm_D: NORMS = doc_field("instance", "discriminator norm")
    norm_E: NORMS = doc_field("instance", "VAE encoder norm (use_vae only)")
    spectral_norm_G: bool = doc_field(True, "spectral norm on the generator convs")
    spectral_norm_D: bool = doc_field(True, "spectral norm on the discriminator convs")
    spectral_norm_E: bool = doc_field(True, "spectral norm on the encoder convs (use_vae only)")
    hidden_channels: int = doc_field(128, "width of SPADE's shared hidden conv")
    use_vae: bool = doc_field(False, "train the VAE style encoder (multi-modal, style photos)")
    z_dim: int = doc_field(256, "style latent size (use_vae only)")
    gan_mode: Literal["hinge", "lsgan", "original"] = doc_field("hinge", "GAN loss")
    lambda_feat: float = doc_field(10.0, "discriminator feature-matching weight")
    lambda_vgg: float = doc_field(10.0, "VGG19 perceptual loss weight (0: no VGG)")
    lambda_kld: float = doc_field(0.05, "KL divergence weight (use_vae only)")
    kld_reduction: Literal["sum", "mean"] = doc_field(
        "sum", "KLD over the batch: sum (NVlabs/SPADE KLDLoss) or mean (per example; use_vae "
               "only)")
    vgg_weights: str = doc_field(
        "torchvision", "VGG19: torchvision (the official weights, from the torch hub cache), a "
                       ".pth file, or keras_cache / an .h5 file (Keras' Caffe weights: a departure); "
                       "never downloaded")
    seed: int = doc_field(0, "seed of the weight initialisation and the VAE noise")
    init: Literal["xavier", "normal", "keras"] = doc_field(
        "xavier", "weight initialisation (SPADE --init_type xavier)")
    init_gain: float = doc_field(0.02, "initialisation gain / std (SPADE --init_variance)")

    def validate(self, path: str = "model.gaugan") -> None:
        for name in ("ngf", "ndf", "num_D", "n_layers_D", "hidden_channels", "z_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_vgg", "lambda_kld"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")

    def ignored_fields(self) -> Dict[str, str]:
        """Fields this variant does not use -> why (setting one in a config is an error)."""
        if not self.use_vae:
            return {name: "use_vae is false" for name in
                    ("z_dim", "lambda_kld", "kld_reduction", "norm_E", "spectral_norm_E")}
        return {}

    def factor(self) -> int:
        return 2 ** UPSAMPLING_LAYERS[self.num_upsampling_layers]

    def validate_experiment(self, experiment) -> None:
        check_size_multiple(experiment, self.factor(), f"GauGAN with num_upsampling_layers="
                                                       f"{self.num_upsampling_layers!r}")
        if not experiment.data.load_images:
            raise ConfigError("data.load_images: GauGAN trains on photos; set it to true")


# The family, registered at its definition site (tfsem.registry).
register_family(Family(
    type="gaugan", section=GauGANConfig,
    tasks={"default": "tfsem.models.gaugan:GauGAN"},
    # NVlabs/SPADE train_options.py: lr 2e-4 with TTUR (G lr / 2, D lr * 2),
    # beta1 0, beta2 0.9: the maintainers' setting for TTUR (NVlabs/SPADE #50).
    optimizer={"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
    quickstarts={"default": "configs/quickstart.json"},
    summary="SPADE / GauGAN: label map (+ instances, + style) -> photo",
    drop_last=True, official_code="NVlabs/SPADE", checkpoint="spade", auto_bf16=True))
