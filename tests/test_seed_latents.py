"""tfsem.seed_latents: the latent of a seed without TensorFlow, as TF draws it."""

import numpy as np
import pytest

from tfsem.models.base import latent_for_seeds
from tfsem.seed_latents import latent_for_seeds_numpy

# int64 seeds wrap as TF's do; odd sizes leave part of the last Philox block unused
SEEDS = list(range(-3, 150)) + [2**31 - 1, 2**32, 2**40 + 5, -2**63, 2**63 - 1]


@pytest.mark.parametrize("z_dim, stream", [(64, 0), (37, 1), (1, 0), (5, 7)])
def test_numpy_latents_are_tensorflows(z_dim, stream):
    """Philox4x32-10 and the seed scrambling exact; Box-Muller's libm rounding
    (sin, cos, log) may move a value by a few float32 units in the last place."""
    expected = latent_for_seeds(SEEDS, z_dim, stream=stream).numpy()
    got = latent_for_seeds_numpy(SEEDS, z_dim, stream)
    assert got.shape == expected.shape == (len(SEEDS), z_dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-7)
    assert (got == expected).mean() > 0.9  # a libm difference, not an algorithm's
    # each seed and stream its own latent
    assert not np.array_equal(got, latent_for_seeds_numpy(SEEDS, z_dim, stream + 1))
    assert len({row.tobytes() for row in got}) == len(SEEDS)


def test_numpy_latents_refuse_an_empty_latent():
    with pytest.raises(ValueError, match="z_dim must be >= 1"):
        latent_for_seeds_numpy([0], 0)


def test_the_tflite_demo_feeds_pythons_latents_of_a_seed():
    """tools/tflite_demo.py: z of --seed (stream 0), a dream renderer's style_z
    (stream 1, as tfsem.dream), a style SemGAN's --mix-seed, a VAE renderer's z."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "tflite_demo.py")
    spec = importlib.util.spec_from_file_location("tflite_demo_seeds", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    details = {"z": {"shape": [1, 6]}, "truncation_psi": {}, "mix_z": {}, "mix_layer": {},
               "style_z": {"shape": [1, 9]}}
    inputs = demo._latent_inputs(details, 5, None, 0.5, 8, 1, 0)
    for name, seed, dim, stream in (("z", 5, 6, 0), ("mix_z", 8, 6, 0), ("style_z", 5, 9, 1)):
        np.testing.assert_array_equal(inputs[name], latent_for_seeds_numpy([seed], dim, stream))
    np.testing.assert_allclose(inputs["style_z"], latent_for_seeds([5], 9, stream=1).numpy(),
                               rtol=0, atol=3e-7)
    np.testing.assert_array_equal(demo._latent(5, 6), inputs["z"])  # a VAE renderer's z
