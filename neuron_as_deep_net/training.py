"""Training helpers: streaming float32 windows to Keras with tf.data (spec §5 "Training", §6).

Inputs are kept as bool/uint8 in memory and cast to float32 per batch inside the tf.data pipeline, so a
dataset is never expanded to float64 (the original fed float64 numpy batches).

For fit_CNN (§6): :class:`LegacyNadam` (the Keras 2.2 Nadam), the learning schedule
(:func:`make_learning_schedule_dict`), the window generator (:class:`WindowSampler`,
:func:`window_stream_dataset`), a sparse-input implementation of the first convolution
(:func:`training_model`), the training history and save criterion, model file names, saving and
checkpoints.
"""

import datetime
import itertools
import math
import os
import pickle
import uuid
import warnings
from collections import OrderedDict

import keras
import numpy as np
from keras import ops

from neuron_as_deep_net.data_format import atomic_write, save_pickle
from neuron_as_deep_net.datasets import dense_windows


def keras_validation_split(num_samples, validation_split):
    """Index where Keras' ``validation_split`` cuts: the last fraction of the samples is validation."""
    return int(math.ceil(num_samples * (1.0 - validation_split)))


def window_dataset(inputs, targets, batch_size, shuffle, seed=None):
    """A tf.data pipeline over (inputs, targets) arrays: shuffled, batched, bool inputs cast to float32."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((inputs, tuple(targets)))
    if shuffle:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def train_integrate_and_fire_network(model, X_train, y_spike_train, y_soma_train, num_iterations, window_size,
                                     batch_size, validation_split, rng, verbose=1):
    """The I&F training loop of spec §5: per iteration one random time slice of all sims, one Keras epoch.

    Each iteration draws a start in [0, T - window - 1) from ``rng`` and fits one epoch on the
    [start, start + window) slice of every training simulation; the last ``validation_split`` fraction of
    simulations is the validation set (Keras' rule). Returns the per-iteration history dict.
    """
    num_sims, num_time_bins, _ = X_train.shape
    split_at = keras_validation_split(num_sims, validation_split)
    history = {"spikes_loss": [], "soma_loss": [], "val_spikes_loss": [], "val_soma_loss": [], "start_ms": []}
    for iteration in range(num_iterations):
        start = int(rng.randint(0, num_time_bins - window_size - 1))
        window = slice(start, start + window_size)
        X = X_train[:, window, :]
        y_spike = y_spike_train[:, window, np.newaxis].astype(np.float32)
        y_soma = y_soma_train[:, window, np.newaxis].astype(np.float32)
        train = window_dataset(X[:split_at], (y_spike[:split_at], y_soma[:split_at]), batch_size, shuffle=True,
                               seed=int(rng.randint(2**31 - 1)))
        valid = window_dataset(X[split_at:], (y_spike[split_at:], y_soma[split_at:]), batch_size, shuffle=False)
        fit = model.fit(train, validation_data=valid if split_at < num_sims else None, epochs=1, shuffle=False, verbose=0)
        history["start_ms"].append(start)
        for key in ("spikes_loss", "soma_loss", "val_spikes_loss", "val_soma_loss"):
            history[key].extend(fit.history.get(key, []))
        if verbose:
            print(f"iteration {iteration + 1}/{num_iterations}: window [{start}, {start + window_size}) ms, "
                  f"spikes loss {history['spikes_loss'][-1]:.4f}, soma loss {history['soma_loss'][-1]:.4f}"
                  + (f", valid spikes loss {history['val_spikes_loss'][-1]:.4f}" if history["val_spikes_loss"]
                     else ""), flush=True)
    return history


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
HISTORY_LOSS_KEYS = ["loss", "spikes_loss", "somatic_loss", "dendritic_loss"]
HISTORY_KEYS = (HISTORY_LOSS_KEYS + ["val_" + key for key in HISTORY_LOSS_KEYS] +
                ["learning_schedule", "batch_size", "learning_rate", "loss_weights", "num_train_samples",
                 "num_train_steps", "train_files_histogram", "valid_files_histogram"])
SAVE_VAL_SPIKES_LOSS_THRESHOLD = 0.03  # save when the mean of the last 3 val_spikes_loss is below this


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


# ---------------------------------------------------------------------------------------------------------
# window sampling (§6 SimulationDataGenerator) and tf.data streaming
# ---------------------------------------------------------------------------------------------------------

class WindowSampler:
    """Batches of random windows as the §6 generator draws them, one Keras epoch at a time.

    Per epoch: ``num_files_per_epoch`` files chosen at random without replacement; the batch indices
    0..len-1 are visited in a random order (Keras shuffled Sequence indices) or in order (validation);
    whenever (index + 1) is a multiple of ``batches_per_file`` the next file of the epoch's list is loaded
    (cyclically) before the batch is drawn; the epoch starts on its first file. A batch takes ``batch_size``
    simulations with replacement and as many window end times without replacement from
    [max(ignore_time_from_start, W), T); windows are [end - W, end).

    ``batches_per_file`` = int(file_load * sims * T / (batch_size * W)) of the first file (as the original
    computed it when the generator was created). Each epoch's draws come from its own generator
    ``default_rng([seed, stream, epoch])``, so an epoch can be regenerated exactly (this is what makes
    ``--resume`` exact) and prefetching ahead changes nothing. ``load_arrays(path)`` returns the dict of
    :func:`datasets.training_arrays` (sparse inputs); loaded files are kept in memory, least recently used
    dropped first, within ``memory_budget_gb`` (the current file is always kept).
    """

    def __init__(self, files, load_arrays, batch_size, window_size, file_load, num_files_per_epoch,
                 ignore_time_from_start=500, shuffle=True, seed=0, stream=0, memory_budget_gb=4.0, name="train",
                 log=print):
        if not files:
            raise ValueError(f"no {name} files")
        self.files = list(files)
        self.load_arrays = load_arrays
        self.batch_size = int(batch_size)
        self.window_size = int(window_size)
        self.ignore_time_from_start = int(ignore_time_from_start)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.stream = int(stream)
        self.memory_budget_bytes = float(memory_budget_gb) * 2**30
        self.name = name
        self.log = log or (lambda *args, **kwargs: None)
        self.num_files_per_epoch = min(int(num_files_per_epoch), len(self.files))
        if self.num_files_per_epoch < num_files_per_epoch:
            self.log(f"{name}: only {len(self.files)} files, so {self.num_files_per_epoch} (not "
                     f"{num_files_per_epoch}) are used per epoch")
        self._loaded = OrderedDict()
        first = self.arrays(self.files[0])
        num_sims, num_time_bins, self.num_channels = first["shape"]
        self.num_DVT_components = first["y_DVT"].shape[2]
        self.batches_per_file = max(1, int(file_load * num_sims * num_time_bins / (self.batch_size * self.window_size)))
        self.files_histogram = {}  # cumulative batches drawn per file, merged one epoch at a time
        self._epoch_counts = {}

    def __len__(self):
        return self.batches_per_file * self.num_files_per_epoch

    def arrays(self, path):
        """The training arrays of a file (loaded on demand, kept within the memory budget)."""
        if path in self._loaded:
            self._loaded.move_to_end(path)
            return self._loaded[path]
        arrays = self.load_arrays(path)
        num_time_bins = arrays["shape"][1]
        first_end = max(self.ignore_time_from_start, self.window_size)
        if num_time_bins - first_end < self.batch_size:
            raise ValueError(f"{path}: simulations of {num_time_bins} ms are too short for windows of "
                             f"{self.window_size} ms ending in [{first_end}, {num_time_bins}) with "
                             f"{self.batch_size} distinct end times per batch")
        if hasattr(self, "num_channels") and (arrays["shape"][2] != self.num_channels or
                                              arrays["y_DVT"].shape[2] != self.num_DVT_components):
            raise ValueError(f"{path}: {arrays['shape'][2]} input channels / {arrays['y_DVT'].shape[2]} DVT "
                             f"components, but the first file has {self.num_channels} / {self.num_DVT_components}")
        self._loaded[path] = arrays
        while len(self._loaded) > 1 and sum(_nbytes(a) for a in self._loaded.values()) > self.memory_budget_bytes:
            self._loaded.popitem(last=False)
        return arrays

    def epoch_plan(self, epoch):
        """(file list, batch-index order, rng) of one epoch."""
        rng = np.random.default_rng([self.seed, self.stream, int(epoch)])
        chosen = rng.choice(len(self.files), size=self.num_files_per_epoch, replace=False)
        order = rng.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return [self.files[i] for i in chosen], order, rng

    def draw_batch(self, arrays, rng):
        """One batch from one file: X bool (B, W, C); y_spike, y_soma (B, W, 1) and y_DVT (B, W, K) float32."""
        num_sims, num_time_bins = arrays["shape"][:2]
        sims = rng.integers(0, num_sims, size=self.batch_size)  # with replacement
        first_end = max(self.ignore_time_from_start, self.window_size)
        ends = first_end + rng.choice(num_time_bins - first_end, size=self.batch_size, replace=False)
        times = ends[:, None] - self.window_size + np.arange(self.window_size)[None, :]  # (B, W)
        rows = sims[:, None]
        return (dense_windows(arrays["spike_index"], arrays["shape"], sims, ends, self.window_size),
                (arrays["y_spike"][rows, times][..., None].astype(np.float32),
                 arrays["y_soma"][rows, times][..., None],
                 arrays["y_DVT"][rows, times]))

    def epoch_batches(self, epoch):
        """Generate the ``len(self)`` batches of one epoch (counting batches per file for the histogram)."""
        files, order, rng = self.epoch_plan(epoch)
        counts = self._epoch_counts.setdefault(int(epoch), {})
        file_position = 0
        current = self.arrays(files[0])
        for index in order:
            if (int(index) + 1) % self.batches_per_file == 0:
                file_position = (file_position + 1) % len(files)
                current = self.arrays(files[file_position])
            counts[files[file_position]] = counts.get(files[file_position], 0) + 1
            yield self.draw_batch(current, rng)

    def commit_epoch(self, epoch):
        """Merge one finished epoch's batch counts into ``files_histogram``; returns that epoch's count."""
        counts = self._epoch_counts.pop(int(epoch), {})
        for path, count in counts.items():
            self.files_histogram[path] = self.files_histogram.get(path, 0) + count
        return sum(counts.values())

    def output_signature(self):
        import tensorflow as tf

        B, W = self.batch_size, self.window_size
        return (tf.TensorSpec((B, W, self.num_channels), tf.bool),
                (tf.TensorSpec((B, W, 1), tf.float32), tf.TensorSpec((B, W, 1), tf.float32),
                 tf.TensorSpec((B, W, self.num_DVT_components), tf.float32)))


def _nbytes(arrays):
    return sum(value.nbytes for value in arrays.values() if isinstance(value, np.ndarray))


def window_stream_dataset(sampler, first_epoch, num_epochs, prefetch_batches=4):
    """tf.data stream of ``num_epochs`` epochs of a :class:`WindowSampler` (bool inputs cast to float32 in TF).

    The Python generator runs in tf.data's thread, so the next batch is prepared while the model trains.
    """
    import tensorflow as tf

    def generate():
        for epoch in range(first_epoch, first_epoch + num_epochs):
            yield from sampler.epoch_batches(epoch)

    dataset = tf.data.Dataset.from_generator(generate, output_signature=sampler.output_signature())
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return dataset.prefetch(prefetch_batches)


# ---------------------------------------------------------------------------------------------------------
# the first layer on sparse 0/1 inputs (same weights, same result as the causal Conv1D; ~3x faster on CPU)
# ---------------------------------------------------------------------------------------------------------

def sparse_causal_conv1d(x, kernel, num_splits=2):
    """Causal, stride-1 Conv1D (no bias) of 0/1 inputs x (B, W, C) with kernel (k, C, F), via sparse sums.

    With q = k - 1 - j the delay of kernel tap j: out[b, t] = sum_q sum_{c : x[b, t - q, c] = 1} kernel[k-1-q, c].
    Forward: for every input row (b, t') the sum of the kernel rows of its active channels for all delays
    (``tf.sparse.segment_sum``), then each delay's slice shifted by q and added. Backward (custom):
    dkernel[k-1-q, c] = sum over active (b, t', c) of dout[b, t' + q]. Non-zero inputs count as 1, so x must
    be binary (spike inputs are). The delays are split in ``num_splits`` groups that TensorFlow can run in
    parallel.
    """
    import tensorflow as tf

    k, num_channels, num_filters = kernel.shape
    bounds = [int(b) for b in np.linspace(0, k, max(1, min(num_splits, k)) + 1).round()]
    groups = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]  # delay ranges [a, b)

    @tf.custom_gradient
    def op(x, kernel):
        batch = tf.shape(x)[0]
        width = x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]
        active = tf.where(tf.reshape(x, (-1, num_channels)) != 0)  # row-major: rows ascending
        rows, channels = active[:, 0], active[:, 1]
        num_rows = tf.cast(batch * width, tf.int64)
        by_delay = tf.reverse(kernel, axis=[0])  # by_delay[q] = kernel[k - 1 - q]
        parts = []
        for a, b in groups:
            taps = tf.reshape(tf.transpose(by_delay[a:b], (1, 0, 2)), (num_channels, (b - a) * num_filters))
            z = tf.reshape(tf.sparse.segment_sum(taps, channels, rows, num_segments=num_rows),
                           (batch, width, b - a, num_filters))
            for q in range(a, b):
                zq = z[:, :, q - a, :]
                if q:
                    zq = tf.pad(zq[:, :width - q], [[0, 0], [q, 0], [0, 0]])
                parts.append(zq)
        out = tf.add_n(parts)

        def grad(dout):
            padded = tf.pad(dout, [[0, 0], [0, k - 1], [0, 0]])
            order = tf.argsort(channels, stable=True)
            rows_by_channel, sorted_channels = tf.gather(rows, order), tf.gather(channels, order)
            pieces = []
            for a, b in groups:
                # dz[b, t', q] = dout[b, t' + q] for q in [a, b): frames of the padded dout
                frames = tf.signal.frame(padded[:, a:], b - a, 1, axis=1)[:, :width]
                dz = tf.reshape(frames, (-1, (b - a) * num_filters))
                dtaps = tf.sparse.segment_sum(dz, rows_by_channel, sorted_channels, num_segments=num_channels)
                pieces.append(tf.transpose(tf.reshape(dtaps, (num_channels, b - a, num_filters)), (1, 0, 2)))
            return None, tf.reverse(tf.concat(pieces, axis=0), axis=[0])

        return out, grad

    return op(x, kernel)


class SparseInputCausalConv1D(keras.layers.Layer):
    """Runs an existing causal Conv1D (its own kernel and bias variables) on sparse 0/1 inputs."""

    def __init__(self, conv, num_splits=2, **kwargs):
        super().__init__(name=f"{conv.name}_sparse_input", **kwargs)
        self.conv = conv
        self.num_splits = num_splits

    def call(self, x):
        import tensorflow as tf

        kernel = tf.convert_to_tensor(self.conv.kernel)
        out = sparse_causal_conv1d(x, kernel, self.num_splits)
        if self.conv.use_bias:
            out = out + tf.convert_to_tensor(self.conv.bias)
        return self.conv.activation(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.conv.filters,)


def sparse_first_layer_supported(model):
    """True when layer_1 is a causal, stride-1, dilation-1, ungrouped Conv1D (what the sparse path computes)."""
    try:
        conv = model.get_layer("layer_1")
    except ValueError:
        return False
    return (type(conv).__name__ == "Conv1D" and conv.padding == "causal" and tuple(conv.strides) == (1,)
            and tuple(conv.dilation_rate) == (1,) and getattr(conv, "groups", 1) == 1
            and conv.data_format == "channels_last")


def training_model(model, sparse_first_layer=True, num_splits=2):
    """The model to train: ``model`` itself, or a twin sharing all its layers and weights whose layer_1 runs
    on the sparse 0/1 input (identical outputs and gradients up to float rounding; see
    :func:`sparse_causal_conv1d`). Saving ``model`` afterwards saves the trained weights as plain Conv1D."""

    if not sparse_first_layer or not sparse_first_layer_supported(model):
        return model
    depth = sum(1 for layer in model.layers if layer.name.startswith("layer_") and not layer.name.endswith("_BN"))
    inputs = keras.Input(shape=model.input_shape[1:], name="input_layer")
    x = SparseInputCausalConv1D(model.get_layer("layer_1"), num_splits=num_splits)(inputs)
    x = model.get_layer("layer_1_BN")(x)
    for k in range(2, depth + 1):
        x = model.get_layer(f"layer_{k}_BN")(model.get_layer(f"layer_{k}")(x))
    outputs = [model.get_layer(name)(x) for name in ("spikes", "somatic", "dendritic")]
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{model.name}_sparse_input_twin")


# ---------------------------------------------------------------------------------------------------------
# history, save criterion, names, saving
# ---------------------------------------------------------------------------------------------------------

def empty_training_history():
    """The ``training_history_dict`` of §6 with every key and empty lists."""
    return {key: [] for key in HISTORY_KEYS}


def append_schedule_history(history, fit_history, schedule, batch_size, learning_rate, loss_weights,
                            steps_per_epoch, train_files_histogram, valid_files_histogram):
    """Append one learning schedule's Keras history (one entry per Keras epoch) as §6 does.

    ``train/valid_files_histogram`` get one entry per schedule (a snapshot of the cumulative counts).
    """
    num_epochs = len(fit_history.get("loss", []))
    for key in HISTORY_LOSS_KEYS + ["val_" + k for k in HISTORY_LOSS_KEYS]:
        history[key].extend(float(v) for v in fit_history.get(key, []))
    history["learning_schedule"].extend([int(schedule)] * num_epochs)
    history["batch_size"].extend([int(batch_size)] * num_epochs)
    history["learning_rate"].extend([float(learning_rate)] * num_epochs)
    history["loss_weights"].extend([list(loss_weights)] * num_epochs)
    history["num_train_samples"].extend([int(batch_size * steps_per_epoch)] * num_epochs)
    history["num_train_steps"].extend([int(steps_per_epoch)] * num_epochs)
    history["train_files_histogram"].append(dict(train_files_histogram))
    history["valid_files_histogram"].append(dict(valid_files_histogram))
    return history


def should_save(history, threshold=SAVE_VAL_SPIKES_LOSS_THRESHOLD, num_last=3):
    """The §6 save criterion: the mean of the last 3 ``val_spikes_loss`` values is below the threshold."""
    values = history.get("val_spikes_loss", [])
    return len(values) > 0 and float(np.mean(values[-num_last:])) < threshold


def log_loss_tag(values):
    """int(10000 * mean of the last 7 values), or of all values when fewer than 10 exist (§6 name part)."""
    values = list(values)
    if not values:
        return 0
    return int(10000 * float(np.mean(values if len(values) < 10 else values[-7:])))


def model_file_stem(synapse_type, architecture_dict, history, model_id, now=None):
    """``<T>_{FCN|TCN}__DxWxT_<D>x<W>x<T>__<YYYY-MM-DD__HH_MM>__samples_<n>__LogLoss_train_<a>_valid_<b>__ID_<id>``."""
    from neuron_as_deep_net.networks import architecture_string, network_type_prefix

    now = now or datetime.datetime.now()
    return (f"{network_type_prefix(synapse_type, architecture_dict)}__{architecture_string(architecture_dict)}__"
            f"{now.strftime('%Y-%m-%d__%H_%M')}__samples_{int(sum(history['num_train_samples']))}__"
            f"LogLoss_train_{log_loss_tag(history['spikes_loss'])}_valid_{log_loss_tag(history['val_spikes_loss'])}"
            f"__ID_{int(model_id)}")


def _atomic_keras_file(write, path):
    """Call ``write(temp_path)`` with a temp name in the same folder and with the same suffix Keras checks
    (.keras, .h5, .weights.h5), then rename it over ``path``."""
    directory, base = os.path.split(os.path.abspath(path))
    suffix = ".weights.h5" if base.endswith(".weights.h5") else os.path.splitext(base)[1]
    temp_path = os.path.join(directory, f".{base}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        write(temp_path)
        os.replace(temp_path, path)
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)


def save_trained_model(model, models_dir, stem, training_dict, pca=None):
    """Write ``<stem>.keras``, ``<stem>.h5``, ``<stem>.pickle`` (protocol 2) and ``<stem>_DVT_PCA.pkl``.

    ``training_dict`` has the §6 keys (data_dict, architecture_dict, learning_schedule_dict,
    training_history_dict); the DVT PCA file name is added under 'DVT_PCA_file'. Every file is written
    atomically. Returns the written paths.
    """
    os.makedirs(models_dir, exist_ok=True)
    paths = {"keras": os.path.join(models_dir, stem + ".keras"), "h5": os.path.join(models_dir, stem + ".h5"),
             "pickle": os.path.join(models_dir, stem + ".pickle")}
    payload = dict(training_dict)
    if pca is not None:
        paths["DVT_PCA"] = os.path.join(models_dir, stem + "_DVT_PCA.pkl")
        save_pickle(pca, paths["DVT_PCA"], protocol=pickle.HIGHEST_PROTOCOL)
        payload["DVT_PCA_file"] = os.path.basename(paths["DVT_PCA"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' notice that .h5 is a legacy format
        _atomic_keras_file(model.save, paths["keras"])  # first: after a legacy .h5 save, Keras 3.15 writes a
        _atomic_keras_file(model.save, paths["h5"])  # wrong compile config (rmsprop) into a later .keras file
    save_pickle(payload, paths["pickle"], protocol=2)
    return paths


# ---------------------------------------------------------------------------------------------------------
# checkpoints (after every learning schedule): weights + state, atomically
# ---------------------------------------------------------------------------------------------------------

CHECKPOINT_STATE = "state.pickle"


def save_checkpoint(folder, model, state):
    """Write the weights, then the state that names them (atomic), then drop the previous weights file."""
    os.makedirs(folder, exist_ok=True)
    weights_name = f"weights_after_schedule_{int(state['next_schedule']):04d}.weights.h5"
    _atomic_keras_file(model.save_weights, os.path.join(folder, weights_name))
    previous = load_checkpoint_state(folder)
    state = dict(state, weights_file=weights_name)
    save_pickle(state, os.path.join(folder, CHECKPOINT_STATE), protocol=pickle.HIGHEST_PROTOCOL)
    if previous and previous.get("weights_file") not in (None, weights_name):
        stale = os.path.join(folder, previous["weights_file"])
        if os.path.exists(stale):
            os.remove(stale)
    return state


def load_checkpoint_state(folder):
    """The saved state dict of a checkpoint folder, or None."""
    path = os.path.join(folder, CHECKPOINT_STATE)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        return pickle.load(handle)


def remove_checkpoint(folder):
    """Delete a checkpoint folder's files (after a completed run)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)


class WindowsProgressBar(keras.callbacks.Callback):
    """A tqdm bar over the training windows of several ``fit`` calls (use as a context manager)."""

    def __init__(self, total_steps, batch_size, description, enabled=True):
        super().__init__()
        self.total_steps = int(total_steps)
        self.batch_size = int(batch_size)
        self.description = description
        self.enabled = enabled
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total_steps * self.batch_size, unit="win", desc=self.description,
                            mininterval=1.0, leave=False, dynamic_ncols=True)
        return self

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(self.batch_size)
            if logs and batch % 20 == 0:
                self.bar.set_postfix(loss=f"{float(logs.get('loss', float('nan'))):.4f}", refresh=False)

    def show_validation(self, logs):
        if self.bar is not None and "val_spikes_loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", val_spikes=f"{float(logs['val_spikes_loss']):.4f}",
                                 refresh=False)


