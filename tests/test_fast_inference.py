"""Tests of neuron_as_deep_net.core.fast_inference: the sparse/FFT path must reproduce the dense Keras model.

Tiny models (2-3 layers x 8 filters, a few hundred input channels) with random weights at O(1) activation
scale (``randomize_model_weights``), random sparse bool inputs. Tolerance: 1e-4 on spike probabilities,
1e-3 on the linear heads (soma, DVT), where float32 rounding of values of order 1-10 is ~1e-6.
"""

import importlib.util
import json
import os
import re

import h5py
import keras
import numpy as np
import pytest

from neuron_as_deep_net.core import fast_inference, fast_layers
from neuron_as_deep_net.core import windows as core_windows
from neuron_as_deep_net.integrate_and_fire import network
from neuron_as_deep_net.l5pc import model_files, networks
from conftest import needs_morphology  # noqa: E402

NUM_CHANNELS = 300
NUM_DVT = 3
WINDOW = 100
SPIKE_TOL = 1e-4
LINEAR_TOL = 1e-3

ARCHITECTURES = {  # name: (filter sizes, activation)
    "tcn_relu": ([9, 5, 4], "relu"),
    "tcn_lrelu": ([9, 5, 4], "lrelu"),
    "fcn_relu": ([12], "relu"),
    "fcn_1x1_lrelu": ([10, 1, 1], "lrelu"),
    "tcn_long_kernels": ([20, 12, 12], "relu"),
}


def make_model(filter_sizes, activation, num_filters=8, window=WINDOW, seed=1):
    architecture = networks.make_architecture_dict(filter_sizes, num_filters, input_window_size=window,
                                             activation=activation)
    model = networks.build_tcn(architecture, num_segments=NUM_CHANNELS, num_DVT_components=NUM_DVT)
    return fast_inference.randomize_model_weights(model, seed=seed)


def sparse_inputs(num_sims, num_times, density=0.02, seed=0):
    return np.random.default_rng(seed).random((num_sims, num_times, NUM_CHANNELS)) < density


def assert_outputs_close(reference, fast):
    assert len(reference) == len(fast)
    for ref, out in zip(reference, fast):
        assert out.shape == ref.shape and out.dtype == np.float32
    np.testing.assert_allclose(fast[0], reference[0], rtol=0, atol=SPIKE_TOL)
    for ref, out in zip(reference[1:], fast[1:]):
        np.testing.assert_allclose(out, ref, rtol=0, atol=LINEAR_TOL)


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {name: make_model(*spec) for name, spec in ARCHITECTURES.items()}


def test_random_weights_make_a_non_trivial_test(models):
    spikes, soma, _ = models["tcn_relu"].predict(sparse_inputs(2, WINDOW).astype(np.float32), verbose=0)
    assert spikes.max() - spikes.min() > 0.5
    assert soma.std() > 0.1


@pytest.mark.parametrize("dense_method", ["auto", "fft", "direct"])
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_full_length_equals_dense_keras(models, name, dense_method):
    model = models[name]
    X = sparse_inputs(3, 300)
    reference = fast_inference.variable_length_model(model).predict(X.astype(np.float32), verbose=0)
    fast = fast_inference.predict_full_length(model, X, batch_size=2, dense_method=dense_method)
    assert_outputs_close(reference, fast)


@pytest.mark.parametrize("fft_block", [32, 64, 512])
def test_fft_block_sizes(models, fft_block):
    """Blocks shorter than the sequence (many blocks, hop < span of a layer) and one block for all."""
    model = models["tcn_long_kernels"]
    X = sparse_inputs(2, 250)
    reference = fast_inference.variable_length_model(model).predict(X.astype(np.float32), verbose=0)
    assert_outputs_close(reference, fast_inference.predict_full_length(model, X, dense_method="fft", fft_block=fft_block))


@pytest.mark.parametrize("name", ["tcn_relu", "tcn_lrelu", "fcn_relu"])
def test_predict_fn_equals_keras_on_windows(models, name):
    model = models[name]
    windows = sparse_inputs(5, WINDOW, seed=3).astype(np.float32)
    reference = core_windows.keras_predict_fn(model)(windows)
    assert_outputs_close(reference, fast_inference.fast_predict_fn(model, batch_size=2)(windows))


