"""The one-stage baseline of the dream comparison: an unconditional GAN on the
PHOTOS, with SemGAN's backbone (the same generator options and
discriminator), against which "SemGAN's map, then a renderer" is measured
(the seed report's StyleGAN -> SPADE study: two stages beat one).

Its samples are read as label maps the way the report scores every method
without weights: the toy_streets oracle (nearest photo colour of each toy
class) segments them, so ``sample_label_maps``, ``tfsem.generate --num``,
``tfsem.evaluate`` and the trainer's scores give label-map statistics of
what it paints. That reading exists for toy_streets only; the config
refuses other data (a real segmenter would be needed).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfsem.data import toy_streets
from tfsem.models.color_label_gan import ColorLabelGAN

__all__ = ["PhotoGAN"]


@keras.saving.register_keras_serializable(package="tfsem")
class PhotoGAN(ColorLabelGAN):
    """Standard GAN on photos [-1, 1] (``batch["image"]``), read back through
    the toy oracle. Call: ``model(z)`` -> photo float32 [B, H, W, 3].

    Args (beyond :class:`~tfsem.models.ColorLabelGAN`'s): ``oracle_classes``,
    the class index of each toy class (``toy_streets.CLASS_IDS`` order).
    """

    def __init__(self, num_classes, image_size, oracle_classes, **kwargs):
        oracle_classes = [int(c) for c in oracle_classes]
        if len(oracle_classes) != len(toy_streets.CLASS_IDS) or not all(
                0 <= c < num_classes for c in oracle_classes):
            raise ValueError(f"oracle_classes must be {len(toy_streets.CLASS_IDS)} class indices "
                             f"< {num_classes}, got {oracle_classes}")
        colors = dict(zip(oracle_classes, (toy_streets.PHOTO_COLORS[c]
                                           for c in toy_streets.CLASS_IDS)))
        # Classes the toy photos do not paint share the sky's colour in the palette
        # (colour validity); they never win the read-back (_palette_unit).
        sky = toy_streets.PHOTO_COLORS[toy_streets.SKY]
        palette = [colors.get(c, sky) for c in range(num_classes)]
        super().__init__(num_classes, image_size, palette, **kwargs)
        self.oracle_classes = oracle_classes
        self._oracle_unit = np.full((num_classes, 3), 1e3, np.float32)  # never the nearest
        for cls, raw in zip(oracle_classes, toy_streets.CLASS_IDS):
            self._oracle_unit[cls] = np.asarray(toy_streets.PHOTO_COLORS[raw]) / 127.5 - 1.0

    @classmethod
    def from_experiment(cls, config):
        space, num_classes, image_size = cls.experiment_sizes(config)
        kwargs = cls.experiment_kwargs(config, drop=tuple(config.model.section.ignored_fields()))
        oracle = space.encode(np.asarray(toy_streets.CLASS_IDS), config.data.dont_care)
        return cls(num_classes=num_classes, image_size=image_size,
                   oracle_classes=oracle.tolist(), **kwargs, name="photo_gan")

    def _palette_unit(self):
        return tf.constant(self._oracle_unit)

    def real_maps(self, batch, training=False):
        """The real photos."""
        return tf.cast(batch["image"], tf.float32)

    def get_config(self):
        config = super().get_config()
        config.pop("palette")
        return {**config, "oracle_classes": self.oracle_classes}
