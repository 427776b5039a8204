"""GAN training tasks (keras.Model subclasses with train_step), one per family."""

from tfsem.models.gaugan import GauGAN

__all__ = ["GauGAN"]
