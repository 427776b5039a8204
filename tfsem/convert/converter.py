"""Official SPADE / SEAN / pix2pixHD / pix2pix checkpoints -> an ordinary tfsem run directory.

``convert_checkpoint`` reads ``latest_net_G.pth`` (+ ``_D``, ``_E`` beside it)
and ``opt.txt`` when present, infers the architecture, builds the tfsem task,
loads every tensor (refusing missing or unexpected keys and shape
mismatches), and writes ``config.json``, ``model.keras`` and
``provenance.json`` atomically: the run dir appears whole or not at all.
The result works with ``tfsem.generate``, ``tfsem.evaluate``,
``tfsem.export``, ``tfsem.dream --renderer`` and ``train.init_from``.
"""

from __future__ import annotations

import datetime
import glob
import json
import logging
import os
import shutil
import tempfile
from typing import Dict, Optional, Sequence, Tuple

from tfsem import registry
from tfsem.convert.state_dict import StateDict, load_state_dict, read_opt_file, sha256_of

__all__ = ["FAMILIES", "CheckpointFiles", "convert_checkpoint", "convert_model",
           "find_checkpoint_files", "save_converted"]

#: The official checkpoints this converts (``tfsem.registry``: each family's ``checkpoint``).
FAMILIES = tuple(registry.official_checkpoints())
log = logging.getLogger("tfsem.convert")
#: checkpoint name -> the official code that wrote it
REFERENCES = {name: f.official_code for name, f in registry.official_checkpoints().items()}
#: pix2pix's unet_256 models (the paper's Cityscapes and facades settings).
PIX2PIX_IMAGE_SIZE = (256, 256)
#: pix2pixHD's released Cityscapes models: label2city_512p (G1, scale_width 1024)
#: and label2city_1024p (local enhancer, full 2048x1024).
PIX2PIXHD_IMAGE_SIZE = {0: (512, 1024), 1: (1024, 2048)}


class CheckpointFiles(dict):
    """name ("G", "D", "E", "opt") -> path of the files found."""


