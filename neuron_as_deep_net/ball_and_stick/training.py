"""Training a ball-and-stick twin (ball_and_stick.md §4): scaling, random windows streamed with tf.data, the loss
weights and their ramp (:class:`ScheduledLoss`), the AdamW learning-rate schedule with warm-up and cool-down
(:func:`learning_rate_factor`, :class:`EpochLearningRate`), validation, the best checkpoint, and loading a
trained twin back (:func:`load_ball_and_stick_twin`).
"""

import itertools
import json
import os

import keras
import numpy as np
from keras import ops

from ..core.files import atomic_keras_file


# =========================================================================================================
# Ball-and-stick twins (ball_and_stick.md §4): scaling, random windows streamed with tf.data, the loss
# weights and their ramp, the AdamW warm-up/cool-down schedule, validation and the best checkpoint
# =========================================================================================================

BS_INPUT_DIVISOR = 10.0
BS_SOMA_CLIP_MV = (-90.0, -57.0)
BS_SOMA_OFFSET_MV, BS_SOMA_SCALE_MV = -85.0, 11.5
BS_BRANCH_CLIP_MV = (-90.0, 5.0)
BS_BRANCH_OFFSET_MV, BS_BRANCH_SCALE_MV = -85.0, 42.5
BS_RATE_FACTOR = 10.0
BS_WINDOW_MARGIN_MS = 16  # windows start in [16, T - W - 16)
#: head -> (loss, initial weight, final weight)
BS_LOSSES = {"spikes": ("bce_logits", 2.0, 24.0), "soma": ("l1", 0.70, 0.15), "near_spike": ("bce_logits", 1.8, 0.25),
             "inst_rate": ("mse", 3.0, 3.0), "branch_v": ("l1", 6.0, 0.6)}
BS_BEST_MARGIN = 1e-4  # a new best must beat (previous best + 1e-4)


def scale_ball_and_stick_targets(batch):
    """The scaled targets (spec §4 "Scaling") of raw arrays: a float32 dict by head."""
    soma = (np.clip(batch["soma_v"].astype(np.float32), *BS_SOMA_CLIP_MV) - BS_SOMA_OFFSET_MV) / BS_SOMA_SCALE_MV
    branch = (np.clip(batch["branch_v"].astype(np.float32), *BS_BRANCH_CLIP_MV) - BS_BRANCH_OFFSET_MV) \
        / BS_BRANCH_SCALE_MV
    return {"spikes": batch["spikes"].astype(np.float32)[..., None], "soma": soma[..., None],
            "near_spike": batch["near_spike"].astype(np.float32)[..., None],
            "inst_rate": (batch["inst_rate"].astype(np.float32) * BS_RATE_FACTOR)[..., None], "branch_v": branch}


def scale_ball_and_stick_batch(batch):
    """Network input and scaled targets from raw arrays (spec §4 "Scaling"): float32 dicts."""
    return batch["inputs"].astype(np.float32) / BS_INPUT_DIVISOR, scale_ball_and_stick_targets(batch)


def unscale_ball_and_stick_outputs(outputs):
    """Network outputs -> probabilities, mV and spikes/ms (numpy dict)."""
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))  # noqa: E731
    return {"spikes": sigmoid(outputs["spikes"][..., 0]), "near_spike": sigmoid(outputs["near_spike"][..., 0]),
            "soma": np.asarray(outputs["soma"][..., 0]) * BS_SOMA_SCALE_MV + BS_SOMA_OFFSET_MV,
            "inst_rate": np.asarray(outputs["inst_rate"][..., 0]) / BS_RATE_FACTOR,
            "branch_v": np.asarray(outputs["branch_v"]) * BS_BRANCH_SCALE_MV + BS_BRANCH_OFFSET_MV}


