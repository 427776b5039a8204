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
