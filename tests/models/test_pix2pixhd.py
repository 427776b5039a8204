import numpy as np
import pytest
import tensorflow as tf

from tfsem.layers.conv3x3 import conv3x3_as_matmul
from tfsem.layers.resnet_block import ResnetBlock, reflect_pad
from tfsem.models import Pix2PixHD
from tfsem.networks.pix2pixhd import FeatureEncoder, GlobalGenerator, Pix2PixHDGenerator, \
    instance_average
from tests.testing import run_layer_test


def tiny(**overrides):
    kwargs = dict(num_classes=35, image_size=(32, 64), use_instances=True, ngf=4,
                  n_downsample_global=2, n_blocks_global=1, ndf=4, num_D=2, n_layers_D=2,
                  use_features=True, feat_num=3, nef=4, n_downsample_E=2, lambda_vgg=0.0)
    kwargs.update(overrides)
    return Pix2PixHD(**kwargs)


def batch(size=2):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 34, size=(size, 32, 64)).astype(np.int32)
    instance = np.where(np.arange(64)[None, None] < 32, 26000, 26001).repeat(32, 1)
    instance = np.broadcast_to(instance, (size, 32, 64)).astype(np.int32)
    image = rng.uniform(-1, 1, size=(size, 32, 64, 3)).astype(np.float32)
    return {"label": tf.constant(label), "instance": tf.constant(instance),
            "image": tf.constant(image)}


def test_instance_average_on_a_hand_made_map():
    features = np.arange(2 * 2 * 4 * 1, dtype=np.float32).reshape(2, 2, 4, 1)
    instance = np.array([[[1, 1, 2, 2], [1, 1, 2, 5]],
                         [[1, 1, 1, 1], [7, 7, 7, 7]]], np.int32)
    out = instance_average(features, instance).numpy()[..., 0]
    # image 0: id 1 -> (0+1+4+5)/4 = 2.5; id 2 -> (2+3+6)/3 = 11/3; id 5 -> 7.
    np.testing.assert_allclose(out[0], [[2.5, 2.5, 11 / 3, 11 / 3], [2.5, 2.5, 11 / 3, 7]])
    # image 1: the same id 1 is a different instance than image 0's id 1.
    np.testing.assert_allclose(out[1], [[9.5, 9.5, 9.5, 9.5], [13.5, 13.5, 13.5, 13.5]])


def test_matmul_conv_equals_conv2d():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 5, 7, 8)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(3, 3, 8, 6)).astype(np.float32))
    padded = reflect_pad(x, 1)
    np.testing.assert_allclose(conv3x3_as_matmul(padded, kernel).numpy(),
                               tf.nn.conv2d(padded, kernel, 1, "VALID").numpy(), atol=1e-4)


@pytest.mark.parametrize("filters", [8, 256])  # the conv and the GEMM path
def test_resnet_block_layer(filters):
    x = np.random.default_rng(0).normal(size=(1, 4, 6, filters)).astype(np.float32)
    run_layer_test(ResnetBlock, {"filters": filters}, x, (1, 4, 6, filters))


def test_generators_shapes_and_variable_split():
    x = tf.random.normal([2, 32, 64, 36])
    g1 = GlobalGenerator(ngf=4, n_downsampling=2, n_blocks=1)
    assert g1(x).shape == (2, 32, 64, 3)
    g2 = Pix2PixHDGenerator(ngf=2, n_downsample_global=2, n_blocks_global=1,
                            n_local_enhancers=1, n_blocks_local=1)
    out = g2(x)
    assert out.shape == (2, 32, 64, 3) and np.abs(out.numpy()).max() <= 1.0
    assert g2.factor == 8
    # G1 inside the enhancer has width ngf * 2 and no RGB head.
    assert g2.global_generator.ngf == 4 and g2.global_generator.head is None
    n_global = len(g2.global_generator.trainable_variables)
    assert n_global + len(g2.local_variables) == len(g2.trainable_variables)


