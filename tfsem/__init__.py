"""tfsem: semantic image synthesis with GANs in TensorFlow 2 / Keras 3.

SemGAN (label maps from noise), pix2pixHD and SPADE/GauGAN (label map to
photo), with tf.data pipelines, strict JSON configs, training, export for TF
Serving and TFLite, and evaluation.
"""

__version__ = "0.4.0"
