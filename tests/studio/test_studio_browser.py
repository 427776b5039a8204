"""The studio in a real browser: headless Chromium (Debian's /usr/bin/chromium)
driven by Playwright, on a tiny trained GauGAN and an untrained SemGAN. The
test paints, fills, picks, undoes, opens files, dreams and downloads as a
user would, and checks the downloaded labelIds PNGs pixel by pixel.

Without Chromium the test skips, unless TFSEM_REQUIRE_BROWSER=1 (``.ci/run``
installs Chromium and sets it), where a missing browser fails."""

import base64
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

pytest.importorskip("fastapi")

from tfsem.data import toy_streets  # noqa: E402
from tfsem.data.preprocess import resize_map  # noqa: E402
from tfsem.studio.app import create_app, serve_in_background  # noqa: E402
from tfsem.studio.backends import DreamSource, KerasBackend  # noqa: E402
from tests.testing import save_untrained_run, write_png  # noqa: E402

CHROMIUM = os.environ.get("TFSEM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
W, H = 64, 32
SKY, ROAD, CAR, BUILDING = 23, 7, 26, 11


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        reason = f"playwright is not installed ({err})"
    else:
        if os.path.exists(CHROMIUM):
            return sync_playwright
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("TFSEM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio_browser")
    # Untrained, with a large initial gain, so a stroke visibly changes the photo (the
    # tiny GauGAN trained 2 steps from SPADE's gain 0.02 renders a near-flat grey).
    backend = KerasBackend(str(save_untrained_run("gaugan", root / "gaugan", init_gain=1.0)))
    # a style SemGAN: the dream controls show the truncation slider
    dream = DreamSource(str(save_untrained_run("semgan_style", root / "semgan")), backend.info)
    dream.pipe.task.generator.w_avg.assign(tf.ones([dream.pipe.task.z_dim]))
    with serve_in_background(create_app(backend, dream)) as url:
        yield {"url": url, "root": root, "dream": dream}


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, studio):
    page = browser.new_page(accept_downloads=True)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(studio["url"])
    yield page
    page.close()
    assert not errors, errors


def wait_rendered(page):
    """Until the photo on screen is the answer to the newest painted state."""
    page.wait_for_function(
        "() => studio.shown === studio.seq && !studio.inflight && studio.seq > 0", timeout=60000)


def photo_bytes(page):
    return base64.b64decode(page.evaluate("""async () => {
        const r = await fetch(document.getElementById('photo').src);
        return bytesToBase64(new Uint8Array(await r.arrayBuffer())); }"""))


def downloaded_label(page, tmp_path, name):
    with page.expect_download() as info:
        page.click("#download-label")
    path = tmp_path / name
    info.value.save_as(path)
    image = Image.open(path)
    assert image.mode in ("L", "I;16"), image.mode  # a grey id map, as a folder dataset reads
    return np.asarray(image).astype(np.int32)


def stroke(page, points):
    box = page.locator("#canvas").bounding_box()

    def at(x, y):
        return box["x"] + (x + 0.5) * box["width"] / W, box["y"] + (y + 0.5) * box["height"] / H

    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(*point), steps=8)
    page.mouse.up()


def click_pixel(page, x, y):
    stroke(page, [(x, y)])


