"""SemGAN and its standard-GAN colour baseline."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsem.data.labels import load_label_space
from tfsem.models import ColorLabelGAN, SemGAN
from tfsem.models.label_map_gan import mode_seeking_loss
from tfsem.models.semgan import straight_through_gumbel_softmax
from tfsem.networks import LabelMapDiscriminator, LabelMapGenerator
from tests.testing import run_layer_test

PALETTE = load_label_space("cityscapes").palette()


def tiny(cls=SemGAN, **overrides):
    kwargs = dict(num_classes=35, image_size=(32, 64), z_dim=8, ngf=4, n_upsample=3, ndf=4,
                  n_layers_D=3, seed=0)
    if cls is ColorLabelGAN:
        kwargs["palette"] = PALETTE
    kwargs.update(overrides)
    return cls(**kwargs)


def label_batch(size=4):
    rng = np.random.default_rng(0)
    return {"label": tf.constant(rng.integers(0, 35, (size, 32, 64)).astype(np.int32))}


@pytest.mark.parametrize("block", ["conv", "resnet"])
def test_generator_layer(block):
    gen = run_layer_test(LabelMapGenerator, dict(out_channels=5, output_size=(16, 32), z_dim=8,
                                                 ngf=4, n_upsample=2, block=block),
                         tf.random.normal([2, 8]), (2, 16, 32, 5))
    assert gen.latent_size == (4, 8)
    with pytest.raises(ValueError, match="multiples of 2\\*\\*n_upsample = 4"):
        LabelMapGenerator(out_channels=5, output_size=(18, 32), n_upsample=2)


def test_discriminator_layer_and_minibatch_std():
    disc = run_layer_test(LabelMapDiscriminator, dict(input_size=(16, 32), ndf=4, n_layers=2),
                          tf.random.normal([3, 16, 32, 5]), (3, 1))
    # the batch-std channel: identical maps in a batch score differently from varied ones
    same = tf.repeat(tf.random.normal([1, 16, 32, 5]), 3, axis=0)
    varied = tf.concat([same[:1], tf.random.normal([2, 16, 32, 5])], 0)
    assert not np.allclose(disc(same)[0], disc(varied)[0])
    plain = LabelMapDiscriminator(input_size=(16, 32), ndf=4, n_layers=2, minibatch_std=False)
    x = tf.random.normal([2, 16, 32, 5])
    np.testing.assert_allclose(plain(x)[:1], plain(x[:1]), atol=1e-5)


@pytest.mark.parametrize("cls", [SemGAN, ColorLabelGAN])
def test_shapes_samples_are_valid_ids_and_two_step_fit(cls):
    model = tiny(cls)
    model.compile()
    z = model.latent_for_seeds([0, 1])
    out = model(z)
    assert out.shape == (2, 32, 64, 35 if cls is SemGAN else 3)
    if cls is SemGAN:
        np.testing.assert_allclose(tf.reduce_sum(out, -1), 1.0, atol=1e-5)
    history = model.fit(tf.data.Dataset.from_tensors(label_batch()).repeat(2), epochs=1,
                        verbose=0)
    assert set(history.history) >= {"G_GAN", "D_real", "D_fake", "G_loss", "D_loss"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert int(model.g_optimizer.iterations) == 2
    labels = model.sample_seeds(list(range(8))).numpy()
    assert labels.shape == (8, 32, 64) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < 35  # every pixel a valid class index


def test_seeds_name_samples():
    model = tiny()
    a = model.sample_seeds([5, 6, 7]).numpy()
    np.testing.assert_array_equal(model.sample_seeds([7]).numpy()[0], a[2])
    z = model.latent_for_seeds([5, 5, 6]).numpy()
    np.testing.assert_array_equal(z[0], z[1])
    assert not np.allclose(z[0], z[2])


def test_straight_through_gumbel_forward_is_exactly_one_hot_with_soft_gradient():
    logits = tf.Variable(tf.random.normal([2, 8, 8, 6]))
    with tf.GradientTape() as tape:
        hard, soft = straight_through_gumbel_softmax(logits, 0.5, keras.random.SeedGenerator(1))
        loss = tf.reduce_sum(hard * tf.range(6, dtype=tf.float32))
    values = hard.numpy()
    assert set(np.unique(values)) <= {0.0, 1.0}
    np.testing.assert_array_equal(values.sum(-1), 1.0)
    np.testing.assert_array_equal(values.argmax(-1), soft.numpy().argmax(-1))
    grad = tape.gradient(loss, logits)
    assert grad is not None and np.abs(grad.numpy()).max() > 0
    # SemGAN hands D exactly such maps in training
    model = tiny(relaxation="gumbel_st")
    fake = model.fake_input(model.generator(model.latent_for_seeds([0, 1])), training=True)
    assert set(np.unique(fake.numpy())) <= {0.0, 1.0}


def test_temperature_schedule():
    model = tiny(tau_start=1.0, tau_end=0.25, tau_anneal_steps=10)
    model.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(0.0))
    assert float(model.tau()) == pytest.approx(1.0)
    model.train_iterations.assign(5)
    assert float(model.tau()) == pytest.approx(0.5)
    model.train_iterations.assign(100)
    assert float(model.tau()) == pytest.approx(0.25)


def test_real_smoothing_keeps_the_class_and_sums_to_one():
    model = tiny(relaxation="softmax", real_smoothing=0.3)
    label = label_batch(2)["label"]
    real = model.real_input(label, training=True).numpy()
    np.testing.assert_allclose(real.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(real.argmax(-1), label.numpy())
    picked = np.take_along_axis(real, label.numpy()[..., None], -1)
    assert picked.min() >= 0.7 - 1e-6 and picked.max() < 1.0
    np.testing.assert_array_equal(model.real_input(label, training=False).numpy().max(-1), 1.0)


def test_smoothing_anneals_linearly_to_smoothing_end_then_stays():
    label = label_batch(2)["label"]
    model = tiny(real_smoothing=0.4, smoothing_end=0.1, smoothing_anneal_steps=10)
    for step, s in ((0, 0.4), (5, 0.25), (10, 0.1), (1000, 0.1)):
        model.train_iterations.assign(step)
        assert float(model.smoothing()) == pytest.approx(s)
        picked = np.take_along_axis(model.real_input(label, training=True).numpy(),
                                    label.numpy()[..., None], -1)
        assert 1.0 - s - 1e-6 <= picked.min() and picked.max() < 1.0
        assert picked.min() < 1.0 - 0.8 * s  # the whole range U(1 - s, 1) is drawn
    constant = tiny(real_smoothing=0.4)
    constant.train_iterations.assign(1000)
    assert float(constant.smoothing()) == pytest.approx(0.4)
    restored = SemGAN.from_config(model.get_config())
    assert (restored.smoothing_end, restored.smoothing_anneal_steps) == (0.1, 10)
    rising = tiny(real_smoothing=0.0, smoothing_end=0.2, smoothing_anneal_steps=10)
    rising.train_iterations.assign(10)  # annealing up from 0 smooths too
    assert rising.real_input(label, training=True).numpy().max(-1).min() < 1.0
    with pytest.raises(ValueError, match="smoothing_end"):
        tiny(smoothing_end=1.0)


def test_fake_smoothing_softens_what_D_sees_not_what_mode_seeking_sees():
    fake = tf.one_hot(label_batch(2)["label"], 35)
    model = tiny(fake_smoothing=True, mode_seeking=0.5)
    seen = model.discriminator_fake(fake, training=True).numpy()
    np.testing.assert_allclose(seen.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(seen.argmax(-1), fake.numpy().argmax(-1))
    assert 0.7 - 1e-6 <= seen.max(-1).min() and seen.max(-1).max() < 1.0
    np.testing.assert_array_equal(model.discriminator_fake(fake, training=False), fake)
    for off in (tiny(), tiny(fake_smoothing=True, real_smoothing=0.0)):  # off; nothing to add
        np.testing.assert_array_equal(off.discriminator_fake(fake, training=True), fake)
    # the same latents and weights: the GAN term moves, the mode-seeking term does not
    z = tf.random.normal([4, 8], seed=3)
    model.random_latent = lambda size: z
    terms = []
    for on in (False, True):
        model.fake_smoothing = on
        terms.append(model.compute_losses(label_batch(4), training=True, parts=("generator",)))
    np.testing.assert_allclose(terms[0]["G_MS"], terms[1]["G_MS"], rtol=1e-5)
    assert not np.allclose(terms[0]["G_GAN"], terms[1]["G_GAN"])
    # the default: on for the style block only
    assert tiny().get_config()["fake_smoothing"] is False
    assert tiny(block="style", mapping_layers=2, spectral_norm_D=False).fake_smoothing is True
    assert tiny(block="style", fake_smoothing=False).get_config()["fake_smoothing"] is False


def test_mode_seeking_term():
    z = tf.constant([[0.0, 0.0], [1.0, 3.0], [2.0, 2.0], [0.0, 1.0]])
    out = tf.random.uniform([4, 2, 3, 5], seed=1)
    # pairs (0, 2) and (1, 3): 1 / (mean |out_i - out_j| / mean |z_i - z_j| + 1e-5)
    expect = [1.0 / (np.abs(out[i] - out[(i + 2) % 4]).mean()
                     / np.abs(z[i] - z[(i + 2) % 4]).mean() + 1e-5) for i in range(4)]
    np.testing.assert_allclose(mode_seeking_loss(out, z), expect, rtol=1e-5)
    np.testing.assert_array_equal(mode_seeking_loss(out[:1], z[:1]), [0.0])  # no pair
    # in training: a G term that pushes two latents' maps apart, 0 when off
    batch = label_batch(4)
    for weight in (0.0, 0.5):
        model = tiny(mode_seeking=weight)
        terms = model.compute_losses(batch, training=True, parts=("generator",))
        assert terms["G_MS"].shape == (4,)
        assert (float(tf.reduce_min(terms["G_MS"])) > 0) == (weight > 0)
    with pytest.raises(ValueError, match="mode_seeking must be >= 0"):
        tiny(mode_seeking=-1.0)


def test_argument_errors():
    with pytest.raises(ValueError, match="relaxation must be one of"):
        tiny(relaxation="gumbel")
    with pytest.raises(ValueError, match="tau_end <= tau_start"):
        tiny(tau_start=0.1, tau_end=0.5)
    with pytest.raises(ValueError, match="real_smoothing"):
        tiny(real_smoothing=1.0)
    with pytest.raises(ValueError, match="multiples of 8"):
        tiny(image_size=(36, 64))
    with pytest.raises(ValueError, match="palette must be"):
        tiny(ColorLabelGAN, palette=PALETTE[:3])


def test_baseline_decodes_by_nearest_palette_colour():
    model = tiny(ColorLabelGAN)
    label = label_batch(2)["label"]
    colours = model.real_input(label)  # the colourised real maps, in [-1, 1]
    decoded = model.labels_from_output(colours).numpy()
    # classes that share a colour decode to the first of them
    first = {}
    for index, colour in enumerate(PALETTE.tolist()):
        first.setdefault(tuple(colour), index)
    expected = np.vectorize(lambda i: first[tuple(PALETTE[i].tolist())])(label.numpy())
    np.testing.assert_array_equal(decoded, expected)
    noisy = colours + tf.random.uniform(colours.shape, -0.02, 0.02, seed=1)  # ~2.5 levels
    np.testing.assert_array_equal(model.labels_from_output(noisy).numpy(), expected)


def test_style_generator_noise_in_training_fixed_noise_at_inference():
    from tfsem.networks.style_generator import StyleLabelMapGenerator

    def build(**kw):
        return StyleLabelMapGenerator(out_channels=5, output_size=(16, 32), z_dim=8, ngf=4,
                                      n_upsample=2, mapping_layers=2, seed=0, **kw)

    g = build(style_mixing=0.0)
    z = tf.random.stateless_normal([2, 8], seed=[0, 1])
    infer = g(z, training=False).numpy()
    assert infer.shape == (2, 16, 32, 5)
    # noise strengths start at 0 (StyleGAN2) and mixing is off: training = inference
    assert all(float(c.noise_strength) == 0.0 for c in g.convs)
    np.testing.assert_allclose(g(z, training=True).numpy(), infer, atol=1e-5)
    for conv in g.convs:
        conv.noise_strength.assign(1.0)
    infer = g(z, training=False).numpy()
    np.testing.assert_array_equal(infer, g(z, training=False).numpy())  # fixed noise
    assert np.abs(g(z, training=True).numpy() - infer).max() > 1e-4  # fresh noise
    assert np.abs(infer[0] - infer[1]).max() > 1e-4  # the latent matters
    # 5 convs (1 at the constant, 2 per later resolution: 4x8, 8x16, 16x32) + the last
    # to-logits: 6 ws; the first conv of each later resolution upsamples
    assert g.num_ws == 6 and [c.up for c in g.convs] == [False, True, False, True, False]
    assert [c.size for c in g.convs] == [(4, 8), (8, 16), (8, 16), (16, 32), (16, 32)]
    again = build(style_mixing=0.0)
    again(z)
    np.testing.assert_array_equal(again.convs[0].const_noise.numpy(),
                                  g.convs[0].const_noise.numpy())  # seeded


def test_style_generator_truncation_mixing_and_w_avg():
    from tfsem.networks.style_generator import StyleLabelMapGenerator

    g = StyleLabelMapGenerator(out_channels=5, output_size=(8, 16), z_dim=8, ngf=4,
                               n_upsample=1, mapping_layers=3, seed=1, style_mixing=0.0)
    z = tf.random.stateless_normal([4, 8], seed=[2, 3])
    other = tf.random.stateless_normal([4, 8], seed=[4, 5])
    g(z)
    np.testing.assert_array_equal(g.w_avg.numpy(), 0.0)
    g(z, training=True)  # w_avg <- mean(w) + 0.995 (w_avg - mean(w))
    np.testing.assert_allclose(g.w_avg.numpy(), 0.005 * g.map(z).numpy().mean(0), rtol=1e-5)
    # psi 0: every latent gives the average style's map; psi 1: the latent's own
    flat = g(z, truncation_psi=0.0).numpy()
    np.testing.assert_allclose(flat, np.repeat(flat[:1], 4, 0), atol=1e-5)
    own = g(z).numpy()
    assert np.abs(own - flat).max() > 1e-3
    # mixing at layer num_ws keeps z's style everywhere, at 0 takes the other's
    np.testing.assert_allclose(g.synthesis(g.mix(z, other, g.num_ws)).numpy(), own, atol=1e-5)
    np.testing.assert_allclose(g.synthesis(g.mix(z, other, 0)).numpy(), g(other).numpy(),
                               atol=1e-5)
    mixed = g.synthesis(g.mix(z, other, 2)).numpy()
    assert np.abs(mixed - own).max() > 1e-4 and np.abs(mixed - g(other).numpy()).max() > 1e-4
    # the mapping network learns at 1/100 of the rate: its weights are N(0, 100^2),
    # used times 0.01 / sqrt(fan_in)
    assert 50 < g.mapping[0].kernel.numpy().std() < 200
    mixing = StyleLabelMapGenerator(out_channels=5, output_size=(8, 16), z_dim=8, ngf=4,
                                    n_upsample=1, mapping_layers=3, seed=1, style_mixing=1.0)
    mixing(z)
    mixing.set_weights(g.get_weights())
    assert np.abs(mixing(z, training=True).numpy() - own).max() > 1e-4  # mixed in training


@pytest.mark.parametrize("style_conv", ["modulated", "adain"])
def test_style_conv_is_stylegan2s(style_conv):
    """One style conv against its formula written out: StyleGAN2's modulated conv with
    per-example weights ``W * s`` demodulated to unit norm per output channel (the
    official fused form), or StyleGAN's equalized conv + instance norm + style."""
    from tfsem.layers.equalized import LRELU_GAIN
    from tfsem.networks.style_generator import _StyleConv

    x = tf.random.stateless_normal([2, 6, 10, 3], seed=[0, 1])
    w = tf.random.stateless_normal([2, 4], seed=[0, 2])
    conv = _StyleConv(5, (6, 10), up=False, style_conv=style_conv, noise=False, seed=3)
    out = conv([x, w]).numpy()
    kernel = conv.kernel.numpy()
    styles = conv.affine(w).numpy()
    lrelu = lambda v: np.where(v > 0, v, 0.2 * v) * LRELU_GAIN  # noqa: E731
    for b in range(2):
        if style_conv == "modulated":
            weight = kernel * styles[b][None, None, :, None]
            weight = weight / np.sqrt((weight ** 2).sum((0, 1, 2), keepdims=True) + 1e-8)
            ref = lrelu(tf.nn.conv2d(x[b:b + 1], weight, 1, "SAME").numpy()[0])
        else:
            weight = kernel / np.sqrt(3 * 9)
            y = lrelu(tf.nn.conv2d(x[b:b + 1], weight, 1, "SAME").numpy()[0])
            y = (y - y.mean((0, 1))) / np.sqrt(y.var((0, 1)) + 1e-8)
            ref = y * styles[b][:5] + styles[b][5:]
        np.testing.assert_allclose(out[b], ref, rtol=1e-4, atol=1e-4)
    if style_conv == "adain":  # scales start near 1 (bias 1), offsets near 0
        np.testing.assert_array_equal(conv.affine.bias.numpy(), [1] * 5 + [0] * 5)