def fit_epochs(model, train_sampler, valid_sampler, first_epoch, num_epochs, progress=None):
    """Keras epochs first_epoch.. of the samplers: per epoch one ``fit`` over ``len(train_sampler)`` batches, then
    ``evaluate`` over ``len(valid_sampler)`` batches (what fit(validation_data=...) does in the original).

    Each epoch streams its own tf.data dataset, so the result does not depend on whether Keras keeps or
    recreates its iterators. Returns the Keras-style history {loss, spikes_loss, ..., val_spikes_loss, ...}
    and checks that every epoch drew exactly its number of batches.
    """
    history = {}
    callbacks = [progress] if progress is not None else []
    for epoch in range(first_epoch, first_epoch + num_epochs):
        fit = model.fit(window_stream_dataset(train_sampler, epoch, 1), steps_per_epoch=len(train_sampler), epochs=1,
                        shuffle=False, verbose=0, callbacks=callbacks)
        logs = {key: values[-1] for key, values in fit.history.items()}
        val_logs = model.evaluate(window_stream_dataset(valid_sampler, epoch, 1), steps=len(valid_sampler),
                                  verbose=0, return_dict=True)
        logs.update({"val_" + key: value for key, value in val_logs.items()})
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        if progress is not None:
            progress.show_validation(logs)
        for sampler in (train_sampler, valid_sampler):
            drawn = sampler.commit_epoch(epoch)
            if drawn != len(sampler):
                raise RuntimeError(f"{sampler.name} epoch {epoch}: {drawn} batches were drawn, {len(sampler)} expected")
    return history


