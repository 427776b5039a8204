"""``model.sean``: the SEAN section (``tfsem.models.SEAN``)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Literal

from tfsem.config.gaugan import NORMS, UPSAMPLING_LAYERS
from tfsem.config.schema import ConfigError, check_size_multiple, doc_field
from tfsem.registry import Family, register_family

__all__ = ["SEANConfig"]


@dataclasses.dataclass(frozen=True)
class SEANConfig:
    """Keyword arguments of ``tfsem.models.SEAN``; defaults are ZPdesu/SEAN's
    (``options/base_options.py``, ``train_options.py``, the networks'
    ``modify_commandline_options``). ``num_classes``, ``image_size`` and
    ``use_instances`` come from the data section; one style code per class."""

    ngf: int = doc_field(64, "generator base width (--ngf)")
    ndf: int = doc_field(64, "discriminator base width (--ndf)")
    num_D: int = doc_field(2, "discriminator scales (--num_D)")
    n_layers_D: int = doc_field(3, "stride-2 convs per discriminator scale (SEAN --n_layers_D: "
                                   "all at stride 2, unlike SPADE's last)")
    num_upsampling_layers: Literal["normal", "more"] = doc_field(
        "normal", "generator upsamplings: normal 5, more 6 (the official 'most' never runs "
                  "its extra block)")
    norm_D: NORMS = doc_field("instance", "discriminator norm")
    spectral_norm_G: bool = doc_field(True, "spectral norm on the generator's block convs")
    spectral_norm_D: bool = doc_field(True, "spectral norm on the discriminator convs")
    hidden_channels: int = doc_field(128, "width of SPADE's shared hidden conv inside ACE")
    style_length: int = doc_field(512, "style code length per region (the official 512)")
    zencoder_ngf: int = doc_field(32, "the style encoder's base width (the official 32)")
    gan_mode: Literal["hinge", "lsgan", "original"] = doc_field("hinge", "GAN loss")
    lambda_feat: float = doc_field(10.0, "discriminator feature-matching weight")
    lambda_vgg: float = doc_field(10.0, "VGG19 perceptual loss weight (0: no VGG)")
    vgg_weights: str = doc_field(
        "torchvision", "VGG19: torchvision (the official weights, from the torch hub cache), a "
                       ".pth file, or keras_cache / an .h5 file; never downloaded")
    seed: int = doc_field(0, "seed of the weight initialisation and the ACE noise")
    init: Literal["xavier", "normal", "keras"] = doc_field(
        "xavier", "weight initialisation (--init_type xavier)")
    init_gain: float = doc_field(0.02, "initialisation gain (--init_variance)")

    def validate(self, path: str = "model.sean") -> None:
        for name in ("ngf", "ndf", "num_D", "n_layers_D", "hidden_channels", "style_length",
                     "zencoder_ngf"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_vgg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")

    def ignored_fields(self) -> Dict[str, str]:
        return {}

    def factor(self) -> int:
        return 2 ** UPSAMPLING_LAYERS[self.num_upsampling_layers]

    def validate_experiment(self, experiment) -> None:
        check_size_multiple(experiment, self.factor(), f"SEAN with num_upsampling_layers="
                                                       f"{self.num_upsampling_layers!r}")
        if not experiment.data.load_images:
            raise ConfigError("data.load_images: SEAN trains on photos (their styles); set it "
                              "to true")


# The family, registered at its definition site (tfsem.registry).
register_family(Family(
    type="sean", section=SEANConfig,
    tasks={"default": "tfsem.models.sean:SEAN"},
    # ZPdesu/SEAN train_options.py: SPADE's TTUR (G 1e-4, D 4e-4, betas (0, 0.9)).
    optimizer={"g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
    quickstarts={"default": "configs/quickstart_sean.json"},
    summary="SEAN: label map + a style code per region (from photos) -> photo",
    drop_last=True, official_code="ZPdesu/SEAN", checkpoint="sean"))
