"""See what a model will see: the library behind ``python -m tfsem.data``.

Reports (to the ``tfsem.data`` logger) the number of examples, the stored
and the preprocessed resolution, and the class histogram, and writes a PNG
grid with one row per example: colourised label map | instance edges | photo.
"""

from __future__ import annotations

import logging

__all__ = ["inspect_data"]

log = logging.getLogger("tfsem.data")


def inspect_data(config, *, split=None, num=8, augment=False, out=None):
    """Reports statistics of ``num`` examples of the config's data and writes a grid.

    Returns a dict with the numbers it reported.
    """
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
    log.info(f"source:      {data.source} (split {pipeline.split})")
    log.info(f"examples:    {total}")
    log.info(f"stored size: {stored[0]}x{stored[1]} (HxW, first example)")
    if shape is not None:
        log.info(f"model input: {shape[0]}x{shape[1]} (HxW, after preprocessing)")
    log.info(f"label space: {space.name}, {space.num_classes} classes, "
             f"{pipeline.num_channels} one-hot channels")
    if pipeline.bad_files:
        log.info(f"bad files skipped: {len(pipeline.bad_files)}")
        for path, reason in pipeline.bad_files[:10]:
            log.info(f"  {path}: {reason}")
    histogram = {}
    total_px = max(int(counts.sum()), 1)
    log.info(f"class histogram over {seen} example(s):")
    for index in np.argsort(-counts):
        if counts[index] == 0:
            break
        shown = index if index < len(counts) - 1 else -1
        share = counts[index] / total_px
        histogram[names[index]] = float(share)
        log.info(f"  {shown:>4}  {names[index]:<28} {100 * share:6.2f}%")
    if out and rows:
        save_png(make_grid(rows, max_width=1536), out)
        columns = "label | instance edges | image"
        log.info(f"wrote {out} ({len(rows)} rows: {columns})")
    return {"examples": total, "stored_size": stored, "model_input": shape,
            "histogram": histogram, "bad_files": list(pipeline.bad_files), "seen": seen}
