"""Plot the toy-oracle scores of a training run over steps.

``python dev/plot_oracle.py --run runs/quickstart --out docs/quickstart_oracle.png``

Reads ``RUN/eval.jsonl`` (written by ``python -m tfsem.train`` on toy_streets
data; for a step logged twice, e.g. after a resume, the last entry wins) and
draws mIoU and pixel accuracy against the step with Pillow, and prints the
table as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from PIL import Image, ImageDraw

COLORS = {"oracle_miou": (200, 40, 60), "oracle_pixel_accuracy": (30, 90, 200)}


def read_eval(run_dir):
    path = os.path.join(run_dir, "eval.jsonl")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: not found (train on toy_streets data to get it)")
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                entry = json.loads(line)
                rows[entry["step"]] = entry
    return [rows[s] for s in sorted(rows)]


def plot(rows, out, width=640, height=400, margin=50):
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = margin, 20, width - 20, height - margin
    max_step = max(r["step"] for r in rows)
    draw.rectangle([left, top, right, bottom], outline="black")

    def xy(step, value):
        return (left + (right - left) * step / max_step, bottom - (bottom - top) * value)

    for tick in range(0, 11, 2):
        y = bottom - (bottom - top) * tick / 10
        draw.line([left - 4, y, left, y], fill="black")
        draw.text((left - 34, y - 6), f"{tick / 10:.1f}", fill="black")
        draw.line([left + 1, y, right - 1, y], fill=(230, 230, 230))
    for tick in range(0, 6):
        step = round(max_step * tick / 5)
        x = left + (right - left) * tick / 5
        draw.line([x, bottom, x, bottom + 4], fill="black")
        draw.text((x - 12, bottom + 8), str(step), fill="black")
    draw.text(((left + right) / 2 - 16, bottom + 26), "step", fill="black")
    for i, (key, color) in enumerate(COLORS.items()):
        points = [xy(r["step"], r[key]) for r in rows]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
        draw.text((right - 190, bottom - 40 + 14 * i), key.replace("oracle_", "toy oracle: "), fill=color)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    image.save(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory with eval.jsonl")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    rows = read_eval(args.run)
    plot(rows, args.out)
    print("| step | toy oracle mIoU | pixel accuracy |\n|---|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['oracle_miou']:.3f} | {r['oracle_pixel_accuracy']:.3f} |")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
