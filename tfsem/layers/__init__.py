"""Building blocks: SPADE, SPADEResBlock, spectrally normalised convs, norms."""

from tfsem.layers.normalization import NORMS, param_free_norm
from tfsem.layers.spade import SPADE
from tfsem.layers.spade_res_block import SPADEResBlock
from tfsem.layers.spectral_conv2d import SpectralConv2D

__all__ = ["NORMS", "SPADE", "SPADEResBlock", "SpectralConv2D", "param_free_norm"]