def random_windows(arrays, rng, batch_size, window_ms, margin_ms=BS_WINDOW_MARGIN_MS):
    """A batch of random windows: random files, starts ~ randint(margin, T - W - margin); one fancy index each."""
    num_sims, num_ms = arrays["spikes"].shape
    if num_ms - window_ms - 2 * margin_ms < 1:
        raise ValueError(f"window of {window_ms} ms does not fit in simulations of {num_ms} ms")
    files = rng.integers(0, num_sims, size=batch_size)
    starts = rng.integers(margin_ms, num_ms - window_ms - margin_ms, size=batch_size)
    times = starts[:, None] + np.arange(window_ms)
    return {key: arrays[key][files[:, None], times] for key in ("inputs", "spikes", "soma_v", "near_spike",
                                                               "inst_rate", "branch_v")}


def ball_and_stick_window_dataset(arrays, batch_size, window_ms, seed, num_segments=8):
    """An endless tf.data stream of (x, targets) batches of random windows (numpy sampler, prefetched).

    Keras 3 re-iterates a dataset at every epoch when steps_per_epoch is given; every new iteration draws from
    a new generator (seed, pass), so epochs never repeat the same windows."""
    import tensorflow as tf

    passes = itertools.count()  # Keras restarts the stream every epoch: each pass gets its own generator

    def generate():
        rng = np.random.default_rng([seed, next(passes)])
        while True:
            yield scale_ball_and_stick_batch(random_windows(arrays, rng, batch_size, window_ms))

    spec = lambda channels: tf.TensorSpec((batch_size, window_ms, channels), tf.float32)  # noqa: E731
    signature = (spec(2 * num_segments), {"spikes": spec(1), "soma": spec(1), "near_spike": spec(1),
                                          "inst_rate": spec(1), "branch_v": spec(num_segments)})
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(4)


def target_means(arrays):
    """Per-head means of the scaled training targets (all simulations and ms; branch_v per segment), in the
    heads' output units: logits for the spike and near-spike heads (mean rate clipped to [1e-6, 1 - 1e-6])."""
    num_sims, chunk = arrays["spikes"].shape[0], 64  # chunks of simulations: no float32 copy of a whole split
    sums = {}
    for start in range(0, num_sims, chunk):
        part = {key: arrays[key][start:start + chunk] for key in ("spikes", "soma_v", "near_spike", "inst_rate",
                                                                  "branch_v")}
        for name, values in scale_ball_and_stick_targets(part).items():
            sums[name] = sums.get(name, 0.0) + np.sum(values, axis=(0, 1), dtype=np.float64)
    means = {name: total / float(num_sims * arrays["spikes"].shape[1]) for name, total in sums.items()}
    for name in ("spikes", "near_spike"):
        rate = np.clip(means[name], 1e-6, 1.0 - 1e-6)
        means[name] = np.log(rate / (1.0 - rate))
    return means


def init_head_biases(model, arrays):
    """Start every output head's bias at its training target's mean (:func:`target_means`) instead of the
    tutorial's initial biases (-2 for the logits, random otherwise): opt-in (issue 22), so the first steps fit
    the network's features to the targets' fluctuations rather than moving the heads' offsets. Returns the
    biases set {head: list}."""
    means = target_means(arrays)
    for name, mean in means.items():
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, np.broadcast_to(mean, bias.shape).astype(bias.dtype)])
    return {name: np.atleast_1d(mean).tolist() for name, mean in means.items()}


def bs_loss_values(targets, outputs):
    """Unweighted per-head losses (numpy) of scaled targets vs raw network outputs."""
    values = {}
    for name, (kind, _, _) in BS_LOSSES.items():
        y, z = np.asarray(targets[name], dtype=np.float64), np.asarray(outputs[name], dtype=np.float64)
        if kind == "bce_logits":
            values[name] = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        elif kind == "l1":
            values[name] = float(np.mean(np.abs(z - y)))
        else:
            values[name] = float(np.mean((z - y) ** 2))
    return values


def loss_weight_fraction(epoch, warmup_epochs):
    """0 through epoch 2.5 x warm-up, then linear to 1 at epoch 4 x warm-up (spec §4 "Losses")."""
    start, end = 2.5 * warmup_epochs, 4.0 * warmup_epochs
    return float(np.clip((epoch - start) / max(end - start, 1e-9), 0.0, 1.0))


