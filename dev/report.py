"""The seeds' comparisons on toy_streets, reproduced in one command, scored
without weights (the toy oracle segments photos by their class colours).

    python dev/report.py --out runs/report --docs docs

(a) SemGAN (each generator option) vs the colour-GAN baselines (the conv one
    and the seed project's StyleGAN with palette snapping): label-map
    statistics of their samples next to the data's.
(b) Two stages (SemGAN -> SPADE, SemGAN -> pix2pixHD, SemGAN -> pix2pix; and
    each style generator -> SPADE, the seed project's pipeline) vs the
    one-stage photo GAN: the oracle segments each method's photos and the
    label-map statistics of those segmentations are compared with the data's
    (and with the oracle's reading of real photos).
(c) pix2pix vs pix2pixHD (stage 1, G1 at half size; stage 2, the local
    enhancer at full size) vs SPADE on the same validation label maps:
    toy-oracle mIoU and pixel accuracy (pix2pixHD's and SPADE's Table 1, with
    the oracle as the segmenter), next to the oracle's scores on the real
    photos at each renderer's size (its ceiling there).

Each run trains from its shipped quickstart config into ``OUT/<name>``
(``--steps NAME=N`` changes a budget; an existing finished run is reused,
an unfinished one resumes; ``--run NAME=DIR`` uses a run trained elsewhere).
Writes ``DOCS/report.md`` (tables, budgets, wall times) and
``DOCS/report_*.png``. FID/KID are not part of it: they need Inception
weights (``python -m tfsem.evaluate --inception``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfsem import cli  # noqa: E402

#: name -> (config, overrides): the runs of the report, in training order.
RUNS = {
    "semgan": ("configs/quickstart_semgan.json", []),
    "semgan_style": ("configs/quickstart_semgan_style.json", []),
    "baseline": ("configs/quickstart_semgan_baseline.json", []),
    # the seed project's StyleGAN: colour label images snapped to the palette
    "baseline_style": ("configs/quickstart_semgan_style_baseline.json", []),
    "photogan": ("configs/quickstart_photogan.json", []),
    "spade": ("configs/quickstart.json", []),
    "pix2pixhd": ("configs/quickstart_pix2pixhd.json", []),
    "pix2pixhd_local": ("configs/quickstart_pix2pixhd_local.json", []),  # from pix2pixhd
    "pix2pix": ("configs/quickstart_pix2pix.json", []),
}
SEMGANS = ("semgan", "semgan_style")
#: (a)'s colour baselines; (b) also dreams from the style generators through SPADE
BASELINES = ("baseline", "baseline_style")
STYLE_SOURCES = ("semgan_style", "baseline_style")
#: (b) dreams with the full-size renderers; (c) scores every renderer.
RENDERERS = ("spade", "pix2pixhd_local", "pix2pix")
RENDERERS_C = ("spade", "pix2pixhd", "pix2pixhd_local", "pix2pix")


def _pairs(items, what):
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or name not in RUNS:
            raise ValueError(f"{what} takes NAME=VALUE with NAME one of {', '.join(RUNS)}, "
                             f"got {item!r}")
        out[name] = value
    return out


def targets_table(results_a, rows_c):
    """Markdown rows: the quality targets against this report's values."""
    maps = next(r for r in results_a if r["kind"] == "semgan")["label_maps"]
    miou = {name: scores["miou"] for name, _, scores, _, _ in rows_c}
    checks = [("SemGAN (semgan) valid pixels = 1", f"{maps['valid_pixel_fraction']:.4f}",
               maps["valid_pixel_fraction"] == 1.0),
              ("SemGAN class histogram TV distance <= 0.05", f"{maps['class_tv_distance']:.4f}",
               maps["class_tv_distance"] <= 0.05),
              ("SemGAN diversity >= 0.9x the data's",
               f"{maps['pairwise_difference']:.4f} (0.9x data: "
               f"{0.9 * maps['data_pairwise_difference']:.4f})",
               maps["pairwise_difference"] >= 0.9 * maps["data_pairwise_difference"]),
              ("SPADE quickstart toy-oracle mIoU >= 0.9", f"{miou['spade']:.4f}",
               miou["spade"] >= 0.9),
              ("pix2pixHD quickstart (stage 2) toy-oracle mIoU >= 0.9",
               f"{miou['pix2pixhd_local']:.4f}", miou["pix2pixhd_local"] >= 0.9)]
    return (["| target | value | met |", "|---|---:|---|"]
            + [f"| {t} | {v} | {'yes' if ok else 'no'} |" for t, v, ok in checks])


