"""pix2pix: the official sizes, what the networks see, dropout and batch norm at
inference, the training step. Equivalence with the official networks:
tests/convert/test_pix2pix_equivalence.py."""

import numpy as np
import pytest
import tensorflow as tf

from tfsem.config import ConfigError, ExperimentConfig, config_from_dict
from tfsem.data.labels import load_label_space
from tfsem.models import Pix2Pix
from tfsem.networks.multiscale_discriminator import NLayerDiscriminator
from tfsem.networks.unet import UnetGenerator
from tests.testing import tiny_family_experiment

PALETTE = load_label_space("cityscapes").palette().tolist()


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def test_unet_256_and_the_basic_patchgan_have_the_official_sizes():
    # The official code prints "[Network G] Total number of parameters : 54.414 M" for
    # --netG unet_256 (3 input channels) and 2.769 M for --netD basic (3 + 3).
    g = UnetGenerator(num_downs=8, ngf=64, norm="batch")
    assert g(tf.zeros([1, 256, 256, 3])).shape == (1, 256, 256, 3)
    assert round(_count(g.trainable_variables) / 1e6, 3) == 54.414
    d = NLayerDiscriminator(ndf=64, n_layers=4, norm="batch", spectral_norm=False,
                            max_filters=512, padding=1, affine_norm=True)
    out = d(tf.zeros([1, 256, 256, 6]))
    assert [tuple(t.shape[1:3]) for t in out] == [(128, 128), (64, 64), (32, 32), (31, 31),
                                                  (30, 30)]  # 30x30 patches of 70x70 pixels
    assert round(_count(d.trainable_variables) / 1e6, 3) == 2.769
    assert g.dropout_levels == (4, 5, 6)  # the paper's three CD512 decoder layers


def _tiny(**kwargs):
    args = dict(num_classes=35, image_size=(64, 64), palette=PALETTE, num_downs=6, ngf=4, ndf=4,
                n_layers_D=2)
    args.update(kwargs)
    model = Pix2Pix(**args)
    model.build_networks()
    return model


def test_semantic_input_is_the_colour_rendering_or_one_hot():
    label = tf.constant([[[7, 26], [0, 34]]], tf.int32)  # road, car, unlabeled, ...
    colors = _tiny().semantic_input(label).numpy()
    np.testing.assert_allclose(colors[0, 0, 0], np.array(PALETTE[7]) / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(colors[0, 0, 1], np.array(PALETTE[26]) / 127.5 - 1, atol=1e-6)
    with_edges = _tiny(use_instances=True).semantic_input(label, label).numpy()
    assert with_edges.shape == (1, 2, 2, 4) and set(np.unique(with_edges[..., 3])) <= {0, 1}
    onehot = _tiny(label_input="onehot").semantic_input(label).numpy()
    assert onehot.shape == (1, 2, 2, 35) and onehot[0, 0, 1, 26] == 1
    with pytest.raises(ValueError, match="needs a palette of 35 RGB colours"):
        Pix2Pix(num_classes=35, image_size=(64, 64), palette=PALETTE[:3], num_downs=6)


def test_dropout_in_training_only_and_per_image_statistics_at_inference():
    model = _tiny()
    x = tf.random.stateless_uniform([2, 64, 64, 3], seed=[1, 2], minval=-1)
    train_a = model.generator(x, training=True).numpy()
    train_b = model.generator(x, training=True).numpy()
    assert np.abs(train_a - train_b).max() > 1e-3  # dropout masks differ
    infer = model.generator(x, training=False).numpy()
    np.testing.assert_array_equal(infer, model.generator(x, training=False).numpy())
    alone = model.generator(x[:1], training=False).numpy()
    np.testing.assert_allclose(infer[:1], alone, atol=1e-5)  # batch-independent
    evaluated = _tiny(eval_mode=True)
    evaluated.set_weights(model.get_weights())
    assert np.abs(evaluated.generator(x, training=False).numpy() - infer).max() > 1e-3


def test_train_step_updates_both_networks_and_reports_the_official_terms():
    model = _tiny()
    model.compile()
    rng = np.random.default_rng(0)
    batch = {"label": tf.constant(rng.integers(0, 34, (2, 64, 64)), tf.int32),
             "image": tf.constant(rng.uniform(-1, 1, (2, 64, 64, 3)), tf.float32)}
    g0 = [v.numpy() for v in model.generator.trainable_variables]
    d0 = [v.numpy() for v in model.discriminator.trainable_variables]
    logs = model.train_step(batch)
    assert set(logs) >= {"G_GAN", "G_L1", "G_VGG", "D_real", "D_fake", "G_loss", "D_loss"}
    # L1 weight 100 on mean |fake - real| of uniform targets: tens, not units.
    assert 20 < float(logs["G_L1"]) < 150 and float(logs["G_VGG"]) == 0
    assert any(np.abs(v.numpy() - w).max() > 0 for v, w in zip(model.generator.trainable_variables, g0))
    assert any(np.abs(v.numpy() - w).max() > 0
               for v, w in zip(model.discriminator.trainable_variables, d0))
    assert int(model.g_optimizer.iterations) == int(model.d_optimizer.iterations) == 1


def _config(**section):
    experiment = tiny_family_experiment("pix2pix")
    experiment["model"]["pix2pix"].update(section)
    return config_from_dict(ExperimentConfig, experiment)


@pytest.mark.parametrize("section, message", [
    ({"num_downs": 4}, r"model\.pix2pix\.num_downs: must be >= 5"),
    ({"num_downs": 6}, r"num_downs=6 needs a height and width that are multiples of 64; the "
                       r"data gives 32x64"),
    ({"norm": "instance", "eval_mode": True}, r"model\.pix2pix\.eval_mode: not used by this "
                                              r"model \(norm is 'instance'"),
    ({"label_input": "rgb"}, r"model\.pix2pix\.label_input"),
])
def test_bad_configs_name_the_field(section, message):
    with pytest.raises(ConfigError, match=message):
        _config(**section).validate()
