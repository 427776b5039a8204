"""The contract every family's task keeps (``tfsem.models.base.GANTask``,
``tfsem.registry``), one parametrized set over all families and variants:
config round trip, the registry's task, ``.keras`` save/load, ``fit``, the
inference contract (``inference_specs`` / ``infer`` equal to the Keras
model), the trainer's methods, and the Mirrored update."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsem import registry
from tfsem.config import ExperimentConfig, config_from_dict, config_to_dict
from tfsem.data.pipeline import DataPipeline
from tfsem.losses import VGGPerceptualLoss
from tfsem.models.base import GANTask
from tfsem.train.build import build_model, compile_model
from tfsem.train.scores import periodic_scorer
from tests.testing import (FAMILY_CASES, assert_same_update, mirrored_train_step,
                           tiny_family_experiment, two_replica_strategy)

CAPABILITIES = ("conditional", "use_instances", "use_vae", "use_features", "z_dim",
                "outputs_colors")


def _config(case):
    return config_from_dict(ExperimentConfig, tiny_family_experiment(case))


def _clusters(model):
    rng = np.random.default_rng(0)
    return {c: rng.normal(size=(2, model.feat_num)).astype(np.float32)
            for c in range(model.num_classes)}


def _inputs(model, batch):
    """The named inputs of ``infer`` for ``batch`` (raw ids; clusters attached)."""
    names = [spec.name for spec in model.inference_specs()]
    if "label_map" not in names:
        return model.inference_inputs(seed=[3, 4])
    if "cluster" in names:
        model.attach_clusters(_clusters(model))
    raw = model.label_codec().raw_ids[batch["label"].numpy()]
    return model.inference_inputs(raw, batch.get("instance"), seed=1,
                                  cluster="1" if "cluster" in names else None)


def _outputs(model, batch):
    """What every front end gets from the model for ``batch``: its ``infer``."""
    return {k: v.numpy() for k, v in model.infer(**_inputs(model, batch)).items()}


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_config_round_trip_writes_only_the_family_section(case):
    config = _config(case)
    data = config_to_dict(config)
    assert set(data["model"]) == {"type", config.model.type}
    again = config_from_dict(ExperimentConfig, json.loads(json.dumps(data)))
    assert again == config
    family = registry.family(config.model.type)
    assert isinstance(config.model.section, family.section)
    # none set: the family's Adam, or the section's own (SemGAN's style block: StyleGAN2's)
    own = getattr(config.model.section, "optimizer_defaults", lambda: None)() or {}
    for key, value in {**family.optimizer, **own}.items():
        assert getattr(config.optimizer, key) == value


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_registry_builds_a_task_that_declares_every_capability(case):
    config = _config(case)
    model = build_model(config)
    family = registry.family_of(config)
    assert isinstance(model, GANTask)
    assert type(model) is family.task_class(config.model.section)
    assert model.FAMILY == config.model.type
    assert model.family_defaults() == dict(family.optimizer)
    for name in CAPABILITIES:
        assert isinstance(getattr(model, name), (bool, int)), name
    # Label-to-photo tasks load photos; so does the one-stage photo GAN, which renders none.
    assert model.conditional == (config.data.load_images and case != "photogan")
    assert bool(model.use_features) == case.endswith("features")
    assert bool(model.use_vae) == case.endswith("vae")
    assert registry.family(config.model.type).quickstart(config.model.section).startswith(
        "configs/quickstart")


@pytest.fixture(scope="module")
def built():
    """case -> (config, its task built): one build per case for the tests that
    save or run the model without training it."""
    cache = {}

    def get(case):
        if case not in cache:
            config = _config(case)
            model = build_model(config)
            model.build_networks()
            cache[case] = config, model
        return cache[case]

    return get


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_keras_round_trip_keeps_what_front_ends_get(case, built, tmp_path):
    config, model = built(case)
    batch = next(iter(DataPipeline(config.data).dataset(training=False)))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded) is type(model)
    for name in CAPABILITIES:
        assert getattr(loaded, name) == getattr(model, name), name
    loaded.attach_label_space(*_space(config))
    got, expected = _outputs(loaded, batch), _outputs(model, batch)
    assert got.keys() == expected.keys()
    for key in got:
        np.testing.assert_allclose(got[key].astype(float), expected[key].astype(float), atol=1,
                                   err_msg=key)


def _space(config):
    from tfsem.data.labels import load_label_space

    return load_label_space(config.data.label_space), config.data.dont_care


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_infer_is_the_keras_model_over_the_declared_specs(case, built):
    """``infer`` takes exactly its declared inputs and computes what the Keras
    call computes: photos of the label map, or the label maps of z."""
    config, model = built(case)
    batch = next(iter(DataPipeline(config.data, "val").dataset(training=False)))
    inputs = _inputs(model, batch)
    specs = model.inference_specs(2, 32, 64, optional=True)
    names = [spec.name for spec in model.inference_specs()]
    assert set(names) <= set(inputs) <= {spec.name for spec in specs}
    for spec in specs:
        if spec.name in inputs:
            assert spec.is_compatible_with(tf.TensorSpec.from_tensor(inputs[spec.name])), spec
    out = model.infer(**inputs)
    if "label_map" in names:
        assert set(out) == {"image"} and out["image"].dtype == tf.uint8
        keras_inputs = {"label": batch["label"]}
        if "instance_map" in names:
            keras_inputs["instance"] = batch["instance"]
        for name in ("z", "style_codes"):
            if name in inputs:
                keras_inputs[name] = inputs[name]
        if "cluster" in names:
            keras_inputs["features"] = model.cluster_features(batch["label"], inputs["cluster"])
        expected = model(keras_inputs, training=False).numpy() * 127.5 + 127.5
        np.testing.assert_allclose(out["image"].numpy(), expected, atol=0.5 + 1e-3)
    else:
        assert {"label_map", "color"} <= set(out)
        labels = model.sample_seeds([3, 4]).numpy()
        space, dont_care = _space(config)
        np.testing.assert_array_equal(out["label_map"].numpy(),
                                      model.label_codec().raw_ids[labels])
        np.testing.assert_array_equal(out["color"].numpy(), space.colorize(labels, dont_care))


# GauGAN fits with its VAE, the KL term and a (random-weight) VGG loss: every term of
# its objective in one trace (~30 s: make test-slow; the VAE's official training step is
# test_train_equivalence's spade_coco_vae_train, in make test). The plain variant trains
# through the train CLI in the shared run (tests/conftest.py tiny_gaugan_run). SEAN's
# fit (~45 s here: its ACE layers make a long trace) is slow for the same reason: its
# official step is tests/models/test_sean_training.py, and tests/models/test_sean.py
# trains it through the train CLI, both in make test.
@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.slow) if c in ("gaugan_vae", "sean") else c
    for c in FAMILY_CASES if c != "gaugan"])
def test_fit_and_the_front_end_methods(case):
    experiment, vgg_loss = tiny_family_experiment(case), None
    if case == "gaugan_vae":
        experiment["model"]["gaugan"]["lambda_vgg"] = 10.0
        vgg_loss = VGGPerceptualLoss(weights=None)
    config = config_from_dict(ExperimentConfig, experiment)
    model = build_model(config)
    compile_model(model, config, vgg_loss=vgg_loss)
    pipeline = DataPipeline(config.data)
    history = model.fit(pipeline.dataset(), steps_per_epoch=2, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    if case == "gaugan_vae":
        _check_gaugan_vae_terms(model, history, pipeline)
    batch = next(iter(DataPipeline(config.data, "val").dataset(training=False)))
    grid = model.preview_grid(batch, pipeline.label_space, config.data.dont_care)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[-1] == 3
    assert grid.shape[0] >= 2 * 32  # one row per example
    scorer = periodic_scorer(model, config.data)  # toy_streets: every family scores
    scores = scorer(batch)
    assert scores and all(np.isfinite(v) for v in scores.values())
    if "label_map" in [spec.name for spec in model.inference_specs()]:
        with pytest.raises(TypeError, match="does not sample label maps"):
            model.sample_label_maps([0])
        assert set(model.load_stage_weights(build_model(config))) >= {"generator"}
    else:
        with pytest.raises(TypeError, match="takes no label map"):
            model.inference_inputs(batch["label"])
        with pytest.raises(ValueError, match="cannot start from another run"):
            model.load_stage_weights(build_model(config))


def _check_gaugan_vae_terms(model, history, pipeline):
    for name in ("G_GAN", "G_feat", "G_VGG", "KLD", "D_real", "D_fake", "G_loss", "D_loss"):
        assert np.isfinite(history[name][-1]), name
    assert history["KLD"][-1] > 0 and history["G_VGG"][-1] > 0
    result = model.evaluate(pipeline.dataset().take(1), verbose=0, return_dict=True)
    assert np.isfinite(result["G_loss"])
    batch = next(iter(pipeline.dataset()))
    style = model({"label": batch["label"], "instance": batch["instance"],
                   "style_image": batch["image"]})
    z_out = model({"label": batch["label"], "instance": batch["instance"],
                   "z": tf.random.normal([2, 8], seed=1)})
    assert style.shape == z_out.shape == (2, 32, 64, 3)
    assert not np.allclose(style.numpy(), z_out.numpy())


@pytest.mark.parametrize("case", ["gaugan", "pix2pixhd"])
def test_options_a_model_cannot_use_are_errors(case):
    config = _config(case)
    model = build_model(config)
    model.build_networks()
    label = np.full([1, 32, 64], 7, np.int32)
    with pytest.raises(ValueError, match="style photo needs"):
        model.inference_inputs(label, style=tf.zeros([1, 32, 64, 3]))
    with pytest.raises(ValueError, match="feature clusters need"):
        model.inference_inputs(label, cluster="random")
    with pytest.raises(ValueError, match="z needs a GauGAN with a style encoder"):
        model.inference_inputs(label, z=np.zeros([1, 8], np.float32))
    with pytest.raises(ValueError, match="label ids outside the 'cityscapes' label space: 77"):
        model.inference_inputs(np.full([1, 32, 64], 77))


# -- the Mirrored update: two replicas give one device's update ---------------------------
# SGD: the update is linear in the gradient, so equal gradients mean equal weights
# (Adam's first step is +-lr for any non-zero gradient, noise included). Each
# family needs its own replica-independent setting, named in its case.


def _mirrored_gaugan():
    from tests.models.test_gaugan import _compiled, _data

    # The generator starts from the map's top-left pixel of each 32x32 cell (PyTorch's
    # nearest indexing), which is sky in every toy scene: identical fc inputs give the
    # batch norm after it a near-zero variance, whose float rounding then dominates the
    # gradients. Random 4x4-block label maps make every sampled pixel differ.
    batch = next(iter(_data(batch_size=4)))
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 34, (4, 8, 16)).repeat(4, axis=1).repeat(4, axis=2)
    batch = {"label": tf.constant(blocks, tf.int32), "instance": tf.constant(blocks, tf.int32),
             "image": batch["image"]}
    kwargs = dict(vgg=False, norm_G="sync_batch", sgd=True, g_lr=0.5, d_lr=0.5)
    return (lambda: _compiled(**kwargs)), batch, None


def _mirrored_gaugan_vae():
    """The VAE: the KLD summed over the GLOBAL batch (SPADE's KLDLoss on one device)
    and the G step's and D step's reparameterisation noise, the same draws split
    over the replicas."""
    from tests.models.test_gaugan import _compiled, _data

    batch = next(iter(_data(batch_size=4)))
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 34, (4, 8, 16)).repeat(4, axis=1).repeat(4, axis=2)
    batch = {"label": tf.constant(blocks, tf.int32), "instance": tf.constant(blocks, tf.int32),
             "image": batch["image"]}
    kwargs = dict(vgg=False, norm_G="instance", use_vae=True, sgd=True, g_lr=0.5, d_lr=0.5)
    draws = rng.normal(size=(2, 4, 8)).astype(np.float32)

    def same_noise(single, mirrored):
        import threading

        count = {}  # per model and thread: MirroredStrategy traces each replica in its own

        def noise(who, replica_half):
            def vae_noise(shape):
                key = (who, threading.get_ident())
                draw = draws[count.get(key, 0) % 2]
                count[key] = count.get(key, 0) + 1
                if not replica_half:
                    return tf.constant(draw)
                halves = tf.constant(draw.reshape(2, 2, 8))
                return tf.gather(halves, tf.distribute.get_replica_context()
                                 .replica_id_in_sync_group)
            return vae_noise

        single.vae_noise = noise("single", False)
        mirrored.vae_noise = noise("mirrored", True)

    return (lambda: _compiled(**kwargs)), batch, same_noise


def _mirrored_pix2pixhd():
    """With the feature encoder, instance averaging and the G1 freeze in the step."""
    from tests.models.test_pix2pixhd import batch, tiny

    def compiled():
        model = tiny(ngf=2, n_local_enhancers=1, n_blocks_local=1, niter_fix_global=1)
        model.compile(g_optimizer=keras.optimizers.SGD(0.5), d_optimizer=keras.optimizers.SGD(0.5))
        return model

    return compiled, batch(4), None


def _mirrored_pix2pix():
    """pix2pix's own step (one G forward, D then G) over replicas; instance norm and
    no dropout, so the replicas compute what one device does."""
    from tests.models.test_pix2pix import _tiny

    def compiled():
        model = _tiny(norm="instance", use_dropout=False)
        model.compile(g_optimizer=keras.optimizers.SGD(0.5), d_optimizer=keras.optimizers.SGD(0.5))
        return model

    rng = np.random.default_rng(0)
    batch = {"label": tf.constant(rng.integers(0, 34, (4, 64, 64)), tf.int32),
             "image": tf.constant(rng.uniform(-1, 1, (4, 64, 64, 3)), tf.float32)}
    return compiled, batch, None


def _mirrored_semgan():
    """With the batch-std discriminator and batch-norm generator the per-replica
    statistics differ from one device's: minibatch_std off and instance norm
    (per-example, replica-independent); the mode-seeking term pairs examples
    within a replica's batch: off; the same latents on both."""
    from tests.models.test_semgan import label_batch, tiny

    def compiled():
        model = tiny(relaxation="softmax", real_smoothing=0.0, norm_G="instance",
                     minibatch_std=False, mode_seeking=0.0)
        model.compile(g_optimizer=keras.optimizers.SGD(0.5), d_optimizer=keras.optimizers.SGD(0.5))
        return model

    def same_latents(single, mirrored):
        z = single.random_latent(4)
        single.random_latent = lambda n: z
        mirrored.random_latent = lambda n: tf.gather(
            tf.reshape(z, [2, 2, -1]),
            tf.distribute.get_replica_context().replica_id_in_sync_group)

    return compiled, label_batch(4), same_latents


@pytest.mark.parametrize("family, setup", [
    # GauGAN's mirrored step traces its 7 SPADE blocks once per replica, with the
    # cross-replica batch norm (~2 min here): make test-slow, with the multi-worker test.
    pytest.param("gaugan", _mirrored_gaugan, marks=pytest.mark.slow),
    pytest.param("gaugan", _mirrored_gaugan_vae, marks=pytest.mark.slow, id="gaugan-vae"),
    ("pix2pixhd", _mirrored_pix2pixhd),
    ("pix2pix", _mirrored_pix2pix),
    ("semgan", _mirrored_semgan)])
def test_mirrored_strategy_first_update_matches_single_device(family, setup):
    compiled, data, patch = setup()
    single = compiled()
    assert single.FAMILY == family
    weights = single.get_weights()
    strategy = two_replica_strategy()
    with strategy.scope():
        mirrored = compiled()
    mirrored.set_weights(weights)
    if patch is not None:
        patch(single, mirrored)
    single.train_step(data)
    mirrored_train_step(strategy, mirrored, data)
    moved = assert_same_update(weights, single.get_weights(), mirrored.get_weights(),
                               [v.path for v in single.weights])
    assert moved > (20 if family == "gaugan" else 0)  # G and D weights were updated
    if family == "pix2pixhd":
        g1 = {v.path for v in single.generator.global_generator.variables}
        for v, w0 in zip(single.weights, weights):
            if v.path in g1:
                np.testing.assert_array_equal(v.numpy(), w0)  # frozen at step 0


def test_the_cases_cover_every_built_in_family():
    """The family list is the registry's: each built-in family has a tiny case here."""
    built_in = {t for t, f in registry.FAMILIES.items()
                if f.section.__module__ in registry.BUILTIN_FAMILIES}
    assert {tiny_family_experiment(c)["model"]["type"] for c in FAMILY_CASES} == built_in
    assert set(registry.official_checkpoints()) == {"spade", "pix2pixhd", "pix2pix", "sean"}
