import io
import zipfile

import h5py

import keras
import numpy as np
import pytest

from tfsem.losses import VGGPerceptualLoss
from tfsem.models import GauGAN
from tfsem.data.pipeline import DataPipeline
from tests.testing import tiny_gaugan_kwargs, toy_data_config


def _data(batch_size=2):
    return DataPipeline(toy_data_config(batch_size=batch_size)).dataset()


def _compiled(g_lr=1e-4, d_lr=4e-4, vgg=True, sgd=False, **overrides):
    model = GauGAN(**tiny_gaugan_kwargs(lambda_vgg=10.0 if vgg else 0.0, **overrides))
    opt = ((lambda lr: keras.optimizers.SGD(lr)) if sgd
           else (lambda lr: keras.optimizers.Adam(lr, beta_1=0.0, beta_2=0.9)))
    model.compile(g_optimizer=opt(g_lr), d_optimizer=opt(d_lr),
                  vgg_loss=VGGPerceptualLoss(weights=None) if vgg else None)
    return model


def test_inference_from_int_label_maps():
    model = GauGAN(**tiny_gaugan_kwargs())
    batch = next(iter(_data()))
    out = model({"label": batch["label"], "instance": batch["instance"]})
    assert out.shape == (2, 32, 64, 3) and np.abs(out.numpy()).max() <= 1.0
    assert model.semantic_input(batch["label"], batch["instance"]).shape[-1] == 36
    with pytest.raises(ValueError, match="pass 'instance'"):
        model({"label": batch["label"]})


def test_constructor_errors():
    with pytest.raises(ValueError, match="multiples of 32"):
        GauGAN(**tiny_gaugan_kwargs(image_size=(30, 64)))
    with pytest.raises(ValueError, match="gan_mode must be one of"):
        GauGAN(**tiny_gaugan_kwargs(gan_mode="wgan"))


def test_vgg_weights_missing_stops_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = GauGAN(**tiny_gaugan_kwargs())  # torchvision's VGG19, the official one
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth.*set lambda_vgg to 0"):
        model.compile()
    model = GauGAN(**tiny_gaugan_kwargs(vgg_weights="keras_cache"))
    with pytest.raises(FileNotFoundError, match="notop.h5 there.*set lambda_vgg to 0"):
        model.compile()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VGGPerceptualLoss(weights=str(tmp_path / "nope.h5"))


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return any(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def test_d_step_leaves_g_and_g_step_leaves_d_unchanged():
    """The VAE, the KL term and the VGG loss fit in test_task_contract.py (gaugan_vae)."""
    batch = next(iter(_data()))
    # Only D can learn: G's trainable weights must not move.
    model = _compiled(g_lr=0.0, vgg=False)
    g0 = _snapshot(model.generator.trainable_variables)
    d0 = _snapshot(model.discriminator.trainable_variables)
    model.train_step(batch)
    assert not _changed(g0, model.generator.trainable_variables)
    assert _changed(d0, model.discriminator.trainable_variables)
    # Only G can learn (the same model, its rates swapped): D's weights must not move.
    model.g_optimizer.learning_rate.assign(1e-4)
    model.d_optimizer.learning_rate.assign(0.0)
    g0 = _snapshot(model.generator.trainable_variables)
    d0 = _snapshot(model.discriminator.trainable_variables)
    model.train_step(batch)
    assert _changed(g0, model.generator.trainable_variables)
    assert not _changed(d0, model.discriminator.trainable_variables)


def test_keras_save_load_round_trip(tmp_path):
    # Compiled with a (random-weight) VGG19 loss, which must stay out of the file;
    # training before saving is the contract test's (test_task_contract.py).
    model = _compiled(vgg=True)
    path = str(tmp_path / "gaugan.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as f:
        with h5py.File(io.BytesIO(f.read())) as h5:
            names = []
            h5.visit(names.append)
    assert not [n for n in names if "vgg" in n.lower()]  # the VGG19 loss is not saved
    loaded = keras.saving.load_model(path, compile=False)
    batch = next(iter(_data()))
    inputs = {"label": batch["label"], "instance": batch["instance"]}
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), rtol=1e-5, atol=1e-5)
    assert loaded.get_config()["image_size"] == (32, 64)


def test_weights_start_as_spades_xavier_init_with_gain_0_02():
    model = GauGAN(**tiny_gaugan_kwargs())
    model.build_networks()
    disc = model.discriminator.discriminators[0]
    for layer in (model.generator.fc, model.generator.conv_img,
                  model.generator.head_0.norm_0.mlp_gamma, disc.blocks[0][0]):
        kernel = layer.kernel.numpy()
        rf = int(np.prod(kernel.shape[:-2]))
        expected = 0.02 * np.sqrt(2.0 / (rf * (kernel.shape[-2] + kernel.shape[-1])))
        assert abs(kernel.std() / expected - 1) < 0.15, layer.name
        assert not layer.use_bias or not layer.bias.numpy().any()
    keras_init = GauGAN(**tiny_gaugan_kwargs(init="keras"))
    keras_init.build_networks()
    assert keras_init.generator.fc.kernel.numpy().std() > 10 * model.generator.fc.kernel.numpy().std()
