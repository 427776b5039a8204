"""The SemGAN paper's "dream" pipeline: the library behind ``python -m
tfsem.dream`` (see that module): SemGAN invents label maps, a label-to-photo
run renders them."""


from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf

from tfsem.data.labels import load_label_space
from tfsem.data.preprocess import resize_map
from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
from tfsem.inference.feature_clusters import load_run_clusters
from tfsem.inference.generate import write_label_maps
from tfsem.runs import load_run

__all__ = ["check_dream_pair", "dream", "dream_inputs"]


def check_dream_pair(semgan, semgan_config, renderer, renderer_config,
                     semgan_name="--semgan", renderer_name="--renderer"):
    """Checks that ``semgan`` samples label maps and ``renderer`` renders them on
    the same label space (``tfsem.dream`` and the dream export); returns the space.
    ``*_name``: how the messages name the two runs."""
    if semgan.conditional:
        raise TypeError(f"{semgan_name}: a {type(semgan).__name__} model, not a SemGAN "
                        "(or baseline) run")
    if not renderer.conditional:
        raise TypeError(f"{renderer_name}: a {type(renderer).__name__} model; the renderer "
                        "must be a SPADE/GauGAN, pix2pixHD or pix2pix run")
    a = load_label_space(semgan_config.data.label_space)
    b = load_label_space(renderer_config.data.label_space)
    if a.to_dict() != b.to_dict() or semgan.num_classes != renderer.num_classes:
        raise ValueError(f"{semgan_name} uses the label space {a.name!r} ({semgan.num_classes} "
                         f"channels), {renderer_name} {b.name!r} ({renderer.num_classes} "
                         "channels): the renderer must be trained on the same label space")
    return a


def dream_inputs(renderer, labels, seeds, clusters=None, cluster="seed"):
    """The renderer's inputs for SemGAN maps ``labels`` [B,H,W] of int ``seeds``:
    the maps resized (nearest) to the renderer's size, a VAE style
    ``latent_for_seeds(seed, stream=1)`` per seed; pix2pixHD's ``clusters`` with
    ``cluster`` (``seed``: the first seed's, as the exported dream model) and
    random clusters drawn from the first seed."""
    seeds = list(seeds)
    resized = resize_map(tf.constant(labels), renderer.image_size)
    return renderer.inference_inputs(
        resized, z=renderer.random_style(seeds, stream=1), seed=seeds[0], clusters=clusters,
        cluster=seeds[0] if cluster == "seed" else cluster)


def dream(semgan_path, renderer_path, out, num=8, seed=0, features=None, cluster="seed",
          stream=None, precision="auto"):
    """SemGAN maps rendered by a label-to-photo run (``python -m tfsem.dream``);
    returns the written photo paths. ``precision`` (``tfsem.precision``) applies
    to both runs; ``auto`` keeps SemGAN's maps in float32."""
    stream = stream or sys.stdout
    if cluster not in ("random", "seed") and not str(cluster).lstrip("-").isdigit():
        raise ValueError(f"--cluster must be an integer, 'random' or 'seed', got {cluster!r}")
    if num < 1:
        raise ValueError(f"--num must be >= 1, got {num}")
    semgan_config, semgan = load_run(semgan_path, precision=precision)
    renderer_config, renderer = load_run(renderer_path, precision=precision)
    space = check_dream_pair(semgan, semgan_config, renderer, renderer_config,
                             f"--semgan {semgan_path}", f"--renderer {renderer_path}")
    dont_care = semgan_config.data.dont_care
    clusters = load_run_clusters(renderer_path, features) if renderer.use_features else None
    if clusters is None and features:
        raise ValueError("--features: the renderer takes no instance features")
    if tuple(semgan.image_size) != tuple(renderer.image_size):
        print(f"note: SemGAN maps are {semgan.image_size[0]}x{semgan.image_size[1]}, the "
              f"renderer works at {renderer.image_size[0]}x{renderer.image_size[1]}: maps are "
              "resized (nearest)", file=stream)
    seeds = list(range(seed, seed + num))
    labels, _ = semgan.sample_label_maps(seeds)
    stems = [f"dream_{s:06d}" for s in seeds]
    write_label_maps(labels, stems, out, space, dont_care, stream)
    written, rows = [], []
    for label, s, stem in zip(labels, seeds, stems):
        inputs = dream_inputs(renderer, label[None], [s], clusters, cluster)
        image = image_to_uint8(renderer(inputs, training=False)[0].numpy())
        path = os.path.join(out, "image", f"{stem}.png")
        save_png(image, path)
        written.append(path)
        print(f"wrote {path}", file=stream)
        rows.append([label_to_rgb(np.asarray(inputs["label"][0]), space, dont_care), image])
    save_png(make_grid(rows, max_width=2048), os.path.join(out, "grid.png"))
    print(f"wrote {os.path.join(out, 'grid.png')} (dreamed map | rendered photo)", file=stream)
    return written
