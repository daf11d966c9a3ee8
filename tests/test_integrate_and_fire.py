"""Tests of neuron_as_deep_net.integrate_and_fire.cell against spec §5 ("I&F simulation")."""

import math

import numpy as np
import pytest

from neuron_as_deep_net.integrate_and_fire import cell as iaf
from neuron_as_deep_net.integrate_and_fire.inputs import generate_multiple_integrate_and_fire_simulations

V_RESET, V_THRESHOLD = -75.0, -55.0
WEIGHTS = np.r_[np.ones(80), -np.ones(20)]


def single_sim(num_bins=600, events=()):
    """Bool input (1, num_bins, 100); events are (time, synapse) pairs."""
    x = np.zeros((1, num_bins, 100), dtype=bool)
    for t, synapse in events:
        x[0, t, synapse] = True
    return x


def reference_simulation(input_spikes, weights, v_reset=V_RESET, v_threshold=V_THRESHOLD, factor=2.0, tau=20.0):
    """Spec §5 step by step: filter each row, weighted sum, v = v_reset + 2 I, loop over every ms.

    Returns float64 voltages (before the -54.9 post-processing and the float32 cast) and bool spikes.
    """
    num_sims, num_bins, num_synapses = input_spikes.shape
    length = int(7 * tau) + 1
    kernel = np.exp(-np.arange(length) / tau)
    voltages = np.zeros((num_sims, num_bins))
    spikes = np.zeros((num_sims, num_bins), dtype=bool)
    for n in range(num_sims):
        filtered = np.array([np.convolve(input_spikes[n, :, s].astype(float), kernel)[:num_bins]
                             for s in range(num_synapses)])
        current = weights @ filtered
        v = v_reset + factor * current
        for t in range(num_bins):
            if v[t] > v_threshold and t + 1 < num_bins:
                end = min(num_bins, t + 1 + length)
                v[t + 1:end] -= (v[t + 1] - v_reset) * kernel[:end - t - 1]
                spikes[n, t] = True
        voltages[n] = v
    return voltages, spikes


def postprocess(voltages):
    out = voltages.copy()
    out[out > V_THRESHOLD] = -54.9
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------------------

def test_membrane_kernel():
    kernel = iaf.membrane_kernel(20)
    assert kernel.shape == (141,)
    assert kernel[0] == 1.0
    assert kernel[20] == pytest.approx(math.exp(-1), rel=1e-12)
    np.testing.assert_allclose(kernel, np.exp(-np.arange(141) / 20.0), rtol=1e-12)
    assert iaf.membrane_kernel(10).shape == (71,)


# ---------------------------------------------------------------------------------------------------------
# sub-threshold: a linear filter
# ---------------------------------------------------------------------------------------------------------

def test_single_excitatory_input_psp():
    t0 = 100
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(events=[(t0, 3)]), WEIGHTS)
    assert soma.dtype == np.float32 and soma.shape == (1, 600)
    assert spikes.dtype == bool and spikes.shape == (1, 600) and not spikes.any()
    v = soma[0].astype(np.float64)
    np.testing.assert_allclose(v[:t0], -75.0, atol=1e-5)  # causal
    n = np.arange(141)
    np.testing.assert_allclose(v[t0:t0 + 141], -75.0 + 2.0 * np.exp(-n / 20.0), atol=1e-5)
    assert v[t0] == pytest.approx(-73.0, abs=1e-5)
    np.testing.assert_allclose(v[t0 + 141:], -75.0, atol=1e-5)  # the 141-ms kernel ends


def test_single_inhibitory_input_is_the_mirror_image():
    t0 = 250
    soma, _ = iaf.simulate_integrate_and_fire(single_sim(events=[(t0, 90)]), WEIGHTS)
    v = soma[0].astype(np.float64)
    n = np.arange(141)
    np.testing.assert_allclose(v[:t0], -75.0, atol=1e-5)
    np.testing.assert_allclose(v[t0:t0 + 141], -75.0 - 2.0 * np.exp(-n / 20.0), atol=1e-5)


