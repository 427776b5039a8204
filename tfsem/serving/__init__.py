"""Clients for a tfsem model served by TensorFlow Serving (REST and gRPC).

``RestClient`` needs nothing beyond numpy (urllib from the standard library).
``GrpcClient`` needs ``tensorflow-serving-api``, which depends on the full
``tensorflow`` package: next to ``tensorflow-cpu`` install it with
``pip install --no-deps tensorflow-serving-api`` (grpcio and protobuf come
with TensorFlow).
"""

__all__ = ["GrpcClient", "RestClient", "ServingError", "build_rest_request",
           "parse_rest_response"]


def __getattr__(name):  # lazy, so ``python -m tfsem.serving.client`` imports it once
    if name in __all__:
        from tfsem.serving import client

        return getattr(client, name)
    raise AttributeError(f"module 'tfsem.serving' has no attribute {name!r}")
