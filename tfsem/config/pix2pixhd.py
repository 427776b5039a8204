"""``model.pix2pixhd``: the pix2pixHD section (``tfsem.models.Pix2PixHD``)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Literal

from tfsem.config.gaugan import NORMS
from tfsem.config.schema import ConfigError, check_size_multiple, doc_field
from tfsem.registry import Family, register_family

__all__ = ["Pix2PixHDConfig"]


@dataclasses.dataclass(frozen=True)
class Pix2PixHDConfig:
    """Keyword arguments of ``tfsem.models.Pix2PixHD``; defaults are
    NVIDIA/pix2pixHD's (``options/base_options.py``, ``train_options.py``):
    stage 1 is ``n_local_enhancers: 0`` (the global generator, ngf 64); stage 2
    sets ``n_local_enhancers: 1``, ``ngf: 32``, ``train.init_from`` (the
    stage-1 run) and ``niter_fix_global``."""

    ngf: int = doc_field(64, "generator width (--ngf; G1 has ngf * 2**n_local_enhancers)")
    n_downsample_global: int = doc_field(4, "downsamplings of the global generator G1")
    n_blocks_global: int = doc_field(9, "residual blocks of G1")
    n_local_enhancers: int = doc_field(0, "local enhancers around G1 (0: stage 1, 1: stage 2)")
    n_blocks_local: int = doc_field(3, "residual blocks per local enhancer")
    niter_fix_global: int = doc_field(0, "steps G1 stays frozen at the start of stage 2")
    norm: NORMS = doc_field("instance", "norm of G, D and E")
    ndf: int = doc_field(64, "discriminator base width")
    num_D: int = doc_field(2, "discriminator scales")
    n_layers_D: int = doc_field(3, "stride-2 convs per discriminator scale (--n_layers_D)")
    use_features: bool = doc_field(False, "instance-wise feature encoder (--instance_feat)")
    feat_num: int = doc_field(3, "feature channels (use_features only)")
    nef: int = doc_field(16, "feature encoder width (use_features only)")
    n_downsample_E: int = doc_field(4, "feature encoder downsamplings (use_features only)")
    gan_mode: Literal["hinge", "lsgan", "original"] = doc_field("lsgan", "GAN loss")
    lambda_feat: float = doc_field(10.0, "discriminator feature-matching weight")
    lambda_vgg: float = doc_field(10.0, "VGG19 perceptual loss weight (0: no VGG)")
    vgg_weights: str = doc_field(
        "torchvision", "VGG19: torchvision (the official weights, from the torch hub cache), a "
                       ".pth file, or keras_cache / an .h5 file (Keras' Caffe weights: a departure); "
                       "never downloaded")
    init: Literal["xavier", "normal", "keras"] = doc_field(
        "normal", "weight initialisation (pix2pixHD weights_init: N(0, gain))")
    init_gain: float = doc_field(0.02, "initialisation std")

    def validate(self, path: str = "model.pix2pixhd") -> None:
        for name in ("ngf", "ndf", "num_D", "n_layers_D", "feat_num", "nef"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("n_downsample_global", "n_blocks_global", "n_local_enhancers",
                     "n_blocks_local", "niter_fix_global", "n_downsample_E"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_vgg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")

    def ignored_fields(self) -> Dict[str, str]:
        """Fields this variant does not use -> why (setting one in a config is an error)."""
        out = {}
        if not self.use_features:
            out.update((name, "use_features is false")
                       for name in ("feat_num", "nef", "n_downsample_E"))
        if self.n_local_enhancers == 0:
            out.update((name, "n_local_enhancers is 0 (stage 1)")
                       for name in ("n_blocks_local", "niter_fix_global"))
        return out

    def factor(self) -> int:
        return 2 ** (self.n_downsample_global + self.n_local_enhancers)

    def validate_experiment(self, experiment) -> None:
        check_size_multiple(experiment, self.factor(),
                            f"pix2pixHD with n_downsample_global={self.n_downsample_global} and "
                            f"n_local_enhancers={self.n_local_enhancers}")
        if not experiment.data.load_images:
            raise ConfigError("data.load_images: pix2pixHD trains on photos; set it to true")
        if experiment.data.input == "image" and self.use_features:
            raise ConfigError("model.pix2pixhd.use_features: instance features need label and "
                              "instance maps; photo-to-photo (data.input: image) has none")


# The family, registered at its definition site (tfsem.registry).
register_family(Family(
    type="pix2pixhd", section=Pix2PixHDConfig,
    tasks={"default": "tfsem.models.pix2pixhd:Pix2PixHD"},
    # NVIDIA/pix2pixHD train_options.py: lr 2e-4 for both, beta1 0.5; beta2
    # 0.999 (pix2pixHD_model.py).
    optimizer={"g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
    quickstarts={"default": "configs/quickstart_pix2pixhd.json"},
    summary="pix2pixHD: label + instance map (+ instance features) -> photo",
    official_code="NVIDIA/pix2pixHD", checkpoint="pix2pixhd", auto_bf16=True,
    photo_input=True))
