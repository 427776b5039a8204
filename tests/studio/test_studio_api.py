"""The studio's API (tfsem.studio.app) over each back end, good and bad input,
concurrent requests; in process through FastAPI's TestClient (httpx)."""

import base64
import io
import os
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient as _TestClient  # noqa: E402

from tfsem.data import toy_streets  # noqa: E402
from tfsem.data.labels import load_label_space  # noqa: E402
from tfsem.data.preprocess import resize_map  # noqa: E402
from tfsem.data.visualize import image_to_uint8  # noqa: E402
from tfsem.export.saved_model import export_saved_model  # noqa: E402
from tfsem.inference.feature_clusters import save_clusters  # noqa: E402
from tfsem.runs import load_run  # noqa: E402
from tfsem.studio.app import create_app  # noqa: E402
from tfsem.studio.backends import (DreamSource, KerasBackend, SavedModelBackend,  # noqa: E402
                                   ServingBackend, open_backend)
from tests.serving_standin import rest_stand_in  # noqa: E402
from tests.testing import run_module, save_untrained_run  # noqa: E402

SPACE = load_label_space("cityscapes")


def TestClient(app):
    """FastAPI's TestClient as a local browser is: ``Host: 127.0.0.1`` (the
    studio refuses other host names)."""
    return _TestClient(app, base_url="http://127.0.0.1")


def png(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data):
    return base64.b64encode(data).decode()


def example(i, height=32, width=64):
    ex = toy_streets.generate(i, height, width, split="test")
    return ex["label"].astype(np.uint8), ex["instance"].astype(np.uint16)


def render_body(i=0, **extra):
    label, instance = example(i)
    return {"label_png": b64(png(label)), "instance_png": b64(png(instance)), **extra}


def decode(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    semgan = save_untrained_run("semgan", root / "semgan")
    # Untrained with a large initial gain: different maps give clearly different photos.
    gaugan = save_untrained_run("gaugan", root / "gaugan", init_gain=1.0)
    backend = KerasBackend(str(gaugan))
    export = export_saved_model(backend.model, backend.config, str(root / "export" / "tiny"))
    return {"root": root, "gaugan": gaugan, "semgan": semgan, "backend": backend,
            "dream": DreamSource(str(semgan), backend.info), "export": export}


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs["backend"], runs["dream"])) as c:
        yield c


def keras_photo(model, label, instance):
    """The Keras model's own photo of raw ids (class indices through the label space)."""
    inputs = {"label": SPACE.encode(label)[None], "instance": instance.astype(np.int32)[None]}
    return image_to_uint8(model(inputs, training=False)[0].numpy())


def test_info_describes_the_model_and_its_label_space(client):
    info = client.get("/api/info").json()
    assert (info["height"], info["width"], info["backend"]) == (32, 64, "keras")
    classes = {c["name"]: c for c in info["label_space"]["classes"]}
    assert classes["car"]["id"] == 26 and classes["car"]["thing"]
    assert not classes["road"]["thing"] and classes["road"]["color"] == [128, 64, 128]
    assert info["dream"] and info["use_instances"] and not info["style_image"]
    assert client.get("/").status_code == 200 and "studio.js" in client.get("/").text
    assert client.get("/static/png.js").status_code == 200
    assert "/api/render" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs").text  # the OpenAPI page, its assets served here (offline)
    assert "/docs-assets/swagger-ui-bundle.js" in docs
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_render_is_the_models_photo_of_the_painted_map(client, runs):
    label, instance = example(0)
    photo = decode(client.post("/api/render", json=render_body(0)))
    assert photo.shape == (32, 64, 3) and photo.dtype == np.uint8
    np.testing.assert_array_equal(photo, keras_photo(runs["backend"].model, label, instance))
    response = client.post("/api/render", json=render_body(0))
    assert float(response.headers["X-Render-Ms"]) >= 0


