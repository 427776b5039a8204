"""The TF Serving clients, checked against TF Serving's documented formats.

The server binary is not installable here. So: (1) request bodies are
compared with the formats of TF Serving's REST API document (row and
columnar, ``{"b64": ...}`` binaries, ``_bytes`` outputs); (2) both clients
run against in-process stand-ins that serve the exported SavedModel through
those formats (REST over http.server, gRPC through the real
``tensorflow_serving.apis`` PredictionService protos); (3) a real
``tensorflow_model_server`` integration test runs when the binary is on PATH.
"""

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfsem.data import toy_streets
from tfsem.export.saved_model import export_saved_model
from tfsem.serving.client import (GrpcClient, RestClient, ServingError, build_rest_request,
                                  parse_rest_response)
from tests.serving_standin import rest_stand_in
from tests.testing import REPO, run_module, run_subprocess

# Module fixtures: keep this file on one pytest-xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("serving")


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served(tiny_gaugan_export):
    path = str(tiny_gaugan_export)  # the shared export of the untrained tiny GauGAN
    base = os.path.dirname(path)
    examples = [toy_streets.generate(i, 32, 64, split="val") for i in range(2)]
    label = np.stack([e["label"] for e in examples]).astype(np.int32)
    instance = np.stack([e["instance"] for e in examples]).astype(np.int32)
    loaded = tf.saved_model.load(path)
    expected = loaded.signatures["serving_default"](
        label_map=tf.constant(label), instance_map=tf.constant(instance))["image"].numpy()
    return {"base": base, "path": path, "loaded": loaded, "label": label, "instance": instance,
            "expected": expected}


# -- (1) documented request / response formats ---------------------------------

def test_columnar_request_matches_documented_format():
    label = np.array([[[7, 8]], [[26, 7]]], np.int32)
    body = build_rest_request({"label_map": label, "z": np.zeros((2, 2), np.float32)})
    assert body == {"signature_name": "serving_default",
                    "inputs": {"label_map": [[[7, 8]], [[26, 7]]], "z": [[0.0, 0.0], [0.0, 0.0]]}}
    json.dumps(body)  # plain JSON types only


def test_row_request_with_binary_inputs_uses_b64_objects():
    body = build_rest_request({"label_png": [b"\x89PNG-a", b"\x89PNG-b"],
                               "instance_png": [b"i1", b"i2"]}, "predict_png", "instances")
    assert body["signature_name"] == "predict_png"
    assert body["instances"] == [
        {"label_png": {"b64": base64.b64encode(b"\x89PNG-a").decode()},
         "instance_png": {"b64": base64.b64encode(b"i1").decode()}},
        {"label_png": {"b64": base64.b64encode(b"\x89PNG-b").decode()},
         "instance_png": {"b64": base64.b64encode(b"i2").decode()}}]


def test_row_request_rejects_mixed_batch_sizes():
    with pytest.raises(ValueError, match="one batch size"):
        build_rest_request({"a": np.zeros((2, 1)), "b": np.zeros((3, 1))}, layout="instances")


def test_documented_response_shapes_are_parsed():
    # Row format, single output: the name is omitted.
    assert parse_rest_response({"predictions": [[1, 2], [3, 4]]}, "image") == [[1, 2], [3, 4]]
    # Row format, several outputs: a list of objects.
    rows = {"predictions": [{"image": [1], "other": 0}, {"image": [2], "other": 0}]}
    assert parse_rest_response(rows, "image") == [[1], [2]]
    # Columnar, binary output named *_bytes: {"b64": ...}.
    cols = {"outputs": {"image_png_bytes": [{"b64": base64.b64encode(b"abc").decode()}]}}
    assert parse_rest_response(cols, "image_png_bytes") == [b"abc"]
    with pytest.raises(ServingError, match="Servable not found"):
        parse_rest_response({"error": "Servable not found for request: Latest(x)"}, "image")


def test_rest_url_follows_documented_scheme():
    assert RestClient("http://h:8501/", "spade").predict_url == \
        "http://h:8501/v1/models/spade:predict"
    assert RestClient("http://h:8501", "spade", 3).predict_url == \
        "http://h:8501/v1/models/spade/versions/3:predict"


