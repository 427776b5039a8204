"""The studio's web app: a FastAPI app over one back end (``backends.py``)
and the static page (``static/``). Its API (also at ``/docs``, the OpenAPI page):

* ``GET /api/info``: the model (size, label space with names, colours and
  which classes are "things", what can vary) and whether dreaming is on.
* ``POST /api/render``: ``label_png`` (base64 8/16-bit grey PNG of raw ids at
  the model's size), ``instance_png``, ``seed``, ``style_image`` (base64
  PNG/JPEG photo), ``clusters`` {instance id: cluster} -> ``image/png``;
  ``X-Render-Ms`` says how long rendering took.
* ``POST /api/encode_style`` (models with region style codes, SEAN, from a
  run dir): ``style_image`` (base64 PNG/JPEG photo) and ``label_png`` (its
  label map, any size; the page sends the photo's own map or the painted one)
  -> ``codes`` (base64 float32 little-endian [slots * length]) and
  ``present`` (which classes the photo's map holds). ``/api/render`` then
  takes ``style_codes`` in the same form (the page blends them per class).
* ``POST /api/open``: a label PNG (and instance PNG) of any size -> the raw
  maps at the model's size (nearest neighbour), as base64 little-endian
  arrays (label uint16, instance int32), checked against the label space. An
  RGB / RGBA label PNG is read as colours (``label_format``: exact
  label-space colours, ``color_map`` for colours shared by several ids).
* ``POST /api/dream``: ``seed`` -> a SemGAN label map, in the same form.
* ``POST /api/translate`` (photo-to-photo models, ``/api/info`` ``input``:
  ``image``): ``image`` (base64 PNG/JPEG photo, any size) -> ``image/png``.

Bad input is a 4xx whose ``detail`` says what is wrong (the page shows it);
no input gives a 500. Limits, each checked before the work it would cost:

* request bodies over ``max_upload_bytes`` get 413 before they are read whole;
* JSON is parsed strictly: ``NaN`` / ``Infinity`` literals are a 400;
* a PNG's size is read from its header before it is decoded: ``/api/render``
  takes the model's size only, ``/api/open`` and style photos up to
  ``max_pixels`` (default 4096 x 4096);
* at most ``max_concurrent`` requests decode or render at once; the others
  wait up to ``queue_seconds``, then get 503 with ``Retry-After``;
* the ``Host`` header must name this machine (``127.0.0.1``, ``localhost``,
  ``::1``) or a host given with ``--allow-host``: a web page cannot reach
  the studio through DNS rebinding. No CORS headers are sent.

Renders are serialised per model (one lock in the back end), so concurrent
users each get their own answer.

FastAPI + uvicorn: the ecosystem's default ASGI pair; pydantic request models
give the OpenAPI page and the 422 checks for free, and TestClient (httpx) tests
the app in process.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import re
import socket
import threading
import time
from importlib import resources
from typing import Dict, Literal, Optional, Sequence

import numpy as np
import tensorflow as tf
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field

from tfsem.data.preprocess import resize_map
from tfsem.data.colors import ColorCodec
from tfsem.data.readers import DataError, decode_color_png, decode_map_png, is_colour_png, png_size
from tfsem.studio.backends import codes_base64

__all__ = ["DEFAULT_MAX_CONCURRENT", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_UPLOAD_BYTES",
           "LOCAL_HOSTS", "create_app", "serve_in_background"]

DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
#: the largest label map / photo /api/open and the style upload decode (pixels)
DEFAULT_MAX_PIXELS = 4096 * 4096
#: requests that decode or render at once (each may hold max_pixels of maps)
DEFAULT_MAX_CONCURRENT = 2
#: how long a request waits for a slot before its 503
DEFAULT_QUEUE_SECONDS = 30.0
#: the Host names always accepted (this machine)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class RenderRequest(BaseModel):
    label_png: str = Field(description="base64 grey PNG (8 or 16 bit) of raw label ids, at "
                                       "the model's height x width")
    instance_png: Optional[str] = Field(None, description="base64 grey PNG of instance ids "
                                                          "(same size); default: the label map")
    seed: int = Field(0, ge=0, lt=2**31, description="picks the look of multi-modal models")
    style_image: Optional[str] = Field(None, description="base64 PNG/JPEG photo whose style "
                                                         "to copy (VAE / instance features)")
    clusters: Optional[Dict[str, int]] = Field(
        None, description="instance id -> appearance cluster (pix2pixHD instance features)")
    style_codes: Optional[str] = Field(
        None, description="base64 float32 little-endian [slots * length]: one style code per "
                          "class (SEAN); default: the model's default codes")


class EncodeStyleRequest(BaseModel):
    style_image: str = Field(description="base64 PNG/JPEG photo whose region styles to encode")
    label_png: str = Field(description="base64 grey PNG of the photo's raw label ids, any size")


class StyleCodes(BaseModel):
    codes: str = Field(description="base64 float32 little-endian [slots * length]")
    present: list = Field(description="per class: whether the photo's map holds it")


class OpenRequest(BaseModel):
    label_png: str = Field(description="base64 PNG of the label map, any size: raw ids (8/16-bit "
                                       "grey or palette index) or each class in its colour")
    instance_png: Optional[str] = Field(None, description="base64 grey PNG of instance ids")
    label_format: Literal["auto", "ids", "colors"] = Field(
        "auto", description="auto: an RGB or RGBA PNG holds colours (exact label-space "
                            "colours), a grey or palette PNG ids")
    color_map: Optional[Dict[str, int]] = Field(
        None, description="colours: colour ('#rrggbb' or 'r,g,b') -> label id, for colours the "
                          "palette shares between ids or lacks")


class TranslateRequest(BaseModel):
    image: str = Field(description="base64 PNG/JPEG photo, any size (resized to the model's)")


class DreamRequest(BaseModel):
    seed: int = Field(0, ge=0, lt=2**31)
    truncation: Optional[float] = Field(
        None, ge=0.0, le=2.0, description="a style SemGAN's truncation psi (1: the seed's own "
                                          "style, 0: the average; /api/info dream_truncation)")
    mix_seed: Optional[int] = Field(
        None, ge=0, lt=2**31, description="a style SemGAN's style mixing: the style inputs from "
                                          "mix_layer on take this seed's style")
    mix_layer: Optional[int] = Field(
        None, ge=0, description="the first mixed style input (default: half of them; /api/info "
                                "dream_style_inputs: how many there are)")


class Maps(BaseModel):
    height: int
    width: int
    label: str = Field(description="base64 uint16 little-endian raw label ids, row-major")
    instance: str = Field(description="base64 int32 little-endian instance ids, row-major")
    source_size: list = Field(description="[height, width] of the map before resizing")


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``limit`` bytes (by the
    Content-Length header, and counted while reading for chunked bodies)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def _refuse(self, send):
        body = (b'{"detail":"request body over the studio\'s limit of %d bytes"}' % self.limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        received, started, refused = 0, False, False

        async def limited_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # answer 413 now; the app sees the client go
                    if not started:
                        await self._refuse(send)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return  # the 413 is out; what the app answers to the disconnect is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


class HostCheck:
    """ASGI middleware: 400 unless the ``Host`` header names an allowed host
    (DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends
    ``Host: evil.example``)."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, {h.lower().strip("[]") for h in hosts}

    @staticmethod
    def hostname(value: str) -> str:
        value = value.strip().lower()
        if value.startswith("["):  # [::1]:8000
            return value[1:value.find("]")] if "]" in value else value
        return value.rsplit(":", 1)[0] if value.count(":") == 1 else value

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if self.hostname(host) in self.hosts:
            return await self.app(scope, receive, send)
        body = json.dumps({"detail": f"Host {host[:100]!r} is not allowed; start the studio "
                                     "with --allow-host NAME to serve that name"}).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class StrictJSON:
    """ASGI middleware: a JSON body with ``NaN`` / ``Infinity`` literals (not
    JSON; Python's parser accepts them) or nested deeper than 64 is a 400,
    before the app parses it. Runs inside :class:`BodyLimit` (bodies are bounded)."""

    MAX_DEPTH = 64

    def __init__(self, app):
        self.app = app

    def _problem(self, body: bytes):
        def constant(name):
            raise ValueError(f"{name} is not a JSON value")
        try:
            value = json.loads(body, parse_constant=constant)
        except RecursionError:
            return "the JSON body is nested too deep"
        except ValueError as err:
            return f"the body is not valid JSON ({err})"
        stack = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if depth > self.MAX_DEPTH:
                return "the JSON body is nested too deep"
            if isinstance(item, dict):
                stack.extend((v, depth + 1) for v in item.values())
            elif isinstance(item, list):
                stack.extend((v, depth + 1) for v in item)
        return None

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        if scope["type"] != "http" or scope.get("method") != "POST" or \
                b"json" not in headers.get(b"content-type", b""):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went (or BodyLimit refused it)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = self._problem(body) if body else None
        if problem:
            data = json.dumps({"detail": problem}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _bytes(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, f"{field} is not base64") from None


def _map(value: str, field: str, what: str, max_pixels: int, size=None) -> np.ndarray:
    """An id map of a base64 PNG; its size (``size`` exactly, else at most
    ``max_pixels``) is checked on the PNG header, before anything is decoded."""
    data = _bytes(value, field)
    try:
        width, height = png_size(data, field, what)
        if size is not None and (height, width) != tuple(size):
            raise HTTPException(400, f"{field} is {width}x{height}, the model works at "
                                     f"{size[1]}x{size[0]} (POST /api/open resizes)")
        return decode_map_png(data, field, what, max_pixels=max_pixels)
    except DataError as err:
        raise HTTPException(400, str(err)) from None


def _instance_map(value: Optional[str], label: np.ndarray,
                  max_pixels: int) -> Optional[np.ndarray]:
    """The request's instance map (None when not sent), of the label map's size."""
    if value is None:
        return None
    instance = _map(value, "instance_png", "instance map", max_pixels, label.shape)
    if instance.shape != label.shape:
        raise HTTPException(400, f"instance_png is {instance.shape[1]}x{instance.shape[0]}, "
                                 f"label_png {label.shape[1]}x{label.shape[0]}")
    return instance


def _photo(value: str, max_pixels: int, field: str = "style_image") -> np.ndarray:
    data = _bytes(value, field)
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels:
            raise HTTPException(400, f"{field} is {image.width}x{image.height}, more than "
                                     f"{max_pixels} pixels")
        return np.asarray(image.convert("RGB"))
    except HTTPException:
        raise
    except Exception as err:  # PIL raises many types for corrupt files
        raise HTTPException(400, f"{field}: cannot decode the image ({type(err).__name__})") from err


def _maps_json(label: np.ndarray, instance: np.ndarray, source) -> dict:
    return Maps(height=label.shape[0], width=label.shape[1],
                label=base64.b64encode(label.astype("<u2").tobytes()).decode(),
                instance=base64.b64encode(instance.astype("<i4").tobytes()).decode(),
                source_size=list(source)).model_dump()


def _add_docs_page(app: FastAPI) -> None:
    """``/docs``: the OpenAPI page, from the swagger-ui-bundle package when installed
    (tfsem[studio]: works offline), else FastAPI's default (Swagger UI from a CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        assets = None
    else:
        app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
        assets = "/docs-assets"

    @app.get("/docs", include_in_schema=False)
    def docs():
        if assets is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="tfsem studio API")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="tfsem studio API",
                                   swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{assets}/swagger-ui.css",
                                   swagger_favicon_url=f"{assets}/favicon-32x32.png")


def create_app(backend, dream=None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, allowed_hosts: Sequence[str] = (),
               max_concurrent: int = DEFAULT_MAX_CONCURRENT,
               queue_seconds: float = DEFAULT_QUEUE_SECONDS) -> FastAPI:
    """The studio app over ``backend`` (``tfsem.studio.backends``) and, for the
    dream button, a ``DreamSource``; the limits are the module doc's
    (``allowed_hosts`` adds to ``LOCAL_HOSTS``)."""
    for name, value in (("max_upload_bytes", max_upload_bytes), ("max_pixels", max_pixels),
                        ("max_concurrent", max_concurrent)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if not (isinstance(queue_seconds, (int, float)) and 0 <= queue_seconds < 3600):
        raise ValueError(f"queue_seconds must be in [0, 3600), got {queue_seconds!r}")
    info = backend.info
    slots = threading.BoundedSemaphore(max_concurrent)

    @contextlib.contextmanager
    def slot():
        """One of ``max_concurrent`` decode/render slots, or a 503."""
        if not slots.acquire(timeout=queue_seconds):
            raise HTTPException(503, f"the studio is busy ({max_concurrent} requests at "
                                     "work); try again", headers={"Retry-After": "2"})
        try:
            yield
        finally:
            slots.release()
    space = info.space
    app = FastAPI(title="tfsem studio", version="1", docs_url=None, redoc_url=None,
                  description="Paint a label map, get the photo. The page is at /.")
    static = resources.files("tfsem.studio") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _add_docs_page(app)

    def check_ids(raw: np.ndarray, field: str) -> None:
        try:
            space.encode(raw, info.dont_care, where=field)
        except ValueError as err:
            raise HTTPException(400, str(err)) from None

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(os.path.join(str(static), "index.html"))

    @app.get("/api/info")
    def get_info():
        return {**info.to_json(), "dream": dream is not None,
                "dream_truncation": dream is not None and dream.has_style_controls,
                "dream_style_inputs": dream.style_inputs if dream is not None else 0,
                "max_upload_bytes": max_upload_bytes}

    @app.post("/api/render", response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "the photo"}})
    def render(request: RenderRequest):
        # what is refused without decoding anything comes first
        labels_only("/api/render")
        if request.style_image is not None and not info.style_image:
            raise HTTPException(400, "this model takes no style photo")
        per_instance = _clusters(request.clusters)
        if per_instance and not info.clusters:
            raise HTTPException(400, "this model has no appearance clusters to choose from")
        codes = (None if request.style_codes is None
                 else _codes(request.style_codes, info.style_codes))
        size = (info.height, info.width)
        with slot():
            label = _map(request.label_png, "label_png", "label map", max_pixels, size)
            check_ids(label, "label_png")
            instance = _instance_map(request.instance_png, label, max_pixels)
            style = (None if request.style_image is None
                     else _photo(request.style_image, max_pixels))
            start = time.perf_counter()
            png = _render(label, instance, request.seed, style, per_instance, codes)
        elapsed = (time.perf_counter() - start) * 1000
        return Response(png, media_type="image/png", headers={"X-Render-Ms": f"{elapsed:.0f}"})

    @contextlib.contextmanager
    def model_errors():
        """The back end's errors as HTTP answers: bad input 400, a failed server 502."""
        try:
            yield
        except (ValueError, tf.errors.InvalidArgumentError) as err:
            raise HTTPException(400, getattr(err, "message", None) or str(err)) from None
        except (OSError, RuntimeError) as err:  # the serving back end: down, or an error
            raise HTTPException(502, f"the model server failed: {err}") from None

    def _render(label, instance, seed, style, per_instance, codes=None):
        extra = {} if codes is None else {"style_codes": codes}
        with model_errors():
            return backend.render(label, instance, seed=seed, style=style,
                                  per_instance=per_instance, **extra)

    def labels_only(what: str) -> None:
        if info.input == "image":
            raise HTTPException(400, f"{what}: this model translates photos (POST /api/translate)")

    @app.post("/api/translate", response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "the photo"}})
    def translate(request: TranslateRequest):
        if info.input != "image":
            raise HTTPException(400, "this model renders label maps (POST /api/render); "
                                     "/api/translate is for photo-to-photo models")
        with slot():
            photo = _photo(request.image, max_pixels, "image")
            start = time.perf_counter()
            with model_errors():
                png = backend.translate(photo)
        elapsed = (time.perf_counter() - start) * 1000
        return Response(png, media_type="image/png", headers={"X-Render-Ms": f"{elapsed:.0f}"})

    @app.post("/api/encode_style", response_model=StyleCodes)
    def encode_style(request: EncodeStyleRequest):
        if not (info.style_codes and info.style_codes["encode"]):
            raise HTTPException(400, "this model takes no region style codes from photos (a "
                                     "SEAN run dir does)")
        with slot():
            label = _map(request.label_png, "label_png", "label map", max_pixels)
            check_ids(label, "label_png")
            photo = _photo(request.style_image, max_pixels)
            try:
                codes = backend.encode_style(label, photo)
            except ValueError as err:
                raise HTTPException(400, str(err)) from None
        return {"codes": codes_base64(codes),
                "present": [bool(v) for v in np.any(codes != 0, axis=-1)]}

    def _label_map(request: OpenRequest) -> np.ndarray:
        """An opened label map: ids, or colours read through the label space."""
        data = _bytes(request.label_png, "label_png")
        colours = request.label_format == "colors" or (
            request.label_format == "auto" and is_colour_png(data[:33]))
        if not colours:
            if request.color_map is not None:
                raise HTTPException(400, "color_map: only for colour label maps")
            return _map(request.label_png, "label_png", "label map", max_pixels)
        try:
            codec = ColorCodec(space, request.color_map, where="color_map")
            return decode_color_png(data, "label_png", codec, max_pixels)
        except (DataError, ValueError) as err:
            raise HTTPException(400, str(err)) from None

    @app.post("/api/open", response_model=Maps)
    def open_maps(request: OpenRequest):
        labels_only("/api/open")
        with slot():
            label = _label_map(request)
            check_ids(label, "label_png")
            instance = _instance_map(request.instance_png, label, max_pixels)
            instance = label if instance is None else instance
            size = (info.height, info.width)
            both = resize_map(tf.constant(np.stack([label, instance])), size).numpy()
            return _maps_json(both[0], both[1], label.shape)

    @app.post("/api/dream", response_model=Maps)
    def dream_map(request: DreamRequest):
        if dream is None:
            raise HTTPException(404, "no SemGAN given: start the studio with --semgan RUN")
        controls = {k: v for k, v in (("truncation", request.truncation),
                                      ("mix_seed", request.mix_seed),
                                      ("mix_layer", request.mix_layer)) if v is not None}
        if controls and not dream.has_style_controls:
            raise HTTPException(400, f"{', '.join(controls)}: the dream SemGAN has no style "
                                     "generator (model.semgan.block: style)")
        with slot(), model_errors():
            label = dream.sample(request.seed, **controls)
        return _maps_json(label, label, label.shape)

    @app.exception_handler(DataError)
    def data_error(_, err: DataError):
        return JSONResponse({"detail": str(err)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_, err: RequestValidationError):
        # FastAPI's 422 echoes the input: made JSON-safe, never a 500
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: "
                    f"{e.get('msg', 'invalid')}" for e in err.errors()]
        return JSONResponse({"detail": "; ".join(problems)[:2000]}, status_code=422)

    app.add_middleware(StrictJSON)
    app.add_middleware(BodyLimit, limit=max_upload_bytes)  # outside StrictJSON: bounds it
    app.add_middleware(HostCheck, hosts=LOCAL_HOSTS + tuple(allowed_hosts))
    return app


