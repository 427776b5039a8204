import numpy as np
import pytest

from tfsem.networks import ConvEncoder, MultiScaleDiscriminator, SPADEGenerator
from tfsem.networks.multiscale_discriminator import downsample_avg

SEG = np.random.default_rng(0).random((2, 32, 64, 6)).astype("float32")


@pytest.mark.parametrize("mode, factor", [("normal", 32), ("more", 64), ("most", 128)])
def test_generator_shapes_per_upsampling_mode(mode, factor):
    seg = np.random.default_rng(1).random((1, factor, 2 * factor, 6)).astype("float32")
    g = SPADEGenerator(ngf=4, num_upsampling_layers=mode, hidden_channels=4)
    out = g(seg).numpy()
    assert out.shape == (1, factor, 2 * factor, 3)
    assert np.abs(out).max() <= 1.0
    assert g.final_channels == (2 if mode == "most" else 4)


def test_generator_vae_uses_z_and_config_round_trips():
    g = SPADEGenerator(ngf=4, hidden_channels=4, use_vae=True, z_dim=8, latent_size=(1, 2), seed=3)
    z = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    a, b = g(SEG, z=z).numpy(), g(SEG, z=z).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, g(SEG, z=z + 1.0).numpy())
    assert SPADEGenerator.from_config(g.get_config()).get_config() == g.get_config()
    with pytest.raises(ValueError, match="use_vae=True needs latent_size"):
        SPADEGenerator(use_vae=True)
    with pytest.raises(ValueError, match="num_upsampling_layers must be one of"):
        SPADEGenerator(num_upsampling_layers="many")


def test_discriminator_returns_features_of_every_layer_and_scale():
    d = MultiScaleDiscriminator(num_D=3, n_layers=4, ndf=4)
    x = np.concatenate([SEG, SEG[..., :3]], -1)
    out = d(x)
    assert len(out) == 3 and all(len(scale) == 5 for scale in out)
    # PyTorch arithmetic: conv k4 s2 p2 -> floor((n + 4 - 4) / 2) + 1.
    assert [tuple(f.shape[1:3]) for f in out[0]] == [(17, 33), (9, 17), (5, 9), (6, 10), (7, 11)]
    assert out[0][-1].shape[-1] == 1 and out[1][0].shape[1:3] == (9, 17)
    assert [f.shape[-1] for f in out[0]] == [4, 8, 16, 32, 1]


def test_downsample_matches_count_exclude_pad_average():
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    out = downsample_avg(x).numpy()[0, ..., 0]
    # Top-left window covers rows/cols -1..1 -> valid 0..1: mean of 0, 1, 4, 5.
    assert out.shape == (2, 2) and out[0, 0] == pytest.approx(2.5)
    assert out[1, 1] == pytest.approx(np.mean([5, 6, 7, 9, 10, 11, 13, 14, 15]))


def test_encoder_outputs_mu_and_logvar():
    e = ConvEncoder(ndf=4, z_dim=8)
    mu, logvar = e(SEG[..., :3])
    assert mu.shape == (2, 8) and logvar.shape == (2, 8)
    assert len(e.blocks) == 6  # image_size 256 -> six stride-2 layers, 4x4 at the end
    assert len(ConvEncoder(ndf=4, z_dim=8, resize_to=128).blocks) == 5
