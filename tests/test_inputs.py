"""Tests of the original's random input generators (spec §3, §5): l5pc/inputs.py, integrate_and_fire/inputs.py
and core/spike_trains.py.

The key faithfulness test replays the authors' reference file (seed 1234, 2 simulations) bit for bit.
"""

import math

import numpy as np
import pytest
from scipy import signal

from neuron_as_deep_net.core import spike_trains
from neuron_as_deep_net.integrate_and_fire import inputs as iaf_inputs
from neuron_as_deep_net.l5pc import inputs as l5pc_inputs
from neuron_as_deep_net.l5pc.data_format import dict_to_binary, load_experiment

@pytest.fixture(scope="module")
def reference_experiment(reference_path):
    return load_experiment(reference_path)


# ---------------------------------------------------------------------------------------------------------
# helpers: jitter, smoothing kernel
# ---------------------------------------------------------------------------------------------------------

class StubRng:
    """Returns fixed values and records the call order."""

    def __init__(self, index, uniform):
        self.index, self.uniform, self.calls = index, uniform, []

    def randint(self, n):
        self.calls.append(("randint", n))
        return self.index

    def rand(self):
        self.calls.append(("rand",))
        return self.uniform


@pytest.mark.parametrize("u, jitter", [(0.01, -19), (0.99, 19), (0.5, 0), (0.0, -20), (0.49, 0), (0.51, 0),
                                       (0.474, -1), (0.526, 1), (0.45, -2), (0.9999, 19)])
def test_draw_jittered_option_truncates_toward_zero(u, jitter):
    """option + int(40*U - 20), int truncating toward zero (spec §3 step 2)."""
    rng = StubRng(index=0, uniform=u)
    assert spike_trains.draw_jittered_option(rng, [25, 30], 20) == 25 + jitter
    assert rng.calls == [("randint", 2), ("rand",)]  # randint first, then rand (spec §3 draw order)


def test_draw_jittered_option_minimum_block_is_6_ms():
    options = l5pc_inputs.L5PC_RATE_INTERVAL_OPTIONS_MS
    assert spike_trains.draw_jittered_option(StubRng(0, 1e-9), options, 20) == 25 - 19 == 6
    assert spike_trains.draw_jittered_option(StubRng(len(options) - 1, 1 - 1e-9), options, 20) == 450 + 19


def test_draw_jittered_option_uses_the_drawn_index():
    assert spike_trains.draw_jittered_option(StubRng(3, 0.5), [10, 20, 30, 40, 50], 20) == 40


@pytest.mark.parametrize("sigma", [6, 20, 40, 87])
def test_gaussian_smoothing_kernel(sigma):
    kernel = spike_trains.gaussian_smoothing_kernel(sigma)
    length = 1 + 7 * sigma
    assert kernel.shape == (length,)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    n = np.arange(length) - (length - 1) / 2.0
    expected = np.exp(-0.5 * (n / sigma) ** 2)
    np.testing.assert_allclose(kernel, expected / expected.sum(), rtol=1e-12)
    if length % 2 == 1:
        assert np.argmax(kernel) == (length - 1) // 2
        np.testing.assert_allclose(kernel, kernel[::-1], rtol=1e-12)


# ---------------------------------------------------------------------------------------------------------
# L5PC generator
# ---------------------------------------------------------------------------------------------------------

def small_morphology():
    lengths = [20.0, 5.0, 12.5, 40.0, 8.0, 30.0, 3.0]
    types = ["basal"] * 3 + ["apical"] * 4
    return lengths, types


def test_l5pc_generator_is_deterministic():
    lengths, types = small_morphology()
    ex1, inh1 = l5pc_inputs.generate_l5pc_input_spikes(np.random.RandomState(7), lengths, types, sim_duration_ms=2000)
    ex2, inh2 = l5pc_inputs.generate_l5pc_input_spikes(np.random.RandomState(7), lengths, types, sim_duration_ms=2000)
    ex3, inh3 = l5pc_inputs.generate_l5pc_input_spikes(np.random.RandomState(8), lengths, types, sim_duration_ms=2000)
    assert ex1.shape == inh1.shape == (7, 2000) and ex1.dtype == inh1.dtype == bool
    np.testing.assert_array_equal(ex1, ex2)
    np.testing.assert_array_equal(inh1, inh2)
    assert not np.array_equal(ex1, ex3)
    assert not np.array_equal(inh1, inh3)


def test_l5pc_generator_rejects_bad_segment_types():
    with pytest.raises(ValueError):
        l5pc_inputs.generate_l5pc_input_spikes(np.random.RandomState(0), [1.0, 2.0], ["basal", "soma"])
    with pytest.raises(ValueError):  # apical before basal
        l5pc_inputs.generate_l5pc_input_spikes(np.random.RandomState(0), [1.0, 2.0], ["apical", "basal"])


