"""NVlabs/SPADE checkpoints -> ``tfsem.models.GauGAN``.

Architecture from the tensors (ngf, VAE, z_dim, spectral norm, param-free
norm, semantic channels, discriminator scales/layers/ndf, encoder) and, for
what tensors cannot tell (``num_upsampling_layers`` normal vs more, image
size), from ``opt.txt`` or else the official dataset defaults
(``data/cityscapes_dataset.py``: ``more``, 512x256; ``coco`` and ``ade20k``:
``normal``, 256x256).
"""

from __future__ import annotations

import re
from typing import Dict, Optional

from tfsem.convert.state_dict import StateDict, nchw_to_nhwc_order, opt_number

__all__ = ["DATASET_DEFAULTS", "infer_multiscale_discriminator", "infer_spade",
           "load_multiscale_discriminator", "load_spade_weights"]

#: NVlabs/SPADE dataset options (data/*_dataset.py ``modify_commandline_options``):
#: label space, num_upsampling_layers, (height, width) = (crop / aspect, crop).
DATASET_DEFAULTS = {
    "cityscapes": {"label_space": "cityscapes", "num_upsampling_layers": "more",
                   "image_size": (256, 512), "use_instances": True, "source": "cityscapes"},
    "coco": {"label_space": "coco_stuff", "num_upsampling_layers": "normal",
             "image_size": (256, 256), "use_instances": True, "source": "folder"},
    "ade20k": {"label_space": "ade20k", "num_upsampling_layers": "normal",
               "image_size": (256, 256), "use_instances": False, "source": "folder"},
}
_BLOCKS = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3", "up_4")


def _conv_weight(sd: StateDict, prefix: str):
    for key in (prefix + ".weight_orig", prefix + ".weight"):
        if sd.has(key):
            return sd.tensors[key]
    raise ValueError(f"{sd.source}: missing key {prefix + '.weight'!r} (or its spectral "
                     "'weight_orig'): not a SPADE generator checkpoint")


def _bool(text: Optional[str]) -> Optional[bool]:
    return None if text is None else text.strip() == "True"


def infer_spade(G: StateDict, D: Optional[StateDict], E: Optional[StateDict],
                options: Dict[str, str]) -> dict:
    """Returns {"model": GauGAN kwargs, "dataset": mode, "image_size", "semantic_nc", ...}."""
    head = _conv_weight(G, "head_0.conv_0")
    ngf = head.shape[0] // 16
    fc = G.tensors.get("fc.weight")
    if fc is None:
        raise ValueError(f"{G.source}: no 'fc.weight': not a SPADE generator checkpoint")
    use_vae = fc.ndim == 2
    semantic_nc = int(G.tensors["head_0.norm_0.mlp_shared.0.weight"].shape[1])
    hidden = int(G.tensors["head_0.norm_0.mlp_shared.0.weight"].shape[0])
    kernel = int(G.tensors["head_0.norm_0.mlp_shared.0.weight"].shape[2])
    if kernel != 3:
        raise ValueError(f"{G.source}: SPADE kernel {kernel}x{kernel} (norm_G spade*{kernel}x"
                         f"{kernel}); tfsem's SPADE blocks are 3x3")
    spectral_g = G.has("head_0.conv_0.weight_orig")
    norm_g = "sync_batch" if G.has("head_0.norm_0.param_free_norm.running_mean") else "instance"
    if options.get("norm_G") and "instance" in options["norm_G"]:
        norm_g = "instance"
    most = G.has("up_4.conv_0.weight_orig") or G.has("up_4.conv_0.weight")
    dataset = options.get("dataset_mode")
    if dataset not in DATASET_DEFAULTS:
        dataset = {36: "cityscapes", 184: "coco", 151: "ade20k"}.get(semantic_nc, dataset)
    defaults = DATASET_DEFAULTS.get(dataset, {})
    upsampling = "most" if most else options.get(
        "num_upsampling_layers", defaults.get("num_upsampling_layers", "normal"))
    if upsampling not in ("normal", "more", "most") or (upsampling == "most") != most:
        raise ValueError(f"{G.source}: num_upsampling_layers {upsampling!r} does not fit the "
                         f"checkpoint ({'has' if most else 'has no'} up_4 block)")
    image_size = None
    if "crop_size" in options:
        width = opt_number(options, "crop_size", int)
        aspect = opt_number(options, "aspect_ratio", float, 1.0)
        image_size = (int(round(width / aspect)), width)
    model = dict(ngf=int(ngf), num_upsampling_layers=upsampling, norm_G=norm_g,
                 spectral_norm_G=spectral_g, hidden_channels=hidden, use_vae=use_vae,
                 z_dim=int(fc.shape[1]) if use_vae else 256)
    if D is not None:
        model.update(infer_multiscale_discriminator(D))
    if E is not None:
        if not use_vae:
            raise ValueError(f"{E.source}: an encoder checkpoint next to a generator without "
                             "VAE input (fc is a conv): they do not belong together")
        width = _conv_weight(E, "layer1.0").shape[0]
        if width != ngf:
            raise ValueError(f"{E.source}: encoder width {width} differs from the generator's "
                             f"ngf {ngf}; SPADE builds both from --ngf")
        if not (E.has("layer6.0.weight_orig") or E.has("layer6.0.weight")):
            raise ValueError(f"{E.source}: the encoder has no layer6 (trained with crop_size < "
                             "256); tfsem's ConvEncoder has the 6-layer shape of 256x256 input")
        model["spectral_norm_E"] = E.has("layer1.0.weight_orig")
        model["z_dim"] = int(E.tensors["fc_mu.weight"].shape[0])
    return {"model": model, "dataset": dataset, "image_size": image_size,
            "semantic_nc": semantic_nc, "defaults": defaults,
            "latent_pixels": int(fc.shape[0]) // (16 * ngf) if use_vae else None,
            "label_nc": opt_number(options, "label_nc", int),
            "contain_dontcare_label": _bool(options.get("contain_dontcare_label")),
            "no_instance": _bool(options.get("no_instance")),
            "dataroot": options.get("dataroot")}


