"""fit_CNN's optimizer and learning schedule (spec §6): :class:`LegacyNadam` (the Keras 2.2 Nadam) and
:func:`make_learning_schedule_dict` (the 250 "learning schedules" in 5 stages).
"""

import keras
from keras import ops


# =========================================================================================================
# fit_CNN (spec §6): optimizer, learning schedule, window sampling, sparse first layer, history, saving
# =========================================================================================================

# §6 table: first schedule, learning rate and loss weights [spikes, somatic, dendritic before the 0.1
# DVT_loss_mult_factor] of each of the 5 stages of the 250 "learning schedules"
STAGE_FIRST_SCHEDULES = [0, 40, 80, 120, 160]
LEARNING_RATE_PER_STAGE = [1e-4, 3e-5, 1e-5, 3e-6, 1e-6]
LOSS_WEIGHTS_PER_STAGE = [[1.0, 0.02, 5e-5], [2.0, 0.01, 3e-5], [4.0, 0.01, 1e-5], [8.0, 0.01, 1e-7],
                          [9.0, 0.003, 1e-8]]
DVT_LOSS_MULT_FACTOR = 0.1
NUM_TRAIN_STEPS_PER_SCHEDULE = 100  # stored in the schedule dict, never used (§6)
# spikes, somatic, dendritic (§6 step 4); 'mean_squared_error' = 'mse', spelled out because Keras 3.15 cannot
# re-load a legacy .h5 file compiled with 'mse' (it stores it as keras.metrics.mse)
LOSSES = ["binary_crossentropy", "mean_squared_error", "mean_squared_error"]


# ---------------------------------------------------------------------------------------------------------
# the Keras 2.2 Nadam
# ---------------------------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
class LegacyNadam(keras.optimizers.Optimizer):
    """Nadam as in Keras 2.2 (Dozat 2016, with the momentum schedule of the ``schedule_decay`` argument).

    With t = step + 1 and mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay)):
    m_schedule_t = prod_{i<=t} mu_i; g' = g / (1 - m_schedule_t); m = beta_1 m + (1 - beta_1) g;
    m' = m / (1 - m_schedule_t * mu_{t+1}); v = beta_2 v + (1 - beta_2) g^2; v' = v / (1 - beta_2^t);
    p -= lr * ((1 - mu_t) g' + mu_{t+1} m') / (sqrt(v') + epsilon).
    Keras 3's ``keras.optimizers.Nadam`` is the same update with 0.96 ** t (i.e. schedule_decay = 1), so
    its momentum reaches 0.9 within ~100 steps, while here it rises from 0.45 to 0.62 over the 2880
    steps of one learning schedule (the optimizer is re-created every schedule, spec §6).
    """

    def __init__(self, learning_rate=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-7, schedule_decay=0.004,
                 name="legacy_nadam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = [self.add_variable_from_reference(v, "momentum") for v in var_list]
        self._velocities = [self.add_variable_from_reference(v, "velocity") for v in var_list]
        self._m_schedule = self.add_variable(shape=(), initializer="ones", name="m_schedule")

    def _momentum_cache(self, step, dtype):
        return ops.cast(self.beta_1, dtype) * (
            1.0 - 0.5 * ops.power(ops.cast(0.96, dtype), step * ops.cast(self.schedule_decay, dtype)))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # once per step, before the per-variable updates (the hook Keras' own Nadam uses)
        dtype = self._m_schedule.dtype
        step = ops.cast(self.iterations + 1, dtype)
        self.assign(self._m_schedule, self._m_schedule * self._momentum_cache(step, dtype))
        super()._backend_update_step(grads, trainable_variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        mu_t = self._momentum_cache(step, dtype)
        mu_next = self._momentum_cache(step + 1.0, dtype)
        m_schedule_new = ops.cast(self._m_schedule, dtype)  # already multiplied by mu_t this step
        m_schedule_next = m_schedule_new * mu_next
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign(m, beta_1 * m + (1.0 - beta_1) * gradient)
        self.assign(v, beta_2 * v + (1.0 - beta_2) * ops.square(gradient))
        g_prime = gradient / (1.0 - m_schedule_new)
        m_prime = m / (1.0 - m_schedule_next)
        v_prime = v / (1.0 - ops.power(beta_2, step))
        m_bar = (1.0 - mu_t) * g_prime + mu_next * m_prime
        self.assign_sub(variable, lr * m_bar / (ops.sqrt(v_prime) + ops.cast(self.epsilon, dtype)))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "schedule_decay": self.schedule_decay})
        return config


def make_optimizer(name, learning_rate):
    """A NEW optimizer for one learning schedule: 'legacy_nadam' (Keras 2.2 Nadam) or 'nadam' (Keras 3)."""
    if name == "legacy_nadam":
        return LegacyNadam(learning_rate=learning_rate)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=learning_rate)
    raise ValueError(f"optimizer must be 'legacy_nadam' or 'nadam', got {name!r}")


# ---------------------------------------------------------------------------------------------------------
# learning schedule (§6)
# ---------------------------------------------------------------------------------------------------------

def stage_of_schedule(schedule, stage_first_schedules=STAGE_FIRST_SCHEDULES):
    """Index of the stage a learning schedule belongs to (the last stage whose first schedule is <= it)."""
    firsts = list(stage_first_schedules)
    if not firsts or firsts[0] != 0 or sorted(firsts) != firsts:
        raise ValueError(f"stage_first_schedules must start at 0 and increase, got {firsts}")
    return max(k for k, first in enumerate(firsts) if first <= schedule)


def make_learning_schedule_dict(num_schedules=250, batch_size=8, stage_first_schedules=STAGE_FIRST_SCHEDULES,
                                learning_rate_per_stage=LEARNING_RATE_PER_STAGE,
                                loss_weights_per_stage=LOSS_WEIGHTS_PER_STAGE,
                                DVT_loss_mult_factor=DVT_LOSS_MULT_FACTOR, train_file_load=0.2,
                                valid_file_load=0.2, validation_fraction=0.5, num_steps_multiplier=10):
    """The ``learning_schedule_dict`` of §6: per-schedule lists of batch size, loss weights and learning rate.

    Loss weights are [spikes, somatic, dendritic * DVT_loss_mult_factor]; the defaults give the §6 table.
    """
    num_stages = len(stage_first_schedules)
    if len(learning_rate_per_stage) != num_stages or len(loss_weights_per_stage) != num_stages:
        raise ValueError("stage_first_schedules, learning_rate_per_stage and loss_weights_per_stage must have "
                         "one entry per stage")
    stages = [stage_of_schedule(s, stage_first_schedules) for s in range(num_schedules)]
    return {
        "train_file_load": train_file_load,
        "valid_file_load": valid_file_load,
        "validation_fraction": validation_fraction,
        "num_epochs": num_schedules,
        "num_steps_multiplier": num_steps_multiplier,
        "batch_size_per_epoch": [int(batch_size)] * num_schedules,
        "loss_weights_per_epoch": [[float(loss_weights_per_stage[k][0]), float(loss_weights_per_stage[k][1]),
                                    float(DVT_loss_mult_factor) * float(loss_weights_per_stage[k][2])]
                                   for k in stages],
        "learning_rate_per_epoch": [float(learning_rate_per_stage[k]) for k in stages],
        "num_train_steps_per_epoch": [NUM_TRAIN_STEPS_PER_SCHEDULE] * num_schedules,
    }
