"""Training throughput of the paper's 7x128 TCN: our pipeline vs the original's per-batch float64 loop.

Both train the same network (batch 8, 400-ms windows, 1278 inputs, 20 DVT components, the Keras 2.2 Nadam)
on a synthetic "file" of random sparse inputs (1 % density), so no dataset is needed:

* naive: the original's generator, re-enacted: the inputs stored as the original stored them (channels,
  time, sims) and read through its transposed view, a float64 batch built per batch in Python, and
  ``model.train_on_batch`` on numpy arrays;
* ours, dense layer_1: fit_CNN's WindowSampler (sparse inputs, bool windows) streamed with tf.data (float32),
  plain Conv1D model;
* ours: the same plus the sparse-input first layer (fit_CNN's default, same weights and math).

    python bench/training_throughput.py                     # ~2-3 minutes on 2 cores
    python bench/training_throughput.py --timed-steps 8     # shorter

Prints windows/s of each and the ratios; the last line is ``ratio=<ours / naive>``.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# -----------------------------------------------------------------------------
# model
filter_sizes = [35, 21, 21, 21, 21, 20, 20]  # [each >= 1] the paper preset of fit_CNN (7x128x153)
num_filters = 128  # [>= 1] filters per layer
num_DVT_components = 20  # [>= 1] NMDA
# data
batch_size = 8  # [>= 1] windows per batch
window_size = 400  # [>= 1] ms
input_density = 0.01  # [>= 0, <= 1] fraction of (channel, ms) bins with an input spike
num_sims = 32  # [>= 1] simulations in the synthetic file
sim_duration_ms = 6000  # [>= 1] per simulation
# measurement
warmup_steps = 3  # [>= 0] untimed steps first (tracing, allocation)
timed_steps = 24  # [>= 1] timed steps per pipeline
random_seed = 0  # [>= 0] synthetic data and weights
# -----------------------------------------------------------------------------

PRESETS = {"paper": {}, "quick": {"timed_steps": 12}, "smoke": {"filter_sizes": [5, 3], "num_filters": 4,
                                                                "num_sims": 4, "sim_duration_ms": 1000,
                                                                "warmup_steps": 1, "timed_steps": 2}}


def synthetic_arrays(p, num_channels):
    """Training arrays (the dict of datasets.training_arrays) of random inputs and targets."""
    rng = np.random.default_rng(p.random_seed)
    shape = (p.num_sims, p.sim_duration_ms, num_channels)
    total = int(np.prod(shape))
    spike_index = np.unique(rng.integers(0, total, size=int(p.input_density * total))).astype(np.uint32)
    return {"shape": shape, "spike_index": spike_index,
            "y_spike": rng.random(shape[:2]) < 0.002,
            "y_soma": rng.normal(0, 3, shape[:2]).astype(np.float32),
            "y_DVT": rng.normal(0, 1, shape[:2] + (p.num_DVT_components,)).astype(np.float32)}


def naive_loop(model, arrays, p, num_steps, rng):
    """The original's generator + train_on_batch: (C, T, S) storage, transposed view, float64 batches."""
    X = np.zeros(arrays["shape"], dtype=bool)
    X.reshape(-1)[arrays["spike_index"]] = True
    X_stored = np.ascontiguousarray(np.transpose(X, (2, 1, 0)))  # (channels, time, sims), as np.dstack gave
    del X
    X_view = np.transpose(X_stored, (2, 1, 0))  # the generator's view: (sims, time, channels)
    y_spike = arrays["y_spike"].T  # (time, sims), like the original
    y_soma = arrays["y_soma"].T
    y_DVT = arrays["y_DVT"]
    num_time_bins = arrays["shape"][1]
    first_end = max(500, p.window_size)

    def step():
        sims = rng.choice(arrays["shape"][0], size=p.batch_size)
        ends = rng.choice(np.arange(first_end, num_time_bins), size=p.batch_size, replace=False)
        X_batch = np.zeros((p.batch_size, p.window_size, X_view.shape[2]))  # float64
        y_spike_batch = np.zeros((p.batch_size, p.window_size, 1))
        y_soma_batch = np.zeros((p.batch_size, p.window_size, 1))
        y_DVT_batch = np.zeros((p.batch_size, p.window_size, y_DVT.shape[2]))
        for k, (sim, end) in enumerate(zip(sims, ends)):
            X_batch[k] = X_view[sim, end - p.window_size:end, :]
            y_spike_batch[k, :, 0] = y_spike[end - p.window_size:end, sim]
            y_soma_batch[k, :, 0] = y_soma[end - p.window_size:end, sim]
            y_DVT_batch[k] = y_DVT[sim, end - p.window_size:end, :]
        model.train_on_batch(X_batch, [y_spike_batch, y_soma_batch, y_DVT_batch])

    for _ in range(p.warmup_steps):
        step()
    t0 = time.perf_counter()
    for _ in range(num_steps):
        step()
    return num_steps * p.batch_size / (time.perf_counter() - t0)