def write_json(path, payload):
    """JSON with indent=4, sort_keys=True, written atomically."""
    import json

    with atomic_write(path, "w") as handle:
        json.dump(payload, handle, indent=4, sort_keys=True, default=str)


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


def scale_ball_and_stick_batch(batch):
    """Network input and scaled targets from raw arrays (spec §4 "Scaling"): float32 dicts."""
    x = batch["inputs"].astype(np.float32) / BS_INPUT_DIVISOR
    soma = (np.clip(batch["soma_v"].astype(np.float32), *BS_SOMA_CLIP_MV) - BS_SOMA_OFFSET_MV) / BS_SOMA_SCALE_MV
    branch = (np.clip(batch["branch_v"].astype(np.float32), *BS_BRANCH_CLIP_MV) - BS_BRANCH_OFFSET_MV) \
        / BS_BRANCH_SCALE_MV
    targets = {"spikes": batch["spikes"].astype(np.float32)[..., None], "soma": soma[..., None],
               "near_spike": batch["near_spike"].astype(np.float32)[..., None],
               "inst_rate": (batch["inst_rate"].astype(np.float32) * BS_RATE_FACTOR)[..., None], "branch_v": branch}
    return x, targets


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


def epoch_table(values):
    """A float32 tensor of per-epoch values, looked up inside the compiled train step."""
    return ops.convert_to_tensor(np.asarray(values, dtype=np.float32))