def test_style_block_defaults_to_stylegan2s_objective():
    from tfsem import registry
    from tfsem.optimizers import FusedAdam, TorchAdam
    from tfsem.train.build import compile_model
    from tfsem.config import ExperimentConfig, config_from_dict
    from tests.testing import tiny_family_experiment

    for case, objective, adam in (
            ("semgan_style", {"gan_mode": "original", "spectral_norm_D": False},
             (0.0025, 0.0025, 0.0, 0.99)),
            ("semgan", {"gan_mode": "hinge", "spectral_norm_D": True, "r1_gamma": 0.0},
             tuple(registry.family("semgan").optimizer[k]
                   for k in ("g_lr", "d_lr", "beta_1", "beta_2")))):
        experiment = tiny_family_experiment(case)
        experiment.pop("optimizer", None)  # the defaults
        config = config_from_dict(ExperimentConfig, experiment)
        model = SemGAN.from_experiment(config)
        height, width = config.image_size()
        if case == "semgan_style":  # StyleGAN2-ADA's auto rule
            objective["r1_gamma"] = 0.0002 * height * width / config.data.batch_size
        for name, value in objective.items():
            assert getattr(model, name) == pytest.approx(value), (case, name)
        opt = config.optimizer
        assert (opt.g_lr, opt.d_lr, opt.beta_1, opt.beta_2) == adam, case
        # the optimisers built: torch's Adam with ADA's lazy ratio on D for the style block
        compile_model(model, config)
        ratio = 16 / 17 if case == "semgan_style" else 1.0
        d = model.d_optimizer
        assert type(d) is (TorchAdam if case == "semgan_style" else FusedAdam), case
        assert (float(d.learning_rate), d.beta_2) == pytest.approx(
            (adam[1] * ratio, adam[3] ** ratio)), case
        assert float(model.g_optimizer.learning_rate) == pytest.approx(adam[0]), case
        # model.fit's default compile() gives the same Adam as the CLI
        plain = SemGAN.from_experiment(config)
        plain.compile()
        for name in ("g_optimizer", "d_optimizer"):
            mine, cli = getattr(plain, name), getattr(model, name)
            assert type(mine) is type(cli), (case, name)
            assert (float(mine.learning_rate), mine.beta_1, mine.beta_2) == pytest.approx(
                (float(cli.learning_rate), cli.beta_1, cli.beta_2)), (case, name)
    # what a config says wins
    experiment = tiny_family_experiment("semgan_style")
    experiment["model"]["semgan"].update(gan_mode="hinge", spectral_norm_D=True, r1_gamma=0)
    experiment["optimizer"] = {"g_lr": 1e-3}
    config = config_from_dict(ExperimentConfig, experiment)
    model = SemGAN.from_experiment(config)
    assert (model.gan_mode, model.spectral_norm_D, model.r1_gamma) == ("hinge", True, 0.0)
    assert (config.optimizer.g_lr, config.optimizer.d_lr) == (1e-3, 0.0025)