@pytest.mark.parametrize("name", ["tcn_relu", "tcn_lrelu", "fcn_1x1_lrelu"])
def test_overlapped_inference_equals_keras(models, name):
    model = models[name]
    X = sparse_inputs(3, 400, seed=4)
    extent = core_windows.temporal_extent(ARCHITECTURES[name][0])
    overlap = core_windows.default_overlap(WINDOW, extent)
    dense = core_windows.overlapped_inference(core_windows.keras_predict_fn(model), X, WINDOW, overlap, batch_size=7)
    fast = core_windows.overlapped_inference(fast_inference.fast_predict_fn(model), X, WINDOW, overlap, batch_size=7)
    np.testing.assert_allclose(fast[0], dense[0], rtol=0, atol=SPIKE_TOL)
    np.testing.assert_allclose(fast[1], dense[1], rtol=0, atol=LINEAR_TOL)


def test_overlap_beyond_receptive_field_equals_full_length(models):
    """§7's overlap is at least T+1, so the stitched windows equal the causal full-length pass."""
    model = models["tcn_relu"]
    X = sparse_inputs(2, 400, seed=5)
    overlap = core_windows.default_overlap(WINDOW, core_windows.temporal_extent(ARCHITECTURES["tcn_relu"][0]))
    spikes, soma = core_windows.overlapped_inference(fast_inference.fast_predict_fn(model), X, WINDOW, overlap)
    full = fast_inference.predict_full_length(model, X)
    np.testing.assert_allclose(spikes, full[0][..., 0], rtol=0, atol=SPIKE_TOL)
    np.testing.assert_allclose(soma, full[1][..., 0], rtol=0, atol=LINEAR_TOL)


def test_non_binary_inputs_and_single_simulation(models):
    model = models["tcn_lrelu"]
    rng = np.random.default_rng(6)
    X = (rng.random((1, 200, NUM_CHANNELS)) < 0.03) * rng.uniform(0.5, 2.0, (1, 200, NUM_CHANNELS))
    reference = fast_inference.variable_length_model(model).predict(X.astype(np.float32), verbose=0)
    assert_outputs_close(reference, fast_inference.predict_full_length(model, X, num_threads=2))
    assert_outputs_close(reference, fast_inference.predict_full_length(model, X, num_threads=1))


def test_integrate_and_fire_network_without_batch_norm():
    keras.utils.set_random_seed(2)
    model = network.build_integrate_and_fire_network(window_size=None, num_synapses=20, kernel_size=30)
    X = np.random.default_rng(7).random((3, 250, 20)) < 0.05
    reference = model.predict(X.astype(np.float32), verbose=0)
    fast = fast_inference.predict_full_length(model, X)
    assert [head.name for head in fast_layers.extract_network(model).heads] == ["spikes", "soma"]
    assert_outputs_close(reference, fast)


def test_rejects_unsupported_models():
    inputs = keras.Input((50, 10))
    x = keras.layers.Conv1D(4, 3, strides=2, padding="causal")(inputs)
    head = keras.layers.Conv1D(1, 1, name="spikes")(x)
    with pytest.raises(ValueError, match="strides"):
        fast_layers.extract_network(keras.Model(inputs, head))
    x = keras.layers.Conv1D(4, 3, padding="same")(inputs)
    with pytest.raises(ValueError, match="causal"):
        fast_layers.extract_network(keras.Model(inputs, keras.layers.Conv1D(1, 1)(x)))
    x = keras.layers.Dense(4)(inputs)
    with pytest.raises(ValueError, match="Dense"):
        fast_layers.extract_network(keras.Model(inputs, keras.layers.Conv1D(1, 1)(x)))


def test_wrong_number_of_channels(models):
    with pytest.raises(ValueError, match="input channels"):
        fast_inference.predict_full_length(models["fcn_relu"], np.zeros((1, 50, NUM_CHANNELS + 1), bool))


# ---------------------------------------------------------------- saved models