#: instance ids and clusters: ASCII digits, int32 range
_INT = re.compile(r"-?[0-9]{1,10}")
MAX_CLUSTER_CHOICES = 4096


def _codes(value: str, shape: Optional[dict]) -> np.ndarray:
    """``style_codes``: base64 float32 LE of exactly slots * length finite values."""
    if not shape:
        raise HTTPException(400, "this model takes no style codes")
    data = _bytes(value, "style_codes")
    count = shape["slots"] * shape["length"]
    if len(data) != 4 * count:
        raise HTTPException(400, f"style_codes must hold {shape['slots']} x {shape['length']} "
                                 f"float32 values ({4 * count} bytes), got {len(data)} bytes")
    codes = np.frombuffer(data, "<f4").astype(np.float32).reshape(shape["slots"],
                                                                  shape["length"])
    if not np.isfinite(codes).all():
        raise HTTPException(400, "style_codes must be finite (no NaN or Infinity)")
    return codes


def _clusters(clusters) -> Dict[int, int]:
    """``clusters`` {instance id: cluster} with both checked (ASCII integers in
    int32, at most MAX_CLUSTER_CHOICES entries)."""
    out = {}
    if clusters and len(clusters) > MAX_CLUSTER_CHOICES:
        raise HTTPException(400, f"clusters: more than {MAX_CLUSTER_CHOICES} entries")
    for key, value in (clusters or {}).items():
        if not _INT.fullmatch(key) or not -2 ** 31 <= int(key) < 2 ** 31:
            raise HTTPException(400, f"clusters: {key[:20]!r} is not an instance id")
        if not 0 <= value < 2 ** 31:
            raise HTTPException(400, f"clusters[{key}]: {value} is not a cluster index (>= 0)")
        out[int(key)] = int(value)
    return out


@contextlib.contextmanager
def serve_in_background(app: FastAPI, host: str = "127.0.0.1", port: int = 0):
    """Serves ``app`` with uvicorn in a thread (notebooks, tests, screenshots);
    yields its URL and stops it on exit. ``port`` 0: a free one."""
    import uvicorn

    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the studio server did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
