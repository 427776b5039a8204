"""GAN training tasks (keras.Model subclasses with train_step), one per family."""

from tfsem.models.color_label_gan import ColorLabelGAN
from tfsem.models.gaugan import GauGAN
from tfsem.models.photo_gan import PhotoGAN
from tfsem.models.pix2pix import Pix2Pix
from tfsem.models.pix2pixhd import Pix2PixHD
from tfsem.models.sean import SEAN
from tfsem.models.semgan import SemGAN

__all__ = ["ColorLabelGAN", "GauGAN", "PhotoGAN", "Pix2Pix", "Pix2PixHD", "SEAN", "SemGAN"]
