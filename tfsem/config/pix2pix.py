"""``model.pix2pix``: the pix2pix section (``tfsem.models.Pix2Pix``)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Literal

from tfsem.config.schema import ConfigError, check_size_multiple, doc_field
from tfsem.registry import Family, register_family

__all__ = ["Pix2PixConfig"]


@dataclasses.dataclass(frozen=True)
class Pix2PixConfig:
    """Keyword arguments of ``tfsem.models.Pix2Pix``; defaults are
    junyanz/pytorch-CycleGAN-and-pix2pix's for ``--model pix2pix``
    (``options/base_options.py``, ``train_options.py``, ``pix2pix_model.py``):
    ``unet_256``, batch norm, dropout, the basic 70x70 PatchGAN, vanilla GAN
    loss + L1 weight 100."""

    label_input: Literal["colors", "onehot"] = doc_field(
        "colors", "what G and D see of the label map: its colour rendering in [-1, 1] (the "
                  "official Cityscapes labels->photo data) or one-hot channels (as pix2pixHD, SPADE)")
    num_downs: int = doc_field(8, "U-Net levels (unet_256: 8, unet_128: 7); sizes are multiples "
                                  "of 2**num_downs")
    ngf: int = doc_field(64, "generator width (--ngf)")
    ndf: int = doc_field(64, "discriminator width (--ndf)")
    n_layers_D: int = doc_field(3, "stride-2 convs of the PatchGAN (--n_layers_D; 3: 70x70 patches)")
    norm: Literal["batch", "instance", "none"] = doc_field("batch", "norm of G and D (--norm)")
    use_dropout: bool = doc_field(True, "dropout 0.5 in the inner decoder levels in training "
                                        "(--no_dropout turns it off)")
    eval_mode: bool = doc_field(False, "batch norm at inference uses the running statistics "
                                       "(test.py --eval); false: each image's own, the paper's "
                                       "protocol")
    gan_mode: Literal["hinge", "lsgan", "original"] = doc_field(
        "original", "GAN loss (--gan_mode vanilla: BCE with logits)")
    lambda_L1: float = doc_field(100.0, "L1 weight (--lambda_L1)")
    lambda_vgg: float = doc_field(0.0, "VGG19 perceptual loss weight (not in pix2pix: 0)")
    vgg_weights: str = doc_field(
        "torchvision", "VGG19: torchvision (the official weights, from the torch hub cache), a "
                       ".pth file, or keras_cache / an .h5 file (Keras' Caffe weights: a departure); "
                       "never downloaded")
    init: Literal["xavier", "normal", "keras"] = doc_field(
        "normal", "weight initialisation (--init_type normal: N(0, gain), batch-norm scales "
                  "N(1, gain))")
    init_gain: float = doc_field(0.02, "initialisation std (--init_gain)")

    def validate(self, path: str = "model.pix2pix") -> None:
        if self.num_downs < 5:
            raise ConfigError(f"{path}.num_downs: must be >= 5 (the U-Net's five outer levels), "
                              f"got {self.num_downs}")
        for name in ("ngf", "ndf", "n_layers_D"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{path}.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("lambda_L1", "lambda_vgg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{path}.{name}: must be >= 0, got {getattr(self, name)}")

    def ignored_fields(self) -> Dict[str, str]:
        """Fields this variant does not use -> why (setting one in a config is an error)."""
        out = {}
        if self.norm != "batch":
            out["eval_mode"] = f"norm is {self.norm!r}: no running statistics"
        return out

    def factor(self) -> int:
        return 2 ** self.num_downs

    def validate_experiment(self, experiment) -> None:
        check_size_multiple(experiment, self.factor(), f"pix2pix with num_downs={self.num_downs}")
        if not experiment.data.load_images:
            raise ConfigError("data.load_images: pix2pix trains on photos; set it to true")


# The family, registered at its definition site (tfsem.registry).
register_family(Family(
    type="pix2pix", section=Pix2PixConfig,
    tasks={"default": "tfsem.models.pix2pix:Pix2Pix"},
    # junyanz/pytorch-CycleGAN-and-pix2pix train_options.py: lr 2e-4, beta1 0.5;
    # beta2 0.999 (pix2pix_model.py).
    optimizer={"g_lr": 2e-4, "d_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
    quickstarts={"default": "configs/quickstart_pix2pix.json"},
    summary="pix2pix: label map (+ instance edges) -> photo (U-Net + PatchGAN)",
    lr_decay="pix2pix", official_code="junyanz/pytorch-CycleGAN-and-pix2pix",
    checkpoint="pix2pix", auto_bf16=True,
    photo_input=True))
