"""``python -m tfsem.generate --model RUN_or_.keras (--labels PNG_or_FOLDER | --num N) --out DIR``.

SemGAN (and its colour baseline): ``--num N --seed S`` samples N label maps,
one per seed S..S+N-1 (a seed always gives the same map, also in the
exported model), and writes ``label/sample_<seed>_gtFine_labelIds.png``
(raw label ids, the Cityscapes labelIds format: a ``folder`` dataset with
``folders.label_dir: "label"`` trains on them), ``color/sample_<seed>_gtFine_color.png``
and ``grid.png``. The baseline also writes its raw colour output
(``raw/``), before snapping to the nearest palette colour.

Label-to-photo models render photos from label maps (label-id PNGs, e.g. Cityscapes
``*_gtFine_labelIds.png`` at 2048x1024): each map is checked against the
model's label space, resized (nearest) to the model's training size, and
rendered. Writes ``<stem>.png`` per map and ``grid.png`` (label | generated).

Options: ``--instances`` (a PNG or a folder matched by stem; without it the
label map stands in, so edges follow class boundaries), ``--style IMAGE``
(VAE models: take the style of a photo, the encoder's mean; pix2pixHD models
with instance features: encode the photo's features over the label's
instances, the official ``--use_encoded_image``), ``--seed S`` (VAE models:
the random style). Otherwise pix2pixHD models with instance features take each instance's
features from the per-class clusters of ``python -m tfsem.encode_features``
(``--features FILE``, default ``RUN/features.npz``): ``--cluster K`` (the
same cluster for every instance) or ``--cluster random`` (per instance, from
``--seed``), and ``--variants N`` renders N different photos per map
(random clusters, seeds S..S+N-1).
"""

from __future__ import annotations

import argparse
import os
import sys

from tfsem import cli

__all__ = ["generate_images", "generate_label_maps", "map_inputs", "raw_label_ids", "main",
           "sample_label_maps", "write_label_maps"]

_LABEL_SUFFIXES = ("_gtFine_labelIds", "_labelIds")


def _png_files(path, what):
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".png"))
        if not files:
            raise FileNotFoundError(f"{path}: no .png {what} in this folder")
        return files
    if os.path.isfile(path):
        return [path]
    raise FileNotFoundError(f"{path}: {what} not found")


