"""Adam as one fused kernel per variable.

Keras 3's ``Adam.update_step`` writes the update as about ten separate ops per
variable (subtract, multiply, square, assign_add twice, sqrt, add, divide,
assign_sub ...), each a pass over the variable; for SPADE's 93 M generator
parameters that is ~9% of a training step on a 2-core CPU (``python
tools/benchmark.py profile spade_train_256x128``: the ``adam/*`` rows).
TensorFlow's ``ResourceApplyAdam`` computes the same update in one pass:

    lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m    = beta_1 * m + (1 - beta_1) * g
    v    = beta_2 * v + (1 - beta_2) * g^2
    w   -= lr_t * m / (sqrt(v) + epsilon)

which is Keras' formula (epsilon added to sqrt(v) before the bias correction's
scale, as Keras and TF1 do). Same variables (names, slots), so checkpoints
written with ``keras.optimizers.Adam`` resume; AMSGrad, sparse gradients and
non-float32 variables fall back to Keras' update.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["FusedAdam"]


@keras.saving.register_keras_serializable(package="tfsem")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (same arguments, same update) whose update of a
    float32 variable is TensorFlow's fused ``ResourceApplyAdam`` kernel.
    Named ``adam`` as Keras' (its variables keep their paths)."""

    def __init__(self, *args, name="adam", **kwargs):
        super().__init__(*args, name=name, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices)
                or variable.dtype != tf.float32 or not hasattr(variable, "handle")):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        step = tf.cast(self.iterations + 1, tf.float32)
        beta_1 = tf.cast(self.beta_1, tf.float32)
        beta_2 = tf.cast(self.beta_2, tf.float32)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.value.handle, v=v.value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, tf.float32), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, tf.float32), grad=tf.cast(gradient, tf.float32),
            use_locking=False)
