"""Scores of trained runs: the library behind ``python -m tfsem.evaluate``
(see that module for what is measured). Reports go to the ``tfsem.evaluate``
logger."""


from __future__ import annotations

import logging
import math

import keras
import numpy as np
import tensorflow as tf

from tfsem.data.colors import with_label_format
from tfsem.data.pipeline import DataPipeline
from tfsem.metrics.fid import fid_from_features, kernel_inception_distance
from tfsem.metrics.inception import InceptionFeatures
from tfsem.metrics.photos import photo_errors
from tfsem.metrics.label_maps import label_map_report
from tfsem.metrics.segmentation import segmentation_scores, toy_oracle_scores
from tfsem.precision import model_precision
from tfsem.runs import load_run

__all__ = ["evaluate_label_map_runs", "evaluate_label_maps", "evaluate_model", "json_safe",
           "label_map_table", "log_label_map_table", "renders_label_maps"]

log = logging.getLogger("tfsem.evaluate")


def renders_label_maps(model) -> bool:
    """Whether ``model`` renders photos (its ``infer`` takes ``label_map``, or a
    photo-to-photo model's ``image``), else it samples label maps."""
    return bool({"label_map", "image"} & {spec.name for spec in model.inference_specs()})


def _load_segmenter(path):
    if path.endswith(".keras"):
        model = keras.saving.load_model(path, compile=False)
        return lambda images: model(images, training=False)
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if fn is None:
        return loaded

    def run(images):
        out = fn(tf.convert_to_tensor(images))
        return next(iter(out.values()))

    return run


def evaluate_label_maps(model_path, config, model, split="val", num=64, seed=0, tolerance=10.0,
                        batch_size=16):
    """Label-map metrics of a SemGAN (or baseline) run: ``num`` samples vs
    ``num`` real maps of ``split``."""
    pipeline = DataPipeline(config.data, split)
    space, dont_care = pipeline.label_space, config.data.dont_care
    real = []
    for batch in pipeline.dataset(training=False, batch_size=batch_size, repeat=False):
        real.append(batch["label"].numpy())
        if sum(len(x) for x in real) >= num:
            break
    real = np.concatenate(real)[:num]
    labels, colors = model.sample_label_maps(range(seed, seed + num), batch_size)
    channels = space.num_channels(dont_care)
    names = list(space.names) + ["don't care"] * (channels - space.num_classes)
    report = label_map_report(
        labels, real, channels, names, generated_colors=colors,
        palette=space.palette(dont_care), tolerance=tolerance)
    return {"model": model_path, "config": config.name, "kind": type(model).__name__,
            "precision": model_precision(model),
            "split": pipeline.split, "examples": int(len(labels)),
            "image_size": list(labels.shape[1:3]), "seed": seed, "label_maps": report}


def evaluate_model(model_path, *, config_path=None, split="val", num=64, batch_size=8,
                   inception=None, segmenter=None, segmenter_classes="index",
                   segmenter_input="minus1_1", seed=0, tolerance=10.0, precision="auto",
                   label_format=None, color_map=None):
    """The scores of one run (``python -m tfsem.evaluate``); returns the metrics
    dict (with the ``precision`` it computed in). ``label_format`` /
    ``color_map`` replace the config's ``data.label_format`` / ``data.color_map``."""
    config, model = load_run(model_path, config_path, precision)
    config = with_label_format(config, label_format, color_map)
    if not renders_label_maps(model):
        result = evaluate_label_maps(model_path, config, model, split, num, seed, tolerance)
        log_label_map_table([result])
        return result
    pipeline = DataPipeline(config.data, split)
    space, dont_care = pipeline.label_space, config.data.dont_care
    labels, fakes, reals = [], [], []
    for batch in pipeline.dataset(training=False, batch_size=batch_size, repeat=False):
        # the task's own rendering of a data batch: pix2pixHD with instance
        # features encodes them from the batch's real photos
        fakes.append(tf.cast(model.render_batch(batch), tf.float32).numpy())
        reals.append(batch["image"].numpy())
        if "label" in batch:  # photo-to-photo data from a folder has none
            labels.append(batch["label"].numpy())
        if sum(len(x) for x in fakes) >= num:
            break
    fakes, reals = np.concatenate(fakes)[:num], np.concatenate(reals)[:num]
    labels = np.concatenate(labels)[:num] if labels else None
    result = {"model": model_path, "config": config.name, "split": pipeline.split,
              "examples": int(len(fakes)), "image_size": list(fakes.shape[1:3]),
              "precision": model_precision(model)}
    if pipeline.photo_input:  # against the target photos
        result.update(photo_errors(fakes, reals))

    if config.data.source == "toy_streets":
        result["toy_oracle"] = {k: v for k, v in toy_oracle_scores(fakes, labels).items()}
        result["toy_oracle_real"] = {k: v for k, v in toy_oracle_scores(reals, labels).items()
                                     if k != "per_class_iou"}
    try:
        extractor = InceptionFeatures(inception)
    except FileNotFoundError as err:
        if inception:
            raise
        result["fid"] = None
        result["fid_skipped"] = str(err)
    else:
        real_f, fake_f = extractor(reals), extractor(fakes)
        result["fid"] = fid_from_features(real_f, fake_f)
        result.update(kernel_inception_distance(real_f, fake_f, subset_size=1000))
        result["inception"] = extractor.source
    if segmenter and labels is None:
        raise ValueError("--segmenter scores photos against label maps; this photo-to-photo "
                         "data has none")
    if segmenter:
        run = _load_segmenter(segmenter)
        scale = {"minus1_1": lambda x: x, "0_1": lambda x: (x + 1) / 2,
                 "0_255": lambda x: (x + 1) * 127.5}[segmenter_input]
        preds = []
        for start in range(0, len(fakes), batch_size):
            logits = run(tf.constant(scale(fakes[start:start + batch_size]), tf.float32))
            pred = tf.argmax(logits, axis=-1, output_type=tf.int32)[..., None]
            preds.append(tf.image.resize(pred, labels.shape[1:3], "nearest")[..., 0].numpy())
        preds = np.concatenate(preds)
        if segmenter_classes == "train_id":
            table = np.concatenate([space.train_id_table(), [255]])
            target = table[np.where(labels < 0, len(table) - 1, np.minimum(labels, len(table) - 1))]
            num_classes = int(max(t for t in table if t != 255)) + 1
            scores = segmentation_scores(preds, target, num_classes, ignore=[255])
        else:
            channels = space.num_channels(dont_care)
            names = list(space.names) + ["don't care"] * (channels - space.num_classes)
            scores = segmentation_scores(preds, labels, channels,
                                         ignore=space.ignore_indices(dont_care), names=names)
        result["segmentation"] = {"segmenter": segmenter, "classes": segmenter_classes, **scores}
    _log(result)
    return result


