"""Tests of the network builders l5pc/networks.py and integrate_and_fire/network.py (spec §5 "Network", §6 "Model
builder" / "Model saving")."""

import keras
import numpy as np
import pytest

from neuron_as_deep_net.core import activations, model_weights, windows
from neuron_as_deep_net.integrate_and_fire import network
from neuron_as_deep_net.l5pc import networks

# Tiny configuration used throughout: filter sizes [5, 3], 4 filters, 10 input channels, 2 DVT comps.
TINY_CHANNELS = 10
TINY_DVT = 2
TINY_WINDOW = 24


def tiny_arch(filter_sizes=(5, 3), num_filters=4, window=TINY_WINDOW, **kwargs):
    return networks.make_architecture_dict(list(filter_sizes), num_filters, input_window_size=window, **kwargs)


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return networks.build_tcn(tiny_arch(), num_segments=TINY_CHANNELS, num_DVT_components=TINY_DVT)


# ---------------------------------------------------------------- constants and helpers


def test_constants():
    assert networks.NUM_SEGMENTS == 639
    assert networks.NUM_INPUT_CHANNELS == 1278


@pytest.mark.parametrize(
    "filter_sizes, expected",
    [([54, 24, 24], 100), ([35] * 7, 7 * 34 + 1), ([110], 110), ([45, 1], 45), ([25, 1, 1], 25),
     ([54] + [12] * 6, 53 + 6 * 11 + 1)],
)
def test_temporal_extent(filter_sizes, expected):
    assert windows.temporal_extent(filter_sizes) == expected


def test_make_architecture_dict_broadcasts():
    arch = networks.make_architecture_dict([54, 24, 24], 64)
    assert set(arch) == set(networks.ARCHITECTURE_KEYS)
    assert arch["network_depth"] == 3
    assert arch["input_window_size"] == 400
    assert arch["num_filters_per_layer"] == [64, 64, 64]
    assert arch["initializer_per_layer"] == [0.002] * 3
    assert arch["filter_sizes_per_layer"] == [54, 24, 24]
    assert arch["l2_regularization_per_layer"] == [1e-8] * 3
    assert arch["activation_function_per_layer"] == ["relu"] * 3
    assert arch["strides_per_layer"] == [1, 1, 1]
    assert arch["dilation_rates_per_layer"] == [1, 1, 1]
    assert networks.default_architecture_dict() == arch


def test_make_architecture_dict_per_layer_lists_and_strings():
    arch = networks.make_architecture_dict([5, 3], [4, 8], initializer="glorot_uniform",
                                     activation=["lrelu", "relu"])
    assert arch["num_filters_per_layer"] == [4, 8]
    assert arch["initializer_per_layer"] == ["glorot_uniform"] * 2
    assert arch["activation_function_per_layer"] == ["lrelu", "relu"]
    with pytest.raises(ValueError):
        networks.make_architecture_dict([5, 3], [4, 8, 16])
    with pytest.raises(ValueError):
        networks.make_architecture_dict([], 4)


# ---------------------------------------------------------------- build_tcn


def test_build_tcn_layer_names_and_shapes(tiny_model):
    names = [layer.name for layer in tiny_model.layers]
    assert names == ["input_layer", "layer_1", "layer_1_BN", "layer_2", "layer_2_BN",
                     "spikes", "somatic", "dendritic"]
    assert tiny_model.input_shape == (None, TINY_WINDOW, TINY_CHANNELS)
    assert [tuple(o.shape) for o in tiny_model.outputs] == [
        (None, TINY_WINDOW, 1), (None, TINY_WINDOW, 1), (None, TINY_WINDOW, TINY_DVT)]
    assert list(tiny_model.output_names) == ["spikes", "somatic", "dendritic"]


