"""Photos from label maps and label maps from seeds: the library behind
``python -m tfsem.generate`` (see that module for the files written)."""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf

from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import resize_map, resize_photo
from tfsem.data.readers import DataError, read_image, read_instance, read_label
from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
from tfsem.fileio import check_outputs
from tfsem.inference.feature_clusters import load_run_clusters
from tfsem.runs import load_run

__all__ = ["generate_images", "generate_label_maps", "label_inputs", "png_files",
           "raw_label_ids", "stem", "style_photo", "write_label_maps"]

_LABEL_SUFFIXES = ("_gtFine_labelIds", "_labelIds")


def png_files(path, what):
    """The PNG files of a file or folder path (sorted); a clear error if none."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".png"))
        if not files:
            raise FileNotFoundError(f"{path}: no .png {what} in this folder")
        return files
    if os.path.isfile(path):
        return [path]
    raise FileNotFoundError(f"{path}: {what} not found")


def stem(path):
    """A label/instance file's name without the Cityscapes suffixes."""
    name = os.path.splitext(os.path.basename(path))[0]
    for suffix in _LABEL_SUFFIXES + ("_gtFine_instanceIds", "_instanceIds"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def generate_images(model_path, labels, out, instances=None, style=None, seed=0,
                    config_path=None, stream=None, features=None, cluster="0", variants=1,
                    precision="auto"):
    """Photos from label-id PNGs (``python -m tfsem.generate --labels``);
    returns the list of written image paths. ``precision``: ``tfsem.precision``."""
    stream = stream or sys.stdout
    if cluster != "random" and not str(cluster).lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer or 'random', got {cluster!r}")
    config, model = load_run(model_path, config_path, precision)
    if not model.conditional:
        raise ValueError(f"{model_path} is a {type(model).__name__} model: it samples label "
                         "maps from noise; pass --num N (and --seed S) instead of --labels")
    space = load_label_space(config.data.label_space)
    dont_care = config.data.dont_care
    label_files = png_files(labels, "label maps")
    instance_files = {}
    if instances:
        instance_files = {stem(p): p for p in png_files(instances, "instance maps")}
    elif model.use_instances:
        print("note: no --instances given; the label maps stand in for instance maps "
              "(edges follow class boundaries)", file=stream)
    photo = None
    if style:
        if not (model.use_vae or model.use_features):
            raise ValueError("--style needs a VAE model (use_vae) or a pix2pixHD model with "
                             "instance features (use_features)")
        photo = style_photo(read_image(style), model.image_size)
    clusters = None
    if model.use_features and photo is None:
        clusters = load_run_clusters(model_path, features)
        if variants > 1:
            cluster = "random"
    elif variants > 1 or features:
        raise ValueError("--variants/--features need a pix2pixHD model trained with "
                         "use_features: true")

    grid_path = os.path.join(out, "grid.png")
    check_outputs([(grid_path, "the grid")] + [
        (os.path.join(out, stem(path) + (f"_v{v}" if v else "") + ".png"), path)
        for path in label_files for v in range(max(1, variants))],
        label_files + list(instance_files.values()) + [style])
    written, rows = [], []
    for path in label_files:
        raw = read_label(path)
        inst = raw
        if model.use_instances:
            inst_path = instance_files.get(stem(path))
            if instances and inst_path is None:
                raise DataError(path, f"no instance map with the same stem in {instances}")
            inst = read_instance(inst_path) if inst_path else raw
            if inst.shape != raw.shape:
                raise DataError(inst_path, f"instance map is {inst.shape[1]}x{inst.shape[0]}, "
                                           f"label map is {raw.shape[1]}x{raw.shape[0]}")
        label, instance = label_inputs(model, space, dont_care, raw, inst, path)
        row = [label_to_rgb(label[0].numpy(), space, dont_care)]
        for v in range(max(1, variants)):
            inputs = model.inference_inputs(label, instance, style=photo, seed=seed + v,
                                            clusters=clusters, cluster=cluster)
            image = image_to_uint8(model(inputs, training=False)[0].numpy())
            target = os.path.join(out, stem(path) + (f"_v{v}" if v else "") + ".png")
            save_png(image, target)
            written.append(target)
            row.append(image)
            print(f"wrote {target}", file=stream)
        rows.append(row)
    save_png(make_grid(rows, max_width=2048), grid_path)
    print(f"wrote {grid_path} (label | generated)", file=stream)
    return written


def style_photo(image, size):
    """A style photo uint8 [H, W, 3] as the model's input [1, h, w, 3]: prepared as
    the data pipeline prepares photos, resized to ``size``, then [-1, 1]."""
    photo = resize_photo(np.asarray(image)[None], size)
    return tf.clip_by_value(photo / 127.5 - 1.0, -1.0, 1.0)


def raw_label_ids(labels, space):
    """Class indices -> raw label ids as a PNG-ready array (uint8, or uint16
    for ids above 255); ids below 0 (Cityscapes' license plate, -1) are
    written as the don't-care id, or 0 as in Cityscapes labelIds files."""
    raw = space.decode(labels)
    raw = np.where(raw < 0, space.dont_care_id if space.dont_care_id is not None else 0, raw)
    return raw.astype(np.uint8 if raw.max(initial=0) <= 255 else np.uint16)


def write_label_maps(labels, stems, out, space, dont_care, stream=None):
    """Writes ``out/label/<stem>_gtFine_labelIds.png`` (raw ids) and
    ``out/color/<stem>_gtFine_color.png`` per map; returns the label paths."""
    written = []
    for label, stem in zip(labels, stems):
        path = os.path.join(out, "label", f"{stem}_gtFine_labelIds.png")
        save_png(raw_label_ids(label, space), path)
        save_png(label_to_rgb(label, space, dont_care),
                 os.path.join(out, "color", f"{stem}_gtFine_color.png"))
        written.append(path)
        if stream is not None:
            print(f"wrote {path}", file=stream)
    return written


def generate_label_maps(model_path, out, num=16, seed=0, config_path=None, stream=None,
                        batch_size=16, precision="auto"):
    """Label maps from seeds (SemGAN / its baseline, ``python -m tfsem.generate
    --num``); returns the label paths."""
    stream = stream or sys.stdout
    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    config, model = load_run(model_path, config_path, precision)
    if model.conditional:
        raise ValueError(f"{model_path} is a {type(model).__name__} model: it renders photos "
                         "from label maps; pass --labels PNG_or_FOLDER instead of --num")
    space, dont_care = load_label_space(config.data.label_space), config.data.dont_care
    seeds = list(range(seed, seed + num))
    labels, outputs = model.sample_label_maps(seeds, batch_size)
    stems = [f"sample_{s:06d}" for s in seeds]
    written = write_label_maps(labels, stems, out, space, dont_care, stream)
    rows = []
    for i, label in enumerate(labels):
        row = [label_to_rgb(label, space, dont_care)]
        if model.outputs_colors:
            raw = image_to_uint8(outputs[i])
            save_png(raw, os.path.join(out, "raw", f"{stems[i]}_raw.png"))
            row.insert(0, raw)
        rows.append(row)
    per_row = 4 if not model.outputs_colors else 2
    grid_rows = [sum(rows[r:r + per_row], []) for r in range(0, len(rows), per_row)]
    save_png(make_grid(grid_rows, max_width=2048), os.path.join(out, "grid.png"))
    what = "raw colours | snapped label map" if model.outputs_colors else "label maps"
    print(f"wrote {os.path.join(out, 'grid.png')} ({what})", file=stream)
    return written


def label_inputs(model, space, dont_care, raw, instance, where):
    """(class indices [1,H,W], instance ids [1,H,W] or None) of one raw label
    map (and its instance map), resized (nearest) to the model's size, for
    ``model.inference_inputs``; bad ids -> DataError naming ``where``."""
    try:
        label = resize_map(space.encode(raw, dont_care)[None], model.image_size)
    except ValueError as err:
        raise DataError(where, str(err)) from None
    if not model.use_instances:
        return label, None
    return label, resize_map(instance[None], model.image_size)
