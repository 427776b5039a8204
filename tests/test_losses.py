import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsem import losses as L


def _preds(value, scales=2):
    return [[tf.zeros([2, 4, 4, 8]), tf.fill([2, 3, 3, 1], value)] for _ in range(scales)]


def test_hinge_loss_values():
    # D real: -mean(min(x - 1, 0)); D fake: -mean(min(-x - 1, 0)); G: -mean(x).
    np.testing.assert_allclose(L.gan_loss(_preds(0.5), True, True, "hinge"), [0.5, 0.5])
    np.testing.assert_allclose(L.gan_loss(_preds(2.0), True, True, "hinge"), [0.0, 0.0])
    np.testing.assert_allclose(L.gan_loss(_preds(0.5), False, True, "hinge"), [1.5, 1.5])
    np.testing.assert_allclose(L.gan_loss(_preds(0.5), True, False, "hinge"), [-0.5, -0.5])


def test_lsgan_and_original_losses():
    np.testing.assert_allclose(L.gan_loss(_preds(0.5), True, True, "lsgan"), [0.25, 0.25])
    np.testing.assert_allclose(L.gan_loss(_preds(0.0), False, True, "original"),
                               [np.log(2.0)] * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="gan mode must be one of"):
        L.gan_loss(_preds(0.0), True, True, "wgan")


def test_feature_matching_averages_layers_over_scales():
    fake = [[tf.ones([2, 4, 4, 3]), tf.ones([2, 2, 2, 5]), tf.zeros([2, 1, 1, 1])]] * 2
    real = [[tf.zeros([2, 4, 4, 3]), tf.fill([2, 2, 2, 5], 3.0), tf.ones([2, 1, 1, 1])]] * 2
    # per scale: |1-0| + |1-3| = 3 (logits excluded); summed over 2 scales / num_D 2 = 3.
    np.testing.assert_allclose(L.feature_matching_loss(fake, real), [3.0, 3.0])


def test_kl_divergence_known_values():
    mu = tf.constant([[0.0, 0.0], [1.0, 0.0]])
    logvar = tf.constant([[0.0, 0.0], [0.0, np.log(2.0)]], tf.float32)
    expected = [0.0, 0.5 * (1.0 + (2.0 - 1.0 - np.log(2.0)))]
    np.testing.assert_allclose(L.kl_divergence(mu, logvar), expected, rtol=1e-6)


def test_vgg_loss_loads_keras_h5_weights_from_a_path_and_the_cache(tmp_path, monkeypatch):
    """A VGG19 saved in the legacy .h5 layout of Keras' cache file loads exactly."""
    from keras.src.legacy.saving import legacy_h5_format

    source = keras.applications.VGG19(include_top=False, weights=None)
    path = tmp_path / "models" / L.VGG19_WEIGHTS_FILE
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    image = tf.random.uniform([1, 32, 32, 3], -1.0, 1.0, seed=0)
    caffe = L.VGGPerceptualLoss(weights=None)
    caffe.input_convention = "caffe"  # Keras' weights take Caffe's input
    expected = keras.Model(source.input, source.get_layer("block1_conv1").output)(
        caffe._preprocess(image))
    for loss in (L.VGGPerceptualLoss(weights=str(path)),
                 (monkeypatch.setenv("KERAS_HOME", str(tmp_path)),
                  L.VGGPerceptualLoss(weights="keras_cache"))[1]):
        assert loss.input_convention == "caffe"
        np.testing.assert_allclose(loss.features(loss._preprocess(image))[0],
                                   expected, rtol=1e-5, atol=1e-5)
        value = loss(image, image * 0.5)
        assert value.shape == (1,) and float(value[0]) > 0
        assert float(loss(image, image)[0]) == 0.0


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gaugan_kld_is_summed_over_the_batch_as_spade(reduction):
    """NVlabs/SPADE KLDLoss sums over [B, z_dim]: the trainer's mean of the
    per-example terms is that sum ('sum'), or the per-example mean ('mean')."""
    from tfsem.models import GauGAN

    model = GauGAN(num_classes=3, image_size=(32, 32), use_instances=False, ngf=4, ndf=4,
                   use_vae=True, z_dim=8, lambda_kld=0.05, kld_reduction=reduction)
    rng = np.random.default_rng(0)
    mu = tf.constant(rng.normal(size=(3, 8)), tf.float32)
    logvar = tf.constant(rng.normal(size=(3, 8)) * 0.1, tf.float32)
    per_sample = -0.5 * np.sum(1 + logvar.numpy() - mu.numpy() ** 2 - np.exp(logvar.numpy()), 1)
    term = model.kld_term(mu, logvar).numpy()
    expected = 0.05 * (per_sample.sum() if reduction == "sum" else per_sample.mean())
    assert float(tf.nn.compute_average_loss(term)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="kld_reduction"):
        GauGAN(num_classes=3, image_size=(32, 32), use_vae=True, kld_reduction="max")


def _torchvision_vgg19_features():
    """torchvision's ``vgg19().features`` layer for layer (torchvision is not needed)."""
    import torch

    layers, channels = [], 3
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                  512, 512, 512, 512, "M"):
        if width == "M":
            layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1), torch.nn.ReLU(inplace=True)]
            channels = width
    return torch.nn.Sequential(*layers)


def test_vgg_loss_with_torchvision_weights_is_the_official_vgg_loss(tmp_path, monkeypatch):
    """A torchvision VGG19 state dict (``features.<i>``) loads into the loss, which
    then computes NVlabs/SPADE's / pix2pixHD's VGGLoss: the [-1, 1] images straight
    into the network, relu1_1 .. relu5_1 (features[0:2], [2:7], [7:12], [12:21],
    [21:30]), L1 weighted 1/32 .. 1."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    features = _torchvision_vgg19_features().eval()
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    path = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 32, 48, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1).astype(np.float32)
    slices = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]
    weights = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]
    expected = []
    with torch.no_grad():
        for i in range(2):
            a = torch.from_numpy(x[i:i + 1]).permute(0, 3, 1, 2)
            b = torch.from_numpy(y[i:i + 1]).permute(0, 3, 1, 2)
            total = 0.0
            for w, (lo, hi) in zip(weights, slices):
                a, b = features[lo:hi](a), features[lo:hi](b)
                total += w * float(torch.nn.functional.l1_loss(a, b))
            expected.append(total)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for loss in (L.VGGPerceptualLoss(weights=str(path)), L.VGGPerceptualLoss()):
        assert loss.input_convention == "torchvision"
        np.testing.assert_allclose(loss(tf.constant(x), tf.constant(y)).numpy(), expected,
                                   rtol=1e-4)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth.*torch hub cache"):
        L.VGGPerceptualLoss()
    torch.save({"features.0.weight": state["features.0.weight"]}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision VGG19 state dict"):
        L.VGGPerceptualLoss(weights=str(tmp_path / "bad.pth"))