# -- (2) clients against in-process stand-ins ------------------------------------

@pytest.fixture(scope="module")
def rest_url(served):
    with rest_stand_in(served["loaded"]) as url:
        yield url


@pytest.mark.parametrize("layout", ["inputs", "instances"])
def test_rest_client_predict(served, rest_url, layout):
    image = RestClient(rest_url, "tiny").predict(served["label"], served["instance"],
                                                 layout=layout)
    np.testing.assert_array_equal(image, served["expected"])


def test_rest_client_predict_png_and_server_errors(served, rest_url):
    client = RestClient(rest_url, "tiny")
    labels = [_png(x.astype(np.uint8)) for x in served["label"]]
    instances = [_png(x.astype(np.uint16)) for x in served["instance"]]
    pngs = client.predict_png(labels, instances)
    images = np.stack([np.asarray(Image.open(io.BytesIO(p))) for p in pngs])
    np.testing.assert_array_equal(images, served["expected"])
    bad = served["label"].copy()
    bad[0, 0, 0] = 99
    with pytest.raises(ServingError, match="(?s)HTTP 400: .*outside the cityscapes label space"):
        client.predict(bad, served["instance"])
    with pytest.raises(ServingError, match="HTTP 404"):
        RestClient(rest_url, "nope").predict(served["label"], served["instance"])


def test_rest_client_reports_no_server():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    with pytest.raises(ServingError, match="no answer"):
        RestClient(f"http://127.0.0.1:{free}", "x", timeout=5).predict(np.zeros((1, 32, 32)))


def test_client_cli_writes_the_photo(served, rest_url, tmp_path):
    label = tmp_path / "label.png"
    label.write_bytes(_png(served["label"][0].astype(np.uint8)))
    inst = tmp_path / "inst.png"
    inst.write_bytes(_png(served["instance"][0].astype(np.uint16)))
    for signature in ("predict_png", "serving_default"):
        out = tmp_path / f"{signature}.png"
        result = run_subprocess("tfsem.serving", "--url", rest_url, "--model", "tiny",
                            "--labels", str(label), "--instances", str(inst), "--out", str(out),
                            "--signature", signature)
        assert result.returncode == 0, result.stderr[-3000:]
        np.testing.assert_array_equal(np.asarray(Image.open(out)), served["expected"][0])
    result = run_module("tfsem.serving", "--url", rest_url, "--model", "tiny",
                        "--labels", str(tmp_path / "missing.png"), "--out", str(out))
    assert result.returncode == 2 and "missing.png" in result.stderr


def test_grpc_client_against_prediction_service(served):
    grpc = pytest.importorskip("grpc")
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
    from tensorflow_serving.apis import predict_pb2

    requests = []

    class Servicer(apis.PredictionServiceServicer):
        def Predict(self, request, context):
            requests.append(request)
            fn = served["loaded"].signatures[request.model_spec.signature_name]
            out = fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
            response = predict_pb2.PredictResponse()
            for name, value in out.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    apis.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        client = GrpcClient(f"127.0.0.1:{port}", "tiny", version=1)
        image = client.predict(served["label"], served["instance"])
        np.testing.assert_array_equal(image, served["expected"])
        pngs = client.predict_png([_png(x.astype(np.uint8)) for x in served["label"]],
                                  [_png(x.astype(np.uint16)) for x in served["instance"]])
        assert len(pngs) == 2
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(pngs[1]))),
                                      served["expected"][1])
    finally:
        server.stop(0)
    spec = requests[0].model_spec
    assert (spec.name, spec.signature_name, spec.version.value) == ("tiny", "serving_default", 1)
    assert tf.dtypes.as_dtype(requests[0].inputs["label_map"].dtype) == tf.int32


