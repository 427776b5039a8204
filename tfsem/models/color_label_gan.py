"""The "standard GAN" baseline of SemGAN (Ghelfi et al. 2019, sec. 4): the
same backbone as :class:`~tfsem.models.SemGAN`, but it generates COLOUR label
images (3 channels, tanh) and is trained against the colourised real maps.
A label map is read back by snapping every pixel to the nearest palette
colour. Its outputs show the problem SemGAN solves: in-between colours at
boundaries and blur, i.e. pixels that are no class at all before snapping
(``tfsem.metrics.color_validity``).

Classes that share a palette colour (in Cityscapes e.g. the black
``unlabeled``, ``ego vehicle``, ``rectification border`` and ``out of
roi``) cannot be told apart by colour: snapping gives the first of them.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfsem.models.label_map_gan import LabelMapGAN

__all__ = ["ColorLabelGAN", "nearest_palette_labels"]


def nearest_palette_labels(images, palette):
    """Class index [B,H,W] of the nearest ``palette`` colour [C, 3] per pixel of
    ``images`` [B,H,W,3] (both in the same units); ties: the lowest index."""
    palette = tf.cast(palette, images.dtype)
    distance = (tf.reduce_sum(tf.square(images), -1, keepdims=True)
                - 2.0 * tf.einsum("bhwk,ck->bhwc", images, palette)
                + tf.reduce_sum(tf.square(palette), -1))
    return tf.argmin(distance, axis=-1, output_type=tf.int32)


@keras.saving.register_keras_serializable(package="tfsem")
class ColorLabelGAN(LabelMapGAN):
    """Standard GAN on colourised label maps.

    Call: ``model(z)`` -> colour image float32 [B, H, W, 3] in [-1, 1];
    ``model.sample(z)`` -> int32 class indices by nearest palette colour.

    Args (beyond :class:`~tfsem.models.label_map_gan.LabelMapGAN`'s):
        palette: [num_classes, 3] uint8 colours of the classes (the label
            space's palette).
    """

    outputs_colors = True

    def __init__(self, num_classes, image_size, palette, **kwargs):
        palette = np.asarray(palette, np.int64)
        if palette.shape != (num_classes, 3) or palette.min() < 0 or palette.max() > 255:
            raise ValueError(f"palette must be [num_classes={num_classes}, 3] colours in 0..255, "
                             f"got shape {palette.shape}")
        super().__init__(num_classes, image_size, **kwargs)
        self.palette = [[int(v) for v in color] for color in palette]

    @classmethod
    def from_experiment(cls, config):
        space, num_classes, image_size = cls.experiment_sizes(config)
        kwargs = cls.experiment_kwargs(config, drop=tuple(config.model.section.ignored_fields()))
        return cls(num_classes=num_classes, image_size=image_size,
                   palette=space.palette(config.data.dont_care), **kwargs,
                   name="color_label_gan")

    @property
    def output_channels(self) -> int:
        return 3

    def _palette_unit(self):
        return tf.constant(np.asarray(self.palette, np.float32) / 127.5 - 1.0)

    def call(self, z, training=False, **style):
        return tf.tanh(tf.cast(super().call(z, training=training, **style), tf.float32))

    def fake_input(self, raw, training=False):
        return tf.tanh(tf.cast(raw, tf.float32))

    def real_input(self, label, training=False):
        return tf.gather(self._palette_unit(), tf.maximum(tf.cast(label, tf.int32), 0))

    def labels_from_output(self, output):
        """Nearest palette colour per pixel (ties: the lowest class index)."""
        return nearest_palette_labels(output, self._palette_unit())

    def get_config(self):
        return {**super().get_config(), "palette": self.palette}