def test_linear_superposition():
    a = single_sim(events=[(50, 0), (50, 1), (60, 85)])
    b = single_sim(events=[(120, 5), (300, 99)])
    va = iaf.simulate_integrate_and_fire(a, WEIGHTS)[0][0].astype(np.float64) + 75.0
    vb = iaf.simulate_integrate_and_fire(b, WEIGHTS)[0][0].astype(np.float64) + 75.0
    vab = iaf.simulate_integrate_and_fire(a | b, WEIGHTS)[0][0].astype(np.float64) + 75.0
    np.testing.assert_allclose(vab, va + vb, atol=2e-5)
    assert np.abs(va).max() > 3.5  # two coincident excitatory inputs: 4 mV


def test_weights_scale_the_psp():
    weights = np.zeros(100)
    weights[7] = 0.5
    soma, _ = iaf.simulate_integrate_and_fire(single_sim(events=[(10, 7), (10, 8)]), weights)
    assert soma[0, 10] == pytest.approx(-74.0, abs=1e-5)


# ---------------------------------------------------------------------------------------------------------
# threshold and reset
# ---------------------------------------------------------------------------------------------------------

def test_threshold_crossing_spike_and_reset():
    t0, t_late = 200, 205
    # 11 coincident excitatory inputs: -75 + 22 = -53 > -55; three more inputs after the spike
    events = [(t0, s) for s in range(11)] + [(t_late, s) for s in range(20, 23)]
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(events=events), WEIGHTS)
    assert np.flatnonzero(spikes[0]).tolist() == [t0]
    assert soma[0, t0] == np.float32(-54.9)  # value above threshold replaced
    assert soma[0, t0 + 1] == np.float32(-75.0)  # reset
    # the linear (no-reset) trace, then v_after = v_before - (v_before[t0+1] - v_reset) * kernel[n]
    n = np.arange(600)
    v_linear = (-75.0 + 22.0 * np.where(n >= t0, np.exp(-(n - t0) / 20.0), 0) * (n < t0 + 141)
                + 6.0 * np.where(n >= t_late, np.exp(-(n - t_late) / 20.0), 0) * (n < t_late + 141))
    kernel = np.exp(-np.arange(141) / 20.0)
    expected = v_linear.copy()
    expected[t0 + 1:t0 + 142] -= (v_linear[t0 + 1] - V_RESET) * kernel
    np.testing.assert_allclose(soma[0, t0 + 1:].astype(np.float64), expected[t0 + 1:], atol=2e-5)
    np.testing.assert_allclose(soma[0, :t0].astype(np.float64), -75.0, atol=1e-5)
    # after the reset only the later inputs remain: -75 + 6 exp(-(t - 205)/20)
    assert soma[0, t_late] == pytest.approx(-69.0, abs=1e-5)
    # the truncated subtraction leaves a small undershoot where the kernel window ends (faithful quirk)
    assert soma[0, t0 + 141] == pytest.approx(-75.0 + 6.0 * math.exp(-136 / 20.0) - 22.0 * math.exp(-141 / 20.0),
                                              abs=1e-5)


def test_no_spike_below_threshold():
    events = [(300, s) for s in range(9)]  # -75 + 18 = -57 < -55
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(events=events), WEIGHTS)
    assert not spikes.any()
    assert soma[0, 300] == pytest.approx(-57.0, abs=1e-5)
    assert soma.max() < -55.0


def test_temporal_summation_crosses_threshold_later():
    # 6 at t=100 and 6 at t=101: v[100] = -63, v[101] = -75 + 12 exp(-1/20) + 12 = -51.6 > -55
    events = [(100, s) for s in range(6)] + [(101, s) for s in range(6, 12)]
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(events=events), WEIGHTS)
    assert np.flatnonzero(spikes[0]).tolist() == [101]
    assert soma[0, 100] == pytest.approx(-63.0, abs=1e-5)
    assert soma[0, 102] == np.float32(-75.0)


