"""Losses as pure tensor functions returning PER-EXAMPLE values [B].

Models reduce them with ``tf.nn.compute_average_loss`` so that gradients are
right under tf.distribute (divided by the global batch, summed over replicas).

* ``gan_loss``: hinge (SPADE default), ``lsgan`` (pix2pixHD default) or
  ``original`` (non-saturating BCE), averaged over discriminator scales as
  NVlabs/SPADE ``GANLoss`` does (``return loss / len(input)``), or summed as
  NVIDIA/pix2pixHD ``GANLoss`` does (``loss += self.loss(pred, target)``).
* ``feature_matching_loss``: L1 between discriminator features of fake and
  real, over every intermediate layer of every scale, divided by num_D
  (pix2pixHD eq. 4; SPADE ``GAN_Feat_loss``). Weight 10 in both papers.
* ``kl_divergence``: KL(N(mu, sigma) || N(0, I)) summed over z, per example
  (SPADE ``KLDLoss``; see its docstring for the batch reduction).
* ``VGGPerceptualLoss``: L1 between VGG19 relu1_1..relu5_1 features with
  weights 1/32, 1/16, 1/8, 1/4, 1 (pix2pixHD / SPADE ``VGGLoss``), by
  default with torchvision's weights fed the [-1, 1] image as the official
  code does. Weights load from a local file or a cache, never from the
  network (see its docstring for the input range).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import keras
import tensorflow as tf

__all__ = [
    "GAN_MODES",
    "VGG19_WEIGHTS_FILE",
    "VGGPerceptualLoss",
    "feature_matching_loss",
    "find_vgg19_weights",
    "gan_loss",
    "kl_divergence",
    "vgg_input_convention",
]

GAN_MODES = ("hinge", "lsgan", "original")
VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _per_example_mean(x):
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def gan_loss(predictions: Sequence, target_is_real: bool, for_discriminator: bool,
             mode: str = "hinge", scales: str = "mean") -> tf.Tensor:
    """Adversarial loss per example, averaged (or summed) over the discriminator scales.

    Args:
        predictions: the discriminator output: a list (one per scale) of
            lists of features whose last entry is the patch logits.
        target_is_real: whether the input was real.
        for_discriminator: the D loss (True) or the G loss (False). For hinge
            the G loss is -mean(D(fake)) (SPADE).
        mode: ``hinge``, ``lsgan`` or ``original``.
        scales: ``mean`` over the scales (NVlabs/SPADE ``loss.py``) or ``sum``
            (NVIDIA/pix2pixHD ``networks.py`` ``GANLoss.__call__``).
    """
    if mode not in GAN_MODES:
        raise ValueError(f"gan mode must be one of {GAN_MODES}, got {mode!r}")
    if scales not in ("mean", "sum"):
        raise ValueError(f"scales must be 'mean' or 'sum', got {scales!r}")
    total = 0.0
    for scale in predictions:
        logits = tf.cast(scale[-1] if isinstance(scale, (list, tuple)) else scale, tf.float32)
        if mode == "hinge":
            if for_discriminator:
                margin = logits - 1.0 if target_is_real else -logits - 1.0
                loss = -_per_example_mean(tf.minimum(margin, 0.0))
            else:
                loss = -_per_example_mean(logits)
        elif mode == "lsgan":
            target = 1.0 if target_is_real else 0.0
            loss = _per_example_mean(tf.square(logits - target))
        else:
            labels = tf.ones_like(logits) if target_is_real else tf.zeros_like(logits)
            loss = _per_example_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
        total += loss
    return total / len(predictions) if scales == "mean" else total


def feature_matching_loss(fake_features: Sequence, real_features: Sequence) -> tf.Tensor:
    """L1 of D features (all but the logits), summed over layers, / num_D. Per example."""
    total = 0.0
    for fake_scale, real_scale in zip(fake_features, real_features):
        for fake, real in zip(fake_scale[:-1], real_scale[:-1]):
            total += _per_example_mean(tf.abs(tf.cast(fake, tf.float32)
                                              - tf.stop_gradient(tf.cast(real, tf.float32))))
    return total / len(fake_features)


def kl_divergence(mu: tf.Tensor, logvar: tf.Tensor) -> tf.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dims. Per example.

    NVlabs/SPADE ``loss.py`` ``KLDLoss`` sums over the batch too
    (``torch.sum(...)`` over [B, z_dim]); ``GauGAN.kld_term`` applies that
    reduction (``kld_reduction``).
    """
    mu, logvar = tf.cast(mu, tf.float32), tf.cast(logvar, tf.float32)
    return -0.5 * tf.reduce_sum(1.0 + logvar - tf.square(mu) - tf.exp(logvar), axis=1)


