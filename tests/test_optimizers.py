"""tfsem.optimizers.FusedAdam: Keras' Adam update, one fused kernel per variable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsem.optimizers import FusedAdam


def _train(optimizer, steps=6):
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=(5, 4)).astype("float32")),
                 keras.Variable(rng.normal(size=(4,)).astype("float32"))]
    grads = [[rng.normal(size=v.shape).astype("float32") for v in variables]
             for _ in range(steps)]
    step = tf.function(lambda g: optimizer.apply_gradients(zip(g, variables)))
    for g in grads:
        step([tf.constant(x) for x in g])
    return [v.numpy() for v in variables], optimizer


@pytest.mark.parametrize("kwargs", [
    dict(learning_rate=1e-2, beta_1=0.5, beta_2=0.999),
    dict(learning_rate=keras.optimizers.schedules.PolynomialDecay(1e-2, 4, 1e-3),
         beta_1=0.0, beta_2=0.9),
    dict(learning_rate=1e-2, amsgrad=True),  # falls back to Keras' update
])
def test_same_update_as_keras_adam(kwargs):
    expected, reference = _train(keras.optimizers.Adam(**kwargs))
    got, fused = _train(FusedAdam(**kwargs))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert fused.name == "adam"  # as Keras' Adam: the slots keep their paths
    assert len(fused.variables) == len(reference.variables)
    for a, b in zip(fused.variables, reference.variables):  # the slots too
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-5, atol=1e-6)


def test_config_round_trip():
    optimizer = FusedAdam(3e-4, beta_1=0.0, beta_2=0.9)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(clone) is FusedAdam and clone.beta_2 == 0.9


def _torch_adam(w, grads, lr, beta_1, beta_2, eps, restart=-1):
    """torch.optim.Adam's update (float64); at ``restart`` a new Adam takes over."""
    w, m, v, t = w.astype(np.float64), 0.0, 0.0, 0
    for i, g in enumerate(grads):
        if i == restart:
            m, v, t = 0.0, 0.0, 0
        t += 1
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        w = w - lr / (1 - beta_1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - beta_2 ** t) + eps)
    return w


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("betas,restart", [((0.0, 0.9), -1), ((0.5, 0.999), 2)])
def test_torch_adam_is_pytorchs_update(compiled, betas, restart):
    """TorchAdam: epsilon added to sqrt(v_hat) (PyTorch), not to sqrt(v) as Keras; a
    restart zeroes the moments and the bias-correction count. Gradients span
    1e-9..1e-3, where the two formulas part."""
    from tfsem.optimizers import TorchAdam

    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(64,)).astype(np.float32)
    grads = [(rng.normal(size=(64,)) * 10.0 ** rng.integers(-9, -2, size=64)).astype(np.float32)
             for _ in range(5)]
    expected = _torch_adam(w0, [g.astype(np.float64) for g in grads], 1e-3, *betas, 1e-8, restart)
    var = keras.Variable(w0)
    optimizer = TorchAdam(1e-3, beta_1=betas[0], beta_2=betas[1], restart_step=restart)
    step = lambda g: optimizer.apply_gradients([(g, var)])  # noqa: E731
    step = tf.function(step) if compiled else step
    for g in grads:
        step(tf.constant(g))
    np.testing.assert_allclose(var.numpy(), expected, atol=2e-6)
    keras_adam = keras.Variable(w0)
    reference = keras.optimizers.Adam(1e-3, beta_1=betas[0], beta_2=betas[1], epsilon=1e-8)
    for g in grads:
        reference.apply_gradients([(tf.constant(g), keras_adam)])
    assert np.abs(keras_adam.numpy() - expected).max() > 1e-5  # Keras' formula is another one
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(clone) is TorchAdam and clone.restart_step == restart and clone.epsilon == 1e-8


def test_families_train_with_the_official_adam():
    from tfsem import registry
    from tfsem.optimizers import FusedAdam, TorchAdam, make_adam

    for family in ("gaugan", "pix2pixhd", "pix2pix"):
        assert type(make_adam(registry.family(family).adam, 1e-4, 0.0, 0.9)) is TorchAdam
    assert type(make_adam(registry.family("semgan").adam, 1e-4, 0.0, 0.9)) is FusedAdam
    with pytest.raises(ValueError, match="adam kind"):
        make_adam("sgd", 1e-4, 0.0, 0.9)


def _official_rates(rule, lr, niter, niter_decay, steps_per_epoch, epochs):
    """The learning rate of every step as the official training scripts set it."""
    rates = []
    if rule == "niter_decay":  # SPADE / pix2pixHD: lr -= lr / niter_decay after each epoch > niter
        current = lr
        for epoch in range(1, epochs + 1):
            rates += [current] * steps_per_epoch
            if epoch > niter:
                current -= lr / niter_decay
    else:  # pix2pix: LambdaLR stepped at the start of each epoch (epoch_count 1)
        for epoch in range(1, epochs + 1):
            rates += [lr * (1.0 - max(0, epoch + 1 - niter) / float(niter_decay + 1))] * steps_per_epoch
    return rates


