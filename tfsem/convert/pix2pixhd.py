"""NVIDIA/pix2pixHD checkpoints -> ``tfsem.models.Pix2PixHD``.

The generator is an ``nn.Sequential`` saved by index (``model.<i>``; the local
enhancer adds ``model<n>_1`` / ``model<n>_2``); the architecture is read from
which indices hold convs, transposed convs and ResNet blocks. The
discriminator's ``scale<i>_layer<j>`` sees the input at scale
``num_D - 1 - i`` (``networks.py`` ``MultiscaleDiscriminator.forward``).
Conv biases before instance norm are part of the checkpoint but cancel in
the norm; tfsem's convs there have none.
"""

from __future__ import annotations

import re
from typing import Dict, Optional

from tfsem.convert.state_dict import StateDict, opt_number

__all__ = ["infer_pix2pixhd", "load_pix2pixhd_weights"]


def _indices(sd: StateDict, pattern: str):
    return sorted({int(m.group(1)) for k in sd.tensors for m in [re.match(pattern, k)] if m})


def _sequential_shape(sd: StateDict, prefix: str):
    """(ngf, n_down, n_blocks, n_up, in_channels, out_channels or None) of a
    GlobalGenerator / Encoder ``nn.Sequential``: conv 7x7 at index 1, then
    (conv, norm, ReLU) triples down, ResNet blocks, (conv-transpose, norm, ReLU)
    triples up, then reflection pad + conv 7x7 (absent inside the local enhancer).
    A 3x3 entry [a, b] is a downsampling conv when b is the current width and
    a twice it, a transposed conv when a is the width and b half of it."""
    first = sd.tensors[f"{prefix}.1.weight"]
    ngf, in_channels = int(first.shape[0]), int(first.shape[1])
    width, index, down, blocks, up = ngf, 4, 0, 0, 0
    while True:
        if sd.has(f"{prefix}.{index}.conv_block.1.weight"):
            blocks, index = blocks + 1, index + 1
            continue
        w = sd.tensors.get(f"{prefix}.{index}.weight")
        if w is None or w.ndim != 4 or w.shape[2] != 3:
            break
        if w.shape[1] == width and w.shape[0] == 2 * width and not blocks and not up:
            down, width = down + 1, int(w.shape[0])
        elif w.shape[0] == width and 2 * w.shape[1] == width:
            up, width = up + 1, int(w.shape[1])
        else:
            break
        index += 3
    head = sd.tensors.get(f"{prefix}.{index + 1}.weight")
    out_channels = int(head.shape[0]) if head is not None and head.shape[2] == 7 else None
    return ngf, down, blocks, up, in_channels, out_channels


def infer_pix2pixhd(G: StateDict, D: Optional[StateDict], E: Optional[StateDict],
                    options: Dict[str, str]) -> dict:
    if not G.has("model.1.weight"):
        raise ValueError(f"{G.source}: no 'model.1.weight': not a pix2pixHD generator checkpoint")
    n_local = len(_indices(G, r"model(\d+)_1\."))
    ngf_g1, down, blocks, up, in_channels, _ = _sequential_shape(G, "model")
    if n_local:
        ngf = int(G.tensors["model1_1.1.weight"].shape[0]) // 2 ** (n_local - 1)
        n_blocks_local = len(_indices(G, r"model1_2\.(\d+)\.conv_block\."))
        if ngf * 2 ** n_local != ngf_g1:
            raise ValueError(f"{G.source}: G1 width {ngf_g1} is not ngf {ngf} * 2**{n_local}")
    else:
        ngf, n_blocks_local = ngf_g1, 3
    if down != up:
        raise ValueError(f"{G.source}: {down} downsamplings but {up} upsamplings in G1")
    model = dict(ngf=ngf, n_downsample_global=down, n_blocks_global=blocks,
                 n_local_enhancers=n_local, n_blocks_local=n_blocks_local)
    feat_num = 0
    if E is not None:
        nef, e_down, _, e_up, e_in, feat_num = _sequential_shape(E, "model")
        if e_in != 3 or feat_num is None:
            raise ValueError(f"{E.source}: not a pix2pixHD feature encoder (input {e_in} channels)")
        model.update(use_features=True, feat_num=feat_num, nef=nef, n_downsample_E=e_down)
    if D is not None:
        scales = _indices(D, r"scale(\d+)_layer0\.")
        if not scales:
            raise ValueError(f"{D.source}: no 'scale<i>_layer<j>' keys: not a pix2pixHD "
                             "MultiscaleDiscriminator checkpoint (trained with getIntermFeat?)")
        layers = _indices(D, r"scale0_layer(\d+)\.")
        model.update(num_D=len(scales), n_layers_D=len(layers) - 2,
                     ndf=int(D.tensors["scale0_layer0.0.weight"].shape[0]))
    label_nc = opt_number(options, "label_nc", int)
    no_instance = options.get("no_instance")
    return {"model": model, "in_channels": in_channels, "feat_num": feat_num,
            "label_nc": label_nc,
            "no_instance": None if no_instance is None else no_instance.strip() == "True",
            "dataroot": options.get("dataroot")}


def _global(sd: StateDict, g1, prefix: str):
    """A GlobalGenerator's layers from ``prefix.<i>`` (pad/conv/norm/relu triples)."""
    sd.conv(g1.conv_in.conv, f"{prefix}.1", bias_cancelled=True)
    index = 4
    for layer in g1.downs:
        sd.conv(layer.conv, f"{prefix}.{index}", bias_cancelled=True)
        index += 3
    for block in g1.blocks:
        sd.conv(block.conv_0, f"{prefix}.{index}.conv_block.1", bias_cancelled=True)
        sd.conv(block.conv_1, f"{prefix}.{index}.conv_block.5", bias_cancelled=True)
        index += 1
    for layer in g1.ups:
        sd.conv_transpose(layer.conv, f"{prefix}.{index}", bias_cancelled=True)
        index += 3
    if g1.head is not None:
        sd.conv(g1.head.conv, f"{prefix}.{index + 1}")


def load_pix2pixhd_weights(model, G: StateDict, D: Optional[StateDict] = None,
                           E: Optional[StateDict] = None) -> None:
    gen = model.generator
    _global(G, gen.global_generator, "model")
    for n, (front, back) in enumerate(gen.enhancers, start=1):
        G.conv(front[0].conv, f"model{n}_1.1", bias_cancelled=True)
        G.conv(front[1].conv, f"model{n}_1.4", bias_cancelled=True)
        blocks = [layer for layer in back if hasattr(layer, "conv_0")]
        for i, block in enumerate(blocks):
            G.conv(block.conv_0, f"model{n}_2.{i}.conv_block.1", bias_cancelled=True)
            G.conv(block.conv_1, f"model{n}_2.{i}.conv_block.5", bias_cancelled=True)
        up = back[len(blocks)]
        G.conv_transpose(up.conv, f"model{n}_2.{len(blocks)}", bias_cancelled=True)
        if len(back) > len(blocks) + 1:
            G.conv(back[-1].conv, f"model{n}_2.{len(blocks) + 4}")
    G.finish()
    if D is not None:
        num_D = len(model.discriminator.discriminators)
        for i, disc in enumerate(model.discriminator.discriminators):
            last = len(disc.blocks) - 1
            for j, block in enumerate(disc.blocks):
                prefix = f"scale{num_D - 1 - i}_layer{j}.0"
                D.conv(block[0], prefix, bias_cancelled=0 < j < last)
        D.finish()
    if E is not None:
        _global(E, model.encoder.net, "model")
        E.finish()
