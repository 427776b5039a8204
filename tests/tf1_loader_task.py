"""Loads a SavedModel with the TF1 session loader (TF Serving's SavedModelBundle path)
in a fresh process and runs serving_default on .npy inputs.

Usage: python tests/tf1_loader_task.py EXPORT_DIR [OUTPUT=]OUT.npy NAME=IN.npy [NAME=IN.npy ...]
(OUTPUT: the signature output to save, default ``image``).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    export_dir, out_path, *pairs = sys.argv[1:]
    feeds = dict(pair.split("=", 1) for pair in pairs)
    output, out_path = out_path.split("=", 1) if "=" in out_path else ("image", out_path)
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        feed = {signature.inputs[name].name: np.load(path) for name, path in feeds.items()}
        (image,) = sess.run([signature.outputs[output].name], feed_dict=feed)
    np.save(out_path, image)


if __name__ == "__main__":
    main()
