"""``python -m tfsem.evaluate --model RUN [--config CONFIG] [--split val] [--num N] [--out metrics.json]``.

Generates images from a split's label maps and reports, as printed lines and JSON:

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

__all__ = ["evaluate_model", "main"]


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


def evaluate_model(model_path, config_path=None, split="val", num=64, batch_size=8,
                   inception=None, segmenter=None, segmenter_classes="index",
                   segmenter_input="minus1_1", stream=sys.stdout):
    """Library form of the CLI; returns the metrics dict."""
    import numpy as np
    import tensorflow as tf

    from tfsem.data.pipeline import DataPipeline
    from tfsem.metrics import (fid_from_features, kernel_inception_distance,
                               segmentation_scores, toy_oracle_scores)
    from tfsem.metrics.inception import InceptionFeatures
    from tfsem.runs import load_run

    config, model = load_run(model_path, config_path)
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


def _json_safe(value):
    """NaN/Inf -> null (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfsem.evaluate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory or .keras file")
    parser.add_argument("--config", default=None, help="config JSON (default: the run's)")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument("--num", type=int, default=64, help="examples (default 64)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=None, help="write the metrics JSON here")
    parser.add_argument("--inception", default=None,
                        help="FID graph (.pb) or Keras InceptionV3 notop (.h5); default: Keras cache")
    parser.add_argument("--segmenter", default=None, help="segmentation SavedModel dir or .keras")
    parser.add_argument("--segmenter-classes", choices=["index", "train_id"], default="index")
    parser.add_argument("--segmenter-input", choices=["minus1_1", "0_1", "0_255"],
                        default="minus1_1", help="pixel range the segmenter expects")
    args = parser.parse_args(argv)
    if args.num < 2:
        raise ValueError(f"--num must be >= 2, got {args.num}")
    result = evaluate_model(args.model, args.config, args.split, args.num, args.batch_size,
                            args.inception, args.segmenter, args.segmenter_classes,
                            args.segmenter_input)
    if args.out:
        from tfsem.fileio import atomic_write_text

        atomic_write_text(args.out, json.dumps(_json_safe(result), indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
