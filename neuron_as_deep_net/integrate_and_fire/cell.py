"""The leaky integrate-and-fire point neuron of Figure 1 (spec §5 "I&F simulation").

The membrane is a linear filter of the synaptic input (an exponential kernel of tau_m), so the sub-threshold
voltage of every simulation is one FFT convolution; only the reset after each output spike is sequential,
and that loop runs over output spikes, not over time bins.
"""

import numpy as np
from scipy import signal

V_RESET_MV = -75.0  # the values the script passes (the function defaults were -95 / -50 / 5)
V_THRESHOLD_MV = -55.0
CURRENT_TO_VOLTAGE_MV = 2.0
TAU_M_MS = 20.0
SOMA_ABOVE_THRESHOLD_MV = -54.9  # soma values above threshold are set to this after the simulation
SIMULATION_CHUNK = 32  # simulations converted to floats at a time


def membrane_kernel(tau_m_ms=TAU_M_MS):
    """exp(-n/tau) for n = 0 .. 7*tau (length 141 for tau 20), scipy's exponential window with sym=False."""
    return signal.windows.exponential(int(7 * tau_m_ms + 1), center=0, tau=tau_m_ms, sym=False)


def simulate_integrate_and_fire(input_spikes, synaptic_weights, v_reset=V_RESET_MV, v_threshold=V_THRESHOLD_MV,
                                current_to_voltage_mv=CURRENT_TO_VOLTAGE_MV, tau_m_ms=TAU_M_MS):
    """Simulate I&F cells: input bool (num_sims, T, num_synapses), weights (num_synapses,).

    Returns (soma_voltage float32 (num_sims, T), output_spikes bool (num_sims, T)), with the original's
    post-processing (soma values above threshold set to -54.9 mV).
    """
    num_sims, num_time_bins, num_synapses = input_spikes.shape
    weights = np.asarray(synaptic_weights, dtype=np.float64).reshape(num_synapses)
    kernel = membrane_kernel(tau_m_ms)

    # weighted sum first, then one causal filter per simulation (linear, so the order does not matter);
    # in chunks of simulations so a 12000-simulation input is never expanded to floats all at once
    net_input = np.empty((num_sims, num_time_bins), dtype=np.float64)
    for start in range(0, num_sims, SIMULATION_CHUNK):
        chunk = input_spikes[start:start + SIMULATION_CHUNK].astype(np.float32)
        net_input[start:start + chunk.shape[0]] = chunk @ weights
    current = signal.fftconvolve(net_input, kernel[np.newaxis, :], mode="full", axes=1)[:, :num_time_bins]
    voltage = v_reset + current_to_voltage_mv * current

    output_spikes = np.zeros((num_sims, num_time_bins), dtype=bool)
    for n in range(num_sims):
        apply_resets(voltage[n], output_spikes[n], kernel, v_reset, v_threshold)

    voltage = voltage.astype(np.float32)  # the original cast first, then replaced the supra-threshold values
    voltage[voltage > v_threshold] = SOMA_ABOVE_THRESHOLD_MV
    return voltage, output_spikes


def apply_resets(voltage, output_spikes, kernel, v_reset, v_threshold):
    """In place: at every t with v[t] > threshold (and t+1 in range) mark a spike and reset from t+1.

    The reset subtracts (v[t+1] - v_reset) * kernel from v[t+1 : t+1+len(kernel)], which puts v[t+1] at
    v_reset and lets the after-hyperpolarisation decay with tau_m. The search jumps from spike to spike.
    """
    num_time_bins = voltage.size
    t = 0
    while t < num_time_bins - 1:
        above = np.flatnonzero(voltage[t:num_time_bins - 1] > v_threshold)
        if above.size == 0:
            return
        t = t + above[0]
        output_spikes[t] = True
        end = min(num_time_bins, t + 1 + kernel.size)
        voltage[t + 1:end] -= (voltage[t + 1] - v_reset) * kernel[:end - t - 1]
        t += 1
