"""Generators, discriminators and encoders (keras.Model, explicit keyword arguments)."""

from tfsem.networks.conv_encoder import ConvEncoder
from tfsem.networks.label_map_discriminator import LabelMapDiscriminator
from tfsem.networks.label_map_generator import LabelMapGenerator
from tfsem.networks.multiscale_discriminator import MultiScaleDiscriminator, NLayerDiscriminator
from tfsem.networks.spade_generator import SPADEGenerator
from tfsem.networks.unet import UnetGenerator

__all__ = ["ConvEncoder", "LabelMapDiscriminator", "LabelMapGenerator", "MultiScaleDiscriminator",
           "NLayerDiscriminator", "SPADEGenerator", "UnetGenerator"]
