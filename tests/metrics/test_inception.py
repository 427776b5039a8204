import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsem.metrics.inception import (FID_GRAPH_FILE, KERAS_INCEPTION_FILE, InceptionFeatures,
                                     find_inception_weights)


def _stand_in_graph(path):
    """A tiny frozen graph with the FID graph's tensor names: a single image
    (cast to float) -> ExpandDims -> ... -> pool_3 [1, 1, 1, 3]."""
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        batch = tf.expand_dims(image, 0, name="ExpandDims")
        scaled = batch * 2.0 + 1.0
        tf.reduce_mean(scaled, axis=[1, 2], keepdims=True, name="pool_3")
    with open(path, "wb") as f:
        f.write(graph.as_graph_def().SerializeToString())
    return str(path)


def test_graphdef_loader_uses_expanddims_and_pool3(tmp_path):
    path = _stand_in_graph(tmp_path / FID_GRAPH_FILE)
    images = np.random.default_rng(0).uniform(-1, 1, (5, 8, 12, 3)).astype("float32")
    extractor = InceptionFeatures(path, batch_size=2)
    assert extractor.kind == "graphdef" and "GraphDef pool_3" in extractor.source
    features = extractor(images)
    # The graph gets 0..255 pixels; pool_3 = mean(2x + 1) per channel.
    expected = ((images + 1.0) * 127.5 * 2.0 + 1.0).mean(axis=(1, 2))
    np.testing.assert_allclose(features, expected, rtol=1e-5)


def test_graph_without_the_fid_tensor_names_is_rejected(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.placeholder(tf.float32, [None], name="input")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match="no ExpandDims, pool_3 node"):
        InceptionFeatures(str(path))
    (tmp_path / "junk.pb").write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="not a frozen TF GraphDef"):
        InceptionFeatures(str(tmp_path / "junk.pb"))


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        find_inception_weights()
    (tmp_path / "models").mkdir()
    _stand_in_graph(tmp_path / "models" / FID_GRAPH_FILE)
    assert find_inception_weights().endswith(FID_GRAPH_FILE)


def test_keras_inception_h5_loads(tmp_path):
    from keras.src.legacy.saving import legacy_h5_format

    source = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                            input_shape=(299, 299, 3))
    path = tmp_path / KERAS_INCEPTION_FILE
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    extractor = InceptionFeatures(str(path))
    assert extractor.kind == "keras"
    expected = source(tf.image.resize(images, (299, 299)), training=False).numpy()
    np.testing.assert_allclose(extractor(images), expected, rtol=1e-4, atol=1e-4)