def _regularised_pair(**kwargs):
    """A model with ``kwargs`` (a lazy regulariser) and the same model without it
    (same weights, seeds and Adam), to replay the lazy step by hand."""
    from tfsem.optimizers import make_adam

    base = dict(num_classes=4, image_size=(16, 16), z_dim=8, ngf=4, n_upsample=2, ndf=4,
                n_layers_D=2, spectral_norm_D=False, gan_mode="original", real_smoothing=0.0,
                seed=0)
    lazy = SemGAN(**base, **kwargs)
    plain = SemGAN(**base, **{k: (0.0 if k in ("r1_gamma", "pl_weight") else v)
                              for k, v in kwargs.items()})
    for model in (lazy, plain):
        model.build_networks()
        model.compile(g_optimizer=make_adam("pytorch", 1e-2, 0.0, 0.99),
                      d_optimizer=make_adam("pytorch", 1e-2, 0.0, 0.99))
    for a, b in zip(plain.weights, lazy.weights):
        a.assign(b)
    return lazy, plain


def _zero_filled(grads, variables):
    """As torch's ``(logits * 0 + penalty).mean()`` in StyleGAN2-ADA's reg phases:
    every parameter gets a gradient, zero where the penalty does not reach it
    (so Adam's second moments decay there too)."""
    return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]


