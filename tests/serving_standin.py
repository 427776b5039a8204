"""An in-process stand-in for TF Serving's REST API (the server binary is not
installable here): TF Serving's documented ``:predict`` semantics over a
loaded SavedModel, for the serving-client and studio tests."""

import base64
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tensorflow as tf


class _RestStandIn(BaseHTTPRequestHandler):
    """TF Serving's documented :predict semantics over a loaded SavedModel."""
    loaded = None
    model_name = "tiny"

    def log_message(self, *args):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        """``GET /v1/models/NAME[/versions/V]/metadata``: the documented JSON of
        ``GetModelMetadataResponse`` (protobuf field names, sizes as strings)."""
        if not self.path.startswith(f"/v1/models/{self.model_name}") or \
                not self.path.endswith("/metadata"):
            return self._reply(404, {"error": f"Servable not found for request: {self.path}"})

        def info(name, spec):
            dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape]
            from tensorflow.core.framework import types_pb2

            return {"dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
                    "name": f"{name}:0",
                    "tensor_shape": {"dim": dims, "unknown_rank": False}}

        defs = {}
        for sig, fn in self.loaded.signatures.items():
            outputs = fn.structured_outputs
            defs[sig] = {"inputs": {k: info(k, v) for k, v
                                    in fn.structured_input_signature[1].items()},
                         "outputs": {k: info(k, v) for k, v in outputs.items()},
                         "method_name": "tensorflow/serving/predict"}
        self._reply(200, {"model_spec": {"name": self.model_name, "signature_name": "",
                                         "version": "1"},
                          "metadata": {"signature_def": {"signature_def": defs}}})

    def do_POST(self):
        if not self.path.startswith(f"/v1/models/{self.model_name}") or \
                not self.path.endswith(":predict"):
            return self._reply(404, {"error": f"Servable not found for request: {self.path}"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fn = self.loaded.signatures[body.get("signature_name", "serving_default")]
        specs = fn.structured_input_signature[1]

        def decode(v):
            if isinstance(v, dict):
                return base64.b64decode(v["b64"])
            return [decode(x) for x in v] if isinstance(v, list) else v

        if "inputs" in body:
            columns = {k: decode(v) for k, v in body["inputs"].items()}
        else:
            columns = {k: [decode(row[k]) for row in body["instances"]]
                       for k in body["instances"][0]}
        try:
            out = fn(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in columns.items()})
        except tf.errors.InvalidArgumentError as err:
            return self._reply(400, {"error": err.message})

        def encode(name, value):
            if name.endswith("_bytes"):
                return [{"b64": base64.b64encode(b).decode()} for b in value.numpy()]
            return value.numpy().tolist()

        outputs = {k: encode(k, v) for k, v in out.items()}
        if "inputs" in body:
            return self._reply(200, {"outputs": next(iter(outputs.values()))
                                     if len(outputs) == 1 else outputs})
        rows = next(iter(outputs.values()))
        return self._reply(200, {"predictions": rows})


@contextlib.contextmanager
def rest_stand_in(loaded, model_name="tiny"):
    """Serves ``loaded`` (a ``tf.saved_model.load`` result) as ``model_name`` on a
    free loopback port; yields the base URL."""
    handler = type("Handler", (_RestStandIn,), {"loaded": loaded, "model_name": model_name})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