def epoch_of_step(step, steps_per_epoch, num_epochs):
    """Epoch index of an optimizer step (clipped to the last epoch), as an int32 tensor."""
    return ops.minimum(ops.cast(step, "int32") // int(steps_per_epoch), int(num_epochs) - 1)


@keras.saving.register_keras_serializable(package="neuron_as_deep_net")
class EpochLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """base_learning_rate x the per-epoch factor of :func:`learning_rate_factor` (computed from the step, so
    it lives inside the compiled train step)."""

    def __init__(self, base_learning_rate, steps_per_epoch, num_epochs, warmup_epochs, cooldown_epochs):
        self.base_learning_rate, self.steps_per_epoch, self.num_epochs = base_learning_rate, steps_per_epoch, num_epochs
        self.warmup_epochs, self.cooldown_epochs = warmup_epochs, cooldown_epochs
        self.factors = [learning_rate_factor(e, num_epochs, warmup_epochs, cooldown_epochs) for e in range(num_epochs)]

    def __call__(self, step):
        epoch = epoch_of_step(step, self.steps_per_epoch, self.num_epochs)
        return self.base_learning_rate * ops.take(epoch_table(self.factors), epoch)

    def get_config(self):
        return {"base_learning_rate": self.base_learning_rate, "steps_per_epoch": self.steps_per_epoch,
                "num_epochs": self.num_epochs, "warmup_epochs": self.warmup_epochs,
                "cooldown_epochs": self.cooldown_epochs}


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


def compile_ball_and_stick_model(model, learning_rate=3e-4, weight_decay=1e-3, clip_norm=25.0, steps_per_epoch=1,
                                 num_epochs=1, warmup_epochs=0, cooldown_epochs=0):
    """AdamW (decoupled decay, global-norm clipping) with the warm-up/cool-down schedule, and the five losses
    with their ramped weights; returns the losses dict. warmup_epochs=0: no warm-up and the initial loss weights
    throughout (cooldown_epochs=0 too: a constant rate)."""
    if warmup_epochs or cooldown_epochs:
        schedule = EpochLearningRate(learning_rate, steps_per_epoch, num_epochs, warmup_epochs, cooldown_epochs)
    else:
        schedule = learning_rate
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay, global_clipnorm=clip_norm)
    losses = {name: ScheduledLoss(kind, initial, final if warmup_epochs else initial, optimizer.iterations,
                                  steps_per_epoch, num_epochs, max(warmup_epochs, 1), f"{name}_loss")
              for name, (kind, initial, final) in BS_LOSSES.items()}
    model.compile(optimizer=optimizer, loss=losses)
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
        self.best = {"epoch": None, "valid_losses": None}
        self.best_weights = None
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model.predict(self.valid_x, batch_size=self.predict_batch_size, verbose=0)
        valid = bs_loss_values(self.valid_targets, outputs)
        step = int(self.model.optimizer.iterations.numpy()) - 1
        learning_rate = self.model.optimizer.learning_rate
        entry = {"epoch": epoch, "learning_rate": float(ops.convert_to_numpy(
                     learning_rate(step) if callable(learning_rate) else learning_rate)),
                 "spike_loss_weight": float(ops.convert_to_numpy(self.losses["spikes"].weight_at(step))),
                 "train_loss": float((logs or {}).get("loss", np.nan)),
                 **{f"valid_{k}": v for k, v in valid.items()}}
        if valid["spikes"] < self.best_stored:
            self.best_stored = valid["spikes"] + BS_BEST_MARGIN
            self.best = {"epoch": epoch, "valid_losses": valid}
            self.best_weights = self.model.get_weights()
            if self.checkpoint_path:
                _atomic_keras_file(self.model.save_weights, self.checkpoint_path)
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


