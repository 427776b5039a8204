"""ZPdesu/SEAN generator tensors -> ``tfsem.networks.sean.SEANGenerator``.

Key layout of ``latest_net_G.pth`` (``models/networks/generator.py``):
``fc``; ``Zencoder.model.{1,4,7,10,14}`` (convs; ``10`` the transposed one;
instance norms without parameters); per block ``conv_0``, ``conv_1``,
``conv_s`` (spectral: ``weight_orig``, ``weight_u``, ``weight_v``) and
``ace_0``, ``ace_1``, ``ace_s``: ``noise_var``, ``blending_gamma``,
``blending_beta``, ``param_free_norm`` (sync batch norm statistics: live at
inference, converted), ``Spade.mlp_shared.0`` / ``mlp_gamma`` / ``mlp_beta``,
``fc_mu<j>`` (one ``Linear(512, 512)`` per class, stacked here),
``conv_gamma``, ``conv_beta``. ``Spade.param_free_norm`` is built by the
official code and never run: its statistics are skipped, by name.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from tfsem.convert.spade import (_bool, _conv_weight, infer_multiscale_discriminator,
                                 load_multiscale_discriminator)
from tfsem.convert.state_dict import StateDict, opt_number

__all__ = ["DEFAULTS", "infer_sean", "load_sean_generator_weights", "load_sean_weights"]

#: What ZPdesu/SEAN's README trains and releases (CelebA-HQ: ``--dataset_mode
#: custom --label_nc 19 --no_instance``, crop 256): used where opt.txt is absent.
DEFAULTS = {"label_space": "celebamask_hq", "image_size": (256, 256),
            "num_upsampling_layers": "normal"}

#: Zencoder's convs by their index in the official ``nn.Sequential``.
_ZENCODER = {"conv_in": 1, "down_0": 4, "down_1": 7, "up": 10, "conv_out": 14}


def _ace(sd: StateDict, ace, prefix: str) -> None:
    sd._assign(ace.noise_var, sd.take(prefix + ".noise_var"), prefix + ".noise_var")
    for name in ("blending_gamma", "blending_beta"):
        sd._assign(getattr(ace, name), sd.take(f"{prefix}.{name}").reshape(()),
                   f"{prefix}.{name}")
    sd.batch_norm_stats(ace.param_free_norm, prefix + ".param_free_norm")
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        if sd.has(f"{prefix}.Spade.param_free_norm.{name}"):
            sd.skip(f"{prefix}.Spade.param_free_norm.{name}")  # built, never run
    sd.conv(ace.mlp_shared, prefix + ".Spade.mlp_shared.0")
    sd.conv(ace.mlp_gamma, prefix + ".Spade.mlp_gamma")
    sd.conv(ace.mlp_beta, prefix + ".Spade.mlp_beta")
    if not ace.use_styles:
        return
    classes = ace.fc_mu_kernel.shape[0]
    kernels, biases = [], []
    for j in range(classes):
        # nn.Linear weight [out, in]: y = x W^T + b
        kernels.append(sd.take(f"{prefix}.fc_mu{j}.weight").T)
        biases.append(sd.take(f"{prefix}.fc_mu{j}.bias"))
    sd._assign(ace.fc_mu_kernel, np.stack(kernels), prefix + ".fc_mu*.weight")
    sd._assign(ace.fc_mu_bias, np.stack(biases), prefix + ".fc_mu*.bias")
    sd.conv(ace.conv_gamma, prefix + ".conv_gamma")
    sd.conv(ace.conv_beta, prefix + ".conv_beta")


def _block(sd: StateDict, block, prefix: str) -> None:
    sd.any_conv(block.conv_0, prefix + ".conv_0")
    sd.any_conv(block.conv_1, prefix + ".conv_1")
    _ace(sd, block.ace_0, prefix + ".ace_0")
    _ace(sd, block.ace_1, prefix + ".ace_1")
    if block.learned_shortcut:
        sd.any_conv(block.conv_s, prefix + ".conv_s")
        _ace(sd, block.ace_s, prefix + ".ace_s")


def load_sean_generator_weights(generator, encoder, G: StateDict) -> None:
    """Assigns the official generator's tensors to a built ``SEANGenerator`` and
    its ``Zencoder`` (the official generator holds both); every key must be used."""
    sd = G
    sd.conv(generator.fc, "fc")
    for block in generator.blocks:
        _block(sd, block, block.name)
    sd.conv(generator.conv_img, "conv_img")
    for name, index in _ZENCODER.items():
        layer = getattr(encoder, name, None) if name in ("conv_in", "up", "conv_out") \
            else encoder.downs[int(name.split("_")[1])]
        (sd.conv_transpose if name == "up" else sd.conv)(layer, f"Zencoder.model.{index}")
    sd.finish()


def is_sean(G: StateDict) -> bool:
    """A SEAN generator: SPADE's blocks with ACE norms and the Zencoder inside."""
    return G.has("fc.weight") and any(k.startswith("Zencoder.model.") for k in G.tensors)


