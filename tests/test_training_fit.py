"""Tests of the fit_CNN pieces of neuron_as_deep_net.l5pc (spec §6): LegacyNadam, the learning schedule,
the window sampler and its tf.data stream, the sparse first layer, history, save criterion and names."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuron_as_deep_net.l5pc import model_files, networks, sparse_conv, training, window_sampler
from neuron_as_deep_net.l5pc import schedule as l5pc_schedule

NAME_PATTERN = re.compile(r"^(NMDA|AMPA|AMPA_SK)_(FCN|TCN)__DxWxT_(\d+)x(\d+)x(\d+)__\d{4}-\d{2}-\d{2}__\d{2}_\d{2}"
                          r"__samples_(\d+)__LogLoss_train_(\d+)_valid_(\d+)__ID_(\d+)$")


# ---------------------------------------------------------------------------------------------------------
# LegacyNadam = Keras 2.2 Nadam
# ---------------------------------------------------------------------------------------------------------

def keras22_nadam_reference(gradients, p0, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, schedule_decay=0.004):
    """The Keras 2.2 / Dozat (2016) Nadam update in NumPy (float64), for a sequence of gradients."""
    p, m, v, m_schedule = p0.astype(np.float64), np.zeros_like(p0, np.float64), np.zeros_like(p0, np.float64), 1.0
    for step, g in enumerate(gradients, start=1):
        mu_t = beta_1 * (1 - 0.5 * 0.96 ** (step * schedule_decay))
        mu_next = beta_1 * (1 - 0.5 * 0.96 ** ((step + 1) * schedule_decay))
        m_schedule_new = m_schedule * mu_t
        m_schedule_next = m_schedule_new * mu_next
        m_schedule = m_schedule_new
        g_prime = g / (1 - m_schedule_new)
        m = beta_1 * m + (1 - beta_1) * g
        m_prime = m / (1 - m_schedule_next)
        v = beta_2 * v + (1 - beta_2) * g ** 2
        v_prime = v / (1 - beta_2 ** step)
        m_bar = (1 - mu_t) * g_prime + mu_next * m_prime
        p = p - lr * m_bar / (np.sqrt(v_prime) + epsilon)
    return p


def run_optimizer(optimizer, gradients, p0):
    variable = keras.Variable(p0.astype(np.float32))
    for g in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g.astype(np.float32))], [variable])
    return keras.ops.convert_to_numpy(variable)


def test_legacy_nadam_matches_the_keras22_update():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 4))
    gradients = [rng.normal(size=(3, 4)) for _ in range(6)]
    ours = run_optimizer(l5pc_schedule.LegacyNadam(learning_rate=0.01), gradients, p0)
    reference = keras22_nadam_reference(gradients, p0, 0.01)
    assert np.allclose(ours, reference, rtol=1e-5, atol=1e-6)
    # different from Keras 3 Nadam (whose momentum schedule is 0.96 ** t) ...
    keras3 = run_optimizer(keras.optimizers.Nadam(learning_rate=0.01), gradients, p0)
    assert not np.allclose(keras3, reference, rtol=1e-4, atol=1e-5)
    # ... which is the same update with schedule_decay = 1
    assert np.allclose(keras3, keras22_nadam_reference(gradients, p0, 0.01, schedule_decay=1.0), rtol=1e-5, atol=1e-6)


def test_make_optimizer_returns_new_instances():
    first = l5pc_schedule.make_optimizer("legacy_nadam", 1e-4)
    second = l5pc_schedule.make_optimizer("legacy_nadam", 1e-4)
    assert first is not second and isinstance(first, l5pc_schedule.LegacyNadam)
    assert first.get_config()["schedule_decay"] == 0.004 and first.get_config()["epsilon"] == 1e-7
    assert isinstance(l5pc_schedule.make_optimizer("nadam", 3e-5), keras.optimizers.Nadam)
    with pytest.raises(ValueError):
        l5pc_schedule.make_optimizer("adam", 1e-3)


# ---------------------------------------------------------------------------------------------------------
# learning schedule (§6 table)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule, lr, weights", [
    (0, 1e-4, [1.0, 0.02, 5e-6]), (39, 1e-4, [1.0, 0.02, 5e-6]), (40, 3e-5, [2.0, 0.01, 3e-6]),
    (80, 1e-5, [4.0, 0.01, 1e-6]), (120, 3e-6, [8.0, 0.01, 1e-8]), (160, 1e-6, [9.0, 0.003, 1e-9]),
    (249, 1e-6, [9.0, 0.003, 1e-9])])
def test_schedule_stages(schedule, lr, weights):
    schedule_dict = l5pc_schedule.make_learning_schedule_dict()
    assert schedule_dict["learning_rate_per_epoch"][schedule] == pytest.approx(lr)
    assert np.allclose(schedule_dict["loss_weights_per_epoch"][schedule], weights, rtol=1e-9, atol=0)


def test_schedule_dict_keys():
    schedule_dict = l5pc_schedule.make_learning_schedule_dict()
    assert set(schedule_dict) == {"train_file_load", "valid_file_load", "validation_fraction", "num_epochs",
                                  "num_steps_multiplier", "batch_size_per_epoch", "loss_weights_per_epoch",
                                  "learning_rate_per_epoch", "num_train_steps_per_epoch"}
    assert schedule_dict["num_epochs"] == 250 and schedule_dict["num_steps_multiplier"] == 10
    assert schedule_dict["batch_size_per_epoch"] == [8] * 250
    assert schedule_dict["num_train_steps_per_epoch"] == [100] * 250
    with pytest.raises(ValueError):
        l5pc_schedule.make_learning_schedule_dict(stage_first_schedules=[1, 40])


# ---------------------------------------------------------------------------------------------------------
# window sampler
# ---------------------------------------------------------------------------------------------------------

def fake_arrays(seed, num_sims=4, num_time_bins=900, num_channels=6, num_components=3):
    rng = np.random.default_rng(seed)
    shape = (num_sims, num_time_bins, num_channels)
    X = rng.random(shape) < 0.05
    return {"shape": shape, "spike_index": np.flatnonzero(X).astype(np.uint32), "X": X,
            "y_spike": rng.random(shape[:2]) < 0.01,
            "y_soma": rng.uniform(-20, 12.7, shape[:2]).astype(np.float32),
            "y_DVT": rng.uniform(-3, 3, shape[:2] + (num_components,)).astype(np.float32)}


@pytest.fixture()
def sampler_files():
    files = {f"file_{k}": fake_arrays(k) for k in range(4)}
    loads = []

    def load(path):
        loads.append(path)
        return files[path]

    return files, load, loads


def test_sampler_windows_and_targets(sampler_files):
    files, load, _ = sampler_files
    sampler = window_sampler.WindowSampler(sorted(files), load, batch_size=8, window_size=100, file_load=0.5,
                                     num_files_per_epoch=3, seed=1, log=None)
    assert sampler.batches_per_file == int(0.5 * 4 * 900 / (8 * 100)) == 2
    assert len(sampler) == 6
    files_seen = set()
    for X, (y_spike, y_soma, y_DVT) in sampler.epoch_batches(0):
        assert X.shape == (8, 100, 6) and X.dtype == bool
        assert y_spike.shape == (8, 100, 1) and y_soma.shape == (8, 100, 1) and y_DVT.shape == (8, 100, 3)
        assert y_spike.dtype == y_soma.dtype == y_DVT.dtype == np.float32
        # identify the window: its end time must lie in [max(500, W), T) and the ends of a batch differ
        matches = [(name, s, end) for name, arrays in files.items() for s in range(4) for end in range(500, 900)
                   for k in [0] if np.array_equal(arrays["y_soma"][s, end - 100:end], y_soma[k, :, 0])]
        assert len(matches) == 1
        name, sim, end = matches[0]
        files_seen.add(name)
        assert np.array_equal(files[name]["X"][sim, end - 100:end], X[0])
        assert np.array_equal(files[name]["y_DVT"][sim, end - 100:end], y_DVT[0])
    assert sampler.commit_epoch(0) == 6
    assert sum(sampler.files_histogram.values()) == 6 and set(sampler.files_histogram) <= set(files)


def test_sampler_end_times(sampler_files):
    files, load, _ = sampler_files
    for window in (100, 600):
        sampler = window_sampler.WindowSampler(sorted(files), load, batch_size=16, window_size=window, file_load=1.0,
                                         num_files_per_epoch=2, seed=2, log=None)
        rng = np.random.default_rng(0)
        arrays = files["file_0"]
        marker = dict(arrays, y_soma=np.tile(np.arange(900, dtype=np.float32), (4, 1)))
        for _ in range(50):
            _, (_, y_soma, _) = sampler.draw_batch(marker, rng)
            ends = y_soma[:, -1, 0].astype(int) + 1
            assert ends.min() >= max(500, window) and ends.max() < 900
            assert len(set(ends)) == 16  # without replacement within a batch


def test_sampler_epochs_are_reproducible_and_switch_files(sampler_files):
    files, load, _ = sampler_files

    def make():
        return window_sampler.WindowSampler(sorted(files), load, batch_size=4, window_size=50, file_load=0.2,
                                      num_files_per_epoch=3, seed=5, log=None)

    first, second = make(), make()
    a = [y[1] for _, y in first.epoch_batches(7)]
    b = [y[1] for _, y in second.epoch_batches(7)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    batch_files = first._epoch_files[7]
    assert sorted(batch_files) == list(range(len(first))) and len(set(batch_files.values())) <= 3
    list(first.epoch_batches(7))  # drawn again (Keras does so under a strategy): counted once
    assert first.commit_epoch(7) == len(first) and sum(first.files_histogram.values()) == len(first)
    files_chosen, order, _ = first.epoch_plan(7)
    assert len(set(files_chosen)) == 3 and sorted(order) == list(range(len(first)))
    # validation: batch indices in order
    valid = window_sampler.WindowSampler(sorted(files), load, batch_size=4, window_size=50, file_load=0.2,
                                   num_files_per_epoch=2, shuffle=False, seed=5, log=None)
    assert list(valid.epoch_plan(0)[1]) == list(range(len(valid)))


def test_sampler_rejects_short_files():
    arrays = fake_arrays(0, num_time_bins=505)
    with pytest.raises(ValueError, match="too short"):
        window_sampler.WindowSampler(["f"], lambda path: arrays, batch_size=8, window_size=100, file_load=0.2,
                               num_files_per_epoch=1, log=None)


def test_window_stream_dataset_is_float32(sampler_files):
    files, load, _ = sampler_files
    sampler = window_sampler.WindowSampler(sorted(files), load, batch_size=4, window_size=50, file_load=0.2,
                                     num_files_per_epoch=2, seed=5, log=None)
    batches = list(window_sampler.window_stream_dataset(sampler, 3, 2))
    assert len(batches) == 2 * len(sampler)
    x, (y_spike, y_soma, y_DVT) = batches[0]
    assert x.dtype == tf.float32 and x.shape == (4, 50, 6)
    assert y_spike.dtype == y_soma.dtype == y_DVT.dtype == tf.float32
    assert set(np.unique(x.numpy())) <= {0.0, 1.0}
    # the parallel map keeps the generator's order: exactly the sampler's own batches
    expected = list(sampler.epoch_batches(3)) + list(sampler.epoch_batches(4))
    for (x, ys), (x_ref, ys_ref) in zip(batches, expected):
        assert np.array_equal(x.numpy(), x_ref) and all(np.array_equal(a.numpy(), b) for a, b in zip(ys, ys_ref))
    on_device = next(iter(window_sampler.window_stream_dataset(sampler, 3, 1, cast_on_device=True)))
    assert on_device[0].dtype == tf.bool and np.array_equal(on_device[0].numpy(), expected[0][0])


# ---------------------------------------------------------------------------------------------------------
# sparse first layer
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k, splits", [(1, 1), (5, 2), (7, 3), (4, 8)])
def test_sparse_causal_conv_equals_conv1d(k, splits):
    rng = np.random.default_rng(k)
    x = tf.constant((rng.random((3, 30, 11)) < 0.2).astype(np.float32))
    kernel = tf.Variable(rng.normal(size=(k, 11, 5)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=(3, 30, 5)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        dense = tf.nn.conv1d(tf.pad(x, [[0, 0], [k - 1, 0], [0, 0]]), kernel, 1, "VALID")
        sparse = sparse_conv.sparse_causal_conv1d(x, kernel, splits)
        dense_loss, sparse_loss = tf.reduce_sum(dense * upstream), tf.reduce_sum(sparse * upstream)
    assert np.allclose(dense.numpy(), sparse.numpy(), atol=1e-5)
    assert np.allclose(tape.gradient(dense_loss, kernel).numpy(), tape.gradient(sparse_loss, kernel).numpy(),
                       atol=1e-4)


def test_training_twin_shares_weights_and_outputs():
    keras.utils.set_random_seed(3)
    architecture = networks.make_architecture_dict([5, 3, 1], 4, input_window_size=24, initializer=0.3)
    model = networks.build_tcn(architecture, num_segments=10, num_DVT_components=2)
    twin = sparse_conv.training_model(model, sparse_first_layer=True)
    assert twin is not model
    assert {id(v) for v in twin.trainable_variables} == {id(v) for v in model.trainable_variables}
    x = (np.random.default_rng(0).random((2, 24, 10)) < 0.3).astype(np.float32)
    for a, b in zip(model(x, training=False), twin(x, training=False)):
        assert np.allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    assert sparse_conv.training_model(model, sparse_first_layer=False) is model
    strided = networks.build_tcn(networks.make_architecture_dict([5, 3], 4, input_window_size=24, dilation=2),
                                 num_segments=10, num_DVT_components=2)
    assert sparse_conv.training_model(strided) is strided  # dilated layer_1: dense fallback


# ---------------------------------------------------------------------------------------------------------
# history, save criterion, names
# ---------------------------------------------------------------------------------------------------------

def test_history_accumulation():
    history = training.empty_training_history()
    assert set(history) == set(training.HISTORY_KEYS)
    fit_history = {key: [0.5, 0.4] for key in training.HISTORY_LOSS_KEYS + ["val_" + k for k in
                                                                           training.HISTORY_LOSS_KEYS]}
    for schedule in range(3):
        training.append_schedule_history(history, fit_history, schedule, 8, 1e-4, [1.0, 0.02, 5e-6], 288,
                                         {"a": schedule}, {"b": 1})
    assert all(len(history[key]) == 6 for key in training.HISTORY_KEYS
               if not key.endswith("files_histogram"))
    assert len(history["train_files_histogram"]) == 3 and history["train_files_histogram"][1] == {"a": 1}
    assert history["num_train_samples"] == [8 * 288] * 6 and history["learning_schedule"] == [0, 0, 1, 1, 2, 2]


def test_save_criterion_and_loss_tag():
    assert training.should_save({"val_spikes_loss": [0.5, 0.02, 0.02, 0.02]})
    assert not training.should_save({"val_spikes_loss": [0.02, 0.02, 0.05]})
    assert training.should_save({"val_spikes_loss": [0.02, 0.02, 0.05]}, threshold=0.04)
    assert not training.should_save({"val_spikes_loss": []})
    assert model_files.log_loss_tag([0.01] * 5 + [0.03] * 4) == int(10000 * np.mean([0.01] * 5 + [0.03] * 4))
    values = list(np.linspace(0.1, 0.01, 12))
    assert model_files.log_loss_tag(values) == int(10000 * np.mean(values[-7:]))


@pytest.mark.parametrize("sizes, kind, extent", [([54, 24, 24], "TCN", 100), ([110], "FCN", 110),
                                                 ([45, 1], "FCN", 45), ([35, 21, 21, 21, 21, 20, 20], "TCN", 153)])
def test_model_names(sizes, kind, extent):
    architecture = networks.make_architecture_dict(sizes, 128)
    history = training.empty_training_history()
    training.append_schedule_history(history, {"spikes_loss": [0.02] * 10, "val_spikes_loss": [0.03] * 10, "loss": [1] * 10},
                                     0, 8, 1e-4, [1, 0.02, 5e-6], 288, {}, {})
    stem = model_files.model_file_stem("AMPA_SK", architecture, history, model_id=4321)
    match = NAME_PATTERN.match(stem)
    assert match, stem
    assert match.group(1) == "AMPA_SK" and match.group(2) == kind
    assert match.group(3, 4, 5) == (str(len(sizes)), "128", str(extent))
    assert match.group(6) == str(10 * 8 * 288)
    assert match.group(7, 8, 9) == ("200", "300", "4321")