def _replay_lazy_phase(lazy, plain, network, term, interval, iterations, batch, penalty,
                       skipped=lambda: None):
    """``iterations`` iterations of ``network``'s phases ("generator" /
    "discriminator") of both models; on every ``interval``-th, ``plain`` gets
    the lazy step by hand (an Adam step on the mean of ``penalty()``) and
    ``lazy``'s ``term`` must be that penalty; after each, both networks' weights
    must agree. ``skipped()`` runs on ``plain`` on the other iterations."""
    phases = tf.function(getattr(lazy, f"{network}_phases"))
    plain_phases = tf.function(getattr(plain, f"{network}_phases"))
    variables = (plain.generator_variables if network == "generator"
                 else plain.discriminator.trainable_variables)
    optimizer = getattr(plain, f"{network[0]}_optimizer")

    @tf.function
    def by_hand():
        with tf.GradientTape() as tape:
            want = penalty()
            loss = tf.reduce_mean(want)
        optimizer.apply(_zero_filled(tape.gradient(loss, variables), variables), variables)
        return want

    for it in range(iterations):
        for model in (lazy, plain):
            model.train_iterations.assign(it)
        terms = phases(batch)
        plain_phases(batch)  # the main phase
        if it % interval == 0:
            want = by_hand()
            np.testing.assert_allclose(terms[term].numpy(), want.numpy(), rtol=1e-4)
            assert float(terms[term][0]) > 0
        else:
            skipped()
            assert not terms[term].numpy().any()
        for a, b in zip(getattr(lazy, network).weights, getattr(plain, network).weights):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        if network == "generator":
            assert float(lazy.pl_mean) == pytest.approx(float(plain.pl_mean), rel=1e-5)


