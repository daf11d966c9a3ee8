"""fit_CNN's fit loop (spec §6): the training history and its save criterion, checkpoints after every learning
schedule, the progress bar and :func:`fit_epochs`.

The optimizer and schedule are in :mod:`.schedule`, the window generator in :mod:`.window_sampler`, the sparse
first layer in :mod:`.sparse_conv`, model file names and saving in :mod:`.model_files`.
"""

import os
import pickle

import keras
import numpy as np

from ..core.files import atomic_keras_file, save_pickle
from .window_sampler import window_stream_dataset


HISTORY_LOSS_KEYS = ["loss", "spikes_loss", "somatic_loss", "dendritic_loss"]
HISTORY_KEYS = (HISTORY_LOSS_KEYS + ["val_" + key for key in HISTORY_LOSS_KEYS] +
                ["learning_schedule", "batch_size", "learning_rate", "loss_weights", "num_train_samples",
                 "num_train_steps", "train_files_histogram", "valid_files_histogram"])
SAVE_VAL_SPIKES_LOSS_THRESHOLD = 0.03  # save when the mean of the last 3 val_spikes_loss is below this


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


# ---------------------------------------------------------------------------------------------------------
# checkpoints (after every learning schedule): weights + state, atomically
# ---------------------------------------------------------------------------------------------------------

CHECKPOINT_STATE = "state.pickle"


def save_checkpoint(folder, model, state):
    """Write the weights, then the state that names them (atomic), then drop the previous weights file."""
    os.makedirs(folder, exist_ok=True)
    weights_name = f"weights_after_schedule_{int(state['next_schedule']):04d}.weights.h5"
    atomic_keras_file(model.save_weights, os.path.join(folder, weights_name))
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


def fit_epochs(model, train_sampler, valid_sampler, first_epoch, num_epochs, progress=None, cast_on_device=False,
               epoch_seconds=None):
    """Keras epochs first_epoch.. of the samplers: per epoch one ``fit`` over ``len(train_sampler)`` batches, then
    ``evaluate`` over ``len(valid_sampler)`` batches (what fit(validation_data=...) does in the original).

    Each epoch streams its own tf.data dataset, so the result does not depend on whether Keras keeps or
    recreates its iterators. Returns the Keras-style history {loss, spikes_loss, ..., val_spikes_loss, ...}
    and checks that every epoch drew exactly its number of batches. ``cast_on_device``: bool inputs, cast by
    the model (GPU). ``epoch_seconds``: a list that receives each epoch's wall time (fit + evaluate).
    """
    import time

    history = {}
    callbacks = [progress] if progress is not None else []
    for epoch in range(first_epoch, first_epoch + num_epochs):
        started = time.perf_counter()
        fit = model.fit(window_stream_dataset(train_sampler, epoch, 1, cast_on_device=cast_on_device),
                        steps_per_epoch=len(train_sampler), epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
        logs = {key: values[-1] for key, values in fit.history.items()}
        val_logs = model.evaluate(window_stream_dataset(valid_sampler, epoch, 1, cast_on_device=cast_on_device),
                                  steps=len(valid_sampler), verbose=0, return_dict=True)
        if epoch_seconds is not None:
            epoch_seconds.append(time.perf_counter() - started)
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