def find_checkpoint_files(path: str) -> CheckpointFiles:
    """``latest_net_G.pth`` in a folder (or the G file itself) and its D, E, opt.txt."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        found = sorted(glob.glob(os.path.join(path, "*_net_G.pth")))
        if not found:
            raise FileNotFoundError(f"{path}: no *_net_G.pth generator checkpoint in this folder")
        g_file = os.path.join(path, "latest_net_G.pth")
        if g_file not in found:
            if len(found) > 1:
                raise ValueError(f"{path}: several generator checkpoints "
                                 f"({', '.join(os.path.basename(f) for f in found)}) and no "
                                 "latest_net_G.pth: pass the file to convert")
            g_file = found[0]
    elif os.path.isfile(path):
        g_file = path
        if not g_file.endswith("_net_G.pth"):
            raise ValueError(f"{path}: expected a generator checkpoint named *_net_G.pth "
                             "(the official code's naming), or its folder")
    else:
        raise FileNotFoundError(f"{path}: no such checkpoint file or folder")
    files = CheckpointFiles(G=g_file)
    stem = g_file[:-len("_net_G.pth")]
    for tag in ("D", "E"):
        if os.path.isfile(f"{stem}_net_{tag}.pth"):
            files[tag] = f"{stem}_net_{tag}.pth"
    opt = os.path.join(os.path.dirname(g_file), "opt.txt")
    if os.path.isfile(opt):
        files["opt"] = opt
    return files


def _detect_family(G: StateDict) -> str:
    from tfsem.convert.sean import is_sean

    if is_sean(G):
        return "sean"
    if G.has("fc.weight") and any(k.startswith("head_0.") for k in G.tensors):
        return "spade"
    if G.has("model.1.weight"):
        return "pix2pixhd"
    if G.has("model.model.0.weight"):
        return "pix2pix"
    raise ValueError(f"{G.source}: neither a SPADE generator (fc, head_0, ...), a SEAN "
                     "generator (fc, head_0, Zencoder), a pix2pixHD generator (model.<i>) nor a "
                     "pix2pix U-Net (model.model.<i>)")


def _semantic_settings(space_name: str, channels: int, opt_dontcare: Optional[bool],
                       opt_no_instance: Optional[bool], where: str) -> Tuple[str, bool]:
    """(dont_care mode, use_instances) that give ``channels`` input channels."""
    from tfsem.data.labels import load_label_space

    space = load_label_space(space_name)
    fits = []
    for dont_care in ("extra_class", "zero"):
        for instances in (True, False):
            if space.num_channels(dont_care) + int(instances) == channels:
                fits.append((dont_care, instances))
    if opt_dontcare is not None:
        fits = [f for f in fits if (f[0] == "extra_class" and space.dont_care_id is not None)
                == opt_dontcare] or fits
    if opt_no_instance is not None:
        fits = [f for f in fits if f[1] == (not opt_no_instance)] or fits
    if not fits:
        raise ValueError(
            f"{where}: the network takes {channels} semantic channels, but the {space_name!r} "
            f"label space gives {space.num_channels('extra_class')} (+1 with instance edges); "
            "pass the checkpoint's --label-space")
    return fits[0]


def _build_config(name, family, model_kwargs, space, dont_care, use_instances, image_size,
                  source, root, ade20k_layout):
    from tfsem.config import (DataConfig, ExperimentConfig, FolderLayoutConfig, GauGANConfig,
                              ModelConfig, Pix2PixConfig, Pix2PixHDConfig, PreprocessConfig,
                              SEANConfig, TrainConfig)

    folders = (FolderLayoutConfig(label_dir="annotations/{split}", image_dir="images/{split}")
               if ade20k_layout else FolderLayoutConfig())
    data = DataConfig(source=source, root=root, split="training" if ade20k_layout else "train",
                      label_space=space, dont_care=dont_care, use_instances=use_instances,
                      batch_size=1, folders=folders,
                      preprocess=PreprocessConfig(resize_to=tuple(image_size), flip=True))
    type_, section = {"spade": ("gaugan", GauGANConfig), "pix2pixhd": ("pix2pixhd", Pix2PixHDConfig),
                      "pix2pix": ("pix2pix", Pix2PixConfig),
                      "sean": ("sean", SEANConfig)}[family]
    model = ModelConfig(type=type_, section=section(**model_kwargs))
    config = ExperimentConfig(
        name=name, description=f"converted from an official {REFERENCES[family]} checkpoint "
        "(see provenance.json)", data=data, model=model, train=TrainConfig())
    config.validate()
    return config


def convert_checkpoint(checkpoint: str, out: str, family: Optional[str] = None,
                       label_space: Optional[str] = None,
                       image_size: Optional[Sequence[int]] = None,
                       data_root: Optional[str] = None, name: Optional[str] = None) -> Dict:
    """Converts an official checkpoint into the run dir ``out`` (which must not exist
    or be empty). Returns the provenance record."""
    out = _check_out(out)
    config, model, provenance = convert_model(
        checkpoint, family=family, label_space=label_space, image_size=image_size,
        data_root=data_root, name=name or os.path.basename(out.rstrip(os.sep)))
    save_converted(out, config, model, provenance)
    return provenance


def _check_out(out: str) -> str:
    out = os.path.abspath(out)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ValueError(f"{out}: already exists and is not empty; converting never "
                         "overwrites: choose another --out")
    return out


def save_converted(out: str, config, model, provenance: Dict) -> None:
    """Writes what :func:`convert_model` returned as the run dir ``out`` (which
    must not exist or be empty), atomically."""
    from tfsem.config import save_config
    from tfsem.fileio import atomic_write_text

    out = _check_out(out)
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    try:
        save_config(config, os.path.join(tmp, "config.json"))
        model.save(os.path.join(tmp, "model.keras"))
        atomic_write_text(os.path.join(tmp, "provenance.json"),
                          json.dumps(provenance, indent=1) + "\n")
        if os.path.isdir(out):
            os.rmdir(out)  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    options = provenance["options"]
    size = options["image_size"]
    log.info(f"converted {options['family']} ({', '.join(provenance['networks'])}) from "
             f"{provenance['files']['G']['path']} -> {out}")
    log.info(f"  label space {options['label_space']} ({options['dont_care']}, instances "
             f"{options['use_instances']}), image {size[0]}x{size[1]} (HxW)")


def convert_model(checkpoint: str, family: Optional[str] = None,
                  label_space: Optional[str] = None,
                  image_size: Optional[Sequence[int]] = None,
                  data_root: Optional[str] = None, name: Optional[str] = None):
    """An official checkpoint as ``(config, model, provenance)`` in memory: what
    :func:`convert_checkpoint` writes, without writing it (``name``: the config's
    name, default ``converted``)."""
    from tfsem import __version__
    from tfsem.convert import pix2pix as p2p_unet
    from tfsem.convert import pix2pixhd as p2p
    from tfsem.convert import sean, spade
    from tfsem.train.build import build_model
    from tfsem.networks.spade_generator import UPSAMPLING_LAYERS

    if family is not None and family not in FAMILIES:
        raise ValueError(f"--family must be one of {FAMILIES}, got {family!r}")
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise ValueError(f"--image-size takes H W, got {list(image_size)}")
    files = find_checkpoint_files(checkpoint)
    states = {tag: StateDict(load_state_dict(files[tag]), files[tag])
              for tag in ("G", "D", "E") if tag in files}
    options = read_opt_file(files["opt"]) if "opt" in files else {}
    detected = _detect_family(states["G"])
    if family is not None and family != detected:
        raise ValueError(f"{files['G']}: --family {family} given, but the tensors are a "
                         f"{detected} generator's")
    family = detected
    G, D, E = states["G"], states.get("D"), states.get("E")
    if family == "spade":
        info = spade.infer_spade(G, D, E, options)
        defaults = info["defaults"]
        space = label_space or defaults.get("label_space")
        if space is None:
            raise ValueError(f"{files['G']}: cannot tell the label space from "
                             f"{info['semantic_nc']} channels; pass --label-space")
        dont_care, use_instances = _semantic_settings(
            space, info["semantic_nc"], info["contain_dontcare_label"], info["no_instance"],
            files["G"])
        size = tuple(image_size or info["image_size"] or defaults.get("image_size") or ())
        if not size:
            raise ValueError(f"{files['G']}: no opt.txt and no dataset default for the image "
                             "size; pass --image-size H W")
        factor = 2 ** UPSAMPLING_LAYERS[info["model"]["num_upsampling_layers"]]
        if info["latent_pixels"] is not None and \
                (size[0] // factor) * (size[1] // factor) != info["latent_pixels"]:
            raise ValueError(
                f"{files['G']}: the VAE generator starts from {info['latent_pixels']} latent "
                f"pixels, which does not fit --image-size {size[0]} {size[1]} "
                f"({size[0] // factor}x{size[1] // factor} at 1/{factor})")
        dataset = info["dataset"]
        source = defaults.get("source", "folder")
        kwargs = info["model"]
    elif family == "sean":
        info = sean.infer_sean(G, D, options)
        space = label_space or (sean.DEFAULTS["label_space"] if info["semantic_nc"] == 19
                                else None)
        if space is None:
            raise ValueError(f"{files['G']}: a SEAN generator with {info['semantic_nc']} "
                             "semantic channels (not CelebAMask-HQ's 19); pass --label-space")
        dont_care, use_instances = _semantic_settings(
            space, info["semantic_nc"], info["contain_dontcare_label"], info["no_instance"],
            files["G"])
        size = tuple(image_size or info["image_size"] or sean.DEFAULTS["image_size"])
        dataset, source, kwargs = space, "folder", info["model"]
    elif family == "pix2pix":
        if E is not None:
            raise ValueError(f"{files['E']}: pix2pix has no encoder; remove it or convert the "
                             "generator alone")
        info = p2p_unet.infer_pix2pix(G, D)
        space = label_space or "cityscapes"
        kwargs = dict(info["model"])
        if info["in_channels"] == 3:  # the colour label images of the official datasets
            kwargs["label_input"], dont_care, use_instances = "colors", "extra_class", False
        else:
            kwargs["label_input"] = "onehot"
            dont_care, use_instances = _semantic_settings(space, info["in_channels"], None,
                                                          None, files["G"])
        size = tuple(image_size or PIX2PIX_IMAGE_SIZE)
        dataset, source = space, "folder"
    else:
        info = p2p.infer_pix2pixhd(G, D, E, options)
        space = label_space or "cityscapes"
        channels = info["in_channels"] - info["feat_num"]
        dont_care, use_instances = _semantic_settings(
            space, channels, None, info["no_instance"], files["G"])
        if E is None and info["in_channels"] > channels:
            raise ValueError(f"{files['G']}: the generator takes instance features but there is "
                             "no latest_net_E.pth next to it")
        size = tuple(image_size or PIX2PIXHD_IMAGE_SIZE.get(info["model"]["n_local_enhancers"],
                                                            ()))
        if not size:
            raise ValueError(f"{files['G']}: pass --image-size H W")
        dataset = space
        source = "folder"
        kwargs = info["model"]
    # opt.txt's dataroot is the authors' folder: used only where it exists on this machine.
    opt_root = info.get("dataroot")
    root = data_root or (opt_root if opt_root and os.path.isdir(opt_root) else
                         os.path.join("datasets", dataset or space))
    run_name = name or "converted"
    run_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in run_name)
    config = _build_config(run_name, family, kwargs, space, dont_care, use_instances, size,
                           source, root, ade20k_layout=dataset == "ade20k")
    model = build_model(config)
    model.build_networks()
    loaders = {"spade": spade.load_spade_weights, "pix2pixhd": p2p.load_pix2pixhd_weights,
               "sean": sean.load_sean_weights,
               "pix2pix": lambda model, G, D, E: p2p_unet.load_pix2pix_weights(model, G, D)}
    loaders[family](model, G, D, E)  # pix2pix has no E (refused above)
    provenance = {
        "converted_with": f"tfsem {__version__}",
        "converted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "family": family,
        "reference_code": REFERENCES[family],
        "files": {tag: {"name": os.path.basename(path), "path": path, "sha256": sha256_of(path)}
                  for tag, path in files.items()},
        "options": {"family": family, "label_space": space, "dont_care": dont_care,
                    "use_instances": use_instances, "image_size": list(size),
                    "dataset_mode": dataset},
        "opt_txt_used": sorted(k for k in options if k in (
            "dataset_mode", "num_upsampling_layers", "crop_size", "aspect_ratio", "label_nc",
            "contain_dontcare_label", "no_instance", "norm_G", "dataroot")),
        "networks": sorted(states),
    }
    return config, model, provenance
