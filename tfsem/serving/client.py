"""TF Serving clients for tfsem exports (the CLI: ``python -m tfsem.serving``).

REST follows TF Serving's documented API (``POST /v1/models/NAME[/versions/V]:predict``):
``instances`` (row format) or ``inputs`` (columnar format) JSON; binary
strings travel as ``{"b64": ...}``, and outputs whose name ends in
``_bytes`` (``image_png_bytes``) come back the same way. gRPC sends a
``PredictRequest`` to ``PredictionService/Predict``.

One :class:`ServingClient` speaks the tfsem signatures over either
transport (:class:`RestTransport`, :class:`GrpcTransport`; ``RestClient`` /
``GrpcClient`` build one). Signatures (``tfsem/export/saved_model.py``):
``serving_default`` takes raw id maps ``label_map`` [B, H, W] (+
``instance_map``, + ``z``, + ``cluster``) and returns ``image`` uint8 [B, H,
W, 3]; ``predict_png`` takes PNG bytes ``label_png`` (+ ``instance_png``, +
``z``, + ``cluster``) and returns ``image_png_bytes``; SemGAN and dream
exports take ``seed``. What a served model takes is in its metadata
(``ServingClient.signatures``: TF Serving's ``GetModelMetadata``).
"""

from __future__ import annotations