def learning_rate_factor(epoch, num_epochs, warmup_epochs, cooldown_epochs):
    """Warm-up linear 0.001 -> 0.6, then 1.0, then the last cooldown_epochs linear 0.5 -> 0.0005 (spec §4)."""
    if epoch < warmup_epochs:
        return float(np.linspace(0.001, 0.6, warmup_epochs)[epoch])
    if epoch >= num_epochs - cooldown_epochs:
        return float(np.linspace(0.5, 0.0005, cooldown_epochs)[epoch - (num_epochs - cooldown_epochs)])
    return 1.0


def step_warmup_factor(step, warmup_steps, start_factor=0.001):
    """Per-step linear warm-up factor: start_factor at step 0, 1.0 from step warmup_steps on (opt-in fix of the
    plateau entry, issue 22); works on ints and on tensors inside the compiled train step."""
    fraction = ops.minimum(ops.cast(step, "float32") / float(max(warmup_steps, 1)), 1.0)
    return start_factor + (1.0 - start_factor) * fraction


def epoch_table(values):
    """A float32 tensor of per-epoch values, looked up inside the compiled train step."""
    return ops.convert_to_tensor(np.asarray(values, dtype=np.float32))


def epoch_of_step(step, steps_per_epoch, num_epochs):
    """Epoch index of an optimizer step (clipped to the last epoch), as an int32 tensor."""
    return ops.minimum(ops.cast(step, "int32") // int(steps_per_epoch), int(num_epochs) - 1)


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
class EpochLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """base_learning_rate x the per-epoch factor of :func:`learning_rate_factor` (computed from the step, so
    it lives inside the compiled train step). warmup_steps > 0: a per-step linear warm-up from
    warmup_start_factor x the rate (:func:`step_warmup_factor`) replaces the per-epoch warm-up of the rate."""

    def __init__(self, base_learning_rate, steps_per_epoch, num_epochs, warmup_epochs, cooldown_epochs,
                 warmup_steps=0, warmup_start_factor=0.001):
        self.base_learning_rate, self.steps_per_epoch, self.num_epochs = base_learning_rate, steps_per_epoch, num_epochs
        self.warmup_epochs, self.cooldown_epochs = warmup_epochs, cooldown_epochs
        self.warmup_steps, self.warmup_start_factor = int(warmup_steps), float(warmup_start_factor)
        self.factors = [learning_rate_factor(e, num_epochs, 0 if warmup_steps else warmup_epochs, cooldown_epochs)
                        for e in range(num_epochs)]

    def __call__(self, step):
        epoch = epoch_of_step(step, self.steps_per_epoch, self.num_epochs)
        rate = self.base_learning_rate * ops.take(epoch_table(self.factors), epoch)
        if self.warmup_steps:
            rate = rate * step_warmup_factor(step, self.warmup_steps, self.warmup_start_factor)
        return rate

    def get_config(self):
        return {"base_learning_rate": self.base_learning_rate, "steps_per_epoch": self.steps_per_epoch,
                "num_epochs": self.num_epochs, "warmup_epochs": self.warmup_epochs,
                "cooldown_epochs": self.cooldown_epochs, "warmup_steps": self.warmup_steps,
                "warmup_start_factor": self.warmup_start_factor}


class ScheduledLoss(keras.losses.Loss):
    """A base loss times its weight, ramped from the initial to the final value by the epoch of the optimizer
    step (:func:`loss_weight_fraction`); computed inside the compiled train step."""

    def __init__(self, kind, initial, final, iterations, steps_per_epoch, num_epochs, warmup_epochs, name):
        super().__init__(name=name)
        self.kind, self.initial, self.final, self.iterations = kind, float(initial), float(final), iterations
        self.steps_per_epoch, self.num_epochs = steps_per_epoch, num_epochs
        self.fractions = [loss_weight_fraction(e, warmup_epochs) for e in range(num_epochs)]

    def weight_at(self, step):
        """The loss weight at an optimizer step."""
        fraction = ops.take(epoch_table(self.fractions), epoch_of_step(step, self.steps_per_epoch, self.num_epochs))
        return self.initial + fraction * (self.final - self.initial)

    def call(self, y_true, y_pred):
        if self.kind == "bce_logits":
            base = keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)
        elif self.kind == "l1":
            base = keras.losses.mean_absolute_error(y_true, y_pred)
        else:
            base = keras.losses.mean_squared_error(y_true, y_pred)
        return self.weight_at(self.iterations) * base


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
class RateScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied, for some variables, by a constant factor ({variable path:
    factor}; the others use the rate as it is). Used by :func:`deep_kernel_rate_factors`."""

    def __init__(self, rate_factors=None, **kwargs):
        super().__init__(**kwargs)
        self.rate_factors = {str(path): float(factor) for path, factor in (rate_factors or {}).items()}
        self._factor_by_index = {}

    def build(self, variables):
        super().build(variables)
        self._factor_by_index = {self._get_variable_index(variable): self.rate_factors[variable.path]
                                 for variable in variables if variable.path in self.rate_factors}

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor_by_index.get(self._get_variable_index(variable), 1.0)
        return super().update_step(gradient, variable, learning_rate * factor)

    def get_config(self):
        return {**super().get_config(), "rate_factors": self.rate_factors}


def deep_kernel_rate_factors(model, reference_fan_in):
    """{kernel path: min(1, reference_fan_in / fan-in)} for every causal conv after the first layer (fan-in =
    kernel taps x input channels; the first layer and the 1x1 heads keep the full rate).

    Why (issue 22): Adam moves every weight by about the rate per step, whatever its gradient's size. The deeper
    layers read positive-mean LeakyGELU features, so a kernel whose taps all move the same way shifts its
    layer's time-mean by about fan-in x rate x the features' mean per step; after RMS normalisation that mean
    swamps the temporal signal (the constant-output plateau; ``tools/ball_and_stick_plateau_probe.py``). With
    one rate for all configs the plateau therefore lengthens with the kernel's fan-in (E 11 x 64 leaves it
    within ~400 steps at 3e-4, D 31 x 64 needs ~2,000); scaling each deeper kernel's rate by 1 / fan-in gives
    every config the same shift per step."""
    from .networks import BALL_AND_STICK_HEADS

    factors = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv1D) or layer.name == "layer_1" or layer.name in BALL_AND_STICK_HEADS:
            continue
        taps, channels, _ = layer.kernel.shape
        factors[layer.kernel.path] = min(1.0, float(reference_fan_in) / float(taps * channels))
    return factors


def compile_ball_and_stick_model(model, learning_rate=3e-4, weight_decay=1e-3, clip_norm=25.0, steps_per_epoch=1,
                                 num_epochs=1, warmup_epochs=0, cooldown_epochs=0, warmup_steps=0,
                                 warmup_start_factor=0.001, deep_rate_fan_in=0, jit_compile="auto"):
    """AdamW (decoupled decay, global-norm clipping) with the warm-up/cool-down schedule, and the five losses
    with their ramped weights; returns the losses dict. warmup_epochs=0: no warm-up and the initial loss weights
    throughout (cooldown_epochs=0 and warmup_steps=0 too: a constant rate). warmup_steps > 0: per-step rate
    warm-up instead of the per-epoch one (warmup_epochs then only places the loss-weight ramp).
    deep_rate_fan_in > 0: the deeper conv kernels' rates scaled by min(1, deep_rate_fan_in / fan-in)
    (:func:`deep_kernel_rate_factors`; opt-in, issue 22); 0: one rate for every weight, as the tutorial.
    jit_compile: Keras' (True: XLA for the train step and predictions; "auto": on a GPU only)."""
    if warmup_epochs or cooldown_epochs or warmup_steps:
        schedule = EpochLearningRate(learning_rate, steps_per_epoch, num_epochs, warmup_epochs, cooldown_epochs,
                                     warmup_steps, warmup_start_factor)
    else:
        schedule = learning_rate
    if deep_rate_fan_in:
        optimizer = RateScaledAdamW(deep_kernel_rate_factors(model, deep_rate_fan_in), learning_rate=schedule,
                                    weight_decay=weight_decay, global_clipnorm=clip_norm)
    else:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay,
                                           global_clipnorm=clip_norm)
    losses = {name: ScheduledLoss(kind, initial, final if warmup_epochs else initial, optimizer.iterations,
                                  steps_per_epoch, num_epochs, max(warmup_epochs, 1), f"{name}_loss")
              for name, (kind, initial, final) in BS_LOSSES.items()}
    model.compile(optimizer=optimizer, loss=losses, jit_compile=jit_compile)
    return losses