def train_ball_and_stick_twin(model, train_arrays, valid_arrays, num_epochs, steps_per_epoch, batch_size=16,
                              train_window_ms=2048, valid_window_ms=4096, learning_rate=3e-4, weight_decay=1e-3,
                              clip_norm=25.0, warmup_epochs=10, cooldown_epochs=25, seed=0, checkpoint_path=None,
                              verbose=True):
    """Train a twin (spec §4): AdamW with warm-up/cool-down, ramped loss weights, best checkpoint by validation
    spike BCE (restored at the end). warmup_epochs=0: no warm-up and the initial loss weights throughout (the
    quick presets: every TCN first sits ~400-600 steps on a constant-output plateau, about the same number of
    steps at learning rates 1e-3 to 3e-3, so a warm-up from 0.001x and a ramp to spike weight 24 do not fit in a
    quick budget). Returns (schedule history list, best {'epoch', 'valid_losses'})."""
    if warmup_epochs < 0 or cooldown_epochs < 0 or warmup_epochs + cooldown_epochs > num_epochs:
        raise ValueError(f"need warm-up ({warmup_epochs}) and cool-down ({cooldown_epochs}) epochs >= 0 with their sum "
                         f"at most num_epochs ({num_epochs}); warm-up 0 = no warm-up and the initial loss weights")
    num_segments = train_arrays["branch_v"].shape[-1]
    train_window_ms = fitting_window_ms(train_arrays, train_window_ms)
    losses = compile_ball_and_stick_model(model, learning_rate, weight_decay, clip_norm, steps_per_epoch, num_epochs,
                                          warmup_epochs, cooldown_epochs)
    valid_x, valid_targets = fixed_validation_windows(valid_arrays, valid_window_ms)
    schedule = BallAndStickSchedule(losses, valid_x, valid_targets, checkpoint_path, num_epochs=num_epochs,
                                    verbose=verbose)
    dataset = ball_and_stick_window_dataset(train_arrays, batch_size, train_window_ms, seed, num_segments)
    model.fit(dataset, epochs=num_epochs, steps_per_epoch=steps_per_epoch, callbacks=[schedule], verbose=0,
              shuffle=False)
    return schedule.history, schedule.best