def test_paint_render_undo_open_dream_download(page, studio, tmp_path):
    wait_rendered(page)
    assert "gaugan (keras, 64x32, cityscapes)" in page.text_content("#model-name")
    first = photo_bytes(page)
    start = downloaded_label(page, tmp_path, "start.png")
    assert (start[:H // 2] == SKY).all() and (start[H // 2:] == ROAD).all()

    # Pick "car" through the search box, paint two strokes: two objects.
    page.fill("#search", "car")
    assert page.locator("#classes li:visible").count() <= 3
    page.click("#classes li[data-name='car']")
    assert "car (26)" in page.text_content("#current-name")
    page.select_option("#size", "4")
    stroke(page, [(10, 20), (30, 20)])
    stroke(page, [(45, 26), (55, 26)])
    wait_rendered(page)
    painted = downloaded_label(page, tmp_path, "painted.png")
    assert photo_bytes(page) != first  # the photo follows the painting
    assert (painted[20, 10:31] == CAR).all() and (painted[26, 45:56] == CAR).all()
    assert painted[2, 2] == SKY and painted[30, 2] == ROAD and painted[10, 40] == SKY
    changed = painted != start
    assert changed.sum() < 200 and set(np.unique(painted[changed])) == {CAR}  # pixel-exact
    ids = page.evaluate(f"[studio.instance[20 * {W} + 20], studio.instance[26 * {W} + 50], "
                        f"studio.instance[2 * {W} + 2]]")
    assert ids == [26001, 26002, SKY]  # one instance per thing stroke; stuff keeps its class

    # Undo the second stroke, redo it, undo again.
    page.click("#undo")
    wait_rendered(page)
    undone = downloaded_label(page, tmp_path, "undone.png")
    assert (undone[20, 10:31] == CAR).all() and (undone[26, 45:56] == ROAD).all()
    page.click("#redo")
    np.testing.assert_array_equal(downloaded_label(page, tmp_path, "redone.png"), painted)
    page.click("#undo")

    # Eyedropper on the sky, then fill the sky with "building".
    page.check("#tool-pick")
    click_pixel(page, 5, 5)
    assert "sky (23)" in page.text_content("#current-name")
    page.fill("#search", "")
    page.click("#classes li[data-name='building']")
    page.check("#tool-fill")
    click_pixel(page, 5, 5)
    wait_rendered(page)
    filled = downloaded_label(page, tmp_path, "filled.png")
    assert (filled[:H // 2][undone[:H // 2] == SKY] == BUILDING).all()
    assert (filled[H // 2:] == undone[H // 2:]).all()

    # Open a Cityscapes-style labelIds PNG (with its instance map) at twice the size.
    ex = toy_streets.generate(4, 2 * H, 2 * W, split="val")
    label_png = write_png(str(tmp_path / "scene_gtFine_labelIds.png"), ex["label"].astype(np.uint8))
    inst_png = write_png(str(tmp_path / "scene_gtFine_instanceIds.png"), ex["instance"].astype(np.uint16))
    page.set_input_files("#open-label", label_png)
    page.set_input_files("#open-instance", inst_png)
    page.click("#open")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('opened')")
    wait_rendered(page)
    expected = resize_map(tf.constant(ex["label"][None].astype(np.int32)), (H, W))[0].numpy()
    np.testing.assert_array_equal(downloaded_label(page, tmp_path, "opened.png"), expected)
    assert page.evaluate("Math.max(...studio.instance)") > 1000  # its instance ids came along

    # A JPEG is refused with the server's message on the page; the studio keeps working.
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(jpeg)
    page.set_input_files("#open-label", str(jpeg))
    page.set_input_files("#open-instance", [])
    page.click("#open")
    page.wait_for_selector("#status.error")
    assert "JPEG" in page.text_content("#status")

    # Dream a map with SemGAN, then paint on it.
    page.fill("#dream-seed", "2")
    page.click("#dream")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('dreamed')")
    wait_rendered(page)
    dreamed = downloaded_label(page, tmp_path, "dreamed.png")
    np.testing.assert_array_equal(dreamed, studio["dream"].sample(2))  # psi 1: its own style
    assert page.is_visible("#dream-truncation")
    page.fill("#dream-truncation", "0")  # the average style
    page.click("#dream")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('truncation 0.00')")
    wait_rendered(page)
    truncated = downloaded_label(page, tmp_path, "truncated.png")
    np.testing.assert_array_equal(truncated, studio["dream"].sample(2, truncation=0.0))
    assert page.text_content("#dream-truncation-value") == "0.00"
    page.fill("#dream-truncation", "1")  # style mixing with seed 5 from layer 2
    page.fill("#dream-mix-seed", "5")
    page.fill("#dream-mix-layer", "2")
    page.click("#dream")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('mixed with seed 5 from layer 2')")
    wait_rendered(page)
    mixed = downloaded_label(page, tmp_path, "mixed.png")
    np.testing.assert_array_equal(mixed, studio["dream"].sample(2, truncation=1.0, mix_seed=5,
                                                                mix_layer=2))
    page.check("#tool-brush")
    page.click("#classes li[data-name='car']")
    stroke(page, [(5, 5), (6, 5)])
    wait_rendered(page)
    assert downloaded_label(page, tmp_path, "dream_edit.png")[5, 5] == CAR

    with page.expect_download() as info:
        page.click("#download-photo")
    photo = Image.open(io.BytesIO(open(info.value.path(), "rb").read()))
    assert photo.size == (W, H) and photo.mode == "RGB"
    if os.environ.get("TFSEM_STUDIO_SCREENSHOT"):
        page.screenshot(path=os.environ["TFSEM_STUDIO_SCREENSHOT"], full_page=True)


def test_open_a_colour_label_png_with_a_colour_map(page, tmp_path):
    """An RGB label PNG is read through the label space's colours; the colour
    map file names the id of a colour two ids share (car and license plate)."""
    from tfsem.data.colors import ColorCodec
    from tfsem.data.labels import load_label_space

    space = load_label_space("cityscapes")
    label = np.full((H, W), SKY, np.int32)
    label[H // 2:] = ROAD
    label[20:26, 10:30] = CAR
    write_png(str(tmp_path / "map_gtFine_color.png"), ColorCodec(space).to_colors(label))
    (tmp_path / "map.json").write_text('{"#00008e": 26}')
    page.set_input_files("#open-label", str(tmp_path / "map_gtFine_color.png"))
    page.set_input_files("#open-instance", [])
    page.set_input_files("#open-colormap", str(tmp_path / "map.json"))
    page.click("#open")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('opened map_gtFine')")
    wait_rendered(page)
    np.testing.assert_array_equal(downloaded_label(page, tmp_path, "opened.png"), label)
    page.set_input_files("#open-colormap", [])
    page.click("#open")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('#00008e is ids [26, -1]')")


@pytest.fixture(scope="module")
def photo_studio(tmp_path_factory):
    """The studio over an untrained photo-to-photo pix2pix (Keras back end)."""
    from tfsem.config import ExperimentConfig, config_from_dict, save_config
    from tfsem.train.build import build_model

    run = tmp_path_factory.mktemp("photo_studio") / "run"
    os.makedirs(run)
    config = config_from_dict(ExperimentConfig, {
        "name": "photo", "data": {"input": "image", "use_instances": False,
                                  "toy": {"height": H, "width": W}},
        "model": {"type": "pix2pix", "pix2pix": {"num_downs": 5, "ngf": 8, "ndf": 8}}})
    model = build_model(config)
    model.build_networks()
    model.save(str(run / "model.keras"))
    save_config(config, str(run / "config.json"))
    backend = KerasBackend(str(run), precision="float32")
    with serve_in_background(create_app(backend)) as url:
        yield {"url": url, "backend": backend}


def test_a_photo_model_opens_a_photo_instead_of_painting(browser, photo_studio, tmp_path):
    source = toy_streets.degrade(toy_streets.generate(1, 2 * H, 2 * W, split="val")["image"])
    write_png(str(tmp_path / "in.png"), source)
    page = browser.new_page(accept_downloads=True)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(photo_studio["url"])
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('open a photo')")
    assert page.is_hidden("#palette") and page.is_hidden("#files-controls")
    assert "photo to photo" in page.text_content("#model-name")
    page.set_input_files("#photo-file", str(tmp_path / "in.png"))
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('translated in.png')")
    with page.expect_download() as info:
        page.click("#photo-download")
    got = np.asarray(Image.open(info.value.path()))
    page.close()
    expected = photo_studio["backend"].pipe(source)
    np.testing.assert_array_equal(got, expected)
    assert not errors, errors