class BallAndStickSchedule(keras.callbacks.Callback):
    """After every epoch: validation on fixed windows and the best checkpoint by validation spike BCE (kept in
    memory and written atomically; restored at the end of training)."""

    def __init__(self, losses, valid_x, valid_targets, checkpoint_path=None, predict_batch_size=8, num_epochs=None,
                 verbose=True):
        super().__init__()
        self.losses, self.valid_x, self.valid_targets = losses, valid_x, valid_targets
        self.checkpoint_path, self.predict_batch_size, self.verbose = checkpoint_path, predict_batch_size, verbose
        self.num_epochs = num_epochs
        self.best_stored = np.inf
        rate = float(np.clip(np.mean(valid_targets["spikes"]), 1e-6, 1.0 - 1e-6))
        self.best = {"epoch": None, "valid_losses": None,
                     # the constant-output plateau: the spike BCE of predicting the mean rate everywhere
                     "constant_output_valid_spike_loss": -(rate * np.log(rate) + (1.0 - rate) * np.log1p(-rate))}
        self.best_weights = None
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model.predict(self.valid_x, batch_size=self.predict_batch_size, verbose=0)
        valid = bs_loss_values(self.valid_targets, outputs)
        step = int(self.model.optimizer.iterations.numpy()) - 1
        learning_rate = self.model.optimizer.learning_rate
        entry = {"epoch": epoch, "step": step + 1, "learning_rate": float(ops.convert_to_numpy(
                     learning_rate(step) if callable(learning_rate) else learning_rate)),
                 "spike_loss_weight": float(ops.convert_to_numpy(self.losses["spikes"].weight_at(step))),
                 "train_loss": float((logs or {}).get("loss", np.nan)),
                 **{f"valid_{k}": v for k, v in valid.items()}}
        if valid["spikes"] < self.best_stored:
            self.best_stored = valid["spikes"] + BS_BEST_MARGIN
            self.best.update(epoch=epoch, valid_losses=valid)
            self.best_weights = self.model.get_weights()
            if self.checkpoint_path:
                atomic_keras_file(self.model.save_weights, self.checkpoint_path)
            entry["best"] = True
        self.history.append(entry)
        if self.verbose:
            print(f"  epoch {epoch + 1}/{self.num_epochs}: lr {entry['learning_rate']:.2e}, spike loss weight "
                  f"{entry['spike_loss_weight']:.1f}, train loss {entry['train_loss']:.4f}, valid spikes "
                  f"{valid['spikes']:.4f} soma {valid['soma']:.4f}" + (" *" if entry.get("best") else ""), flush=True)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def fitting_window_ms(arrays, window_ms):
    """The window, shortened if needed to fit between the start and end margins of the arrays' simulations."""
    return min(int(window_ms), arrays["spikes"].shape[1] - 2 * BS_WINDOW_MARGIN_MS - 1)