def test_build_tcn_layer_configuration(tiny_model):
    conv1 = tiny_model.get_layer("layer_1")
    assert conv1.padding == "causal"
    assert conv1.kernel_size == (5,) and conv1.filters == 4
    assert conv1.strides == (1,) and conv1.dilation_rate == (1,)
    assert isinstance(conv1.kernel_initializer, keras.initializers.TruncatedNormal)
    assert conv1.kernel_initializer.stddev == pytest.approx(0.002)
    assert conv1.kernel_regularizer.l2 == pytest.approx(1e-8)
    assert conv1.activation is keras.activations.relu
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv1.bias), 0.0)
    bn = tiny_model.get_layer("layer_1_BN")
    assert bn.momentum == pytest.approx(0.99) and bn.epsilon == pytest.approx(1e-3)
    heads = {name: tiny_model.get_layer(name) for name in ("spikes", "somatic", "dendritic")}
    for head, std in zip(heads.values(), (0.001, 0.03, 0.05)):
        assert head.kernel_size == (1,) and head.padding == "causal"
        assert head.kernel_initializer.stddev == pytest.approx(std)
        assert head.kernel_regularizer.l2 == pytest.approx(1e-8)
    assert heads["spikes"].activation is keras.activations.sigmoid
    assert heads["somatic"].activation is keras.activations.linear
    # spikes bias initialised to -2.0, the others to 0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(heads["spikes"].bias), [-2.0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(heads["somatic"].bias), [0.0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(heads["dendritic"].bias), [0.0, 0.0])


def test_build_tcn_compile_settings(tiny_model):
    opt = tiny_model.optimizer
    assert isinstance(opt, keras.optimizers.Nadam)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(1e-4)
    config = tiny_model.get_compile_config()
    assert list(config["loss"]) == ["binary_crossentropy", "mean_squared_error", "mean_squared_error"]
    assert list(config["loss_weights"]) == [1.0, 0.006, 0.002]


def test_build_tcn_exact_parameter_count(tiny_model):
    conv1 = 5 * TINY_CHANNELS * 4 + 4   # kernel + bias
    bn1 = 4 * 4                         # gamma, beta, moving mean, moving variance
    conv2 = 3 * 4 * 4 + 4
    bn2 = 4 * 4
    spikes = 4 * 1 + 1
    somatic = 4 * 1 + 1
    dendritic = 4 * TINY_DVT + TINY_DVT
    expected = conv1 + bn1 + conv2 + bn2 + spikes + somatic + dendritic
    assert expected == 308
    assert model_weights.count_parameters(tiny_model) == expected
    assert tiny_model.count_params() == expected


def test_build_tcn_default_architecture_parameter_count():
    # Paper-size default architecture: count computed by hand.
    arch = networks.default_architecture_dict()
    model = networks.build_tcn(arch)  # 1278 channels, 20 DVT components
    expected = ((54 * 1278 * 64 + 64) + 4 * 64                 # layer_1 + layer_1_BN
                + 2 * ((24 * 64 * 64 + 64) + 4 * 64)           # layers 2, 3 with BN
                + (64 + 1) * 2 + (64 * 20 + 20))               # spikes, somatic, dendritic
    assert model_weights.count_parameters(model) == expected


def _predict(model, x):
    outs = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in outs]


def test_build_tcn_is_causal(tiny_model):
    rng = np.random.default_rng(1)
    x1 = rng.random((2, TINY_WINDOW, TINY_CHANNELS)).astype("float32")
    t = 13
    x2 = x1.copy()
    x2[:, t:, :] = rng.random((2, TINY_WINDOW - t, TINY_CHANNELS)) * 5.0
    out1, out2 = _predict(tiny_model, x1), _predict(tiny_model, x2)
    for y1, y2 in zip(out1, out2):
        np.testing.assert_allclose(y1[:, :t], y2[:, :t], rtol=0, atol=1e-7)
    # non-vacuous: the perturbation does reach the outputs from time t on
    assert np.any(out1[1][:, t:] != out2[1][:, t:])
    assert np.any(out1[2][:, t:] != out2[2][:, t:])