def find_vgg19_weights(path: Optional[str] = None) -> str:
    """Locates VGG19 'notop' weights: ``path``, or the Keras cache. Never downloads.

    Raises FileNotFoundError saying where to put the file, or how to train
    without the perceptual loss.
    """
    if path:
        path = os.path.expanduser(os.path.expandvars(path))
        if os.path.isfile(path):
            return path
        where = f"the file {path} does not exist"
    else:
        cache = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")),
                             "models", VGG19_WEIGHTS_FILE)
        if os.path.isfile(cache):
            return cache
        where = f"it is not in the Keras cache ({cache})"
    raise FileNotFoundError(
        f"VGG19 weights for the perceptual loss not found: {where}. Put Keras' "
        f"{VGG19_WEIGHTS_FILE} there (or set vgg_weights to its path), or set "
        "lambda_vgg to 0 to train without the VGG loss. tfsem never downloads weights.")


def vgg_input_convention(weights) -> str:
    """``torchvision`` (the image as given, [-1, 1] RGB: the official code) for
    torchvision's weights (``"torchvision"``, a ``.pth`` file) and random ones,
    ``caffe`` (BGR, 0..255, ImageNet mean removed) for Keras' weights
    (``"keras_cache"``, an ``.h5`` file)."""
    if weights is None or weights == "torchvision" or str(weights).endswith(".pth"):
        return "torchvision"
    return "caffe"


@keras.saving.register_keras_serializable(package="tfsem")
class VGGPerceptualLoss(keras.layers.Layer):
    """VGG19 feature-matching loss between two image batches in [-1, 1].

    Args:
        weights: ``"torchvision"`` (default): torchvision's ImageNet VGG19
            (``vgg19-dcbb9e9d.pth``) from the torch hub cache, or a path to
            that ``.pth`` (read by ``tfsem.convert.vgg19``, needs the torch
            extra): the weights the official code uses. ``"keras_cache"`` or
            a path to Keras' VGG19 notop ``.h5``: Keras' (Caffe-converted)
            weights, a departure. ``None``: random weights (tests only: the
            numbers mean nothing).
        layer_weights: weights of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.

    Call: ``loss(fake, real)`` -> per-example loss [B]. The real features are
    not differentiated.

    Input: the official code feeds the [-1, 1] images straight to
    torchvision's VGG19 (NVlabs/SPADE ``architecture.py`` ``VGG19.forward``,
    NVIDIA/pix2pixHD ``networks.py`` ``Vgg19.forward``: no normalisation),
    and so does tfsem with torchvision's weights. Keras' weights are the
    Caffe model's and expect Caffe input (BGR, 0..255, the ImageNet mean
    removed), so with them tfsem converts to that (:func:`vgg_input_convention`);
    feeding them [-1, 1] would make every feature about 100x smaller and the
    term negligible at the papers' weight of 10.
    """

    LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")

    def __init__(self, weights="torchvision", layer_weights=(1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
                 **kwargs):
        super().__init__(**kwargs)
        self.weights_path = weights
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.input_convention = vgg_input_convention(weights)
        vgg = keras.applications.VGG19(include_top=False, weights=None)
        if weights is not None and self.input_convention == "torchvision":
            from tfsem.convert.vgg19 import find_torchvision_vgg19, load_torchvision_vgg19

            path = find_torchvision_vgg19() if weights == "torchvision" else \
                os.path.expanduser(os.path.expandvars(weights))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"VGG19 weights for the perceptual loss: the file {path} "
                                        "does not exist (set lambda_vgg to 0 to train without)")
            load_torchvision_vgg19(vgg, path)
        elif weights is not None:
            vgg.load_weights(find_vgg19_weights(None if weights == "keras_cache" else weights))
        outputs = [vgg.get_layer(name).output for name in self.LAYERS]
        self.features = keras.Model(vgg.input, outputs, name="vgg19_features")
        self.features.trainable = False

    def _preprocess(self, image):
        image = tf.cast(image, tf.float32)
        if self.input_convention == "torchvision":
            return image
        rgb = (image + 1.0) * 127.5
        bgr = rgb[..., ::-1]
        return bgr - tf.constant([103.939, 116.779, 123.68])

    def call(self, fake, real):
        fake_f = self.features(self._preprocess(fake))
        real_f = self.features(self._preprocess(real))
        total = 0.0
        for w, f, r in zip(self.layer_weights, fake_f, real_f):
            total += w * _per_example_mean(tf.abs(f - tf.stop_gradient(r)))
        return total

    def get_config(self):
        return {**super().get_config(), "weights": self.weights_path,
                "layer_weights": self.layer_weights}