def fixed_validation_windows(valid_arrays, window_ms, windows_per_file=1, seed=12345):
    """Validation windows drawn once (seeded) so that every epoch is compared on the same data."""
    num_sims = valid_arrays["spikes"].shape[0]
    batch = random_windows(valid_arrays, np.random.default_rng(seed), num_sims * windows_per_file,
                           fitting_window_ms(valid_arrays, window_ms))
    return scale_ball_and_stick_batch(batch)


def check_twin_parameters(configs, num_epochs, warmup_epochs, cooldown_epochs, windows_ms, epochs_option="--num-epochs"):
    """UserError when warm-up plus cool-down exceed the epochs, or a window (option name -> ms; 0 = the model
    type's default) is not longer than the receptive field of one of the TCN ``configs``."""
    from ..core.errors import UserError
    from .networks import BALL_AND_STICK_TCN_CONFIGS, tcn_receptive_field

    if warmup_epochs + cooldown_epochs > num_epochs:
        raise UserError(f"--warmup-epochs ({warmup_epochs}) plus --cooldown-epochs ({cooldown_epochs}) must not "
                        f"exceed {epochs_option} ({num_epochs})")
    for config in configs:
        depth, _, kernel_size = BALL_AND_STICK_TCN_CONFIGS[config]
        field = tcn_receptive_field(depth, kernel_size)
        for option, window_ms in windows_ms.items():
            if window_ms and window_ms <= field:
                raise UserError(f"{option} ({window_ms} ms) must be longer than the receptive field of TCN config "
                                f"{config} ({field} ms)")


