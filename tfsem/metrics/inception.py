"""InceptionV3 pool3 features for FID / KID, from local weights only.

Two sources, and every result says which one produced it:

* ``graphdef``: the frozen TF graph ``classify_image_graph_def.pb`` used by
  the original FID code (TTUR) and its pytorch-fid lineage; images are fed to
  ``ExpandDims:0`` as [N, H, W, 3] floats in 0..255 (the graph resizes to
  299x299 and normalises) and features read from ``pool_3:0`` (2048-d).
  Numbers from this graph are comparable with papers.
* ``keras``: Keras' ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``
  (average-pooled 2048-d features after bilinear resizing to 299x299). Close
  to, but not numerically the same as, the FID graph.

Nothing is downloaded: weights come from a path or the Keras cache.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import tensorflow as tf

__all__ = ["FID_GRAPH_FILE", "InceptionFeatures", "KERAS_INCEPTION_FILE", "find_inception_weights"]

FID_GRAPH_FILE = "classify_image_graph_def.pb"
KERAS_INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _keras_cache() -> str:
    return os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "models")


def find_inception_weights(path: Optional[str] = None) -> str:
    """``path``, else the FID graph or Keras' notop weights in the Keras cache."""
    if path:
        path = os.path.expanduser(os.path.expandvars(path))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Inception weights not found: {path} does not exist")
        return path
    for name in (FID_GRAPH_FILE, KERAS_INCEPTION_FILE):
        candidate = os.path.join(_keras_cache(), name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"no Inception weights for FID/KID: put the FID graph {FID_GRAPH_FILE} (paper-comparable) "
        f"or Keras' {KERAS_INCEPTION_FILE} in {_keras_cache()}, or pass --inception PATH. "
        "tfsem never downloads weights.")


class InceptionFeatures:
    """Callable: images [N, H, W, 3] in [-1, 1] -> float64 features [N, D].

    Args:
        path: a ``.pb`` FID graph or a Keras ``.h5`` weights file; default:
            looked up with :func:`find_inception_weights`.
        batch_size: images per forward pass.
    """

    def __init__(self, path: Optional[str] = None, batch_size: int = 16):
        self.path = find_inception_weights(path)
        self.batch_size = batch_size
        if self.path.endswith(".pb"):
            self.kind = "graphdef"
            self.source = f"FID Inception GraphDef pool_3 ({self.path})"
            self._fn = self._load_graphdef(self.path)
        elif self.path.endswith(".h5"):
            self.kind = "keras"
            self.source = f"Keras InceptionV3 notop, average pool ({self.path})"
            self._fn = self._load_keras(self.path)
        else:
            raise ValueError(f"{self.path}: expected a .pb FID graph or a Keras .h5 weights file")

    @staticmethod
    def _load_graphdef(path):
        graph_def = tf.compat.v1.GraphDef()
        try:
            with open(path, "rb") as f:
                graph_def.ParseFromString(f.read())
        except Exception as err:  # protobuf raises DecodeError subclasses
            raise ValueError(f"{path}: not a frozen TF GraphDef ({err})") from None
        names = {node.name for node in graph_def.node}
        missing = [n for n in ("ExpandDims", "pool_3") if n not in names]
        if missing:
            raise ValueError(f"{path}: the graph has no {', '.join(missing)} node(s); "
                             "expected the FID Inception graph (ExpandDims:0 -> pool_3:0)")

        def imported(images):
            (out,) = tf.compat.v1.import_graph_def(
                graph_def, input_map={"ExpandDims:0": images}, return_elements=["pool_3:0"],
                name="fid_inception")
            return out

        fn = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        return lambda images: fn((tf.cast(images, tf.float32) + 1.0) * 127.5)

    @staticmethod
    def _load_keras(path):
        import keras

        model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                               input_shape=(299, 299, 3))
        model.load_weights(path)

        @tf.function
        def fn(images):
            resized = tf.image.resize(tf.cast(images, tf.float32), (299, 299), method="bilinear")
            return model(resized, training=False)

        return fn

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected images [N, H, W, 3], got shape {images.shape}")
        out = []
        for start in range(0, len(images), self.batch_size):
            features = self._fn(tf.constant(images[start:start + self.batch_size]))
            out.append(np.asarray(features, np.float64).reshape(features.shape[0], -1))
        return np.concatenate(out, axis=0)
