"""Adam as one fused kernel per variable.

Keras 3's ``Adam.update_step`` writes the update as about ten separate ops per
variable (subtract, multiply, square, assign_add twice, sqrt, add, divide,
assign_sub ...), each a pass over the variable; for SPADE's 93 M generator
parameters that is ~9% of a training step on a 2-core CPU (``python
dev/benchmark.py profile spade_train_256x128``: the ``adam/*`` rows).
TensorFlow's ``ResourceApplyAdam`` computes the same update in one pass:

    lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m    = beta_1 * m + (1 - beta_1) * g
    v    = beta_2 * v + (1 - beta_2) * g^2
    w   -= lr_t * m / (sqrt(v) + epsilon)

which is Keras' formula (epsilon added to sqrt(v) before the bias correction's
scale, as Keras and TF1 do). Same variables (names, slots), so checkpoints
written with ``keras.optimizers.Adam`` resume; AMSGrad, sparse gradients and
non-float32 variables fall back to Keras' update.

``apply_gated`` takes a step only where a condition holds (StyleGAN2's lazy
regularisation steps, every 4th or 16th iteration): an optimiser step inside
``tf.cond`` is refused under ``tf.distribute`` (its gradient all-reduce is a
``merge_call``, not allowed in control flow), so the step always runs and
keeps the old weights, moments and count where the condition is false.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["ADAM_KINDS", "FusedAdam", "TorchAdam", "lazy_adam_settings", "make_adam"]

#: ``pytorch``: :class:`TorchAdam`; ``keras``: :class:`FusedAdam`.
ADAM_KINDS = ("pytorch", "keras")


@keras.saving.register_keras_serializable(package="tfsem")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (same arguments, same update) whose update of a
    float32 variable is TensorFlow's fused ``ResourceApplyAdam`` kernel.
    Named ``adam`` as Keras' (its variables keep their paths)."""

    def __init__(self, *args, name="adam", **kwargs):
        super().__init__(*args, name=name, **kwargs)
        self._gate = None  # set by apply_gated while it applies
        self._step_scalars = None  # per device, while one apply() updates its variables

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # The scalars of the update (bias corrections, learning rate, epsilon)
        # are the same for every variable: made once per device and apply(),
        # not once per variable (~10 graph ops per variable: 3,100 of a tiny
        # GauGAN's 12,500-op training step, each one Python time to trace).
        self._step_scalars = {}
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._step_scalars = None

    def _scalars(self, variable, learning_rate):
        """:meth:`adam_scalars` for ``variable``'s device, made once per apply()."""
        if self._step_scalars is None:  # update_step called outside apply()
            return self.adam_scalars(learning_rate)
        device = getattr(variable, "device", None)
        if device not in self._step_scalars:
            self._step_scalars[device] = self.adam_scalars(learning_rate)
        return self._step_scalars[device]

    def _bias_step(self):
        """t of the bias correction (1 at the first step)."""
        return tf.cast(self.iterations, tf.int64) + 1

    def adam_scalars(self, learning_rate):
        """The scalar arguments of ``ResourceApplyAdam`` at this step (float32):
        ``beta1_power, beta2_power, lr, beta1, beta2, epsilon``."""
        step = tf.cast(self._bias_step(), tf.float32)
        beta_1 = tf.cast(self.beta_1, tf.float32)
        beta_2 = tf.cast(self.beta_2, tf.float32)
        return (tf.pow(beta_1, step), tf.pow(beta_2, step), tf.cast(learning_rate, tf.float32),
                beta_1, beta_2, tf.cast(self.epsilon, tf.float32))

    def apply_gated(self, grads, variables, active) -> None:
        """One step on ``variables`` where ``active()`` is true, none where it is
        false: weights, moments and ``iterations`` keep their values (the
        gradients are still all-reduced, so every replica calls this).
        ``active``: a callable returning a scalar bool tensor from variables
        (it is read again where each variable is updated)."""
        self._gate = active
        try:
            self.apply(grads, variables)
        finally:
            self._gate = None
        skipped = 1 - tf.cast(active(), self.iterations.dtype)
        self.iterations.assign_sub(skipped)  # apply() counted the step

    def update_step(self, gradient, variable, learning_rate):
        if self._gate is None:
            return self.adam_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        state = [variable, self._momentums[index], self._velocities[index]]
        if self.amsgrad:
            state.append(self._velocity_hats[index])
        old = [tf.identity(tf.convert_to_tensor(v)) for v in state]  # read before the step
        self.adam_step(gradient, variable, learning_rate)
        active = self._gate()
        for v, value in zip(state, old):
            v.assign(tf.where(active, tf.convert_to_tensor(v), value))

    def adam_step(self, gradient, variable, learning_rate):
        """The update of one variable (``update_step`` without the gate)."""
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices)
                or variable.dtype != tf.float32 or not hasattr(variable, "handle")):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        beta1_power, beta2_power, lr, beta_1, beta_2, epsilon = self._scalars(variable, learning_rate)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.value.handle, v=v.value.handle,
            beta1_power=beta1_power, beta2_power=beta2_power, lr=lr, beta1=beta_1, beta2=beta_2,
            epsilon=epsilon, grad=tf.cast(gradient, tf.float32), use_locking=False)


