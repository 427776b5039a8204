"""A screenshot of the studio as a user sees it (docs/studio.png):

    python dev/studio_screenshot.py --model runs/quickstart [--semgan RUN] \
        [--labels examples/labels/toy_0_gtFine_labelIds.png \
         --instances examples/instances/toy_0_gtFine_instanceIds.png] \
        --out docs/studio.png

Starts the studio on ``--model`` in this process, opens it in headless
Chromium (``/usr/bin/chromium``, Playwright), opens the label map (default:
the repository's example street), paints a car and a tree, waits for the
photo and saves the page. Needs ``pip install tfsem[studio] playwright`` and
``apt-get install chromium``.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _stroke(page, points, width, height):
    box = page.locator("#canvas").bounding_box()

    def at(x, y):
        return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height

    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(*point), steps=10)
    page.mouse.up()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--semgan")
    parser.add_argument("--labels",
                        default=os.path.join(REPO, "examples", "labels", "toy_0_gtFine_labelIds.png"))
    parser.add_argument("--instances",
                        default=os.path.join(REPO, "examples", "instances", "toy_0_gtFine_instanceIds.png"))
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "studio.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from tfsem.studio.app import create_app, serve_in_background
    from tfsem.studio.backends import DreamSource, open_backend

    backend = open_backend(args.model)
    dream = DreamSource(args.semgan, backend.info) if args.semgan else None
    h, w = backend.info.height, backend.info.width
    wait = "() => studio.shown === studio.seq && !studio.inflight && studio.seq > 0"
    with serve_in_background(create_app(backend, dream)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 560})
        page.goto(url)
        page.wait_for_function(wait, timeout=120000)
        page.set_input_files("#open-label", args.labels)
        if args.instances and backend.info.use_instances:
            page.set_input_files("#open-instance", args.instances)
        page.click("#open")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('opened')")
        page.select_option("#size", "8" if w <= 256 else "16")
        page.click("#classes li[data-name='car']")
        _stroke(page, [(0.15 * w, 0.78 * h), (0.32 * w, 0.8 * h)], w, h)
        page.click("#classes li[data-name='vegetation']")
        _stroke(page, [(0.72 * w, 0.3 * h), (0.74 * w, 0.55 * h), (0.8 * w, 0.35 * h)], w, h)
        page.fill("#search", "veg")
        page.wait_for_function(wait, timeout=120000)
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
