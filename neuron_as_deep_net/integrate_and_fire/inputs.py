"""Random synaptic inputs of the integrate-and-fire figure: the original's inhomogeneous-Poisson inputs (spec §5).

The generator draws from a ``numpy.random.RandomState`` in exactly the original's call order, so the same
seed gives bit-identical spike trains to the authors' script. Do not reorder, add or remove draws here.
"""

import math

import numpy as np

from ..core.spike_trains import JITTER_RANGE_MS, blocks_to_smoothed_rates, draw_jittered_option, rates_to_spikes


# integrate-and-fire defaults (spec §5)
IF_RATE_INTERVAL_OPTIONS_MS = [25, 30, 35, 40, 50, 60, 70, 80, 90, 100]
IF_SMOOTHING_SIGMA_OPTIONS_MS = [40, 60, 80, 100]
IF_NEGATIVE_COUNT_REPLACEMENT = 0.0001


def generate_integrate_and_fire_input_spikes(
    rng,
    num_exc_synapses=80,
    num_inh_synapses=20,
    sim_duration_ms=6000,
    num_ex_spikes_per_100ms_range=(0, 50),
    num_ex_inh_spike_diff_per_100ms_range=(-50, -15),
    rate_interval_options_ms=IF_RATE_INTERVAL_OPTIONS_MS,
    smoothing_sigma_options_ms=IF_SMOOTHING_SIGMA_OPTIONS_MS,
    rate_interval_jitter_range_ms=JITTER_RANGE_MS,
    smoothing_sigma_jitter_range_ms=JITTER_RANGE_MS,
):
    """One I&F simulation's bool (num_exc + num_inh, sim_duration_ms) input, excitatory rows first (spec §5)."""
    block_length_ms = draw_jittered_option(rng, rate_interval_options_ms, rate_interval_jitter_range_ms)
    sigma_ms = draw_jittered_option(rng, smoothing_sigma_options_ms, smoothing_sigma_jitter_range_ms)
    num_blocks = int(math.ceil(sim_duration_ms / block_length_ms))

    ex_counts = rng.uniform(low=num_ex_spikes_per_100ms_range[0], high=num_ex_spikes_per_100ms_range[1],
                            size=(1, num_blocks))
    # low is max(0, ex + diff_lo) as in §3; numpy accepts low > high here and draws between them; negative
    # counts are then replaced (spec §5)
    inh_counts = rng.uniform(low=np.maximum(0, ex_counts + num_ex_inh_spike_diff_per_100ms_range[0]),
                             high=ex_counts + num_ex_inh_spike_diff_per_100ms_range[1], size=(1, num_blocks))
    inh_counts[inh_counts < 0] = IF_NEGATIVE_COUNT_REPLACEMENT

    ex_rates = np.repeat(ex_counts / (num_exc_synapses * 100.0), num_exc_synapses, axis=0)
    inh_rates = np.repeat(inh_counts / (num_inh_synapses * 100.0), num_inh_synapses, axis=0)
    ex_rates = ex_rates * rng.uniform(low=0.5, high=1.5, size=(num_exc_synapses, num_blocks))
    inh_rates = inh_rates * rng.uniform(low=0.5, high=1.5, size=(num_inh_synapses, num_blocks))

    ex_rates = blocks_to_smoothed_rates(ex_rates, block_length_ms, sim_duration_ms, sigma_ms)
    inh_rates = blocks_to_smoothed_rates(inh_rates, block_length_ms, sim_duration_ms, sigma_ms)

    ex_spikes = rates_to_spikes(rng, ex_rates)
    inh_spikes = rates_to_spikes(rng, inh_rates)
    return np.vstack((ex_spikes, inh_spikes))


def generate_multiple_integrate_and_fire_simulations(rng, num_simulations, progress=None, **generator_kwargs):
    """Bool (num_simulations, sim_duration_ms, num_synapses) inputs, sims first; a first discarded call probes.

    The original called the generator once extra to learn the output shape, consuming a full set of draws
    (spec §5); we keep that call so the same seed gives the same simulations. The result is bool (one byte per
    bin): 12000 x 6000 x 100 is 7.2 GB, never float64.
    """
    probe = generate_integrate_and_fire_input_spikes(rng, **generator_kwargs)
    inputs = np.zeros((num_simulations,) + probe.T.shape, dtype=bool)
    iterator = range(num_simulations) if progress is None else progress(range(num_simulations))
    for k in iterator:
        inputs[k] = generate_integrate_and_fire_input_spikes(rng, **generator_kwargs).T
    return inputs