def test_build_tcn_receptive_field_equals_temporal_extent():
    # Linear activations and large weights: a change at time t reaches outputs t .. t+T-1 and no later.
    keras.utils.set_random_seed(2)
    filter_sizes = [5, 3]
    arch = tiny_arch(filter_sizes, activation="linear", initializer=0.5, window=30)
    model = networks.build_tcn(arch, num_segments=TINY_CHANNELS, num_DVT_components=TINY_DVT)
    T = windows.temporal_extent(filter_sizes)
    x1 = np.zeros((1, 30, TINY_CHANNELS), dtype="float32")
    x2 = x1.copy()
    t = 10
    x2[0, t, :] = 1.0
    somatic1, somatic2 = _predict(model, x1)[1], _predict(model, x2)[1]
    diff = np.abs(somatic2 - somatic1)[0, :, 0]
    assert np.all(diff[:t] == 0)
    assert np.all(diff[t:t + T] > 0)
    assert np.all(diff[t + T:] == 0)


@pytest.mark.parametrize("window", [8, 7])
def test_build_tcn_rejects_short_window(window):
    with pytest.raises(ValueError, match="input_window_size"):
        networks.build_tcn(tiny_arch(window=window), num_segments=TINY_CHANNELS, num_DVT_components=TINY_DVT)


def test_build_tcn_rejects_inconsistent_dict():
    arch = tiny_arch()
    arch["strides_per_layer"] = [1]
    with pytest.raises(ValueError):
        networks.build_tcn(arch, num_segments=TINY_CHANNELS)
    del arch["strides_per_layer"]
    with pytest.raises(ValueError, match="missing"):
        networks.build_tcn(arch, num_segments=TINY_CHANNELS)


def test_named_initializer_is_passed_through():
    arch = tiny_arch(initializer="glorot_uniform")
    model = networks.build_tcn(arch, num_segments=TINY_CHANNELS, num_DVT_components=TINY_DVT)
    assert isinstance(model.get_layer("layer_1").kernel_initializer, keras.initializers.GlorotUniform)


# An untrained compiled model has no optimizer variables yet; Keras warns about that on reload.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_lrelu_activation_slope_and_save_roundtrip(tmp_path):
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(activations.lrelu(np.array([-4.0, -1.0, 0.0, 2.0], dtype="float32"))),
        [-1.0, -0.25, 0.0, 2.0])
    keras.utils.set_random_seed(3)
    model = networks.build_tcn(tiny_arch(activation="lrelu"), num_segments=TINY_CHANNELS,
                         num_DVT_components=TINY_DVT)
    conv1 = model.get_layer("layer_1")
    assert conv1.activation is activations.lrelu
    # 'lrelu' applied inside the conv: conv output = lrelu(x * kernel + bias)
    x = np.random.default_rng(0).normal(size=(1, TINY_WINDOW, TINY_CHANNELS)).astype("float32")
    pre = keras.ops.convert_to_numpy(keras.ops.conv(x, conv1.kernel, padding="valid"))
    pre = pre + keras.ops.convert_to_numpy(conv1.bias)
    out = keras.ops.convert_to_numpy(conv1(x))[:, 4:]  # first 4 steps see causal zero padding
    np.testing.assert_allclose(out, np.where(pre > 0, pre, 0.25 * pre), rtol=1e-5, atol=1e-8)
    # a model using 'lrelu' can be saved and reloaded
    path = tmp_path / "lrelu_model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    for a, b in zip(_predict(model, x), _predict(reloaded, x)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# ---------------------------------------------------------------- naming


@pytest.mark.parametrize(
    "filter_sizes, prefix",
    [([110], "NMDA_FCN"), ([45, 1], "NMDA_FCN"), ([25, 1, 1], "NMDA_FCN"), ([54, 24, 24], "NMDA_TCN"),
     ([35] * 7, "NMDA_TCN"), ([1, 3], "NMDA_TCN")],
)
def test_network_type_prefix(filter_sizes, prefix):
    assert networks.network_type_prefix("NMDA", networks.make_architecture_dict(filter_sizes, 8)) == prefix