def _spade_norm(sd: StateDict, layer, prefix: str):
    if hasattr(layer.param_free_norm, "moving_mean"):
        sd.batch_norm_stats(layer.param_free_norm, prefix + ".param_free_norm")
    sd.conv(layer.mlp_shared, prefix + ".mlp_shared.0")
    sd.conv(layer.mlp_gamma, prefix + ".mlp_gamma")
    sd.conv(layer.mlp_beta, prefix + ".mlp_beta")


def _res_block(sd: StateDict, block, prefix: str):
    sd.any_conv(block.conv_0, prefix + ".conv_0")
    sd.any_conv(block.conv_1, prefix + ".conv_1")
    _spade_norm(sd, block.norm_0, prefix + ".norm_0")
    _spade_norm(sd, block.norm_1, prefix + ".norm_1")
    if block.learned_shortcut:
        sd.any_conv(block.conv_s, prefix + ".conv_s")
        _spade_norm(sd, block.norm_s, prefix + ".norm_s")


def load_multiscale_discriminator(discriminator, D: StateDict) -> None:
    """SPADE's ``MultiscaleDiscriminator`` tensors (SEAN's too) -> a built
    ``MultiScaleDiscriminator``; every key must be used."""
    for i, disc in enumerate(discriminator.discriminators):
        last = len(disc.blocks) - 1
        for n, block in enumerate(disc.blocks):
            prefix = f"discriminator_{i}.model{n}"
            if n == 0 or n == last:
                D.conv(block[0], prefix + ".0")
            else:  # Sequential(Sequential(conv, norm), LeakyReLU)
                D.any_conv(block[0], prefix + ".0.0")
    D.finish()


def infer_multiscale_discriminator(D: StateDict) -> dict:
    """num_D, n_layers_D, ndf and spectral_norm_D of a ``MultiscaleDiscriminator``."""
    scales = sorted({int(m.group(1)) for k in D.tensors
                     for m in [re.match(r"discriminator_(\d+)\.", k)] if m})
    if not scales:
        raise ValueError(f"{D.source}: no 'discriminator_<i>.' keys: not a SPADE-style "
                         "MultiscaleDiscriminator checkpoint")
    layers = sorted({int(m.group(1)) for k in D.tensors
                     for m in [re.match(r"discriminator_0\.model(\d+)\.", k)] if m})
    return dict(num_D=len(scales), n_layers_D=len(layers) - 1,
                ndf=int(D.tensors["discriminator_0.model0.0.weight"].shape[0]),
                spectral_norm_D=D.has("discriminator_0.model1.0.0.weight_orig"))


def load_spade_weights(model, G: StateDict, D: Optional[StateDict] = None,
                       E: Optional[StateDict] = None) -> None:
    """Assigns the official tensors to a built ``GauGAN``; every key must be used."""
    gen = model.generator
    if gen.use_vae:
        h, w = gen.latent_size
        order = nchw_to_nhwc_order(16 * gen.ngf, h, w)  # fc(z).view(-1, 16 * nf, sh, sw)
        G.dense(gen.fc, "fc", out_perm=order)
    else:
        G.conv(gen.fc, "fc")
    blocks = [gen.head_0, gen.g_middle_0, gen.g_middle_1] + list(gen.up_blocks)
    for name, block in zip(_BLOCKS, blocks):
        _res_block(G, block, name)
    G.conv(gen.conv_img, "conv_img")
    G.finish()
    if D is not None:
        load_multiscale_discriminator(model.discriminator, D)
    if E is not None:
        enc = model.encoder
        for i, (conv, _norm) in enumerate(enc.blocks, start=1):
            E.any_conv(conv, f"layer{i}.0")
        channels = enc.blocks[-1][0].filters
        order = nchw_to_nhwc_order(channels, 4, 4)  # x.view(B, -1) of [B, 8 ndf, 4, 4]
        E.dense(enc.fc_mu, "fc_mu", in_perm=order)
        E.dense(enc.fc_var, "fc_var", in_perm=order)
        E.finish()