def write_keras2_style_h5(model, path):
    """A file laid out like Keras 2.2's ``model.save``: 'name/kernel:0' weights and a Keras-2 config that
    Keras 3 cannot deserialise."""
    layer_configs = [{"class_name": "InputLayer", "name": "input_layer",
                      "config": {"name": "input_layer", "batch_input_shape": [None, WINDOW, NUM_CHANNELS]}}]
    with h5py.File(path, "w") as h5file:
        h5file.attrs["keras_version"] = b"2.2.4"
        h5file.attrs["backend"] = b"tensorflow"
        weights_group = h5file.create_group("model_weights")
        names = []
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            names.append(layer.name.encode())
            group = weights_group.create_group(layer.name)
            if isinstance(layer, keras.layers.Conv1D):
                short_names = ["kernel", "bias"]
                activation = layer.activation.__name__
                config = {"name": layer.name, "kernel_size": list(layer.kernel_size),
                          "dilation_rate": list(layer.dilation_rate),
                          "activation": "<lambda>" if activation == "lrelu" else activation}
                class_name = "Conv1D"
            else:
                short_names = ["gamma", "beta", "moving_mean", "moving_variance"]
                config = {"name": layer.name, "epsilon": layer.epsilon}
                class_name = "BatchNormalization"
            full_names = [f"{layer.name}/{short}:0".encode() for short in short_names]
            group.attrs["weight_names"] = full_names
            for full_name, value in zip(full_names, layer.get_weights()):
                group.create_dataset(full_name.decode(), data=value)
            layer_configs.append({"class_name": class_name, "name": layer.name, "config": config,
                                  "inbound_nodes": [[["previous", 0, 0, {}]]]})
        weights_group.attrs["layer_names"] = names
        h5file.attrs["model_config"] = json.dumps(
            {"class_name": "Model", "config": {"name": "model_1", "layers": layer_configs,
                                               "input_layers": [["input_layer", 0, 0]]}}).encode()


@pytest.mark.parametrize("name", ["tcn_relu", "tcn_lrelu"])
def test_saved_models_load_and_match(models, tmp_path, name):
    model = models[name]
    X = sparse_inputs(2, 200, seed=8)
    reference = fast_inference.variable_length_model(model).predict(X.astype(np.float32), verbose=0)

    model.save(tmp_path / "model.keras")
    model.save(tmp_path / "model.h5")
    write_keras2_style_h5(model, tmp_path / "keras2.h5")

    assert_outputs_close(reference, fast_inference.predict_full_length(model_files.load_model(tmp_path / "model.keras"), X))
    assert_outputs_close(reference, fast_inference.predict_full_length(model_files.load_model(tmp_path / "model.h5"), X))
    rebuilt = model_files.rebuild_from_legacy_h5(tmp_path / "model.h5")
    assert_outputs_close(reference, fast_inference.predict_full_length(rebuilt, X))
    with pytest.warns(UserWarning, match="rebuilding"):
        legacy = model_files.load_model(tmp_path / "keras2.h5")
    assert legacy.input_shape == (None, WINDOW, NUM_CHANNELS)
    assert legacy.get_layer("layer_1").activation.__name__ == ARCHITECTURES[name][1]
    assert_outputs_close(reference, fast_inference.predict_full_length(legacy, X))
    with pytest.warns(UserWarning, match="rebuilding"):  # a path works too
        assert_outputs_close(reference, fast_inference.predict_full_length(str(tmp_path / "keras2.h5"), X,
                                                                               loader=model_files.load_model))


def test_fast_predict_fn_reuses_a_prepared_model(models):
    fast = fast_inference.FastTCN(models["tcn_relu"])
    windows = sparse_inputs(3, WINDOW, seed=9).astype(np.float32)
    assert_outputs_close(core_windows.keras_predict_fn(models["tcn_relu"])(windows), fast_inference.fast_predict_fn(fast)(windows))


# ---------------------------------------------------------------- the benchmark script


@pytest.mark.neuron
@pytest.mark.slow
@needs_morphology
def test_surrogate_speed_bench_smoke(tmp_path, capsys):
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "surrogate_speed.py")
    spec = importlib.util.spec_from_file_location("surrogate_speed", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    results = script.main(["--preset", "smoke", "--output-dir", str(tmp_path)])
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"dense_speedup=[0-9.]+ fast_speedup=[0-9.]+", last_line)
    assert results["max_abs_diff_spikes"] < SPIKE_TOL
    assert results["overlapped_max_abs_diff_spikes"] < SPIKE_TOL
    with open(tmp_path / "results.json") as handle:
        assert json.load(handle)["fast_speedup"] == pytest.approx(results["fast_speedup"])
