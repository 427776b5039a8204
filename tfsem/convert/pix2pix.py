"""junyanz/pytorch-CycleGAN-and-pix2pix pix2pix checkpoints -> ``tfsem.models.Pix2Pix``.

The U-Net is nested ``UnetSkipConnectionBlock`` modules: level 0 is
``model.model`` (down conv at index 0, its submodule at 1, the output
transposed conv at 3); every inner level is the submodule of the one above
(``.1.model`` below level 0, ``.3.model`` below the others), with the down
conv at 1, its norm at 2, the up transposed conv at 5 and its norm at 6; the
innermost level has the down conv at 1, the up conv at 3 and its norm at 4.
The PatchGAN is one ``nn.Sequential`` (``model.<i>``): conv, LeakyReLU,
then (conv, norm, LeakyReLU) triples, then the logits conv. Conv biases
before an instance norm (parameter-free) cancel in it; tfsem's PatchGAN
convs there have none (the U-Net keeps them, as the official).
"""

from __future__ import annotations

from typing import Optional

from tfsem.convert.state_dict import StateDict
from tfsem.layers.normalization import AffineBatchNormalization

__all__ = ["infer_pix2pix", "load_pix2pix_weights", "unet_prefixes"]


def unet_prefixes(num_downs: int):
    """The state-dict prefix of each U-Net level's ``nn.Sequential``, outermost first."""
    prefixes = ["model.model"]
    for i in range(1, num_downs):
        prefixes.append(prefixes[-1] + (".1.model" if i == 1 else ".3.model"))
    return prefixes


def infer_pix2pix(G: StateDict, D: Optional[StateDict]) -> dict:
    """The ``Pix2Pix`` fields and input channels a checkpoint was trained with."""
    if not G.has("model.model.0.weight"):
        raise ValueError(f"{G.source}: no 'model.model.0.weight': not a pix2pix U-Net "
                         "generator checkpoint")
    num_downs = 1
    while G.has(unet_prefixes(num_downs + 1)[-1] + ".1.weight"):
        num_downs += 1
    first = G.tensors["model.model.0.weight"]
    norm = "batch" if G.has("model.model.1.model.2.weight") else "instance"
    model = dict(num_downs=num_downs, ngf=int(first.shape[0]), norm=norm)
    if D is not None:
        convs = sorted(int(k.split(".")[1]) for k in D.tensors
                       if k.startswith("model.") and k.endswith(".weight")
                       and D.tensors[k].ndim == 4)
        model.update(ndf=int(D.tensors["model.0.weight"].shape[0]), n_layers_D=len(convs) - 2)
    return {"model": model, "in_channels": int(first.shape[1])}


def _norm(sd: StateDict, layer, prefix: str) -> None:
    if isinstance(layer, AffineBatchNormalization):
        sd.batch_norm(layer, prefix)
    # instance norm: no parameters (legacy running statistics are skipped)


def load_pix2pix_weights(model, G: StateDict, D: Optional[StateDict] = None) -> None:
    unet = model.generator
    prefixes = unet_prefixes(unet.num_downs)
    last = unet.num_downs - 1
    for i, prefix in enumerate(prefixes):
        if i == 0:
            down, up = "0", "3"
        elif i == last:
            down, up, up_norm = "1", "3", "4"
        else:
            down, up, up_norm = "1", "5", "6"
            _norm(G, unet.down_norms[i], f"{prefix}.2")
        G.conv(unet.down_convs[i], f"{prefix}.{down}")
        G.conv_transpose(unet.up_convs[i], f"{prefix}.{up}")
        if i > 0:
            _norm(G, unet.up_norms[i], f"{prefix}.{up_norm}")
    G.finish()
    if D is not None:
        blocks = model.discriminator.blocks
        for j, block in enumerate(blocks):
            index = 0 if j == 0 else 3 * j - 1
            D.conv(block[0], f"model.{index}", bias_cancelled=0 < j < len(blocks) - 1)
            if 0 < j < len(blocks) - 1:
                _norm(D, block[1], f"model.{3 * j}")
        D.finish()
