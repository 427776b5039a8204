"""``python -m tfsem.generate --model RUN_or_.keras --labels PNG_or_FOLDER --out DIR``.

Renders photos from label maps (label-id PNGs, e.g. Cityscapes
``*_gtFine_labelIds.png`` at 2048x1024): each map is checked against the
model's label space, resized (nearest) to the model's training size, and
rendered. Writes ``<stem>.png`` per map and ``grid.png`` (label | generated).

Options: ``--instances`` (a PNG or a folder matched by stem; without it the
label map stands in, so edges follow class boundaries), ``--style IMAGE``
(VAE models: take the style of a photo), ``--seed S`` (VAE models: the
random style). pix2pixHD models with instance features take each instance's
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

__all__ = ["generate_images", "map_inputs", "main"]

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
    from tfsem.data.readers import DataError, read_image, read_instance, read_label
    from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
    from tfsem.features import load_run_clusters, model_features
    from tfsem.runs import load_run

    config, model = load_run(model_path, config_path)
    space = load_label_space(config.data.label_space)
    dont_care = config.data.dont_care
    label_files = _png_files(labels, "label maps")
    instance_files = {}
    if instances:
        instance_files = {_stem(p): p for p in _png_files(instances, "instance maps")}
    elif getattr(model, "use_instances", False):
        print("note: no --instances given; the label maps stand in for instance maps "
              "(edges follow class boundaries)", file=stream)
    z = None
    if getattr(model, "use_vae", False):
        if style:
            photo = read_image(style).astype("float32") / 127.5 - 1.0
            photo = tf.image.resize(photo[None], model.image_size, method="bilinear")
            z, _ = model.encode(photo)
        else:
            z = tf.random.stateless_normal([1, model.z_dim], seed=[int(seed), 0])
    elif style:
        raise ValueError("--style needs a model trained with use_vae=true")
    clusters = None
    if getattr(model, "use_features", False):
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
    parser.add_argument("--labels", required=True, help="label-id PNG or folder of them")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--instances", default=None, help="instance-id PNG or folder (by stem)")
    parser.add_argument("--style", default=None, help="style photo (VAE models)")
    parser.add_argument("--seed", type=int, default=0, help="random style seed (VAE models)")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--features", default=None,
                        help="pix2pixHD: clusters file (default: RUN/features.npz)")
    parser.add_argument("--cluster", default="0",
                        help="pix2pixHD: cluster index for every instance, or 'random'")
    parser.add_argument("--variants", type=int, default=1,
                        help="pix2pixHD: photos per label map (random clusters)")
    args = parser.parse_args(argv)
    if args.cluster != "random" and not args.cluster.lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer or 'random', got {args.cluster!r}")
    generate_images(args.model, args.labels, args.out, args.instances, args.style, args.seed,
                    args.config, features=args.features, cluster=args.cluster,
                    variants=args.variants)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