def infer_sean(G: StateDict, D: Optional[StateDict], options: Dict[str, str]) -> dict:
    """{"model": SEAN kwargs, "semantic_nc", "image_size", "label_nc",
    "contain_dontcare_label", "no_instance", "dataroot"} from the tensors and opt.txt."""
    ngf = _conv_weight(G, "head_0.conv_0").shape[0] // 16
    shared = G.tensors.get("head_0.ace_0.Spade.mlp_shared.0.weight")
    if shared is None:
        raise ValueError(f"{G.source}: no 'head_0.ace_0.Spade.mlp_shared.0.weight': not a SEAN "
                         "generator checkpoint")
    if shared.shape[2] != 3:
        raise ValueError(f"{G.source}: SPADE kernel {shared.shape[2]}x{shared.shape[3]} "
                         "inside ACE; tfsem's SEAN blocks are 3x3")
    zencoder_in = G.tensors["Zencoder.model.1.weight"]
    style_length = int(G.tensors["Zencoder.model.14.weight"].shape[0])
    if G.has("up_4.conv_0.weight_orig") or G.has("up_4.conv_0.weight"):
        raise ValueError(f"{G.source}: an up_4 block (num_upsampling_layers 'most'): the "
                         "official SEAN builds it but never runs it, so such a model renders at "
                         "half its size; tfsem converts 'normal' and 'more'")
    upsampling = options.get("num_upsampling_layers", DEFAULTS["num_upsampling_layers"])
    if upsampling not in ("normal", "more"):
        raise ValueError(f"{G.source}: opt.txt num_upsampling_layers {upsampling!r}; SEAN "
                         "converts 'normal' and 'more'")
    image_size = None
    if "crop_size" in options:
        width = opt_number(options, "crop_size", int)
        aspect = opt_number(options, "aspect_ratio", float, 1.0)
        image_size = (int(round(width / aspect)), width)
    model = dict(ngf=int(ngf), num_upsampling_layers=upsampling,
                 spectral_norm_G=G.has("head_0.conv_0.weight_orig"),
                 hidden_channels=int(shared.shape[0]), style_length=style_length,
                 zencoder_ngf=int(zencoder_in.shape[0]))
    if D is not None:
        model.update(infer_multiscale_discriminator(D))
    return {"model": model, "semantic_nc": int(shared.shape[1]), "image_size": image_size,
            "label_nc": opt_number(options, "label_nc", int),
            "contain_dontcare_label": _bool(options.get("contain_dontcare_label")),
            "no_instance": _bool(options.get("no_instance")),
            # the custom dataset reads --label_dir / --image_dir; its dataroot is unused
            "dataroot": None}


def load_sean_weights(model, G: StateDict, D: Optional[StateDict] = None,
                      E: Optional[StateDict] = None) -> None:
    """Assigns the official tensors to a built ``tfsem.models.SEAN``; every key must
    be used. SEAN has no separate encoder file (the Zencoder is inside G)."""
    if E is not None:
        raise ValueError(f"{E.source}: SEAN's style encoder is inside its generator "
                         "checkpoint; a separate _net_E.pth does not belong to it")
    load_sean_generator_weights(model.generator, model.encoder, G)
    if D is not None:
        load_multiscale_discriminator(model.discriminator, D)
