"""``python -m tfsem.evaluate --model RUN [RUN ...] [--config CONFIG] [--split val] [--num N] [--out metrics.json]``.

SemGAN and its colour baseline (label maps from noise): samples ``--num``
maps (seeds ``--seed``..) and compares them with as many real maps of the
split (``tfsem.metrics.label_maps``): valid-pixel fraction (the baseline:
also the share of pixels within ``--tolerance`` of a palette colour before
snapping), total-variation distance of the class histograms, connected
regions per map and their mean size, isolated pixels (boundary noise) and
diversity (pixels differing between two samples), each next to the value of
the data. Several runs (``--model A B``) are printed side by side.

Label-to-photo models: generates images from a split's label maps and
reports, as printed lines and JSON:

* ``toy_oracle`` (toy_streets data): the nearest-colour oracle segments the
  generated photos; mIoU and pixel accuracy against the input label maps
  (exact, no weights needed), with the same scores of the real photos as the
  ceiling;
* ``fid``, ``kid`` against the split's real photos, from InceptionV3 pool3
  features (``--inception PATH`` or the Keras cache; the output names the
  weights used); skipped with a message when no weights are found;
* ``segmentation``: mIoU and pixel accuracy of a user-supplied segmenter
  (``--segmenter``: a SavedModel dir or ``.keras`` file) on the generated
  photos; ``--segmenter-classes train_id`` compares in Cityscapes trainIds
  (ignore 255), ``index`` in the label space's class indices (its ignore ids
  ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from tfsem import cli

__all__ = ["evaluate_label_map_runs", "evaluate_label_maps", "evaluate_model", "label_map_table",
           "main"]


def _load_segmenter(path):
    import keras
    import tensorflow as tf

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
    import numpy as np

    from tfsem.data.pipeline import DataPipeline
    from tfsem.generate import sample_label_maps
    from tfsem.metrics.label_maps import label_map_report

    pipeline = DataPipeline(config.data, split)
    space, dont_care = pipeline.label_space, config.data.dont_care
    real = []
    for batch in pipeline.dataset(training=False, batch_size=batch_size, repeat=False):
        real.append(batch["label"].numpy())
        if sum(len(x) for x in real) >= num:
            break
    real = np.concatenate(real)[:num]
    labels, outputs = sample_label_maps(model, list(range(seed, seed + num)), batch_size)
    channels = space.num_channels(dont_care)
    names = list(space.names) + ["don't care"] * (channels - space.num_classes)
    report = label_map_report(
        labels, real, channels, names,
        generated_colors=outputs if model.outputs_colors else None,
        palette=space.palette(dont_care), tolerance=tolerance)
    return {"model": model_path, "config": config.name, "kind": type(model).__name__,
            "split": pipeline.split, "examples": int(len(labels)),
            "image_size": list(labels.shape[1:3]), "seed": seed, "label_maps": report}


def evaluate_model(model_path, config_path=None, split="val", num=64, batch_size=8,
                   inception=None, segmenter=None, segmenter_classes="index",
                   segmenter_input="minus1_1", stream=sys.stdout, seed=0, tolerance=10.0):
    """Library form of the CLI for one run; returns the metrics dict."""
    import numpy as np
    import tensorflow as tf

    from tfsem.data.pipeline import DataPipeline
    from tfsem.metrics import (fid_from_features, kernel_inception_distance,
                               segmentation_scores, toy_oracle_scores)
    from tfsem.metrics.inception import InceptionFeatures
    from tfsem.runs import load_run

    config, model = load_run(model_path, config_path)
    if getattr(model, "unconditional", False):
        result = evaluate_label_maps(model_path, config, model, split, num, seed, tolerance)
        print_label_map_table([result], stream)
        return result
    pipeline = DataPipeline(config.data, split)
    space, dont_care = pipeline.label_space, config.data.dont_care
    labels, fakes, reals = [], [], []
    for batch in pipeline.dataset(training=False, batch_size=batch_size, repeat=False):
        inputs = {k: v for k, v in batch.items() if k != "image"}
        fakes.append(model(inputs, training=False).numpy())
        reals.append(batch["image"].numpy())
        labels.append(batch["label"].numpy())
        if sum(len(x) for x in labels) >= num:
            break
    labels = np.concatenate(labels)[:num]
    fakes, reals = np.concatenate(fakes)[:num], np.concatenate(reals)[:num]
    result = {"model": model_path, "config": config.name, "split": pipeline.split,
              "examples": int(len(labels)), "image_size": list(labels.shape[1:3])}

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
    _print(result, stream)
    return result


def _print(result, stream):
    print(f"{result['config']}: {result['examples']} examples of split {result['split']} at "
          f"{result['image_size'][0]}x{result['image_size'][1]}", file=stream)
    if "toy_oracle" in result:
        o, r = result["toy_oracle"], result["toy_oracle_real"]
        print(f"  toy oracle  mIoU {o['miou']:.4f}  pixel acc {o['pixel_accuracy']:.4f}  "
              f"(real photos: {r['miou']:.4f} / {r['pixel_accuracy']:.4f})", file=stream)
    if result.get("fid") is None:
        print(f"  FID/KID     skipped: {result.get('fid_skipped')}", file=stream)
    else:
        print(f"  FID {result['fid']:.3f}  KID {result['kid']:.5f} +- {result['kid_std']:.5f}  "
              f"[{result['inception']}]", file=stream)
        if result["examples"] < 2048:
            print(f"  note: FID from {result['examples']} images is biased upwards; papers use "
                  "the full validation set", file=stream)
    if "segmentation" in result:
        s = result["segmentation"]
        print(f"  segmenter   mIoU {s['miou']:.4f}  pixel acc {s['pixel_accuracy']:.4f}", file=stream)


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


def print_label_map_table(results, stream=sys.stdout):
    first = results[0]
    print(f"{first['examples']} sampled maps (seeds {first['seed']}..{first['seed'] + first['examples'] - 1}) "
          f"vs {first['label_maps']['data_maps']} real maps of split {first['split']} at "
          f"{first['image_size'][0]}x{first['image_size'][1]}", file=stream)
    tolerances = [r["label_maps"]["color_tolerance"] for r in results
                  if "color_tolerance" in r["label_maps"]]
    if tolerances:
        print(f"colour tolerance: {tolerances[0]:g} (Euclidean, 0..255 RGB)", file=stream)
    print(label_map_table(results), file=stream)


def _json_safe(value):
    """NaN/Inf -> null (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_label_map_runs(model_paths, split="val", num=64, seed=0, tolerance=10.0,
                            stream=sys.stdout):
    """Several SemGAN / baseline runs side by side; returns ``{"runs": [...]}``."""
    from tfsem.runs import load_run

    results = []
    for path in model_paths:
        config, model = load_run(path)
        if not getattr(model, "unconditional", False):
            raise ValueError(f"--model {path}: a {type(model).__name__} model; only SemGAN and "
                             "baseline runs can be compared side by side")
        results.append(evaluate_label_maps(path, config, model, split, num, seed, tolerance))
    print_label_map_table(results, stream)
    return {"runs": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.evaluate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, nargs="+",
                        help="run directory or .keras file; several SemGAN/baseline runs are "
                             "compared side by side")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument("--num", type=int, default=64, help="examples (default 64)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the metrics JSON here")
    parser.add_argument("--inception", default=None,
                        help="FID graph (.pb) or Keras InceptionV3 notop (.h5); default: Keras cache")
    parser.add_argument("--segmenter", default=None, help="segmentation SavedModel dir or .keras")
    parser.add_argument("--segmenter-classes", choices=["index", "train_id"], default="index")
    parser.add_argument("--seed", type=int, default=0,
                        help="SemGAN: first sample's seed (default 0)")
    parser.add_argument("--tolerance", type=float, default=10.0,
                        help="SemGAN baseline: colour distance (0..255 RGB) that still counts as "
                             "a palette colour (default 10)")
    parser.add_argument("--segmenter-input", choices=["minus1_1", "0_1", "0_255"],
                        default="minus1_1", help="pixel range the segmenter expects")
    args = parser.parse_args(argv)
    if args.num < 2:
        raise ValueError(f"--num must be >= 2, got {args.num}")
    if len(args.model) > 1:
        result = evaluate_label_map_runs(args.model, args.split, args.num, args.seed,
                                         args.tolerance)
    else:
        result = evaluate_model(args.model[0], args.config, args.split, args.num,
                                args.batch_size, args.inception, args.segmenter,
                                args.segmenter_classes, args.segmenter_input, seed=args.seed,
                                tolerance=args.tolerance)
    if args.out:
        from tfsem.fileio import atomic_write_text

        atomic_write_text(args.out, json.dumps(_json_safe(result), indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
