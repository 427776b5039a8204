"""GAN training tasks (keras.Model subclasses with train_step), one per family."""

from tfsem.models.gaugan import GauGAN
from tfsem.models.pix2pixhd import Pix2PixHD

__all__ = ["GauGAN", "Pix2PixHD"]