def train_ball_and_stick_twin(model, train_arrays, valid_arrays, num_epochs, steps_per_epoch, batch_size=16,
                              train_window_ms=2048, valid_window_ms=4096, learning_rate=3e-4, weight_decay=1e-3,
                              clip_norm=25.0, warmup_epochs=10, cooldown_epochs=25, seed=0, checkpoint_path=None,
                              verbose=True, warmup_steps=0, warmup_start_factor=0.001, deep_rate_fan_in=0,
                              jit_compile="auto"):
    """Train a twin (spec §4): AdamW with warm-up/cool-down, ramped loss weights, best checkpoint by validation
    spike BCE (restored at the end). warmup_epochs=0: no per-epoch warm-up and the initial loss weights throughout
    (the quick presets: a ramp to spike weight 24 does not fit in a quick budget). warmup_steps > 0: a per-step
    linear rate warm-up from warmup_start_factor x learning_rate; deep_rate_fan_in > 0: the deeper kernels' rates
    scaled by 1 / fan-in (:func:`deep_kernel_rate_factors`; both issue 22, the quick preset's recipe); jit_compile:
    XLA (Keras' compile argument). Returns
    (schedule history list, best {'epoch', 'valid_losses'})."""
    if warmup_epochs < 0 or cooldown_epochs < 0 or warmup_epochs + cooldown_epochs > num_epochs:
        raise ValueError(f"need warm-up ({warmup_epochs}) and cool-down ({cooldown_epochs}) epochs >= 0 with their sum "
                         f"at most num_epochs ({num_epochs}); warm-up 0 = no warm-up and the initial loss weights")
    num_segments = train_arrays["branch_v"].shape[-1]
    train_window_ms = fitting_window_ms(train_arrays, train_window_ms)
    losses = compile_ball_and_stick_model(model, learning_rate, weight_decay, clip_norm, steps_per_epoch, num_epochs,
                                          warmup_epochs, cooldown_epochs, warmup_steps, warmup_start_factor,
                                          deep_rate_fan_in, jit_compile)
    valid_x, valid_targets = fixed_validation_windows(valid_arrays, valid_window_ms)
    schedule = BallAndStickSchedule(losses, valid_x, valid_targets, checkpoint_path, num_epochs=num_epochs,
                                    verbose=verbose)
    dataset = ball_and_stick_window_dataset(train_arrays, batch_size, train_window_ms, seed, num_segments)
    model.fit(dataset, epochs=num_epochs, steps_per_epoch=steps_per_epoch, callbacks=[schedule], verbose=0,
              shuffle=False)
    return schedule.history, schedule.best


def load_ball_and_stick_twin(run_dir):
    """A trained ball-and-stick twin from its run folder: rebuilt as model.json describes, with its best weights."""
    from ..core.errors import DataFileError, MissingFileError
    from . import twins

    path = os.path.join(run_dir, "model.json")
    if not os.path.isfile(path):
        raise MissingFileError(path, "twin description (model.json)", "train the twin first")
    try:
        with open(path) as handle:
            description = json.load(handle)
        model = twins.build_ball_and_stick_twin(description["model_type"], description["config"],
                                                description["num_segments"])
        weights = os.path.join(run_dir, description["weights"])
    except (ValueError, KeyError, TypeError) as error:
        raise DataFileError(path, f"not a twin description ({type(error).__name__}: {str(error)[:100]})") from error
    try:
        model.load_weights(weights)
    except (ValueError, OSError) as error:
        raise DataFileError(weights, f"cannot load these weights into {description['model_type']} "
                                     f"{description['config']} ({str(error)[:120]})") from error
    return model