def test_l5pc_generator_reproduces_reference_inputs_of_both_simulations(reference_experiment):
    """The key faithfulness test: seed 1234 -> the authors' exact input spikes, sims drawn back to back."""
    params = reference_experiment["Params"]
    sims = reference_experiment["Results"]["listOfSingleSimulationDicts"]
    assert params["randomSeed"] == 1234 and len(sims) == 2
    rng = np.random.RandomState(params["randomSeed"])
    for sim in sims:
        ex, inh = l5pc_inputs.generate_l5pc_input_spikes(
            rng, params["allSegmentsLength"], params["allSegmentsType"],
            sim_duration_ms=int(params["totalSimDurationInSec"] * 1000),
            num_bas_ex_spikes_per_100ms_range=params["num_bas_ex_spikes_per_100ms_range"],
            num_bas_ex_inh_spike_diff_per_100ms_range=params["num_bas_ex_inh_spike_diff_per_100ms_range"],
            num_apic_ex_spikes_per_100ms_range=params["num_apic_ex_spikes_per_100ms_range"],
            num_apic_ex_inh_spike_diff_per_100ms_range=params["num_apic_ex_inh_spike_diff_per_100ms_range"],
            rate_interval_options_ms=params["inst_rate_sampling_time_interval_options_ms"])
        expected_ex = dict_to_binary(sim["exInputSpikeTimes"], 639, 6000)
        expected_inh = dict_to_binary(sim["inhInputSpikeTimes"], 639, 6000)
        assert expected_ex.sum() > 10000 and expected_inh.sum() > 10000
        assert ex.shape == inh.shape == (639, 6000)
        np.testing.assert_array_equal(ex, expected_ex)
        np.testing.assert_array_equal(inh, expected_inh)


def test_l5pc_defaults_match_the_reference_params(reference_experiment):
    params = reference_experiment["Params"]
    assert params["inst_rate_sampling_time_interval_options_ms"] == l5pc_inputs.L5PC_RATE_INTERVAL_OPTIONS_MS
    nmda = l5pc_inputs.L5PC_INPUT_RANGES["NMDA"]
    assert list(params["num_bas_ex_spikes_per_100ms_range"]) == nmda["bas_ex"]
    assert list(params["num_bas_ex_inh_spike_diff_per_100ms_range"]) == nmda["bas_inh_diff"]
    assert list(params["num_apic_ex_spikes_per_100ms_range"]) == nmda["apic_ex"]
    assert list(params["num_apic_ex_inh_spike_diff_per_100ms_range"]) == nmda["apic_inh_diff"]


# ---------------------------------------------------------------------------------------------------------
# integrate-and-fire generator
# ---------------------------------------------------------------------------------------------------------

def original_if_generator(rng, sim_duration_ms=6000, num_exc=80, num_inh=20, ex_range=(0, 50), diff_range=(-50, -15),
                          interval_options=(25, 30, 35, 40, 50, 60, 70, 80, 90, 100),
                          sigma_options=(40, 60, 80, 100), jitter=20):
    """The original's generate_input_spike_trains_for_simulation, written out from spec §3/§5 (np.kron style)."""
    block = interval_options[rng.randint(len(interval_options))]
    block += int(2 * jitter * rng.rand() - jitter)
    sigma = sigma_options[rng.randint(len(sigma_options))]
    sigma += int(2 * jitter * rng.rand() - jitter)
    n = int(np.ceil(float(sim_duration_ms) / block))
    ex_counts = rng.uniform(low=ex_range[0], high=ex_range[1], size=(1, n))
    inh_low = np.maximum(0, ex_counts + diff_range[0])
    inh_counts = rng.uniform(low=inh_low, high=ex_counts + diff_range[1], size=(1, n))
    inh_counts[inh_counts < 0] = 0.0001
    ex_rate = np.kron(ex_counts / (num_exc * 100.0), np.ones((num_exc, 1)))
    inh_rate = np.kron(inh_counts / (num_inh * 100.0), np.ones((num_inh, 1)))
    ex_rate = rng.uniform(low=0.5, high=1.5, size=ex_rate.shape) * ex_rate
    inh_rate = rng.uniform(low=0.5, high=1.5, size=inh_rate.shape) * inh_rate
    ex_rate = np.kron(ex_rate, np.ones((1, block)))[:, :sim_duration_ms]
    inh_rate = np.kron(inh_rate, np.ones((1, block)))[:, :sim_duration_ms]
    window = signal.windows.gaussian(int(1 + 7 * sigma), std=sigma)[np.newaxis, :]
    window /= window.sum()
    ex_rate = signal.convolve(ex_rate, window, mode="same")
    inh_rate = signal.convolve(inh_rate, window, mode="same")
    ex_p = rng.exponential(scale=ex_rate)
    ex = rng.rand(ex_p.shape[0], ex_p.shape[1]) < ex_p
    inh_p = rng.exponential(scale=inh_rate)
    inh = rng.rand(inh_p.shape[0], inh_p.shape[1]) < inh_p
    return np.vstack((ex, inh))