def _stem(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    for suffix in _LABEL_SUFFIXES + ("_gtFine_instanceIds", "_instanceIds"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def generate_images(model_path, labels, out, instances=None, style=None, seed=0,
                    config_path=None, stream=sys.stdout, features=None, cluster="0", variants=1):
    """Library form of the CLI; returns the list of written image paths."""
    import tensorflow as tf

    from tfsem.data.labels import load_label_space
    from tfsem.data.preprocess import resize_photo
    from tfsem.data.readers import DataError, read_image, read_instance, read_label
    from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
    from tfsem.features import load_run_clusters, model_features
    from tfsem.runs import load_run

    config, model = load_run(model_path, config_path)
    if getattr(model, "unconditional", False):
        raise ValueError(f"{model_path} is a {type(model).__name__} model: it samples label "
                         "maps from noise; pass --num N (and --seed S) instead of --labels")
    space = load_label_space(config.data.label_space)
    dont_care = config.data.dont_care
    label_files = _png_files(labels, "label maps")
    instance_files = {}
    if instances:
        instance_files = {_stem(p): p for p in _png_files(instances, "instance maps")}
    elif getattr(model, "use_instances", False):
        print("note: no --instances given; the label maps stand in for instance maps "
              "(edges follow class boundaries)", file=stream)
    z = photo = None
    if style:
        # Prepared as the data pipeline prepares photos: resized, then [-1, 1].
        photo = resize_photo(read_image(style)[None], model.image_size)
        photo = tf.clip_by_value(photo / 127.5 - 1.0, -1.0, 1.0)
    if getattr(model, "use_vae", False):
        if photo is not None:
            z, _ = model.encode(photo)
        else:
            z = tf.random.stateless_normal([1, model.z_dim], seed=[int(seed), 0])
    elif style and not getattr(model, "use_features", False):
        raise ValueError("--style needs a VAE model (use_vae) or a pix2pixHD model with "
                         "instance features (use_features)")
    clusters = None
    if getattr(model, "use_features", False) and photo is None:
        clusters = load_run_clusters(model_path, features)
        if variants > 1:
            cluster = "random"
    elif variants > 1 or features:
        raise ValueError("--variants/--features need a pix2pixHD model trained with "
                         "use_features: true")

    written, rows = [], []
    for path in label_files:
        raw = read_label(path)
        inst = raw
        if getattr(model, "use_instances", False):
            inst_path = instance_files.get(_stem(path))
            if instances and inst_path is None:
                raise DataError(path, f"no instance map with the same stem in {instances}")
            inst = read_instance(inst_path) if inst_path else raw
            if inst.shape != raw.shape:
                raise DataError(inst_path, f"instance map is {inst.shape[1]}x{inst.shape[0]}, "
                                           f"label map is {raw.shape[1]}x{raw.shape[0]}")
        inputs = map_inputs(model, space, dont_care, raw, inst, path)
        label = inputs["label"]
        if z is not None:
            inputs["z"] = z
        elif photo is not None:  # pix2pixHD: the photo's own instance features
            inputs["image"] = photo
        row = [label_to_rgb(label[0].numpy(), space, dont_care)]
        for v in range(max(1, variants)):
            if clusters is not None:
                inputs["features"] = model_features(model, inputs, clusters, cluster, seed + v)
            image = image_to_uint8(model(inputs, training=False)[0].numpy())
            target = os.path.join(out, _stem(path) + (f"_v{v}" if v else "") + ".png")
            save_png(image, target)
            written.append(target)
            row.append(image)
            print(f"wrote {target}", file=stream)
        rows.append(row)
    save_png(make_grid(rows, max_width=2048), os.path.join(out, "grid.png"))
    print(f"wrote {os.path.join(out, 'grid.png')} (label | generated)", file=stream)
    return written


def sample_label_maps(model, seeds, batch_size=16):
    """(class indices int32 [N,H,W], raw outputs [N,H,W,C]) of a label-map
    model for int ``seeds`` (one sample per seed)."""
    import numpy as np

    labels, outputs = [], []
    for start in range(0, len(seeds), batch_size):
        z = model.latent_for_seeds(list(seeds[start:start + batch_size]))
        output = model(z, training=False)
        labels.append(model.labels_from_output(output).numpy())
        outputs.append(output.numpy())
    return np.concatenate(labels), np.concatenate(outputs)


def raw_label_ids(labels, space):
    """Class indices -> raw label ids as a PNG-ready array (uint8, or uint16
    for ids above 255); ids below 0 (Cityscapes' license plate, -1) are
    written as the don't-care id, or 0 as in Cityscapes labelIds files."""
    import numpy as np

    raw = space.decode(labels)
    raw = np.where(raw < 0, space.dont_care_id if space.dont_care_id is not None else 0, raw)
    return raw.astype(np.uint8 if raw.max(initial=0) <= 255 else np.uint16)


def write_label_maps(labels, stems, out, space, dont_care, stream=None):
    """Writes ``out/label/<stem>_gtFine_labelIds.png`` (raw ids) and
    ``out/color/<stem>_gtFine_color.png`` per map; returns the label paths."""
    from tfsem.data.visualize import label_to_rgb, save_png

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


def generate_label_maps(model_path, out, num=16, seed=0, config_path=None, stream=sys.stdout,
                        batch_size=16):
    """Library form of the CLI for SemGAN / its baseline; returns the label paths."""
    from tfsem.data.labels import load_label_space
    from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
    from tfsem.runs import load_run

    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    config, model = load_run(model_path, config_path)
    if not getattr(model, "unconditional", False):
        raise ValueError(f"{model_path} is a {type(model).__name__} model: it renders photos "
                         "from label maps; pass --labels PNG_or_FOLDER instead of --num")
    space, dont_care = load_label_space(config.data.label_space), config.data.dont_care
    seeds = list(range(seed, seed + num))
    labels, outputs = sample_label_maps(model, seeds, batch_size)
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


def map_inputs(model, space, dont_care, raw, instance, where):
    """Model inputs ``{"label", ["instance"]}`` of one raw label map (and its
    instance map), resized (nearest) to the model's size; bad ids -> DataError
    naming ``where``."""
    from tfsem.data.preprocess import resize_map
    from tfsem.data.readers import DataError

    try:
        label = resize_map(space.encode(raw, dont_care)[None], model.image_size)
    except ValueError as err:
        raise DataError(where, str(err)) from None
    inputs = {"label": label}
    if getattr(model, "use_instances", False):
        inputs["instance"] = resize_map(instance[None], model.image_size)
    return inputs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.generate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory or .keras file")
    parser.add_argument("--labels", default=None,
                        help="label-to-photo models: label-id PNG or folder of them")
    parser.add_argument("--num", type=int, default=None,
                        help="SemGAN: label maps to sample (seeds SEED..SEED+NUM-1)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--instances", default=None, help="instance-id PNG or folder (by stem)")
    parser.add_argument("--style", default=None,
                        help="style photo (VAE models; pix2pixHD with instance features: "
                             "its encoded features)")
    parser.add_argument("--seed", type=int, default=0,
                        help="first sample's seed (SemGAN) / random style seed (VAE models)")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--features", default=None,
                        help="pix2pixHD: clusters file (default: RUN/features.npz)")
    parser.add_argument("--cluster", default="0",
                        help="pix2pixHD: cluster index for every instance, or 'random'")
    parser.add_argument("--variants", type=int, default=1,
                        help="pix2pixHD: photos per label map (random clusters)")
    args = parser.parse_args(argv)
    if (args.labels is None) == (args.num is None):
        raise ValueError("pass --labels (label-to-photo models) or --num (SemGAN), not "
                         + ("both" if args.labels else "neither"))
    if args.num is not None:
        generate_label_maps(args.model, args.out, args.num, args.seed, args.config)
        return 0
    if args.cluster != "random" and not args.cluster.lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer or 'random', got {args.cluster!r}")
    generate_images(args.model, args.labels, args.out, args.instances, args.style, args.seed,
                    args.config, features=args.features, cluster=args.cluster,
                    variants=args.variants)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