import base64
import binascii
import http.client
import io
import json
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["GrpcClient", "GrpcTransport", "RestClient", "RestTransport", "ServingClient",
           "ServingError", "build_rest_request", "parse_rest_response",
           "look_inputs", "parse_signature_defs", "png_ids", "read_png"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ServingError(RuntimeError):
    """An error answer from the server, or no answer."""


def _inputs(label, instance, z, cluster, png: bool) -> Dict[str, object]:
    names = ("label_png", "instance_png") if png else ("label_map", "instance_map")
    out = {names[0]: label}
    if instance is not None:
        out[names[1]] = instance
    if z is not None:
        out["z"] = np.asarray(z, np.float32)
    if cluster is not None:
        out["cluster"] = np.asarray(cluster, np.int32)
    return out


def _json_value(value):
    """numpy arrays -> nested lists; bytes -> {"b64": ...} (documented binary encoding)."""
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    array = np.asarray(value)
    if array.dtype.kind in "iu":
        return array.astype(np.int64).tolist()
    return array.astype(np.float64).tolist()


def build_rest_request(inputs: Dict[str, object], signature: str = "serving_default",
                       layout: str = "inputs") -> dict:
    """The JSON body of a ``:predict`` call.

    ``inputs``: name -> batched value (numpy array [B, ...] or a list of
    bytes). ``layout``: ``inputs`` (columnar) or ``instances`` (one object
    per batch element).
    """
    if layout not in ("inputs", "instances"):
        raise ValueError(f"layout must be 'inputs' or 'instances', got {layout!r}")
    body = {"signature_name": signature}
    if layout == "inputs":
        body["inputs"] = {name: _json_value(value) for name, value in inputs.items()}
    else:
        sizes = {name: len(value) for name, value in inputs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"row format needs one batch size for all inputs, got {sizes}")
        batch = next(iter(sizes.values()))
        body["instances"] = [{name: _json_value(value[i]) for name, value in inputs.items()}
                             for i in range(batch)]
    return body


def _decode_json(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        if not isinstance(value["b64"], str):
            raise ServingError(f"the answer's binary value is not base64 text "
                               f"({type(value['b64']).__name__})")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (ValueError, binascii.Error):
            raise ServingError("the answer's binary value is not valid base64") from None
    if isinstance(value, list):
        return [_decode_json(v) for v in value]
    return value


def parse_rest_response(body: dict, output: str) -> object:
    """The ``output`` tensor from a ``:predict`` answer (row or columnar)."""
    if "error" in body:
        raise ServingError(body["error"])
    if "outputs" in body:
        outputs = body["outputs"]
        value = outputs[output] if isinstance(outputs, dict) and output in outputs else outputs
    elif "predictions" in body:
        rows = body["predictions"]
        value = [r[output] if isinstance(r, dict) and output in r else r for r in rows]
    else:
        raise ServingError(f"answer has neither 'outputs' nor 'predictions': {list(body)}")
    return _decode_json(value)


#: A signature's tensors: name -> (dtype name such as "DT_FLOAT", shape with -1 for unknown).
Tensors = Dict[str, Tuple[str, List[int]]]


def parse_signature_defs(body: dict) -> Dict[str, Dict[str, Tensors]]:
    """``{signature: {"inputs": Tensors, "outputs": Tensors}}`` of a JSON
    ``GetModelMetadataResponse`` (REST ``GET .../metadata``; protobuf JSON with
    snake_case or camelCase names)."""
    def field(obj, name):
        camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
        return obj.get(name, obj.get(camel)) if isinstance(obj, dict) else None

    if "error" in body:
        raise ServingError(body["error"])
    defs = field(field(field(body, "metadata") or {}, "signature_def") or {}, "signature_def")
    if not isinstance(defs, dict):
        raise ServingError("the model metadata has no signature_def")

    def tensors(infos) -> Tensors:
        out = {}
        for name, info in (infos or {}).items():
            shape = field(info, "tensor_shape") or {}
            dims = [int(d.get("size", -1)) for d in shape.get("dim", [])]
            out[name] = (str(info.get("dtype", "")), dims)
        return out

    return {name: {"inputs": tensors(field(d, "inputs")), "outputs": tensors(field(d, "outputs"))}
            for name, d in defs.items()}


def _as_png_list(value, count: Optional[int] = None) -> List[bytes]:
    """PNG answers, checked whole; ``count``: how many the request asked for."""
    items = value if isinstance(value, list) else [value]
    if count is not None and len(items) != count:
        raise ServingError(f"the server answered {len(items)} PNG(s) for {count} input(s)")
    for item in items:
        if not isinstance(item, bytes) or not item.startswith(_PNG_SIGNATURE):
            raise ServingError("the server did not return PNG bytes; does the output name end "
                               "in _bytes (TF Serving base64-encodes only those)?")
        _check_png(item, "the server's PNG")
    return items


def _check_png(data: bytes, what: str) -> None:
    """A PNG that decodes whole (a truncated one is an error naming ``what``)."""
    from PIL import Image

    try:
        Image.open(io.BytesIO(data)).verify()  # chunk CRCs and the IEND chunk
        Image.open(io.BytesIO(data)).load()
    except Exception as err:  # PIL raises many types for corrupt files
        raise ServingError(f"{what} is truncated or corrupt ({type(err).__name__}: {err})") from None


class RestTransport:
    """TF Serving's REST API: ``POST {url}/v1/models/{model}[/versions/V]:predict``."""

    #: The largest answer read (bytes): a bigger one is refused while streaming.
    MAX_ANSWER_BYTES = 512 * 1024 * 1024

    def __init__(self, url: str, model: str, version: Optional[int] = None,
                 timeout: float = 60.0, max_answer_bytes: int = MAX_ANSWER_BYTES):
        import math

        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.timeout = timeout
        self.max_answer_bytes = int(max_answer_bytes)

    @property
    def predict_url(self) -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model}{version}:predict"

    @property
    def metadata_url(self) -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model}{version}/metadata"

    def signatures(self) -> Dict[str, Dict[str, Tensors]]:
        """The served model's signatures (``GET .../metadata``)."""
        return parse_signature_defs(self._request(urllib.request.Request(self.metadata_url)))

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode("utf-8")
        return self._request(urllib.request.Request(
            self.predict_url, data=data, headers={"Content-Type": "application/json"}))

    def _request(self, request) -> dict:
        """One request's JSON answer, within ``timeout`` seconds IN ALL (a server
        trickling bytes is cut off) and ``max_answer_bytes`` (refused while
        streaming, before it is all in memory)."""
        where = request.full_url
        deadline = time.monotonic() + self.timeout
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                length = answer.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_answer_bytes:
                    raise ServingError(f"{where}: the answer is {int(length)} bytes, over the "
                                       f"client's limit of {self.max_answer_bytes}")
                chunks, size = [], 0
                while True:
                    if time.monotonic() > deadline:
                        raise ServingError(f"{where}: no whole answer within {self.timeout:g} s")
                    chunk = answer.read1(1 << 16)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_answer_bytes:
                        raise ServingError(f"{where}: the answer is over the client's limit of "
                                           f"{self.max_answer_bytes} bytes")
                    chunks.append(chunk)
                text = b"".join(chunks)
                if length and length.isdigit() and size < int(length):
                    raise ServingError(f"{where}: the connection broke (the answer stopped at "
                                       f"{size} of {int(length)} bytes)")
        except ServingError:
            raise
        except urllib.error.HTTPError as err:
            text = err.read(64 * 1024).decode("utf-8", "replace")
            try:
                message = json.loads(text).get("error", text)
            except (ValueError, AttributeError, RecursionError):
                message = text
            message = " ".join(str(message).split())  # one line (an HTML page: its start)
            message = message if len(message) <= 300 else message[:300] + " ..."
            raise ServingError(f"{where}: HTTP {err.code}: {message}") from None
        except urllib.error.URLError as err:
            raise ServingError(f"{where}: no answer ({err.reason})") from None
        except (http.client.HTTPException, OSError) as err:  # dropped mid-answer, timeout
            raise ServingError(f"{where}: the connection broke "
                               f"({type(err).__name__}: {err})") from None
        try:
            body = json.loads(text)
        except RecursionError:
            raise ServingError(f"{where}: the answer's JSON is nested too deep") from None
        except ValueError:
            shown = text[:80].decode("utf-8", "replace").replace("\n", " ")
            raise ServingError(f"{where}: the answer is not TF Serving's JSON "
                               f"(starts {shown!r}); is this the REST port of TF Serving?") from None
        if not isinstance(body, dict):
            raise ServingError(f"{where}: the answer is not a JSON object")
        return body

    def call(self, signature: str, inputs: Dict[str, object], outputs: Sequence[str],
             layout: str = "inputs") -> Dict[str, object]:
        """{output name: value (nested lists; bytes for ``*_bytes`` outputs)}."""
        body = self._post(build_rest_request(inputs, signature, layout))
        return {name: parse_rest_response(body, name) for name in outputs}