def test_feature_encoder_output_is_constant_per_instance():
    encoder = FeatureEncoder(ngf=4, n_downsampling=2, feat_num=3)
    b = batch()
    feats = encoder(b["image"], b["instance"]).numpy()
    assert feats.shape == (2, 32, 64, 3)
    left, right = feats[0, :, :32], feats[0, :, 32:]
    assert np.ptp(left.reshape(-1, 3), axis=0).max() < 1e-6
    assert np.ptp(right.reshape(-1, 3), axis=0).max() < 1e-6
    assert not np.allclose(left[0, 0], right[0, 0])


def test_losses_and_one_fit_step():
    model = tiny()
    model.compile()
    terms = model.compute_losses(batch())
    assert set(terms) == {"G_GAN", "G_feat", "G_VGG", "D_real", "D_fake"}
    assert all(t.shape == (2,) for t in terms.values())
    ds = tf.data.Dataset.from_tensors(batch()).repeat(2)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["G_loss"][-1])


def test_generation_needs_features_or_a_photo():
    model = tiny()
    b = batch()
    with pytest.raises(ValueError, match="pass 'features'"):
        model({"label": b["label"], "instance": b["instance"]})
    out = model({"label": b["label"], "instance": b["instance"],
                 "features": tf.zeros([2, 32, 64, 3])})
    assert out.shape == (2, 32, 64, 3)


def test_stage_two_loads_stage_one_and_freezes_global_then_trains_it():
    stage1 = tiny(ngf=4)
    stage1.compile()
    stage1.fit(tf.data.Dataset.from_tensors(batch()), epochs=1, verbose=0)
    stage2 = tiny(ngf=2, n_local_enhancers=1, n_blocks_local=1, niter_fix_global=2)
    copied = stage2.load_stage_weights(stage1)
    assert copied["global_generator"] == len(stage2.generator.global_generator.variables)
    for a, b in zip(stage2.generator.global_generator.variables,
                    [v for v in stage1.generator.global_generator.variables
                     if "/head/" not in v.path]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(stage2.encoder.variables, stage1.encoder.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    stage2.compile()
    snapshot = lambda vs: [v.numpy().copy() for v in vs]  # noqa: E731
    g1_before = snapshot(stage2.generator.global_generator.trainable_variables)
    local_before = snapshot(stage2.generator.local_variables)
    step = tf.function(stage2.train_step)
    for _ in range(2):  # steps 0 and 1: G1 frozen
        step(batch())
    for a, b in zip(g1_before, stage2.generator.global_generator.trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    assert any(not np.array_equal(a, b.numpy())
               for a, b in zip(local_before, stage2.generator.local_variables))
    step(batch())  # step 2: joint training
    assert any(not np.array_equal(a, b.numpy()) for a, b in
               zip(g1_before, stage2.generator.global_generator.trainable_variables))


def test_stage_two_rejects_a_mismatched_global_width():
    stage1 = tiny(ngf=4)
    stage2 = tiny(ngf=4, n_local_enhancers=1, n_blocks_local=1)  # G1 width 8 != 4
    with pytest.raises(ValueError, match="stage 2 needs ngf"):
        stage2.load_stage_weights(stage1)


def test_keras_round_trip(tmp_path):
    model = tiny()
    model.build_networks()
    b = batch()
    inputs = {"label": b["label"], "instance": b["instance"], "image": b["image"]}
    path = str(tmp_path / "p2p.keras")
    model.save(path)
    import keras

    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-5)


def test_weights_start_as_pix2pixhds_normal_init():
    from tfsem.models import Pix2PixHD

    model = Pix2PixHD(num_classes=5, image_size=(32, 64), ngf=4, n_downsample_global=2,
                      n_blocks_global=1, ndf=4, lambda_vgg=0.0)
    model.build_networks()
    kernels = [v.numpy() for v in model.generator.weights + model.discriminator.weights
               if v.path.endswith("kernel") and v.numpy().size > 500]
    assert kernels and all(abs(k.std() / 0.02 - 1) < 0.15 for k in kernels)
