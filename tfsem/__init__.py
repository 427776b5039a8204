"""tfsem: semantic image synthesis with GANs in TensorFlow 2 / Keras 3.

SemGAN (label maps from noise), pix2pixHD and SPADE/GauGAN (label map to
photo), with tf.data pipelines, strict JSON configs, training, export for TF
Serving and TFLite, and evaluation.
"""

__version__ = "0.6.0"

__all__ = ["DreamPipeline", "ExportedPipeline", "Pipeline", "__version__"]


def __getattr__(name):
    # tfsem.Pipeline & co. import TensorFlow: only on use, so configs load without it.
    if name in ("DreamPipeline", "ExportedPipeline", "Pipeline"):
        from tfsem import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'tfsem' has no attribute {name!r}")