def test_lazy_r1_is_its_own_d_step_every_interval_iterations():
    """StyleGAN2-ADA's Dreg: after D's main step, every r1_interval-th iteration, a
    separate Adam step on gamma / 2 * interval * |grad D(real)|^2 (the same real
    maps), replayed by hand on a model without R1."""
    lazy, plain = _regularised_pair(r1_gamma=2.0, r1_interval=3)
    real = tf.one_hot(tf.random.stateless_uniform([2, 16, 16], [0, 1], 0, 4, tf.int32), 4)
    penalty = lazy.r1_penalty(real).numpy()
    assert penalty.shape == (2,) and (penalty > 0).all()
    # the penalty is |grad D|^2: D's directional derivative along the gradient, by
    # forward-mode autodiff (independent of the tape; finite differences were at the
    # mercy of the leaky ReLUs' kinks). The minibatch-std channel couples the
    # examples: move both.
    with tf.GradientTape() as tape:
        tape.watch(real)
        total = tf.reduce_sum(lazy.discriminator(real, training=True))
    direction = tape.gradient(total, real)
    direction /= tf.norm(direction)
    with tf.autodiff.ForwardAccumulator(real, direction) as forward:
        total = tf.reduce_sum(lazy.discriminator(real, training=True))
    np.testing.assert_allclose(float(forward.jvp(total)) ** 2, penalty.sum(), rtol=1e-4)
    batch = {"label": tf.argmax(real, -1, output_type=tf.int32)}
    _replay_lazy_phase(lazy, plain, "discriminator", "D_R1", 3, 4, batch,
                       lambda: plain.r1_penalty(real, training=True) * 3.0)  # gamma/2 * k
    assert int(lazy.d_optimizer.iterations.numpy()) == 4 + 2