def test_spike_in_last_bin_is_not_recorded():
    num_bins = 400
    events = [(num_bins - 1, s) for s in range(11)]
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(num_bins, events), WEIGHTS)
    assert not spikes.any()
    assert soma[0, -1] == np.float32(-54.9)  # still above threshold, so post-processed
    # one bin earlier it is recorded
    events = [(num_bins - 2, s) for s in range(11)]
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(num_bins, events), WEIGHTS)
    assert np.flatnonzero(spikes[0]).tolist() == [num_bins - 2]
    assert soma[0, -1] == np.float32(-75.0)


def test_custom_cell_parameters():
    # the function defaults of the original were -95 / -50 / 5; any values must be honoured
    soma, spikes = iaf.simulate_integrate_and_fire(single_sim(events=[(10, 0)]), WEIGHTS, v_reset=-95.0,
                                                   v_threshold=-50.0, current_to_voltage_mv=5.0, tau_m_ms=10.0)
    assert soma[0, 10] == pytest.approx(-90.0, abs=1e-5)
    assert soma[0, 20] == pytest.approx(-95.0 + 5.0 * math.exp(-1), abs=1e-5)
    assert soma[0, 10 + 71] == pytest.approx(-95.0, abs=1e-5)  # 7*tau + 1 = 71 long kernel


# ---------------------------------------------------------------------------------------------------------
# against a straightforward per-ms reference implementation
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_loop_on_generated_inputs(seed):
    X = generate_multiple_integrate_and_fire_simulations(np.random.RandomState(seed), 3, sim_duration_ms=3000)
    soma, spikes = iaf.simulate_integrate_and_fire(X, WEIGHTS)
    ref_v, ref_spikes = reference_simulation(X, WEIGHTS)
    assert ref_spikes.sum() > 3  # the comparison covers resets
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_allclose(soma, postprocess(ref_v), rtol=0, atol=1e-5)


def test_matches_reference_loop_with_random_weights_and_dense_input():
    rng = np.random.RandomState(5)
    X = rng.rand(2, 2000, 100) < 0.01
    weights = rng.normal(0.3, 1.0, size=100)
    soma, spikes = iaf.simulate_integrate_and_fire(X, weights)
    ref_v, ref_spikes = reference_simulation(X, weights)
    assert ref_spikes.sum() > 10
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_allclose(soma, postprocess(ref_v), rtol=0, atol=1e-5)


def test_apply_resets_matches_reference_loop_in_float64():
    """The reset loop alone, before the post-processing and float32 cast: equal to 1e-9."""
    rng = np.random.RandomState(8)
    X = rng.rand(1, 3000, 100) < 0.012
    weights = rng.normal(0.3, 1.0, size=100)
    kernel = iaf.membrane_kernel(20)
    current = np.array([np.convolve(X[0, :, s].astype(float), kernel)[:3000] for s in range(100)])
    voltage = V_RESET + 2.0 * (weights @ current)
    ref_v, ref_spikes = reference_simulation(X, weights)
    spikes = np.zeros(3000, dtype=bool)
    iaf.apply_resets(voltage, spikes, kernel, V_RESET, V_THRESHOLD)
    assert ref_spikes.sum() > 10
    np.testing.assert_array_equal(spikes, ref_spikes[0])
    np.testing.assert_allclose(voltage, ref_v[0], rtol=0, atol=1e-9)


def test_chunking_does_not_change_results(monkeypatch):
    X = generate_multiple_integrate_and_fire_simulations(np.random.RandomState(3), 5, sim_duration_ms=1000)
    soma_a, spikes_a = iaf.simulate_integrate_and_fire(X, WEIGHTS)
    monkeypatch.setattr(iaf, "SIMULATION_CHUNK", 2)
    soma_b, spikes_b = iaf.simulate_integrate_and_fire(X, WEIGHTS)
    np.testing.assert_array_equal(spikes_a, spikes_b)
    np.testing.assert_array_equal(soma_a, soma_b)