def _huge_png_header():
    """A valid PNG header claiming 20000x20000 pixels (its data is not)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 99))
            + chunk(b"IEND", b""))


BAD_RENDERS = {
    "not_base64": ({"label_png": "%%%"}, 400, "label_png is not base64"),
    "jpeg": ({"label_png": b64(png(np.zeros((32, 64, 3), np.uint8), "JPEG"))}, 400,
             "must be a PNG of ids (8/16-bit grey or palette), this is a JPEG"),
    "rgb_png": ({"label_png": b64(png(np.zeros((32, 64, 3), np.uint8)))}, 400,
                "must be a single-channel id map"),
    "bad_ids": ({"label_png": b64(png(np.full((32, 64), 77, np.uint8)))}, 400,
                "outside the 'cityscapes' label space: 77"),
    "wrong_size": ({"label_png": b64(png(np.zeros((64, 64), np.uint8)))}, 400,
                   "the model works at 64x32"),
    "huge": ({"label_png": b64(_huge_png_header())}, 400, "the model works at 64x32"),
    "truncated": ({"label_png": b64(png(np.zeros((32, 64), np.uint8))[:40])}, 400,
                  "cannot decode the PNG"),
    "instance_size": (dict(render_body(), instance_png=b64(png(np.zeros((32, 32), np.uint16)))),
                      400, "instance_png is 32x32"),
    "style_photo": (dict(render_body(), style_image=b64(png(np.zeros((8, 8, 3), np.uint8)))),
                    400, "takes no style photo"),
    "clusters": (dict(render_body(), clusters={"26001": 1}), 400, "no appearance clusters"),
    "cluster_key": (dict(render_body(), clusters={"car": 1}), 400, "'car' is not an instance id"),
    "negative_seed": (dict(render_body(), seed=-1), 422, "seed"),
    "no_label": ({"seed": 1}, 422, "label_png"),
}


@pytest.mark.parametrize("case", sorted(BAD_RENDERS))
def test_bad_render_requests_get_a_4xx_saying_why_and_the_server_keeps_serving(client, case):
    body, code, message = BAD_RENDERS[case]
    response = client.post("/api/render", json=body)
    assert response.status_code == code, response.text
    assert message in str(response.json()["detail"])
    assert client.post("/api/render", json=render_body(1)).status_code == 200


def test_oversized_bodies_get_413(runs):
    with TestClient(create_app(runs["backend"], max_upload_bytes=2000)) as small:
        response = small.post("/api/render", json=render_body(0, style_image="A" * 4000))
        assert response.status_code == 413 and "limit of 2000 bytes" in response.json()["detail"]
        chunks = (b'{"label_png": "' + b"A" * 1000 for _ in range(3))  # no Content-Length
        response = small.post("/api/render", content=chunks,
                              headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert small.get("/api/info").status_code == 200


def test_concurrent_requests_each_get_their_own_photo(client):
    expected = {i: decode(client.post("/api/render", json=render_body(i))) for i in range(6)}
    assert not np.array_equal(expected[0], expected[1])
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: (i, client.post("/api/render", json=render_body(i))),
                                [0, 1, 2, 3, 4, 5] * 2))
    for i, response in answers:
        np.testing.assert_array_equal(decode(response), expected[i])


def _maps(response):
    assert response.status_code == 200, response.text
    body = response.json()
    shape = (body["height"], body["width"])
    label = np.frombuffer(base64.b64decode(body["label"]), "<u2").reshape(shape)
    instance = np.frombuffer(base64.b64decode(body["instance"]), "<i4").reshape(shape)
    return label, instance, body["source_size"]


def test_open_resizes_by_nearest_neighbour_and_checks_ids(client):
    label, instance = example(2, 64, 128)  # twice the model's size
    got_label, got_instance, source = _maps(client.post("/api/open", json={
        "label_png": b64(png(label)), "instance_png": b64(png(instance))}))
    assert source == [64, 128]
    expected = resize_map(tf.constant(np.stack([label, instance]).astype(np.int32)), (32, 64))
    np.testing.assert_array_equal(got_label, expected[0])
    np.testing.assert_array_equal(got_instance, expected[1])
    assert got_instance.max() > 26000  # 16-bit Cityscapes instance ids survive
    bad = client.post("/api/open", json={"label_png": b64(png(np.full((64, 128), 99, np.uint8)))})
    assert bad.status_code == 400 and "99" in bad.json()["detail"]
    mismatch = client.post("/api/open", json={"label_png": b64(png(label)),
                                              "instance_png": b64(png(instance[:32]))})
    assert mismatch.status_code == 400 and "instance_png is 128x32" in mismatch.json()["detail"]


def test_open_reads_a_colour_png_through_the_label_space(client):
    from tfsem.data.colors import ColorCodec

    label, instance = example(2, 64, 128)
    ids, _, _ = _maps(client.post("/api/open", json={"label_png": b64(png(label))}))
    colour = b64(png(ColorCodec(SPACE).to_colors(label)))  # RGB: read as colours ("auto")
    toy_map = {"153,153,153": 17, "#00008e": 26}  # poles and cars: colours shared by two ids
    got, _, _ = _maps(client.post("/api/open", json={"label_png": colour, "color_map": toy_map}))
    np.testing.assert_array_equal(got, ids)
    shared = client.post("/api/open", json={"label_png": colour})
    assert shared.status_code == 400 and "#999999 is ids [17, 18]" in shared.json()["detail"]
    rgb = ColorCodec(SPACE).to_colors(label)
    rgb[1, 2] = (5, 5, 5)
    off = client.post("/api/open", json={"label_png": b64(png(rgb)), "color_map": toy_map})
    assert off.status_code == 400 and "(y=1, x=2) #050505" in off.json()["detail"]
    as_ids = client.post("/api/open", json={"label_png": colour, "label_format": "ids"})
    assert as_ids.status_code == 400 and "RGB" in as_ids.json()["detail"]


def test_dream_samples_a_semgan_map_by_seed(client, runs):
    label, instance, _ = _maps(client.post("/api/dream", json={"seed": 3}))
    np.testing.assert_array_equal(label, runs["dream"].sample(3))
    np.testing.assert_array_equal(label, instance)  # the label map stands in, as in tfsem.dream
    assert set(np.unique(label)) <= {c.id for c in SPACE.classes}
    again, _, _ = _maps(client.post("/api/dream", json={"seed": 3}))
    np.testing.assert_array_equal(label, again)
    with TestClient(create_app(runs["backend"])) as no_dream:
        response = no_dream.post("/api/dream", json={"seed": 0})
        assert response.status_code == 404 and "--semgan" in response.json()["detail"]


def test_dream_truncation_with_a_style_semgan(client, runs):
    info = client.get("/api/info").json()
    assert info["dream"] and not info["dream_truncation"]  # the conv SemGAN has no styles
    response = client.post("/api/dream", json={"seed": 3, "truncation": 0.5})
    assert response.status_code == 400 and "block: style" in response.json()["detail"]
    style = DreamSource(str(save_untrained_run("semgan_style", runs["root"] / "style")),
                        runs["backend"].info)
    style.pipe.task.sampler.w_avg.assign(tf.ones([style.pipe.task.z_dim]))  # G_ema's
    with TestClient(create_app(runs["backend"], style)) as c:
        info = c.get("/api/info").json()
        assert info["dream_truncation"] and info["dream_style_inputs"] == style.style_inputs > 2
        own, _, _ = _maps(c.post("/api/dream", json={"seed": 3}))
        np.testing.assert_array_equal(own, style.sample(3, truncation=1.0))
        flat = [_maps(c.post("/api/dream", json={"seed": s, "truncation": 0}))[0]
                for s in (3, 4)]
        np.testing.assert_array_equal(flat[0], flat[1])  # psi 0: the average style
        np.testing.assert_array_equal(flat[0], style.sample(9, truncation=0.0))
        bad = c.post("/api/dream", json={"seed": 3, "truncation": 5})
        assert bad.status_code == 422 and "truncation" in bad.json()["detail"]
        # style mixing: the style inputs from mix_layer on take mix_seed's style
        mixed, _, _ = _maps(c.post("/api/dream", json={"seed": 3, "mix_seed": 5, "mix_layer": 2}))
        np.testing.assert_array_equal(mixed, style.sample(3, mix_seed=5, mix_layer=2))
        assert not np.array_equal(mixed, own)
        whole, _, _ = _maps(c.post("/api/dream", json={"seed": 3, "mix_seed": 5, "mix_layer": 0}))
        np.testing.assert_array_equal(whole, style.sample(5))  # every layer: seed 5's map
        bad = c.post("/api/dream", json={"seed": 3, "mix_seed": 5, "mix_layer": 99})
        assert bad.status_code == 400 and "mix-layer" in bad.json()["detail"]
        bad = c.post("/api/dream", json={"seed": 3, "mix_layer": 1})
        assert bad.status_code == 400 and "needs --mix-seed" in bad.json()["detail"]
    response = client.post("/api/dream", json={"seed": 3, "mix_seed": 4})
    assert response.status_code == 400 and "mix_seed" in response.json()["detail"]


def test_saved_model_and_serving_back_ends_render_the_same_photo(runs):
    label, instance = example(4)
    exported = SavedModelBackend(str(runs["root"] / "export" / "tiny"))  # the latest version
    assert exported.info.backend == "saved_model" and not exported.info.seed
    assert (exported.info.height, exported.info.width) == (32, 64)
    with TestClient(create_app(exported)) as c:
        photo = decode(c.post("/api/render", json=render_body(4)))
        assert c.get("/api/info").json()["backend"] == "saved_model"
        bad = c.post("/api/render", json=dict(render_body(4), clusters={"26001": 0}))
        assert bad.status_code == 400
    np.testing.assert_allclose(photo, keras_photo(runs["backend"].model, label, instance), atol=1)
    loaded = tf.saved_model.load(runs["export"])
    with rest_stand_in(loaded) as url:
        served = ServingBackend(str(runs["export"]), url, "tiny")
        with TestClient(create_app(served)) as c:
            np.testing.assert_array_equal(decode(c.post("/api/render", json=render_body(4))), photo)
    down = ServingBackend(str(runs["export"]), "http://127.0.0.1:9", "tiny")
    with TestClient(create_app(down)) as c:
        response = c.post("/api/render", json=render_body(4))
        assert response.status_code == 502 and "model server" in response.json()["detail"]


def test_multi_modal_models_take_seeds_style_photos_and_object_clusters(runs):
    vae = KerasBackend(str(save_untrained_run("gaugan_vae", runs["root"] / "vae")))
    assert vae.info.seed and vae.info.style_image and not vae.info.clusters
    photo = b64(png(toy_streets.generate(5, 32, 64, split="val")["image"]))
    with TestClient(create_app(vae)) as c:
        seed0, seed0_again, seed1, styled = (
            decode(c.post("/api/render", json=render_body(0, **extra)))
            for extra in ({"seed": 0}, {"seed": 0}, {"seed": 1}, {"style_image": photo}))
    np.testing.assert_array_equal(seed0, seed0_again)
    assert not np.array_equal(seed0, seed1) and not np.array_equal(seed0, styled)

    run = save_untrained_run("pix2pixhd_features", runs["root"] / "p2p")
    _, model = load_run(str(run))
    car = SPACE.encode(np.array([26]))[0]
    centres = np.random.default_rng(0).normal(size=(3, model.feat_num)).astype(np.float32) * 3
    save_clusters(str(run / "features.npz"), {int(car): centres}, {"k": 3})
    p2p = KerasBackend(str(run))
    assert p2p.info.clusters == {26: 3} and p2p.info.seed
    label, instance = example(0)
    cars = [int(i) for i in np.unique(instance) if i // 1000 == 26]
    assert cars, "the toy scene has a car"
    with TestClient(create_app(p2p)) as c:
        info = c.get("/api/info").json()
        assert info["clusters"] == {"26": 3}
        looks = [decode(c.post("/api/render", json=render_body(0, clusters={str(cars[0]): k})))
                 for k in range(3)]
    assert not np.array_equal(looks[0], looks[1]) and not np.array_equal(looks[1], looks[2])
    changed = np.any(looks[0] != looks[1], axis=-1)
    assert changed[instance == cars[0]].mean() > changed[instance != cars[0]].mean()


def test_back_end_and_cli_errors_name_the_problem(runs, tmp_path):
    with pytest.raises(ValueError, match="give it as --semgan"):
        open_backend(str(runs["semgan"]))
    with pytest.raises(ValueError, match="--serving-url and --serving-model go together"):
        open_backend(str(runs["export"]), serving_url="http://localhost:8501")
    with pytest.raises(FileNotFoundError, match="not a run directory, a .keras file or a SavedModel"):
        open_backend(str(tmp_path))
    with pytest.raises(ValueError, match="--semgan takes a SemGAN run"):
        DreamSource(str(runs["gaugan"]), runs["backend"].info)
    result = run_module("tfsem.studio", "--model", str(runs["semgan"]))
    assert result.returncode == 2 and "give it as --semgan" in result.stderr
    result = run_module("tfsem.studio", "--model", str(runs["gaugan"]), "--max-upload-mb", "0")
    assert result.returncode == 2 and "--max-upload-mb must be > 0" in result.stderr


def test_studio_command_serves_the_page_in_a_fresh_process(runs):
    """The CLI's smoke test: ``python -m tfsem.studio`` on a free port, as a user starts it."""
    import json
    import socket
    import subprocess
    import sys
    import urllib.request

    from tests.testing import REPO

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "tfsem.studio", "--model", str(runs["gaugan"]), "--semgan",
         str(runs["semgan"]), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=REPO)
    try:
        line = process.stdout.readline()
        assert f"on http://127.0.0.1:{port}/" in line, process.stderr.read()[-3000:]
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # uvicorn binds just after the line is printed
            try:
                info = json.load(urllib.request.urlopen(f"{url}/api/info", timeout=5))
                break
            except OSError:
                time.sleep(0.1)
        assert info["dream"] and info["width"] == 64
        request = urllib.request.Request(f"{url}/api/render", json.dumps(render_body(0)).encode(),
                                         {"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=60).read().startswith(b"\x89PNG")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_converted_official_spade_checkpoint_renders_the_official_photo(tmp_path):
    """The obvious model to open: an official NVlabs/SPADE checkpoint converted by
    tfsem.convert; the studio's photo of the fixture's maps is the official output."""
    pytest.importorskip("torch", reason="reading .pth checkpoints needs PyTorch")
    from tfsem.convert.converter import convert_checkpoint
    from tests.testing import reference_dir

    root = os.path.join(reference_dir(), "fixtures", "spade_cityscapes")
    convert_checkpoint(os.path.join(root, "checkpoint"), str(tmp_path / "run"))
    io_ = dict(np.load(os.path.join(root, "io.npz")))
    label, instance = io_["label_raw"][0], io_["instance"][0]
    with TestClient(create_app(open_backend(str(tmp_path / "run")))) as c:
        info = c.get("/api/info").json()
        assert (info["height"], info["width"]) == label.shape
        photo = decode(c.post("/api/render", json={
            "label_png": b64(png(label.astype(np.uint8))),
            "instance_png": b64(png(instance.astype(np.uint16)))}))
    official = np.round((io_["G_out"][0] + 1.0) * 127.5).clip(0, 255)
    assert np.abs(photo.astype(int) - official.astype(int)).max() <= 2