def _log(result):
    log.info(f"{result['config']}: {result['examples']} examples of split {result['split']} at "
             f"{result['image_size'][0]}x{result['image_size'][1]}")
    if "psnr" in result:
        log.info(f"  against the targets  PSNR {result['psnr']:.2f} dB  "
                 f"mean abs error {result['l1']:.4f} (images in [-1, 1])")
    if "toy_oracle" in result:
        o, r = result["toy_oracle"], result["toy_oracle_real"]
        log.info(f"  toy oracle  mIoU {o['miou']:.4f}  pixel acc {o['pixel_accuracy']:.4f}  "
                 f"(real photos: {r['miou']:.4f} / {r['pixel_accuracy']:.4f})")
    if result.get("fid") is None:
        log.info(f"  FID/KID     skipped: {result.get('fid_skipped')}")
    else:
        log.info(f"  FID {result['fid']:.3f}  KID {result['kid']:.5f} +- {result['kid_std']:.5f}"
                 f"  [{result['inception']}]")
        if result["examples"] < 2048:
            log.info(f"  note: FID from {result['examples']} images is biased upwards; papers "
                     "use the full validation set")
    if "segmentation" in result:
        s = result["segmentation"]
        log.info(f"  segmenter   mIoU {s['miou']:.4f}  pixel acc {s['pixel_accuracy']:.4f}")


_TABLE = (  # (key, title, format); the data's value is "data_" + key where there is one
    ("valid_pixel_fraction", "valid pixels (class ids)", "{:.4f}"),
    ("color_validity", "pixels within tolerance of a palette colour", "{:.4f}"),
    ("class_tv_distance", "class histogram TV distance to data (lower is better)", "{:.4f}"),
    ("regions_per_map", "connected regions per map", "{:.1f}"),
    ("mean_region_size", "mean region size (pixels)", "{:.1f}"),
    ("isolated_pixel_fraction", "isolated pixels (boundary noise)", "{:.5f}"),
    ("pairwise_difference", "diversity (pixels differing between two maps)", "{:.4f}"),
)


def label_map_table(results) -> str:
    """A Markdown table of the label-map metrics of ``results`` (one column
    each, then the data's values)."""
    heads = [f"{r['kind']} ({r['config']})" for r in results]
    lines = ["| metric | " + " | ".join(heads) + " | data |",
             "|---|" + "---:|" * (len(heads) + 1)]
    for key, title, fmt in _TABLE:
        reports = [r["label_maps"] for r in results]
        if not any(key in rep for rep in reports):
            continue
        cells = [fmt.format(rep[key]) if key in rep else "n/a" for rep in reports]
        data_key = "data_" + key
        data = (fmt.format(reports[0][data_key]) if data_key in reports[0] else
                fmt.format(1.0) if key in ("valid_pixel_fraction", "color_validity") else
                fmt.format(0.0) if key == "class_tv_distance" else "")
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {data} |")
    return "\n".join(lines)


def log_label_map_table(results):
    first = results[0]
    last = first['seed'] + first['examples'] - 1
    log.info(f"{first['examples']} sampled maps (seeds {first['seed']}..{last}) "
             f"vs {first['label_maps']['data_maps']} real maps of split {first['split']} at "
             f"{first['image_size'][0]}x{first['image_size'][1]}")
    tolerances = [r["label_maps"]["color_tolerance"] for r in results
                  if "color_tolerance" in r["label_maps"]]
    if tolerances:
        log.info(f"colour tolerance: {tolerances[0]:g} (Euclidean, 0..255 RGB)")
    log.info(label_map_table(results))


def json_safe(value):
    """NaN/Inf -> null (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_label_map_runs(model_paths, *, split="val", num=64, seed=0, tolerance=10.0,
                            precision="auto", label_format=None, color_map=None):
    """Several SemGAN / baseline runs side by side; returns ``{"runs": [...]}``."""
    results = []
    for path in model_paths:
        config, model = load_run(path, precision=precision)
        config = with_label_format(config, label_format, color_map)
        if renders_label_maps(model):
            raise ValueError(f"--model {path}: a {type(model).__name__} model; only SemGAN and "
                             "baseline runs can be compared side by side")
        results.append(evaluate_label_maps(path, config, model, split, num, seed, tolerance))
    log_label_map_table(results)
    return {"runs": results}