def test_lazy_path_length_is_its_own_g_step_every_interval_iterations():
    """StyleGAN2-ADA's Greg: after G's main step, every pl_interval-th iteration, a
    separate Adam step on pl_weight * interval * the path-length penalty of new
    latents, replayed by hand on a model without it."""
    lazy, plain = _regularised_pair(block="style", mapping_layers=2, pl_weight=2.0,
                                    pl_interval=2)
    z = tf.random.stateless_normal([4, 8], seed=[1, 2])
    # the penalty: (|J^T y| - a)^2 with a the running mean moved 1% toward the lengths
    penalty = lazy.path_length_penalty(z, update=False).numpy()
    assert penalty.shape == (2,) and np.isfinite(penalty).all() and penalty.max() > 0
    assert float(lazy.pl_mean) == 0.0
    plain.path_length_penalty(z, update=False)  # the same draws of the noise y
    batch = {"label": tf.zeros([4, 16, 16], tf.int32)}

    def replayed():  # weight * interval on every example
        return tf.zeros([4]) + tf.reduce_mean(
            plain.path_length_penalty(plain.random_latent(4))) * 2.0 * 2.0

    # the phase's latents are drawn every iteration (as ADA's all_gen_z)
    _replay_lazy_phase(lazy, plain, "generator", "G_PL", 2, 3, batch, replayed,
                       skipped=lambda: plain.random_latent(4))
    assert float(lazy.pl_mean) > 0 and int(lazy.g_optimizer.iterations.numpy()) == 3 + 2
    with pytest.raises(ValueError, match="needs the style generator"):
        SemGAN(num_classes=4, image_size=(16, 16), pl_weight=1.0)