class GrpcTransport:
    """TF Serving's gRPC ``PredictionService/Predict``.

    Needs ``tensorflow-serving-api`` (``pip install --no-deps
    tensorflow-serving-api`` next to tensorflow-cpu) and TensorFlow for the
    tensor protos.
    """

    def __init__(self, target: str, model: str, version: Optional[int] = None,
                 timeout: float = 60.0, channel=None):
        try:
            from tensorflow_serving.apis import prediction_service_pb2_grpc
        except ImportError:
            raise ImportError("the gRPC client needs tensorflow-serving-api: "
                              "pip install --no-deps tensorflow-serving-api") from None
        import grpc

        self.target = target
        self.model = model
        self.version = version
        self.timeout = timeout
        self.channel = channel or grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024),
                             ("grpc.max_send_message_length", 256 * 1024 * 1024)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def build_request(self, inputs: Dict[str, object], signature: str):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        for name, value in inputs.items():
            if isinstance(value, list):
                proto = tf.make_tensor_proto(value, dtype=tf.string, shape=[len(value)])
            else:
                proto = tf.make_tensor_proto(value)
            request.inputs[name].CopyFrom(proto)
        return request

    def signatures(self) -> Dict[str, Dict[str, Tensors]]:
        """The served model's signatures (``PredictionService/GetModelMetadata``)."""
        import grpc
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self.model
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        request.metadata_field.append("signature_def")
        try:
            answer = self.stub.GetModelMetadata(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise ServingError(f"{self.target}: {err.code().name}: {err.details()}") from None
        defs = get_model_metadata_pb2.SignatureDefMap()
        answer.metadata["signature_def"].Unpack(defs)
        body = {"metadata": {"signature_def": json_format.MessageToDict(
            defs, preserving_proto_field_name=True)}}
        return parse_signature_defs(body)

    def call(self, signature: str, inputs: Dict[str, object], outputs: Sequence[str],
             layout: str = "inputs") -> Dict[str, object]:
        """{output name: value} (``layout`` is REST's; gRPC sends tensors)."""
        import grpc
        import tensorflow as tf

        try:
            answer = self.stub.Predict(self.build_request(inputs, signature),
                                       timeout=self.timeout)
        except grpc.RpcError as err:
            raise ServingError(f"{self.target}: {err.code().name}: {err.details()}") from None
        return {name: tf.make_ndarray(answer.outputs[name]).tolist() for name in outputs}


class ServingClient:
    """The tfsem signatures over a transport (:class:`RestTransport` or
    :class:`GrpcTransport`): ``predict`` (id maps -> images), ``predict_png``
    (PNG bytes -> PNG bytes) and ``sample`` (SemGAN / dream: seeds -> maps)."""

    def __init__(self, transport):
        self.transport = transport

    def signatures(self) -> Dict[str, Dict[str, Tensors]]:
        """{signature: {"inputs": {name: (dtype, shape)}, "outputs": {...}}} of the
        served model, from its metadata."""
        return self.transport.signatures()

    def predict(self, label_map, instance_map=None, z=None, cluster=None,
                layout="inputs") -> np.ndarray:
        """Raw id maps [B, H, W] -> uint8 images [B, H, W, 3] (``serving_default``)."""
        inputs = _inputs(np.asarray(label_map, np.int32),
                         None if instance_map is None else np.asarray(instance_map, np.int32),
                         z, cluster, png=False)
        out = self.transport.call("serving_default", inputs, ["image"], layout)
        return answer_array(out["image"], "image", np.uint8, 4, len(inputs["label_map"]), 3)

    def predict_png(self, label_pngs: List[bytes], instance_pngs: Optional[List[bytes]] = None,
                    z=None, cluster=None, layout="inputs") -> List[bytes]:
        """PNG bytes in, PNG bytes out (``predict_png``)."""
        inputs = _inputs(list(label_pngs), None if instance_pngs is None else list(instance_pngs),
                         z, cluster, png=True)
        out = self.transport.call("predict_png", inputs, ["image_png_bytes"], layout)
        return _as_png_list(out["image_png_bytes"], len(label_pngs))

    def translate(self, photos) -> np.ndarray:
        """Photo-to-photo exports: uint8 photos [B, H, W, 3] -> uint8 photos
        (``serving_default``)."""
        photos = np.asarray(photos, np.uint8)
        out = self.transport.call("serving_default", {"image": photos}, ["image"])
        return answer_array(out["image"], "image", np.uint8, 4, len(photos), 3)

    def translate_png(self, pngs: List[bytes]) -> List[bytes]:
        """Photo-to-photo exports: PNG photos in, PNG photos out (``predict_png``)."""
        out = self.transport.call("predict_png", {"image_png": list(pngs)}, ["image_png_bytes"])
        return _as_png_list(out["image_png_bytes"], len(pngs))

    def render_pngs(self, label: bytes, instance: Optional[bytes] = None, seed: int = 0,
                    cluster: Optional[int] = None, signature: str = "predict_png",
                    declared: Optional[Tensors] = None) -> bytes:
        """One label-to-photo request from PNG bytes, with the look inputs the
        served model declares (``look_inputs``; ``declared``: its
        ``serving_default`` inputs when already read): the photo as PNG bytes.
        ``signature``: ``predict_png`` sends the PNGs, ``serving_default`` id arrays."""
        inputs = declared if declared is not None else self.signatures().get(
            "serving_default", {"inputs": {}})["inputs"]
        z, cluster = look_inputs(inputs, seed, cluster)
        if signature == "predict_png":
            return self.predict_png([label], None if instance is None else [instance], z,
                                    cluster)[0]
        from PIL import Image

        image = self.predict(png_ids(label)[None],
                             None if instance is None else png_ids(instance)[None], z, cluster)[0]
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        return buffer.getvalue()

    def sample(self, seeds, outputs=("label_map", "color_png_bytes")) -> Dict[str, object]:
        """SemGAN / dream exports: int seeds [B] -> ``{"label_map": int32 [B,H,W],
        "color_png_bytes": [PNG bytes]}`` (dream: ``outputs=("label_map", "image")``)."""
        seeds = np.asarray(seeds, np.int64).reshape(-1)
        out = self.transport.call("serving_default", {"seed": seeds}, list(outputs))
        return _sample_outputs(out, len(seeds))


class RestClient(ServingClient):
    """``RestClient("http://localhost:8501", "quickstart").predict(label_map, instance_map)``."""

    def __init__(self, url: str, model: str, version: Optional[int] = None,
                 timeout: float = 60.0):
        super().__init__(RestTransport(url, model, version, timeout))

    @property
    def predict_url(self) -> str:
        return self.transport.predict_url


class GrpcClient(ServingClient):
    """``GrpcClient("localhost:8500", "quickstart").predict(label_map, instance_map)``
    (see :class:`GrpcTransport` for what it needs)."""

    def __init__(self, target: str, model: str, version: Optional[int] = None,
                 timeout: float = 60.0, channel=None):
        super().__init__(GrpcTransport(target, model, version, timeout, channel))


def answer_array(value, name: str, dtype, rank: int, batch: Optional[int] = None,
                 channels: Optional[int] = None) -> np.ndarray:
    """An answer's tensor as ``dtype`` [rank dims], checked: numbers only (no
    strings, NaN or ragged rows), within ``dtype``'s range, the expected batch
    and channels. Anything else is a ServingError naming ``name``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise ServingError(f"the answer's {name} is not a tensor of numbers (ragged rows or "
                           "strings)") from None
    if array.ndim != rank:
        raise ServingError(f"the answer's {name} has shape {list(array.shape)}, expected "
                           f"rank {rank}")
    if batch is not None and array.shape[0] != batch:
        raise ServingError(f"the answer's {name} holds {array.shape[0]} items for {batch} inputs")
    if channels is not None and array.shape[-1] != channels:
        raise ServingError(f"the answer's {name} has {array.shape[-1]} channels, expected "
                           f"{channels}")
    if array.size and not np.isfinite(array).all():
        raise ServingError(f"the answer's {name} has NaN or Inf values")
    info = np.iinfo(dtype)
    if array.size and (array.min() < info.min or array.max() > info.max
                       or not np.array_equal(array, np.round(array))):
        raise ServingError(f"the answer's {name} has values outside {np.dtype(dtype).name}")
    return array.astype(dtype)


def _sample_outputs(values: Dict[str, object], count: Optional[int] = None) -> Dict[str, object]:
    out = {}
    for name, value in values.items():
        if name.endswith("_bytes"):
            out[name] = _as_png_list(list(value) if isinstance(value, list) else value, count)
        elif name == "image":
            out[name] = answer_array(value, name, np.uint8, 4, count, 3)
        else:
            out[name] = answer_array(value, name, np.int32, 3, count)
    return out


def read_png(path: str) -> bytes:
    """The bytes of a PNG file that decodes whole; a ServingError naming it if not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ServingError(f"{path}: {err.strerror}") from None
    if not data.startswith(_PNG_SIGNATURE):
        raise ServingError(f"{path}: not a PNG file")
    _check_png(data, path)
    return data


def png_ids(data: bytes) -> np.ndarray:
    """The ids int32 [H, W] of a grey id-map PNG held in memory."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data))).astype(np.int32)


def look_inputs(inputs: Tensors, seed: int, cluster: Optional[int] = None):
    """(z, cluster) for the inputs a served label-to-photo model declares: a VAE's
    ``z = latent_for_seeds([seed])`` of its declared size (the latent
    ``tfsem.Pipeline`` uses), pix2pixHD's ``cluster`` (default: the seed)."""
    z = None
    if "z" in inputs:
        from tfsem.models.base import latent_for_seeds

        z = latent_for_seeds([seed], int(inputs["z"][1][-1])).numpy()
    if cluster is not None and "cluster" not in inputs:
        raise ValueError("--cluster: the served model takes no feature clusters")
    if "cluster" in inputs:
        cluster = np.array([seed if cluster is None else cluster], np.int32)
    return z, cluster
