"""The studio's region-style gallery (SEAN) in headless Chromium: upload style
photos (encoded over their own label map or the painted one), apply one
photo's style to a region with an alpha, interpolate every region, reset to
the mean codes; every photo on screen is the model's render of the codes the
page holds, and the codes are the official transfer's blend. The API's
checks of the codes come first (no browser needed)."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")

from tests.studio.test_studio_api import TestClient, b64, png  # noqa: E402

from tfsem.data import toy_streets  # noqa: E402
from tfsem.studio.app import create_app, serve_in_background  # noqa: E402
from tfsem.studio.backends import KerasBackend  # noqa: E402
from tfsem.styles import Styles, save_styles  # noqa: E402
from tests.studio.test_studio_browser import (CHROMIUM, CHROMIUM_ARGS, H, W,  # noqa: E402
                                              _browser_or_skip, photo_bytes, wait_rendered)
from tests.testing import save_untrained_run, write_png  # noqa: E402

pytestmark = pytest.mark.xdist_group("studio_sean")
SLOTS, LENGTH = 35, 8


@pytest.fixture(scope="module")
def sean(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio_sean")
    run = save_untrained_run("sean", root / "sean", init_gain=1.0)
    mean = np.random.default_rng(0).normal(size=(SLOTS, LENGTH)).astype(np.float32)
    save_styles(str(run / "mean_codes.npz"), Styles(mean[None], np.ones((1, SLOTS), bool)))
    return {"root": root, "backend": KerasBackend(str(run)), "mean": mean}


def test_the_api_encodes_photos_and_checks_codes(sean):
    backend = sean["backend"]
    client = TestClient(create_app(backend))
    info = client.get("/api/info").json()["style_codes"]
    assert (info["slots"], info["length"], info["encode"]) == (SLOTS, LENGTH, True)
    default = np.frombuffer(base64.b64decode(info["default"]), "<f4").reshape(SLOTS, LENGTH)
    np.testing.assert_array_equal(default, sean["mean"])  # the run's mean codes
    ex = toy_streets.generate(3, H, W, split="val")
    label = ex["label"].astype(np.uint8)
    answer = client.post("/api/encode_style", json={"style_image": b64(png(ex["image"])),
                                                    "label_png": b64(png(label))})
    assert answer.status_code == 200, answer.text
    codes = np.frombuffer(base64.b64decode(answer.json()["codes"]), "<f4").reshape(SLOTS, LENGTH)
    np.testing.assert_allclose(codes, backend.pipe.encode_styles(label, ex["image"]), atol=1e-6)
    held = set(np.unique(backend.pipe.task.class_indices(label[None]).numpy()))
    assert {k for k, p in enumerate(answer.json()["present"]) if p} == held
    render = client.post("/api/render", json={"label_png": b64(png(label)),
                                              "style_codes": answer.json()["codes"]})
    assert render.status_code == 200
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(render.content))),
                                  backend.pipe(label, style_codes=codes[None]))
    for bad, message in ((b64(b"\0" * 12), "must hold 35 x 8 float32 values"),
                         (b64(np.full(SLOTS * LENGTH, np.nan, "<f4").tobytes()), "finite"),
                         ("***", "not base64")):
        reply = client.post("/api/render", json={"label_png": b64(png(label)),
                                                 "style_codes": bad})
        assert reply.status_code == 400 and message in reply.json()["detail"], reply.text


def test_the_style_gallery_in_a_browser(sean, tmp_path):
    sync_playwright = _browser_or_skip()
    backend, pipe = sean["backend"], sean["backend"].pipe
    photos = []
    for i in (5, 6):
        ex = toy_streets.generate(i, H, W, split="val")
        photos.append((write_png(str(tmp_path / f"p{i}.png"), ex["image"]),
                       write_png(str(tmp_path / f"p{i}_labels.png"), ex["label"].astype(np.uint8)),
                       ex))
    with serve_in_background(create_app(backend)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url)
        wait_rendered(page)
        assert page.is_visible("#codes-controls")
        label = np.array(page.evaluate("Array.from(studio.label)"), np.int32).reshape(H, W)

        def codes_on_page():
            return np.array(page.evaluate("Array.from(studio.codes)"),
                            np.float32).reshape(SLOTS, LENGTH)

        def shown():
            return np.asarray(Image.open(io.BytesIO(photo_bytes(page))))

        np.testing.assert_array_equal(codes_on_page(), sean["mean"])
        np.testing.assert_array_equal(shown(), pipe(label, style_codes=sean["mean"][None]))
        # photo A with its own label map, photo B over the painted map
        page.set_input_files("#codes-photo", photos[0][0])
        page.set_input_files("#codes-photo-label", photos[0][1])
        page.click("#codes-add")
        page.wait_for_function("() => studio.gallery.length === 1")
        page.set_input_files("#codes-photo", photos[1][0])
        page.set_input_files("#codes-photo-label", [])
        page.click("#codes-add")
        page.wait_for_function("() => studio.gallery.length === 2")
        code_a = pipe.encode_styles(photos[0][2]["label"], photos[0][2]["image"])
        code_b = pipe.encode_styles(label, photos[1][2]["image"])
        # B's road at alpha 0.25 (B is selected: the last added)
        road = pipe.label_space().names.index("road")
        page.select_option("#codes-class", str(road))
        page.fill("#codes-alpha", "25")
        page.click("#codes-apply")
        wait_rendered(page)
        expected = sean["mean"].copy()
        expected[road] = 0.75 * expected[road] + 0.25 * code_b[road]
        np.testing.assert_allclose(codes_on_page(), expected, atol=1e-5)
        np.testing.assert_array_equal(shown(), pipe(label, style_codes=codes_on_page()[None]))
        # every region half way to A (A's classes): an interpolation
        page.click(".style-thumb >> nth=0")
        page.select_option("#codes-class", "all")
        page.fill("#codes-alpha", "50")
        page.click("#codes-apply")
        wait_rendered(page)
        held = np.any(code_a != 0, axis=-1)
        expected[held] = 0.5 * expected[held] + 0.5 * code_a[held]
        np.testing.assert_allclose(codes_on_page(), expected, atol=1e-5)
        np.testing.assert_array_equal(shown(), pipe(label, style_codes=codes_on_page()[None]))
        page.click("#codes-mean")
        wait_rendered(page)
        np.testing.assert_array_equal(codes_on_page(), sean["mean"])
        np.testing.assert_array_equal(shown(), pipe(label, style_codes=sean["mean"][None]))
        browser.close()
    assert not errors, errors
