"""``python -m tfsem.dream --semgan RUN --renderer RUN --num N --out DIR [--seed S]``.

The "dream" pipeline of the SemGAN paper: SemGAN invents label maps, a
label-to-photo model (a SPADE/GauGAN or pix2pixHD run) renders them. Sample
``i`` uses seed ``S + i`` for its map (the same map ``tfsem.generate --num``
gives for that seed) and for the renderer's randomness (a VAE style, or
pix2pixHD's random feature clusters). Both runs must use the same label
space; maps are resized (nearest) to the renderer's size when the sizes
differ. Writes ``label/dream_<seed>_gtFine_labelIds.png``,
``color/dream_<seed>_gtFine_color.png``, ``image/dream_<seed>.png`` and
``grid.png`` (map | photo).

The renderer gets no instance map: where it uses instance edges, the label
map stands in (edges follow class boundaries). pix2pixHD with instance
features takes its clusters from ``--features`` (default
``RENDERER/features.npz``): ``--cluster K``, ``random`` (per instance) or
``seed`` (default: cluster ``seed mod k`` of each class, what the exported
dream model does). A VAE renderer's style is ``latent_for_seeds(seed,
stream=1)``, also as the exported model.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfsem import cli

__all__ = ["check_dream_pair", "dream", "main"]


def check_dream_pair(semgan, semgan_config, renderer, renderer_config,
                     semgan_name="--semgan", renderer_name="--renderer"):
    """Checks that ``semgan`` samples label maps and ``renderer`` renders them on
    the same label space (``tfsem.dream`` and the dream export); returns the space.
    ``*_name``: how the messages name the two runs."""
    from tfsem.data.labels import load_label_space

    if not getattr(semgan, "unconditional", False):
        raise TypeError(f"{semgan_name}: a {type(semgan).__name__} model, not a SemGAN "
                        "(or baseline) run")
    if getattr(renderer, "unconditional", False) or not hasattr(renderer, "semantic_input"):
        raise TypeError(f"{renderer_name}: a {type(renderer).__name__} model; the renderer "
                        "must be a SPADE/GauGAN or pix2pixHD run")
    a = load_label_space(semgan_config.data.label_space)
    b = load_label_space(renderer_config.data.label_space)
    if a.to_dict() != b.to_dict() or semgan.num_classes != renderer.num_classes:
        raise ValueError(f"{semgan_name} uses the label space {a.name!r} ({semgan.num_classes} "
                         f"channels), {renderer_name} {b.name!r} ({renderer.num_classes} "
                         "channels): the renderer must be trained on the same label space")
    return a


def dream(semgan_path, renderer_path, out, num=8, seed=0, features=None, cluster="seed",
          stream=sys.stdout):
    """Library form of the CLI; returns the written photo paths."""
    import numpy as np
    import tensorflow as tf

    from tfsem.data.preprocess import resize_map
    from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
    from tfsem.features import load_run_clusters, model_features
    from tfsem.generate import sample_label_maps, write_label_maps
    from tfsem.models.label_map_gan import latent_for_seeds
    from tfsem.runs import load_run

    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    semgan_config, semgan = load_run(semgan_path)
    renderer_config, renderer = load_run(renderer_path)
    space = check_dream_pair(semgan, semgan_config, renderer, renderer_config,
                             f"--semgan {semgan_path}", f"--renderer {renderer_path}")
    dont_care = semgan_config.data.dont_care
    clusters = (load_run_clusters(renderer_path, features)
                if getattr(renderer, "use_features", False) else None)
    if clusters is None and features:
        raise ValueError("--features: the renderer takes no instance features")
    if tuple(semgan.image_size) != tuple(renderer.image_size):
        print(f"note: SemGAN maps are {semgan.image_size[0]}x{semgan.image_size[1]}, the "
              f"renderer works at {renderer.image_size[0]}x{renderer.image_size[1]}: maps are "
              "resized (nearest)", file=stream)
    seeds = list(range(seed, seed + num))
    labels, _ = sample_label_maps(semgan, seeds)
    stems = [f"dream_{s:06d}" for s in seeds]
    write_label_maps(labels, stems, out, space, dont_care, stream)
    written, rows = [], []
    for label, s, stem in zip(labels, seeds, stems):
        inputs = {"label": resize_map(tf.constant(label[None]), renderer.image_size)}
        if getattr(renderer, "use_instances", False):
            inputs["instance"] = inputs["label"]
        if getattr(renderer, "use_vae", False):
            inputs["z"] = latent_for_seeds([s], renderer.z_dim, stream=1)
        if clusters is not None:
            choice = s if cluster == "seed" else cluster
            inputs["features"] = model_features(renderer, inputs, clusters, choice, s)
        image = image_to_uint8(renderer(inputs, training=False)[0].numpy())
        path = os.path.join(out, "image", f"{stem}.png")
        save_png(image, path)
        written.append(path)
        print(f"wrote {path}", file=stream)
        rows.append([label_to_rgb(np.asarray(inputs["label"][0]), space, dont_care), image])
    save_png(make_grid(rows, max_width=2048), os.path.join(out, "grid.png"))
    print(f"wrote {os.path.join(out, 'grid.png')} (dreamed map | rendered photo)", file=stream)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.dream",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--semgan", required=True, help="SemGAN run directory or .keras file")
    parser.add_argument("--renderer", required=True,
                        help="SPADE/GauGAN or pix2pixHD run directory or .keras file")
    parser.add_argument("--num", type=int, default=8, help="samples (default 8)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="first sample's seed")
    parser.add_argument("--features", default=None,
                        help="pix2pixHD renderer: clusters file (default RENDERER/features.npz)")
    parser.add_argument("--cluster", default="seed",
                        help="pix2pixHD renderer: cluster index, 'random' (per instance) or "
                             "'seed' (default: cluster = the sample's seed, as the exported "
                             "dream model)")
    args = parser.parse_args(argv)
    if args.cluster not in ("random", "seed") and not args.cluster.lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer, 'random' or 'seed', got {args.cluster!r}")
    dream(args.semgan, args.renderer, args.out, args.num, args.seed, args.features, args.cluster)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
