"""The I&F training loop of spec §5, streaming float32 windows to Keras with tf.data.

Inputs are kept as bool/uint8 in memory and cast to float32 per batch inside the tf.data pipeline, so a
dataset is never expanded to float64 (the original fed float64 numpy batches).
"""

import math

import numpy as np


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