def test_if_generator_shape_and_determinism():
    a = iaf_inputs.generate_integrate_and_fire_input_spikes(np.random.RandomState(3))
    b = iaf_inputs.generate_integrate_and_fire_input_spikes(np.random.RandomState(3))
    c = iaf_inputs.generate_integrate_and_fire_input_spikes(np.random.RandomState(4))
    assert a.shape == (100, 6000) and a.dtype == bool
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [1234, 5, 77])
def test_if_generator_matches_the_original_algorithm(seed):
    """Bit-identical to the spec's recipe and draw order, three simulations from one stream."""
    rng_module, rng_original = np.random.RandomState(seed), np.random.RandomState(seed)
    for _ in range(3):
        got = iaf_inputs.generate_integrate_and_fire_input_spikes(rng_module, sim_duration_ms=3000)
        expected = original_if_generator(rng_original, sim_duration_ms=3000)
        np.testing.assert_array_equal(got, expected)
    assert rng_module.randint(1 << 30) == rng_original.randint(1 << 30)  # same number of draws consumed


def test_if_generator_rates_match_the_spec():
    """Mean rates over 50 sims against the rates implied by spec §5.

    Excitatory: N_ex ~ U(0, 50) per 100 ms over 80 synapses -> 25 / 8000 per ms = 3.125 Hz per synapse.
    Inhibitory: N_inh ~ U(max(0, N_ex - 50), N_ex - 15) = U(0, N_ex - 15), negatives -> 1e-4, so
    E[N_inh] = 0.7 * 17.5 / 2 = 6.125 per 100 ms over 20 synapses -> 3.06 Hz per synapse.
    Zero-padded smoothing lowers both by about 1 %. Excitatory rows come first.
    """
    X = iaf_inputs.generate_multiple_integrate_and_fire_simulations(np.random.RandomState(2021), 50)
    assert X.shape == (50, 6000, 100) and X.dtype == bool
    exc_rate_hz = X[:, :, :80].mean() * 1000
    inh_rate_hz = X[:, :, 80:].mean() * 1000
    assert 2.0 < exc_rate_hz < 4.5
    assert 2.5 < inh_rate_hz < 3.6  # (without max(0, .) in the inhibitory low bound it would be ~2.0 Hz)
    assert inh_rate_hz < exc_rate_hz
    # zero-padded smoothing: the first and last 10 ms fire less than the middle
    edges = X[:, np.r_[0:10, 5990:6000], :].mean()
    middle = X[:, 1000:5000, :].mean()
    assert edges < 0.85 * middle


def test_generate_multiple_discards_a_probe_call():
    seed = 99
    multi = iaf_inputs.generate_multiple_integrate_and_fire_simulations(np.random.RandomState(seed), 2,
                                                                   sim_duration_ms=1500)
    assert multi.shape == (2, 1500, 100) and multi.dtype == bool
    rng = np.random.RandomState(seed)
    first = iaf_inputs.generate_integrate_and_fire_input_spikes(rng, sim_duration_ms=1500)
    second = iaf_inputs.generate_integrate_and_fire_input_spikes(rng, sim_duration_ms=1500)
    third = iaf_inputs.generate_integrate_and_fire_input_spikes(rng, sim_duration_ms=1500)
    np.testing.assert_array_equal(multi[0], second.T)
    np.testing.assert_array_equal(multi[1], third.T)
    assert not np.array_equal(multi[0], first.T)


def test_generate_multiple_passes_kwargs_and_progress():
    seen = []

    def progress(iterable):
        seen.append(len(iterable))
        return iterable

    X = iaf_inputs.generate_multiple_integrate_and_fire_simulations(
        np.random.RandomState(0), 3, progress=progress, num_exc_synapses=8, num_inh_synapses=2,
        sim_duration_ms=500)
    assert X.shape == (3, 500, 10)
    assert seen == [3]


def test_rates_to_spikes_rule():
    """spike where rand() < exponential(scale=rate): exponential drawn first, then rand, same shape."""
    rates = np.full((4, 1000), 0.3)
    got = spike_trains.rates_to_spikes(np.random.RandomState(11), rates)
    expected_rng = np.random.RandomState(11)
    p = expected_rng.exponential(scale=rates)
    expected = expected_rng.rand(4, 1000) < p
    np.testing.assert_array_equal(got, expected)
    # P(U < Exp(r)) = r (1 - exp(-1/r)) = 0.29 for r = 0.3
    assert got.mean() == pytest.approx(0.3 * (1 - math.exp(-1 / 0.3)), abs=0.03)
