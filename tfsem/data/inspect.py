"""``python -m tfsem.data.inspect --config CONFIG [--out grid.png]``: see what a model will see.

Prints the number of examples, the stored and the preprocessed resolution,
and the class histogram, and writes a PNG grid with one row per example:
colourised label map | instance edges | photo.
"""

from __future__ import annotations

import argparse
import sys

from tfsem import cli

__all__ = ["inspect_data", "main"]


def inspect_data(config, split=None, num=8, augment=False, out=None, stream=None):
    """Prints statistics of ``num`` examples of the config's data and writes a grid.

    Returns a dict with the numbers it printed.
    """
    stream = stream or sys.stdout
    import numpy as np

    from tfsem.data.pipeline import DataPipeline
    from tfsem.data.preprocess import instance_edges
    from tfsem.data.visualize import (edges_to_rgb, image_to_uint8, label_to_rgb, make_grid,
                                      save_png)

    data = config.data
    pipeline = DataPipeline(data, split)
    space = pipeline.label_space
    total = pipeline.num_examples()
    first = next(iter(pipeline.examples().take(1)))
    stored = tuple(int(d) for d in first["label"].shape)
    ds = pipeline.dataset(training=augment, batch_size=1, repeat=False).take(num)

    counts = np.zeros(pipeline.num_channels + 1, np.int64)  # last bin: index -1 (zero one-hot)
    rows, seen, shape = [], 0, None
    for batch in ds:
        label = batch["label"][0].numpy()
        shape = label.shape
        counts += np.bincount(label.ravel() % len(counts), minlength=len(counts))
        seen += 1
        if len(rows) < 8:
            row = [label_to_rgb(label, space, data.dont_care)]
            if "instance" in batch:
                row.append(edges_to_rgb(instance_edges(batch["instance"][0]).numpy()))
            if "image" in batch:
                row.append(image_to_uint8(batch["image"][0].numpy()))
            rows.append(row)

    names = list(space.names)
    if pipeline.num_channels > space.num_classes:
        names.append(f"{space.dont_care_name} (don't care)")
    names.append(f"{space.dont_care_name} (zero one-hot)")
    print(f"source:      {data.source} (split {pipeline.split})", file=stream)
    print(f"examples:    {total}", file=stream)
    print(f"stored size: {stored[0]}x{stored[1]} (HxW, first example)", file=stream)
    if shape is not None:
        print(f"model input: {shape[0]}x{shape[1]} (HxW, after preprocessing)", file=stream)
    print(f"label space: {space.name}, {space.num_classes} classes, "
          f"{pipeline.num_channels} one-hot channels", file=stream)
    if pipeline.bad_files:
        print(f"bad files skipped: {len(pipeline.bad_files)}", file=stream)
        for path, reason in pipeline.bad_files[:10]:
            print(f"  {path}: {reason}", file=stream)
    histogram = {}
    total_px = max(int(counts.sum()), 1)
    print(f"class histogram over {seen} example(s):", file=stream)
    for index in np.argsort(-counts):
        if counts[index] == 0:
            break
        shown = index if index < len(counts) - 1 else -1
        share = counts[index] / total_px
        histogram[names[index]] = float(share)
        print(f"  {shown:>4}  {names[index]:<28} {100 * share:6.2f}%", file=stream)
    if out and rows:
        save_png(make_grid(rows, max_width=1536), out)
        columns = "label | instance edges | image"
        print(f"wrote {out} ({len(rows)} rows: {columns})", file=stream)
    return {"examples": total, "stored_size": stored, "model_input": shape,
            "histogram": histogram, "bad_files": list(pipeline.bad_files), "seen": seen}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfsem.data.inspect", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="experiment config JSON")
    parser.add_argument("--out", default=None, help="write a PNG grid here")
    parser.add_argument("--split", default=None, help="split to read (default: the config's)")
    parser.add_argument("--num", type=int, default=8, help="examples to look at (default 8)")
    parser.add_argument("--augment", action="store_true",
                        help="apply training augmentation (random crop / flip)")
    args = parser.parse_args(argv)
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    from tfsem.config import load_config

    inspect_data(load_config(args.config), args.split, args.num, args.augment, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