def test_stylegan2_iteration_order_and_adam():
    """The style block's iteration: G's phases, then D's (StyleGAN2-ADA), each lazy
    step counted; its Adam is torch's with ADA's lazy ratios; a Keras optimiser is
    refused for a lazy regulariser."""
    from tfsem.optimizers import TorchAdam

    model = SemGAN(num_classes=4, image_size=(16, 16), z_dim=8, ngf=4, n_upsample=2, ndf=4,
                   n_layers_D=2, block="style", mapping_layers=2, spectral_norm_D=False,
                   gan_mode="original", r1_gamma=1.0, r1_interval=4, pl_weight=1.0,
                   pl_interval=2, seed=0)
    assert model.stylegan2_order and model.optimizer_ratios() == (2 / 3, 4 / 5)
    model.build_networks()
    model.compile()
    d = model.d_optimizer
    assert type(d) is TorchAdam and d.epsilon == 1e-8
    assert (float(d.learning_rate), d.beta_2) == pytest.approx((0.0025 * 4 / 5, 0.99 ** 0.8))
    step = tf.function(model.train_step)
    for _ in range(5):
        out = step({"label": tf.zeros([4, 16, 16], tf.int32)})
    assert int(model.train_iterations.numpy()) == 5
    assert int(model.g_optimizer.iterations.numpy()) == 5 + 3  # Greg at 0, 2, 4
    assert int(model.d_optimizer.iterations.numpy()) == 5 + 2  # Dreg at 0, 4
    assert float(out["D_R1"]) > 0 and np.isfinite(float(out["G_loss"]))
    assert not tiny().stylegan2_order and tiny().optimizer_ratios() == (1.0, 1.0)
    with pytest.raises(TypeError, match="lazy regularisation"):
        SemGAN(num_classes=4, image_size=(16, 16), r1_gamma=1.0).compile(
            d_optimizer=keras.optimizers.Adam())


def _style_ema_model(**overrides):
    kwargs = dict(num_classes=4, image_size=(16, 16), z_dim=8, ngf=4, n_upsample=2, ndf=4,
                  n_layers_D=2, block="style", mapping_layers=2, spectral_norm_D=False,
                  gan_mode="original", ema_kimg=0.01, ema_rampup=0.5, seed=0)
    kwargs.update(overrides)
    model = SemGAN(**kwargs)
    model.build_networks()
    model.compile()
    return model


def test_g_ema_follows_stylegan2_ada_and_samples_come_from_it():
    model = _style_ema_model()
    g, ema = model.generator, model.generator_ema
    assert [w.path.split("/", 1)[1] for w in ema.weights] == \
        [w.path.split("/", 1)[1] for w in g.weights]
    for a, b in zip(ema.weights, g.weights):  # G_ema starts as the generator
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not ema.trainable_weights
    # beta = 0.5 ** (batch / min(1000 ema_kimg, seen * rampup)), seen before the iteration
    for iterations, seen in ((0, 0), (1, 4), (3, 12), (99, 396)):
        model.train_iterations.assign(iterations)
        nimg = min(10.0, seen * 0.5)
        expected = 0.5 ** (4 / nimg) if nimg else 0.0
        assert float(model.ema_beta(4.0)) == pytest.approx(expected, abs=1e-7)
    model.train_iterations.assign(0)
    step = tf.function(model.train_step)
    batch = {"label": tf.zeros([4, 16, 16], tf.int32)}
    step(batch)  # the first step: beta 0, G_ema = G
    for a, b in zip(ema.weights, g.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    before = [w.numpy() for w in ema.weights]
    step(batch)  # the second: 4 images seen, half-life 2 images: beta 0.25
    for a, b, old in zip(ema.weights, g.weights, before):
        want = b.numpy() if not b.trainable else b.numpy() + (old - b.numpy()) * 0.25
        np.testing.assert_allclose(a.numpy(), want, atol=1e-5)
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in zip(ema.weights, g.weights))
    # samples, the exported variables and truncation read G_ema
    z = model.latent_for_seeds([0, 1])
    np.testing.assert_allclose(model(z).numpy(),
                               tf.nn.softmax(ema(z, training=False)).numpy(), atol=1e-6)
    assert {id(v) for v in model.inference_variables()} == {id(v) for v in ema.variables}
    np.testing.assert_allclose(model(z, truncation_psi=0.5).numpy(),
                               tf.nn.softmax(ema.styled(z, truncation_psi=0.5)).numpy(), atol=1e-6)
    assert SemGAN.from_config(model.get_config()).generator_ema is not None
    assert _style_ema_model(ema_kimg=0).generator_ema is None
    with pytest.raises(ValueError, match="ema_kimg"):
        _style_ema_model(ema_kimg=-1)


def test_g_ema_under_mirrored_strategy_matches_one_device(tmp_path):
    """Two replicas (two logical CPUs) update G_ema in cross-replica context: every
    replica's copy holds the same values, the global batch's; the lazy
    regularisation steps keep the replicas equal."""
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip("needs two logical CPUs (tests/conftest.py configures them)")
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    with strategy.scope():  # with both lazy regularisers (gated steps on two replicas)
        model = _style_ema_model(r1_gamma=0.5, r1_interval=2, pl_weight=1.0, pl_interval=2)
    batch = {"label": tf.zeros([4, 16, 16], tf.int32)}
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch).unbatch().batch(4).repeat())
    it = iter(dataset)

    @tf.function
    def step(inputs):
        strategy.run(model.train_step, args=(inputs,))

    for _ in range(3):
        step(next(it))
    assert int(model.train_iterations.numpy()) == 3
    # the regularisation steps of iterations 0 and 2
    assert int(model.g_optimizer.iterations.numpy()) == int(model.d_optimizer.iterations.numpy()) == 5
    for w in model.discriminator.weights:
        values = [v.numpy() for v in w.value.values]
        np.testing.assert_array_equal(values[0], values[1])
    for ema in model.generator_ema.weights:
        values = [v.numpy() for v in ema.value.values]  # one copy per replica
        assert len(values) == 2
        for other in values[1:]:
            np.testing.assert_array_equal(values[0], other)
    # three iterations of a global batch of 4 seen: the next one's beta, as one device
    assert float(model.ema_beta(4.0)) == pytest.approx(0.5 ** (4 / min(10.0, 12 * 0.5)))


