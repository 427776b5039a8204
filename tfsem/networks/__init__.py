"""Generators, discriminators and encoders (keras.Model, explicit keyword arguments)."""

from tfsem.networks.conv_encoder import ConvEncoder
from tfsem.networks.multiscale_discriminator import MultiScaleDiscriminator, NLayerDiscriminator
from tfsem.networks.spade_generator import SPADEGenerator

__all__ = ["ConvEncoder", "MultiScaleDiscriminator", "NLayerDiscriminator", "SPADEGenerator"]
