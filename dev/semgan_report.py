"""SemGAN vs its standard-GAN baseline (and SemGAN variants) after the same
CPU training budget: trains each run, prints the metric table and writes a
sample grid.

    python dev/semgan_report.py --steps 1500 --out runs/semgan_report \\
        --variant semgan=configs/quickstart_semgan.json \\
        --variant baseline=configs/quickstart_semgan_baseline.json \\
        --variant softmax=configs/quickstart_semgan.json:model.semgan.relaxation=softmax \\
        --grid docs/semgan_samples.png --table docs/semgan_report.md

A variant is ``NAME=CONFIG[:dotted.key=json_value,...]``; each trains into
``OUT/NAME`` (an existing run resumes, a finished one is reused) for
``--steps`` steps, then all are evaluated on ``--num`` samples (seeds 0..)
against as many real maps of the val split (``tfsem.evaluate``). The grid
shows ``--grid-samples`` samples of each run (rows) and real maps (last row).
``--targets`` adds, per run, the exact values against the style generator's
targets (diversity >= 0.9x the data's, class TV <= 0.05, regions per map and
isolated pixels within 1.5x of the data's, either way).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfsem import cli  # noqa: E402


def parse_variant(text):
    if "=" not in text:
        raise ValueError(f"--variant must be NAME=CONFIG[:key=value,...], got {text!r}")
    name, rest = text.split("=", 1)
    path, _, overrides = rest.partition(":")
    changes = {}
    for item in filter(None, overrides.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--variant {name}: override {item!r} is not key=value")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            changes[key] = value
    return name, path, changes


def variant_config(name, path, changes, steps):
    """The config at ``path`` with ``changes`` ({dotted key: value}) applied as
    ``--set`` overrides (``tfsem.config.apply_overrides``)."""
    from tfsem.config import load_config

    overrides = [f"{key}={json.dumps(value)}" for key, value in changes.items()]
    overrides.append(f"train.steps={steps}")
    config = load_config(path, overrides=overrides)
    return dataclasses.replace(config, name=f"{config.name}_{name}" if changes else config.name)


# (key in the label-map report, title, the band as a function of the data's value)
TARGETS = (
    ("pairwise_difference", "diversity", lambda data: (0.9 * data, None)),
    ("class_tv_distance", "class TV", lambda data: (None, 0.05)),
    ("regions_per_map", "regions per map", lambda data: (data / 1.5, data * 1.5)),
    ("isolated_pixel_fraction", "isolated pixels", lambda data: (data / 1.5, data * 1.5)),
)


def target_checks(report):
    """[(title, value, low, high, met)] of one run's label-map ``report``
    against :data:`TARGETS` (``low``/``high`` None: no bound that side)."""
    checks = []
    for key, title, band in TARGETS:
        value = float(report[key])
        low, high = band(float(report.get("data_" + key, 0.0)))
        met = (low is None or value >= low) and (high is None or value <= high)
        checks.append((title, value, low, high, met))
    return checks


def targets_text(results):
    lines = []
    for result in results:
        checks = target_checks(result["label_maps"])
        missed = [title for title, *_, met in checks if not met]
        lines.append(f"{result['kind']}: " + ("meets all targets" if not missed
                                              else "misses " + ", ".join(missed)))
        for title, value, low, high, met in checks:
            band = (f"{'' if low is None else f'{low:.6g}'}..{'' if high is None else f'{high:.6g}'}")
            lines.append(f"    {title}: {value:.6g} (target {band}) {'ok' if met else 'MISSED'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True,
                        help="NAME=CONFIG[:dotted.key=value,...] (repeat)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", default="runs/semgan_report")
    parser.add_argument("--num", type=int, default=128, help="samples per run for the metrics")
    parser.add_argument("--grid", default=None, help="write the sample grid PNG here")
    parser.add_argument("--grid-samples", type=int, default=6)
    parser.add_argument("--table", default=None, help="write the Markdown table here")
    parser.add_argument("--targets", action="store_true",
                        help="check each run against the style generator's targets")
    args = parser.parse_args(argv)

    from tfsem.data.pipeline import DataPipeline
    from tfsem.data.visualize import label_to_rgb, make_grid, save_png
    from tfsem.fileio import atomic_write_text
    from tfsem.metrics.evaluate import evaluate_label_maps, label_map_table
    from tfsem.runs import load_run
    from tfsem.train import Trainer

    results, rows, names = [], [], []
    for text in args.variant:
        name, path, changes = parse_variant(text)
        config = variant_config(name, path, changes, args.steps)
        run_dir = os.path.abspath(os.path.join(args.out, name))
        print(f"== {name}: {config.name} ({path} {changes or ''}) -> {run_dir}", flush=True)
        if not os.path.exists(os.path.join(run_dir, "model.keras")):
            Trainer(config, run_dir, stream=sys.stdout).train()
        config, model = load_run(run_dir)
        result = evaluate_label_maps(run_dir, config, model, "val", args.num)
        result["kind"] = name
        results.append(result)
        labels, _ = model.sample_label_maps(range(args.grid_samples))
        space = DataPipeline(config.data, "val").label_space
        rows.append([label_to_rgb(label, space, config.data.dont_care) for label in labels])
        names.append(name)
    real = next(iter(DataPipeline(config.data, "val").dataset(
        training=False, batch_size=args.grid_samples, repeat=False)))["label"].numpy()
    rows.append([label_to_rgb(label, space, config.data.dont_care) for label in real])
    table = label_map_table(results)
    header = (f"{args.num} samples per run (seeds 0..{args.num - 1}) vs {args.num} real val maps, "
              f"after {args.steps} training steps each.\n\n")
    if args.targets:
        table += "\n\n```\n" + targets_text(results) + "\n```"
    print(header + table)
    if args.table:
        atomic_write_text(args.table, header + table + "\n")
    if args.grid:
        save_png(make_grid(rows), args.grid)
        print(f"wrote {args.grid} (rows: {', '.join(names)}, real)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main))