def test_checkpoint_from_before_g_ema_gives_g_ema_the_generator(tmp_path):
    from tfsem.train.rundir import model_checkpoint

    old = _style_ema_model(ema_kimg=0)
    path = model_checkpoint(old).write(str(tmp_path / "old"))
    new = _style_ema_model()
    for w in new.generator_ema.weights:
        w.assign(tf.zeros_like(w))
    model_checkpoint(new).restore(path).expect_partial()
    notes = []
    new.restored(path, log=notes.append)
    assert notes and "no G_ema" in notes[0]
    for a, b in zip(new.generator_ema.weights, old.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # a checkpoint with G_ema restores it whole
    for w in new.generator_ema.weights:
        w.assign(w + 1.0)
    path = model_checkpoint(new).write(str(tmp_path / "new"))
    again = _style_ema_model()
    model_checkpoint(again).restore(path).expect_partial()
    notes = []
    again.restored(path, log=notes.append)
    assert not notes
    for a, b in zip(again.generator_ema.weights, new.generator_ema.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_without_the_iteration_count_counts_g_steps(tmp_path):
    """A checkpoint from before ``train_iterations``: its generator's steps (one per
    iteration then) become the count, so the lazy schedule and G_ema go on."""
    from tfsem.train.rundir import _AllWeights

    old = _style_ema_model()
    old.g_optimizer.iterations.assign(12)
    path = tf.train.Checkpoint(weights=_AllWeights(old), g_optimizer=old.g_optimizer).write(
        str(tmp_path / "old"))
    new = _style_ema_model()
    tf.train.Checkpoint(weights=_AllWeights(new), g_optimizer=new.g_optimizer).restore(
        path).expect_partial()
    new.restored(path, log=lambda _: None)
    assert int(new.train_iterations.numpy()) == 12


def test_style_run_saved_before_g_ema_loads_in_any_precision(tmp_path):
    """A style run from before G_ema (its model.keras has none; its config now
    resolves to G_ema): loads, samples from its generator, rebuilds in bf16."""
    from tfsem.config import ExperimentConfig, config_from_dict
    from tfsem.config.experiment import save_config
    from tfsem.runs import load_run
    from tests.test_semgan_cli import semgan_experiment

    experiment = semgan_experiment(name="old_style")
    experiment["model"]["semgan"]["block"] = "style"
    config = config_from_dict(ExperimentConfig, experiment)
    assert config.model.section.resolved_ema_kimg(4) == pytest.approx(4 * 10 / 32)
    old = SemGAN.from_experiment(config)
    old = SemGAN(**{**old.get_config(), "ema_kimg": 0.0})
    old.build_networks()
    save_config(config, str(tmp_path / "config.json"))
    old.save(str(tmp_path / "model.keras"))
    z = old.latent_for_seeds([0, 1])
    for precision in ("float32", "bfloat16"):
        loaded_config, model = load_run(str(tmp_path), precision=precision)
        assert model.generator_ema is None and loaded_config.model.section.ema_kimg == 0
        np.testing.assert_allclose(model(z).numpy(), old(z).numpy(),
                                   atol=1e-6 if precision == "float32" else 0.1)
    # a run with G_ema: its G_ema (not its G) samples, in any precision
    new = SemGAN.from_experiment(config)
    new.build_networks()
    for w in new.generator.weights:  # G_ema and G differ
        w.assign(w * 0.5)
    (tmp_path / "model.keras").unlink()
    new.save(str(tmp_path / "model.keras"))
    for precision in ("float32", "bfloat16"):
        _, model = load_run(str(tmp_path), precision=precision)
        assert model.generator_ema is not None
        np.testing.assert_allclose(model(z).numpy(), new(z).numpy(),
                                   atol=1e-6 if precision == "float32" else 0.1)
    assert not np.allclose(new(z).numpy(), tf.nn.softmax(new.generator(z)).numpy(), atol=1e-3)