@keras.saving.register_keras_serializable(package="tfsem")
class TorchAdam(FusedAdam):
    """Adam as ``torch.optim.Adam`` computes it, the optimiser of the official
    SPADE, pix2pixHD and pix2pix training code:

        m_hat = m / (1 - beta_1^t),  v_hat = v / (1 - beta_2^t)
        w    -= lr * m_hat / (sqrt(v_hat) + epsilon)          epsilon 1e-8

    Keras and TensorFlow add epsilon (1e-7 by default) to sqrt(v) BEFORE the
    bias correction's scale, which at step 1 with beta_2 0.9 (SPADE) is an
    epsilon 3.2x larger than written, and a different update wherever
    |gradient| is near it. This is the same fused kernel as
    :class:`FusedAdam` with ``epsilon * sqrt(1 - beta_2^t)``, which is
    PyTorch's update exactly.

    Args:
        restart_step: the step at which the optimiser starts afresh, as a NEW
            Adam over the same variables would: moments zeroed and the
            bias-correction count back to 1 (pix2pixHD's
            ``update_fixed_params()`` when ``niter_fix_global`` ends makes a
            new ``torch.optim.Adam`` over all of G). The learning-rate
            schedule keeps counting ``iterations``. -1: never.
        Other arguments: ``keras.optimizers.Adam``'s (epsilon defaults to
        PyTorch's 1e-8).
    """

    def __init__(self, *args, epsilon=1e-8, restart_step=-1, **kwargs):
        super().__init__(*args, epsilon=epsilon, **kwargs)
        self.restart_step = int(restart_step)

    def _bias_step(self):
        """t of the bias correction: counts from the last restart."""
        if self.restart_step < 0:
            return super()._bias_step()
        it = tf.cast(self.iterations, tf.int64)
        return tf.where(it >= self.restart_step, it - self.restart_step, it) + 1

    def adam_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        if self.restart_step >= 0:
            restart = tf.equal(tf.cast(self.iterations, tf.int64), self.restart_step)
            m.assign(tf.where(restart, tf.zeros_like(m), m))
            v.assign(tf.where(restart, tf.zeros_like(v), v))
        beta1_power, beta2_power, lr, beta_1, beta_2, epsilon = self._scalars(variable, learning_rate)
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices)
                or variable.dtype != tf.float32 or not hasattr(variable, "handle")):
            g = tf.cast(tf.convert_to_tensor(gradient), m.dtype)
            m.assign(beta_1 * m + (1.0 - beta_1) * g)
            v.assign(beta_2 * v + (1.0 - beta_2) * tf.square(g))
            if self.amsgrad:
                v_max = self._velocity_hats[index]
                v_max.assign(tf.maximum(v_max, v))
                v = v_max
            bc1, bc2 = 1.0 - beta1_power, 1.0 - beta2_power
            update = lr / bc1 * m / (tf.sqrt(v) / tf.sqrt(bc2) + self.epsilon)
            variable.assign_sub(tf.cast(update, variable.dtype))
            return
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.value.handle, v=v.value.handle,
            beta1_power=beta1_power, beta2_power=beta2_power, lr=lr, beta1=beta_1, beta2=beta_2,
            epsilon=epsilon, grad=tf.cast(gradient, tf.float32), use_locking=False)

    def adam_scalars(self, learning_rate):
        # t counts from the last restart (_bias_step); PyTorch's epsilon is added
        # to sqrt(v_hat): the fused kernel's epsilon times sqrt(1 - beta_2^t)
        beta1_power, beta2_power, lr, beta_1, beta_2, epsilon = super().adam_scalars(learning_rate)
        return (beta1_power, beta2_power, lr, beta_1, beta_2,
                epsilon * tf.sqrt(1.0 - beta2_power))

    def get_config(self):
        return {**super().get_config(), "restart_step": self.restart_step}


def make_adam(kind: str, learning_rate, beta_1: float, beta_2: float):
    """Adam of a family's ``kind`` (``tfsem.registry.Family.adam``): ``pytorch``
    (the official code's ``torch.optim.Adam``) or ``keras``."""
    if kind not in ADAM_KINDS:
        raise ValueError(f"adam kind must be one of {ADAM_KINDS}, got {kind!r}")
    cls = TorchAdam if kind == "pytorch" else FusedAdam
    return cls(learning_rate, beta_1=beta_1, beta_2=beta_2)


def lazy_adam_settings(learning_rate: float, beta_1: float, beta_2: float, ratio: float):
    """StyleGAN2's Adam for a network with lazy regularisation every ``k``
    iterations (``ratio = k / (k + 1)``; NVlabs/stylegan2-ada-pytorch
    ``training_loop.py``): the learning rate times ``ratio``, the betas to
    the power ``ratio``, so that the k + 1 steps of k iterations move as k
    steps would. ``ratio`` 1: the settings unchanged."""
    return learning_rate * ratio, beta_1 ** ratio, beta_2 ** ratio