def train_or_reuse(name, out, steps, given, stream, runs):
    """(run dir, config, model, wall seconds or None when trained elsewhere);
    ``runs``: the runs before this one (stage 2 starts from stage 1's)."""
    from tfsem.inference.encode_features import encode_features
    from tfsem.inference.feature_clusters import default_clusters_path, save_clusters
    from tfsem.runs import load_run

    if name in given:
        run_dir, seconds = given[name], None
    else:
        init = runs["pix2pixhd"][0] if name == "pix2pixhd_local" else None
        run_dir, seconds = _train(name, out, steps, stream, init)
    config, model = load_run(run_dir)
    if _takes(model, "cluster") and not os.path.exists(default_clusters_path(run_dir)):
        save_clusters(default_clusters_path(run_dir), *encode_features(model, config))
    return run_dir, config, model, seconds


def _train(name, out, steps, stream, init_from=None):
    from tfsem.config import load_config
    from tfsem.train import Trainer

    path, overrides = RUNS[name]
    overrides = list(overrides) + ([f"train.steps={steps[name]}"] if name in steps else [])
    if init_from:
        overrides.append(f"train.init_from={json.dumps(init_from)}")
    config = load_config(path, overrides=overrides)
    run_dir = os.path.abspath(os.path.join(out, name))
    seconds = None
    if not os.path.exists(os.path.join(run_dir, "model.keras")):
        print(f"== training {name} ({path} {' '.join(overrides)}) -> {run_dir}", file=stream,
              flush=True)
        start = time.perf_counter()
        Trainer(config, run_dir, stream=stream).train()
        seconds = time.perf_counter() - start
        with open(os.path.join(run_dir, "report_wall_seconds.json"), "w") as f:
            json.dump({"seconds": seconds}, f)
    elif os.path.exists(os.path.join(run_dir, "report_wall_seconds.json")):
        with open(os.path.join(run_dir, "report_wall_seconds.json")) as f:
            seconds = json.load(f)["seconds"]
    return run_dir, seconds


def _takes(model, name):
    """Whether the task's ``infer`` takes the input ``name``."""
    return name in {spec.name for spec in model.inference_specs()}


def clusters_of(run):
    """A feature renderer's clusters (``features.npz``), else None."""
    from tfsem.inference.feature_clusters import load_run_clusters

    return load_run_clusters(run[0]) if _takes(run[2], "cluster") else None


def _unit(photos):
    """uint8 photos -> float [-1, 1] (what the oracle and the grids read)."""
    return photos.astype("float32") / 127.5 - 1.0


def real_val(config, num, photos=False):
    """``num`` validation label maps (and photos) of ``config``'s data."""
    import numpy as np

    from tfsem.data.pipeline import DataPipeline

    labels, images = [], []
    for batch in DataPipeline(config.data, "val").dataset(training=False, batch_size=16,
                                                          repeat=False):
        labels.append(batch["label"].numpy())
        if photos:
            images.append(batch["image"].numpy())
        if sum(len(x) for x in labels) >= num:
            break
    labels = np.concatenate(labels)[:num]
    return (labels, np.concatenate(images)[:num]) if photos else labels


def oracle_maps(photos, space, dont_care):
    """Class-index maps of photos [N,H,W,3] in [-1, 1] as the toy oracle reads them."""
    from tfsem.data.toy_streets import oracle_segment

    return space.encode(oracle_segment(photos), dont_care)


def map_result(name, config_name, labels, real, space, dont_care, seed=0):
    """An ``evaluate_label_maps``-shaped result of arbitrary class-index maps."""
    from tfsem.metrics.label_maps import label_map_report

    channels = space.num_channels(dont_care)
    names = list(space.names) + ["don't care"] * (channels - space.num_classes)
    return {"kind": name, "config": config_name, "examples": int(len(labels)), "seed": seed,
            "label_maps": label_map_report(labels, real, channels, names)}