@pytest.mark.parametrize("rule", ["niter_decay", "pix2pix"])
@pytest.mark.parametrize("niter,niter_decay,per_epoch", [(3, 4, 5), (2, 3, 1), (0, 2, 3)])
def test_linear_decay_is_the_official_staircase(rule, niter, niter_decay, per_epoch):
    from tfsem.train.build import LinearDecay

    epochs = niter + niter_decay
    schedule = LinearDecay(2e-4, epochs * per_epoch, niter_decay * per_epoch, per_epoch, rule)
    got = [float(schedule(step)) for step in range(epochs * per_epoch)]
    np.testing.assert_allclose(got, _official_rates(rule, 2e-4, niter, niter_decay, per_epoch,
                                                    epochs), rtol=1e-5, atol=1e-12)
    clone = LinearDecay.from_config(schedule.get_config())
    assert float(clone(per_epoch * niter)) == pytest.approx(got[per_epoch * niter])


@pytest.mark.parametrize("kind", ["pytorch", "keras"])
@pytest.mark.parametrize("replicas", [1, 2])
def test_gated_step_is_a_step_or_none(kind, replicas):
    """apply_gated (StyleGAN2's lazy regularisation steps): where the gate is
    false the weights, moments and count stay; where true it is the optimiser's
    step; also on two replicas (a step in tf.cond would be refused there)."""
    from tfsem.optimizers import make_adam

    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < replicas:
        pytest.skip("needs two logical CPUs (tests/conftest.py configures them)")
    # ReductionToOneDevice: collective all-reduces of strategies made by other tests in
    # this process can share instance keys with this one's
    strategy = (tf.distribute.MirroredStrategy(
        [d.name for d in devices[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice())
        if replicas > 1 else tf.distribute.get_strategy())
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(6)]
    gates = [True, False, False, True, False, True]
    with strategy.scope():
        var = keras.Variable(w0)
        counter = tf.Variable(0, dtype=tf.int64, trainable=False,
                              aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        gated = make_adam(kind, 1e-2, 0.0, 0.99)
        gated.build([var])
    pattern = tf.constant(gates)

    @tf.function
    def step(g):
        def fn():  # the gradient made in the replica (its all-reduce needs one per replica)
            grad = tf.identity(g) * tf.cast(strategy.num_replicas_in_sync, tf.float32) ** -1
            gated.apply_gated([grad], [var], lambda: tf.gather(pattern, counter))
            counter.assign_add(1)
        strategy.run(fn)

    reference_var = keras.Variable(w0)
    reference = make_adam(kind, 1e-2, 0.0, 0.99)
    for g, on in zip(grads, gates):
        step(tf.constant(g))
        if on:
            reference.apply_gradients([(tf.constant(g), reference_var)])
    values = [v.numpy() for v in var.value.values] if replicas > 1 else [var.numpy()]
    for value in values:
        np.testing.assert_allclose(value, reference_var.numpy(), rtol=1e-5, atol=1e-6)
    assert int(gated.iterations.numpy()) == sum(gates) == int(reference.iterations.numpy())
    for a, b in zip(gated.variables, reference.variables):  # the moments too
        np.testing.assert_allclose(np.asarray(a.numpy()), np.asarray(b.numpy()), rtol=1e-5,
                                   atol=1e-6)


def test_lazy_adam_settings_are_stylegan2_adas():
    from tfsem.optimizers import lazy_adam_settings

    lr, beta_1, beta_2 = lazy_adam_settings(0.0025, 0.0, 0.99, 16 / 17)
    assert (lr, beta_1, beta_2) == pytest.approx((0.0025 * 16 / 17, 0.0, 0.99 ** (16 / 17)))
    assert lazy_adam_settings(1e-4, 0.5, 0.9, 1.0) == (1e-4, 0.5, 0.9)


@pytest.mark.parametrize("kind", ["pytorch", "keras"])
def test_the_step_scalars_are_made_once_per_apply_not_per_variable(kind):
    """The bias corrections are one pair of ``Pow`` ops in a traced step of many
    variables (per-variable scalars are ~10 graph ops each to trace), and the
    step is the same as one variable at a time."""
    from tfsem.optimizers import make_adam

    rng = np.random.default_rng(2)
    init = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(6)]
    grads = [tf.constant(rng.normal(size=(3, 2)).astype(np.float32)) for _ in init]
    together = [keras.Variable(w) for w in init]
    optimizer = make_adam(kind, 1e-2, 0.5, 0.9)
    step = tf.function(lambda g: optimizer.apply_gradients(zip(g, together)))
    graph = step.get_concrete_function(grads).graph
    assert sum(op.type == "Pow" for op in graph.get_operations()) == 2
    step(grads)
    for w, g, got in zip(init, grads, together):  # each alone, by a fresh optimiser
        alone = keras.Variable(w)
        make_adam(kind, 1e-2, 0.5, 0.9).apply_gradients([(g, alone)])
        np.testing.assert_allclose(got.numpy(), alone.numpy(), rtol=1e-6, atol=1e-7)