def test_export_folder_files_are_consistent():
    """export/models.config names base paths that the README's export commands create."""
    text = open(os.path.join(REPO, "export", "models.config"), encoding="utf-8").read()
    assert "model_config_list" in text and "/models/quickstart" in text
    for name in ("batching.config", "compose.yaml", "requests/predict_png.json",
                 "requests/serving_default.json"):
        assert os.path.exists(os.path.join(REPO, "export", name)), name
    request = json.load(open(os.path.join(REPO, "export", "requests", "predict_png.json")))
    png = base64.b64decode(request["instances"][0]["label_png"]["b64"])
    assert png.startswith(b"\x89PNG")


# -- (3) the real server, when installed ---------------------------------------

@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not on PATH (not installable here)")
def test_real_tensorflow_model_server(served, tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    rest_port = sock.getsockname()[1]
    sock.close()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    grpc_port = sock.getsockname()[1]
    sock.close()
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "tiny" base_path: "%s" '
                      'model_platform: "tensorflow" } }' % served["base"])
    server = subprocess.Popen(["tensorflow_model_server", f"--port={grpc_port}",
                               f"--rest_api_port={rest_port}", f"--model_config_file={config}"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{rest_port}"
        for _ in range(120):
            try:
                status = json.loads(urllib.request.urlopen(f"{url}/v1/models/tiny").read())
                if status["model_version_status"][0]["state"] == "AVAILABLE":
                    break
            except OSError:
                pass
            time.sleep(0.5)
        for layout in ("inputs", "instances"):
            image = RestClient(url, "tiny").predict(served["label"], served["instance"],
                                                    layout=layout)
            np.testing.assert_array_equal(image, served["expected"])
        pngs = RestClient(url, "tiny").predict_png(
            [_png(x.astype(np.uint8)) for x in served["label"]],
            [_png(x.astype(np.uint16)) for x in served["instance"]])
        assert len(pngs) == 2
        if GrpcClient is not None:
            image = GrpcClient(f"127.0.0.1:{grpc_port}", "tiny").predict(
                served["label"], served["instance"])
            np.testing.assert_array_equal(image, served["expected"])
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow  # ~25 s (a VAE export): make test-slow; metadata sampling of a SemGAN
# export stays in make test (test_export_semgan)
def test_client_cli_reads_what_the_model_takes_from_its_metadata(tmp_path):
    """A VAE export: the CLI sends z = latent_for_seeds(--seed) of the size the
    served signature declares (no --z-dim), the latent tfsem.Pipeline uses."""
    from tfsem import Pipeline
    from tfsem.runs import load_run
    from tests.testing import save_untrained_run

    from tfsem.serving.client import look_inputs

    run = save_untrained_run("gaugan_vae", tmp_path / "vae", init_gain=1.0)
    config, model = load_run(str(run))
    loaded = tf.saved_model.load(export_saved_model(model, config, str(tmp_path / "m")))
    example = toy_streets.generate(2, 32, 64, split="val")
    label = tmp_path / "label.png"
    label.write_bytes(_png(example["label"].astype(np.uint8)))
    inst = tmp_path / "inst.png"
    inst.write_bytes(_png(example["instance"].astype(np.uint16)))
    with rest_stand_in(loaded) as url:
        client = RestClient(url, "tiny")
        inputs = client.signatures()["serving_default"]["inputs"]
        assert inputs["z"] == ("DT_FLOAT", [-1, 8])
        out = tmp_path / "seed5.png"
        result = run_module("tfsem.serving", "--url", url, "--model", "tiny", "--labels",
                            str(label), "--instances", str(inst), "--seed", "5",
                            "--out", str(out))
        assert result.returncode == 0, result.stderr[-3000:]
        z6, _ = look_inputs(inputs, 6)
        other = client.predict_png([label.read_bytes()], [inst.read_bytes()], z6)[0]
        result = run_module("tfsem.serving", "--url", url, "--model", "tiny", "--num", "2",
                            "--out", str(tmp_path / "maps"))
        assert result.returncode == 2 and "not seeds; pass --labels" in result.stderr
    photo = np.asarray(Image.open(out))
    expected = Pipeline.from_run(str(run), precision="float32")(
        example["label"], example["instance"], seed=5)
    assert np.abs(photo.astype(int) - expected.astype(int)).max() <= 1
    assert not np.array_equal(photo, np.asarray(Image.open(io.BytesIO(other))))