def dream_photos(semgan, renderer, seeds, clusters=None, batch=8):
    """SemGAN's maps for ``seeds`` (class indices at the renderer's size) and the
    renderer's photos of them (``tfsem.DreamPipeline``, ``batch`` seeds at a
    time, random clusters)."""
    import numpy as np
    import tensorflow as tf

    from tfsem.data.preprocess import resize_map
    from tfsem.pipeline import DreamPipeline, Pipeline

    if clusters:
        renderer.attach_clusters(clusters)
    dream = DreamPipeline(Pipeline(semgan), Pipeline(renderer))
    maps, photos = [], []
    for start in range(0, len(seeds), batch):
        sample = dream.sample(list(seeds[start:start + batch]),
                              cluster="random" if clusters else None)
        raw = resize_map(tf.constant(sample["label_map"]), renderer.image_size)
        maps.append(renderer.class_indices(raw).numpy())
        photos.append(_unit(sample["image"]))
    return np.concatenate(maps), np.concatenate(photos)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/report", help="run directories")
    parser.add_argument("--docs", default="docs", help="where report.md and the pictures go")
    parser.add_argument("--num", type=int, default=64, help="samples / maps per score")
    parser.add_argument("--steps", action="append", help="NAME=N: a run's training steps")
    parser.add_argument("--run", action="append", help="NAME=DIR: use a run trained elsewhere")
    args = parser.parse_args(argv)
    if args.num < 2:
        raise ValueError(f"--num must be >= 2 (diversity compares pairs), got {args.num}")
    steps = {k: int(v) for k, v in _pairs(args.steps, "--steps").items()}
    given = _pairs(args.run, "--run")

    import numpy as np
    import tensorflow as tf

    from tfsem.data.labels import load_label_space
    from tfsem.data.preprocess import resize_map
    from tfsem.data.visualize import image_to_uint8, label_to_rgb, make_grid, save_png
    from tfsem.fileio import atomic_write_text
    from tfsem.metrics.evaluate import evaluate_label_maps, label_map_table
    from tfsem.data.toy_streets import oracle_segment
    from tfsem.metrics.segmentation import (edge_error_rates, toy_oracle_scores,
                                            toy_segmentation_scores)

    runs = {}
    for name in RUNS:
        runs[name] = train_or_reuse(name, args.out, steps, given, sys.stdout, runs)
    budget = {name: (int(run[1].train.steps or 0), run[3]) for name, run in runs.items()}
    seeds = list(range(args.num))
    space = load_label_space(runs["semgan"][1].data.label_space)
    dont_care = runs["semgan"][1].data.dont_care

    # (a) label maps from noise
    results_a = []
    for name in SEMGANS + BASELINES:
        run_dir, config, model, _ = runs[name]
        result = evaluate_label_maps(run_dir, config, model, "val", args.num)
        result["kind"] = name
        results_a.append(result)
    # (b) photos: two stages vs one, read back by the oracle
    real_labels, real_photos = real_val(runs["spade"][1], args.num, photos=True)
    best = min(SEMGANS, key=lambda n: results_a[SEMGANS.index(n)]["label_maps"][
        "class_tv_distance"])
    semgan = runs[best][2]
    results_b, dream_rows = [], []
    for name in RENDERERS:
        renderer = runs[name][2]
        maps, photos = dream_photos(semgan, renderer, seeds, clusters_of(runs[name]))
        read = oracle_maps(photos, space, dont_care)
        real = resize_map(tf.constant(real_labels), renderer.image_size).numpy()
        results_b.append(map_result(f"{best} -> {name}", runs[name][1].name, read, real,
                                    space, dont_care))
        dream_rows.append((maps[:6], photos[:6]))
    # the seed's two-stage pipeline with a StyleGAN (classes, and colours snapped)
    for source in (n for n in STYLE_SOURCES if n != best):
        maps, photos = dream_photos(runs[source][2], runs["spade"][2], seeds)
        real = resize_map(tf.constant(real_labels), runs["spade"][2].image_size).numpy()
        results_b.append(map_result(f"{source} -> spade", runs[source][1].name,
                                    oracle_maps(photos, space, dont_care), real, space,
                                    dont_care))
    photogan = runs["photogan"][2]
    _, photogan_photos = photogan.sample_label_maps(seeds)
    results_b.append(map_result("photogan (one stage)", runs["photogan"][1].name,
                                oracle_maps(photogan_photos, space, dont_care), real_labels,
                                space, dont_care))
    results_b.append(map_result("real photos", "toy_streets val",
                                oracle_maps(real_photos, space, dont_care), real_labels,
                                space, dont_care))
    # (c) the renderers on the same label maps, each at its size (its data's
    # preprocessing), next to the oracle on the real photos at that size
    rows_c, grid_c = [], []
    for name in RENDERERS_C:
        renderer, clusters = runs[name][2], clusters_of(runs[name])
        labels, photos = real_val(runs[name][1], args.num, photos=True)
        if clusters:
            renderer.attach_clusters(clusters)
        raw = renderer.label_codec().raw_ids[labels]
        fakes = []
        for start in range(0, len(labels), 8):
            inputs = renderer.inference_inputs(raw[start:start + 8], seed=start,
                                               cluster="0" if clusters else None)
            fakes.append(_unit(renderer.infer(**inputs)["image"].numpy()))
        fakes = np.concatenate(fakes)
        segmented = oracle_segment(fakes)
        scores = toy_segmentation_scores(segmented, labels)
        ceiling = toy_oracle_scores(photos, labels)
        edges = edge_error_rates(segmented, labels)
        rows_c.append((name, labels.shape[1:3], scores, ceiling, edges))
        grid_c.append(tf.image.resize(fakes[:4], real_photos.shape[1:3], "nearest").numpy())

    # pictures
    os.makedirs(args.docs, exist_ok=True)
    grid_b = []
    for maps, photos in dream_rows:
        if not grid_b:
            grid_b.append([label_to_rgb(m, space, dont_care) for m in maps])
        grid_b.append([image_to_uint8(p) for p in photos])
    grid_b.append([image_to_uint8(p) for p in photogan_photos[:6]])
    save_png(make_grid(grid_b), os.path.join(args.docs, "report_two_stage.png"))
    rows = [[label_to_rgb(real_labels[i], space, dont_care), image_to_uint8(real_photos[i])]
            + [image_to_uint8(g[i]) for g in grid_c] for i in range(min(4, len(real_labels)))]
    save_png(make_grid(rows), os.path.join(args.docs, "report_renderers.png"))

    def fmt_budget(name):
        n, seconds = budget[name]
        where = f", trained elsewhere: {runs[name][1].name}" if name in given else ""
        return f"{n} steps" + (f", {seconds / 60:.1f} min" if seconds else "") + where

    command = " ".join(["python dev/report.py"] + [f"--run {k}={v}" for k, v in given.items()])

    text = ["# tfsem report: the seeds' comparisons on toy_streets", "",
            f"`{command}` ({args.num} samples / maps per score, seeds 0..{args.num - 1};"
            " scored without weights: the toy oracle segments photos by colour). Budgets "
            "(steps, wall time on this machine's 2 CPU cores when trained by this run): "
            + "; ".join(f"{n}: {fmt_budget(n)}" for n in RUNS) + ".", "",
            "## (a) SemGAN vs the colour-GAN baseline", "", label_map_table(results_a), "",
            f"## (b) Two stages ({best} -> renderer, and the style generators -> spade) vs "
            "the one-stage photo GAN", "",
            "Label-map statistics of the oracle's reading of each method's photos, against "
            "the data's maps; `real photos` is the oracle on the real photos (its own error).",
            "", label_map_table(results_b), "",
            "![two stages](report_two_stage.png)", "",
            f"Rows: {best}'s maps, then SemGAN -> {', -> '.join(RENDERERS)}, then the photo GAN.",
            "", "## (c) Renderers on the same validation label maps", "",
            "Each renderer at its size; `real photos` is the oracle on the real photos "
            "at that size (resizing blends thin objects into their neighbours, so it is "
            "the ceiling there).", "",
            "| renderer | size | toy-oracle mIoU | pixel accuracy | real photos: mIoU "
            "| real photos: pixel accuracy | error on label edges | error inside regions "
            "| errors on edges |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    text += [f"| {n} ({fmt_budget(n)}) | {h}x{w} | {s['miou']:.4f} | "
             f"{s['pixel_accuracy']:.4f} | {c['miou']:.4f} | {c['pixel_accuracy']:.4f} | "
             f"{e['edge_error']:.4f} | {e['interior_error']:.4f} | {e['errors_on_edges']:.0%} |"
             for n, (h, w), s, c, e in rows_c]
    text += ["", "Label edges: pixels with another class among their eight neighbours "
             f"({rows_c[0][4]['edge_pixels']:.0%} of the pixels at {rows_c[0][1][0]}x"
             f"{rows_c[0][1][1]}); a renderer that blurs or shifts edges errs there.", "",
             "![renderers](report_renderers.png)", "",
             "Columns: label map, real photo, " + ", ".join(RENDERERS_C) + "."]
    text += ["", "## Quality targets, on this report's runs", "",
             *targets_table(results_a, rows_c), "",
             "One run each here. Other runs, and what was tried where a target is not met: "
             "docs/benchmarks.md, \"Quality targets\"."]
    atomic_write_text(os.path.join(args.docs, "report.md"), "\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
