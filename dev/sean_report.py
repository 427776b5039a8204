"""SEAN vs SPADE (with its VAE) on toy_streets with a per-scene look per region,
reproduced in one command and scored without weights.

    python dev/sean_report.py --out runs/sean_report --docs docs [--steps N] [--examples N]

Trains ``configs/quickstart_sean.json`` and ``configs/quickstart_spade_vae.json``
(the same data, widths and budget; ``--steps`` changes both; a finished run
is reused, ``--run NAME=DIR`` takes one trained elsewhere), then on the first
``--examples`` validation scenes:

1. Toy-oracle mIoU (the nearest-colour segmenter of the toy photos) of each
   model's photos: SEAN with the photo's own region codes and with the
   per-class mean codes of the training photos (``encode_styles``); SPADE
   with its encoder's style of the photo (the mean) and with random styles.
2. Reconstruction: PSNR of the photo rendered from the real photo's own style
   (SEAN's region codes, SPADE's encoded latent) against that real photo.
3. Per-region transfer: scene A rendered with its own codes, then with one
   class's code taken from scene B (B's photo over B's map): how much of the
   distance between A's and B's mean colour of that region the transfer
   closes, and how much every other region's mean colour moves (grey
   levels). SPADE has one style per image: taking B's style moves every region.

Writes ``DOCS/sean_report.md`` (tables, the machine, budgets, wall times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RUNS = {"sean": "configs/quickstart_sean.json", "spade_vae": "configs/quickstart_spade_vae.json"}
#: the regions whose transfer is measured (large enough for a mean colour)
TRANSFER = ("sky", "building", "road", "sidewalk", "car")


def _train(name, out, steps, stream):
    from tfsem.config import load_config
    from tfsem.train import Trainer

    overrides = [f"train.steps={steps}"] if steps else []
    config = load_config(RUNS[name], overrides=overrides)
    run_dir = os.path.abspath(os.path.join(out, name))
    wall = os.path.join(run_dir, "report_wall_seconds.json")
    if not os.path.exists(os.path.join(run_dir, "model.keras")):
        print(f"== training {name} ({RUNS[name]} {' '.join(overrides)}) -> {run_dir}",
              file=stream, flush=True)
        start = time.perf_counter()
        Trainer(config, run_dir, stream=stream).train()
        with open(wall, "w") as f:
            json.dump({"seconds": time.perf_counter() - start, "steps": config.train.steps}, f)
    with open(wall) as f:
        return run_dir, json.load(f)


def _psnr(a, b):
    import numpy as np

    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))))


def _render(pipe, raw, **look):
    """Photos of ``raw`` in batches of 8; per-map looks (arrays or lists of
    len(raw)) are sliced along."""
    import numpy as np

    def part(value, i):
        return value[i:i + 8] if len(np.shape(value)) and len(value) == len(raw) else value

    return np.concatenate([pipe(raw[i:i + 8], **{k: part(v, i) for k, v in look.items()})
                           for i in range(0, len(raw), 8)])


def _region_means(photo, label, k):
    mask = label == k
    return photo[mask].astype(float).mean(0) if mask.sum() >= 16 else None


def measure(runs, examples):
    import numpy as np

    from tfsem import Pipeline
    from tfsem.metrics.segmentation import toy_oracle_scores
    from tfsem.styles import mean_styles
    from tfsem.inference.style_codes import encode_dataset_styles

    sean, spade = Pipeline.from_run(runs["sean"]), Pipeline.from_run(runs["spade_vae"])
    space = sean.label_space()
    from dev.report import real_val

    labels, photos = real_val(sean.config, examples, photos=True)
    photos = np.round((photos + 1.0) * 127.5).astype(np.uint8)
    raw = space.decode(labels)
    out = {"examples": int(len(labels))}
    # SEAN: own codes (reconstruction) and the training photos' per-class mean codes
    codes = np.stack([sean.encode_styles(raw[i], photos[i]) for i in range(len(raw))])
    sean_own = _render(sean, raw, style_codes=codes)
    train = encode_dataset_styles(sean, sean.config, max_examples=256)
    mean = mean_styles(train).codes[0]
    sean_mean = _render(sean, raw, style_codes=np.repeat(mean[None], len(raw), 0))
    # SPADE: the encoder's style of the photo (its mean), and random styles
    spade_own = np.concatenate([spade(raw[i], style=photos[i])[None] for i in range(len(raw))])
    spade_random = _render(spade, raw, seed=list(range(len(raw))))
    rows = {"SEAN, the photo's own region codes": sean_own,
            "SEAN, per-class mean codes": sean_mean,
            "SPADE+VAE, the photo's encoded style": spade_own,
            "SPADE+VAE, random styles": spade_random}
    out["oracle"] = {name: toy_oracle_scores(images, labels)["miou"]
                     for name, images in rows.items()}
    out["oracle"]["real photos (the oracle's ceiling)"] = toy_oracle_scores(photos, labels)["miou"]
    out["psnr"] = {"SEAN, own region codes": _psnr(sean_own, photos),
                   "SPADE+VAE, encoded style": _psnr(spade_own, photos),
                   "SEAN, mean codes": _psnr(sean_mean, photos),
                   "SPADE+VAE, random styles": _psnr(spade_random, photos)}
    # per-region transfer: A's render with its codes, then class k's code from B
    names = list(space.names)
    closed, others, spade_others, count = {}, [], [], 0
    for a in range(len(raw) - 1):
        b = a + 1
        base = sean_own[a]
        spade_b = spade(raw[a], style=photos[b])  # SPADE: B's (global) style
        spade_moves = []
        for j in set(np.unique(labels[a])):
            ma, mb = _region_means(spade_own[a], labels[a], j), _region_means(
                spade_b, labels[a], j)
            if ma is not None:
                spade_moves.append(np.abs(mb - ma).mean())
        if spade_moves:
            spade_others.append(float(np.max(spade_moves)))
        for name in TRANSFER:
            k = names.index(name)
            target = _region_means(photos[b], labels[b], k)
            before = _region_means(base, labels[a], k)
            if target is None or before is None:
                continue
            mixed = codes[a].copy()
            mixed[k] = codes[b][k]
            after_photo = sean(raw[a], style_codes=mixed[None])
            after = _region_means(after_photo, labels[a], k)
            gap = np.linalg.norm(target - before)
            if gap < 8:  # A and B already look alike there: nothing to measure
                continue
            closed.setdefault(name, []).append(1 - np.linalg.norm(target - after) / gap)
            moved = [np.abs(_region_means(after_photo, labels[a], j)
                            - _region_means(base, labels[a], j)).mean()
                     for j in set(np.unique(labels[a])) - {k}
                     if _region_means(base, labels[a], j) is not None]
            others.append(float(np.max(moved)) if moved else 0.0)
            count += 1
    out["transfer"] = {
        "transfers": count,
        "closed": {name: {"mean": float(np.mean(v)), "moved_toward_B": float(np.mean(
            np.array(v) > 0)), "n": len(v)} for name, v in closed.items()},
        "other_regions_max_shift": {"mean": float(np.mean(others)), "p95": float(
            np.percentile(others, 95)), "max": float(np.max(others))},
        "spade_other_regions_max_shift": {"mean": float(np.mean(spade_others)),
                                          "p95": float(np.percentile(spade_others, 95))}}
    return out


def _cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_markdown(path, result, walls, steps_cmd):
    lines = ["# SEAN vs SPADE (with its VAE) on toy_streets with per-region looks", "",
             f"Reproduce: `python dev/sean_report.py --out runs/sean_report --docs docs{steps_cmd}`",
             "", f"Machine: {_cpu()}, {os.cpu_count()} cores; TensorFlow CPU. Data: toy_streets "
             "`appearance: varied` (a per-scene look per region), 64x128, no instances; "
             f"{result['examples']} validation scenes.", "",
             "| run | config | steps | wall time |", "|---|---|---:|---:|"]
    for name, wall in walls.items():
        lines.append(f"| {name} | `{RUNS[name]}` | {wall['steps']} | {wall['seconds'] / 60:.1f} min |")
    lines += ["", "## Toy-oracle mIoU", "", "| photos | mIoU |", "|---|---:|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in result["oracle"].items()]
    lines += ["", "## Reconstruction (PSNR against the real photo)", "",
              "| photos | PSNR (dB) |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["psnr"].items()]
    t = result["transfer"]
    lines += ["", "## Per-region transfer (SEAN)", "",
              "Scene A rendered with its own region codes, then with one class's code from "
              "scene B. *Closed*: the share of the distance between A's and B's mean colour of "
              "that region (RGB) that the transfer closes (1: the region takes B's colour; 0: "
              "unchanged). *Other regions*: the largest change of another region's mean "
              "colour (grey levels, mean over channels).", "",
              "| region | transfers | closed (mean) | moved toward B |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['n']} | {v['mean']:.2f} | {v['moved_toward_B']:.0%} |"
              for k, v in t["closed"].items()]
    o, s = t["other_regions_max_shift"], t["spade_other_regions_max_shift"]
    lines += ["", f"Other regions' largest shift per transfer: mean {o['mean']:.1f}, 95th "
              f"percentile {o['p95']:.1f}, max {o['max']:.1f} grey levels. SPADE has one style "
              f"per image: taking B's style moves A's regions by up to {s['mean']:.1f} grey "
              f"levels on average (95th percentile {s['p95']:.1f}).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/sean_report")
    parser.add_argument("--docs", default="docs")
    parser.add_argument("--steps", type=int, default=None, help="both runs' budget")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--run", action="append", default=[], metavar="NAME=DIR")
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.run)
    runs, walls = {}, {}
    for name in RUNS:
        if name in given:
            runs[name], walls[name] = given[name], {"seconds": float("nan"), "steps": "?"}
        else:
            runs[name], walls[name] = _train(name, args.out, args.steps, sys.stdout)
    result = measure(runs, args.examples)
    print(json.dumps(result, indent=1))
    os.makedirs(args.docs, exist_ok=True)
    with open(os.path.join(args.out, "sean_report.json"), "w") as f:
        json.dump({"result": result, "walls": walls}, f, indent=1)
    write_markdown(os.path.join(args.docs, "sean_report.md"), result, walls,
                   f" --steps {args.steps}" if args.steps else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
