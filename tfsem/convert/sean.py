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

import numpy as np

from tfsem.convert.state_dict import StateDict

__all__ = ["load_sean_generator_weights"]

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