def test_network_type_prefix_other_synapse_types():
    assert networks.network_type_prefix("AMPA_SK", networks.make_architecture_dict([45, 1], 8)) == "AMPA_SK_FCN"
    assert networks.network_type_prefix("AMPA", networks.make_architecture_dict([16] * 4, 8)) == "AMPA_TCN"


@pytest.mark.parametrize(
    "filter_sizes, num_filters, expected",
    [([54, 24, 24], 64, "DxWxT_3x64x100"), ([35] * 7, 128, "DxWxT_7x128x239"),
     ([110], 128, "DxWxT_1x128x110"), ([45, 1], 128, "DxWxT_2x128x45"),
     ([5, 3], [4, 9], "DxWxT_2x6x7")],  # W = int(mean) = int(6.5)
)
def test_architecture_string(filter_sizes, num_filters, expected):
    assert networks.architecture_string(networks.make_architecture_dict(filter_sizes, num_filters)) == expected


# ---------------------------------------------------------------- integrate-and-fire network


def test_integrate_and_fire_network():
    keras.utils.set_random_seed(4)
    model = network.build_integrate_and_fire_network()
    assert [layer.name for layer in model.layers] == ["input_layer", "layer_1", "spikes", "soma"]
    assert model.input_shape == (None, 500, 100)
    assert model_weights.count_parameters(model) == 100 * 80 + 1 + 2 + 2 == 8005
    layer_1 = model.get_layer("layer_1")
    assert layer_1.padding == "causal" and layer_1.kernel_size == (80,) and layer_1.filters == 1
    assert layer_1.kernel_initializer.stddev == pytest.approx(0.25)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer_1.bias), [0.1], rtol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("spikes").bias), [-2.5])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("soma").bias), [0.0])
    assert model.get_layer("spikes").kernel_initializer.stddev == pytest.approx(0.05)
    assert model.get_layer("soma").kernel_initializer.stddev == pytest.approx(0.05)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-4)
    config = model.get_compile_config()
    assert list(config["loss"]) == ["binary_crossentropy", "mean_squared_error"]
    assert list(config["loss_weights"]) == [1.0, 0.003]

    w = model_weights.first_layer_weights(model)
    assert w.shape == (1, 100, 80)
    kernel = keras.ops.convert_to_numpy(layer_1.kernel)  # Keras layout (kernel, in, out)
    assert kernel.shape == (80, 100, 1)
    np.testing.assert_array_equal(w[0], kernel[:, :, 0].T)


def test_integrate_and_fire_variable_length_shares_weights():
    keras.utils.set_random_seed(5)
    fixed = network.build_integrate_and_fire_network(window_size=120, num_synapses=6, kernel_size=10)
    free = network.build_integrate_and_fire_network(window_size=None, num_synapses=6, kernel_size=10)
    assert free.input_shape == (None, None, 6)
    free.set_weights(fixed.get_weights())
    x = (np.random.default_rng(0).random((1, 300, 6)) < 0.1).astype("float32")
    long_out = _predict(free, x)
    short_out = _predict(fixed, x[:, :120])
    for a, b in zip(long_out, short_out):
        assert a.shape[1] == 300
        np.testing.assert_allclose(a[:, :120], b, rtol=1e-5, atol=1e-7)


def test_first_layer_weights_tcn(tiny_model):
    w = model_weights.first_layer_weights(tiny_model)
    assert w.shape == (4, TINY_CHANNELS, 5)
    kernel = keras.ops.convert_to_numpy(tiny_model.get_layer("layer_1").kernel)
    np.testing.assert_array_equal(w, np.transpose(kernel, (2, 1, 0)))