def streamed(model, arrays, p, num_steps):
    """fit_CNN's pipeline: WindowSampler -> tf.data (bool -> float32) -> model.fit."""
    from neuron_as_deep_net.l5pc import window_sampler

    def make_sampler(steps):
        file_load = steps * p.batch_size * p.window_size / (arrays["shape"][0] * arrays["shape"][1])
        return window_sampler.WindowSampler(["synthetic"], lambda path: arrays, p.batch_size, p.window_size,
                                      file_load * 1.0001, num_files_per_epoch=1, seed=p.random_seed, log=None)

    warmup = make_sampler(p.warmup_steps)
    model.fit(window_sampler.window_stream_dataset(warmup, 0, 1), steps_per_epoch=len(warmup), epochs=1, verbose=0,
              shuffle=False)
    timed = make_sampler(num_steps)
    t0 = time.perf_counter()
    model.fit(window_sampler.window_stream_dataset(timed, 1, 1), steps_per_epoch=len(timed), epochs=1, verbose=0,
              shuffle=False)
    return len(timed) * p.batch_size / (time.perf_counter() - t0)


def main(argv=None):
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    import keras

    from neuron_as_deep_net.l5pc import networks, schedule, sparse_conv

    architecture = networks.make_architecture_dict(p.filter_sizes, p.num_filters, input_window_size=p.window_size)
    arrays = synthetic_arrays(p, networks.NUM_INPUT_CHANNELS)
    print(f"network {networks.architecture_string(architecture)} (filter sizes {p.filter_sizes}), batch "
          f"{p.batch_size} x {p.window_size} ms x {networks.NUM_INPUT_CHANNELS} inputs, input density "
          f"{len(arrays['spike_index']) / np.prod(arrays['shape']):.4f}; {p.timed_steps} timed steps each")

    def fresh_model(sparse):
        keras.utils.set_random_seed(p.random_seed)
        model = networks.build_tcn(architecture, num_DVT_components=p.num_DVT_components)
        trained = sparse_conv.training_model(model, sparse_first_layer=sparse)
        trained.compile(optimizer=schedule.make_optimizer("legacy_nadam", 1e-4), loss=schedule.LOSSES,
                        loss_weights=[1.0, 0.02, 5e-6])
        return trained

    rates = {}
    rates["naive"] = naive_loop(fresh_model(False), arrays, p, p.timed_steps, np.random.RandomState(p.random_seed))
    print(f"naive (float64 numpy batches, train_on_batch): {rates['naive']:.2f} windows/s", flush=True)
    rates["dense"] = streamed(fresh_model(False), arrays, p, p.timed_steps)
    print(f"ours, dense layer_1 (tf.data, float32):        {rates['dense']:.2f} windows/s", flush=True)
    rates["ours"] = streamed(fresh_model(True), arrays, p, p.timed_steps)
    print(f"ours (tf.data, float32, sparse layer_1):       {rates['ours']:.2f} windows/s", flush=True)
    print(f"pipeline alone (dense layer_1) vs naive: {rates['dense'] / rates['naive']:.2f}x")
    print(f"sparse layer_1 vs dense layer_1: {rates['ours'] / rates['dense']:.2f}x")
    ratio = rates["ours"] / rates["naive"]
    print(f"ours vs naive: {ratio:.2f}x")
    print(f"ratio={ratio:.2f}")
    return rates


if __name__ == "__main__":
    from neuron_as_deep_net.core.config import run

    run(main)
