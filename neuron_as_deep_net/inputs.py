"""Random synaptic input generation: the original's inhomogeneous-Poisson inputs (spec §3 and §5).

Both generators draw from a ``numpy.random.RandomState`` in exactly the original's call order, so the same
seed gives bit-identical spike trains to the authors' scripts (which used numpy's global legacy generator,
seeded with ``np.random.seed(seed)``). Do not reorder, add or remove draws here.

Per simulation the recipe is (spec §3 "Input spike generation"):
rate blocks of a random length -> a random total count per block and tree -> a per-(segment, block) spatial
factor in [0.5, 1.5) -> per-ms rates -> Gaussian smoothing ('same', zero padded) -> ``exponential(rate)``
compared with ``rand()``: at most one spike per synapse per ms.
"""

import math

import numpy as np
from scipy import signal

# L5PC defaults (spec §3 parameter block)
L5PC_RATE_INTERVAL_OPTIONS_MS = [25, 30, 35, 40, 45, 55, 60, 65, 70, 75, 80, 85, 90, 100, 150, 200, 300, 450]
L5PC_SMOOTHING_SIGMA_OPTIONS_MS = [25, 30, 35, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500, 600]
JITTER_RANGE_MS = 20
MIN_SEG_LENGTH_UM = 10.0

# per-100-ms total spike-count ranges of the three L5PC dataset variants (spec §3 table)
L5PC_INPUT_RANGES = {
    "NMDA": {"bas_ex": [0, 800], "bas_inh_diff": [-600, 200], "apic_ex": [0, 800], "apic_inh_diff": [-600, 200]},
    "AMPA": {"bas_ex": [0, 1900], "bas_inh_diff": [-1650, 150], "apic_ex": [0, 2000], "apic_inh_diff": [-1650, 150]},
    "AMPA_SK": {"bas_ex": [0, 1900], "bas_inh_diff": [-1500, 300], "apic_ex": [0, 2000], "apic_inh_diff": [-1500, 300]},
}

# integrate-and-fire defaults (spec §5)
IF_RATE_INTERVAL_OPTIONS_MS = [25, 30, 35, 40, 50, 60, 70, 80, 90, 100]
IF_SMOOTHING_SIGMA_OPTIONS_MS = [40, 60, 80, 100]
IF_NEGATIVE_COUNT_REPLACEMENT = 0.0001


def draw_jittered_option(rng, options, jitter_range):
    """One option plus int(2*jitter*U - jitter) (truncated toward zero): randint then rand (spec §3 step 2)."""
    value = options[rng.randint(len(options))]
    return value + int(2 * jitter_range * rng.rand() - jitter_range)


def gaussian_smoothing_kernel(sigma_ms):
    """Normalised Gaussian window of length 1 + 7*sigma and std sigma (scipy's gaussian window)."""
    kernel = signal.windows.gaussian(int(1 + 7 * sigma_ms), std=sigma_ms)
    return kernel / kernel.sum()


def blocks_to_smoothed_rates(block_rates, block_length_ms, sim_duration_ms, sigma_ms):
    """Expand (rows, blocks) rates to 1-ms bins, crop, and smooth along time ('same', zero padded)."""
    rates = np.repeat(block_rates, block_length_ms, axis=1)[:, :sim_duration_ms]
    kernel = gaussian_smoothing_kernel(sigma_ms)[np.newaxis, :]
    return signal.convolve(rates, kernel, mode="same")


def rates_to_spikes(rng, rates):
    """Bernoulli-like spikes: spike where rand() < exponential(scale=rate); exponential first, then rand."""
    exponential_draws = rng.exponential(scale=rates)
    return rng.rand(*rates.shape) < exponential_draws


def segment_rate_weights(segment_lengths_um, segment_types, min_seg_length_um=MIN_SEG_LENGTH_UM):
    """Adjusted lengths (min_seg_length + L/nseg) and the basal/apical masks used by the L5PC generator."""
    adjusted = np.asarray(segment_lengths_um, dtype=float) + min_seg_length_um
    types = np.asarray(segment_types)
    is_basal = types == "basal"
    is_apical = types == "apical"
    if not np.all(is_basal | is_apical):
        raise ValueError("segment types must be 'basal' or 'apical'")
    if np.any(np.diff(is_basal.astype(int)) > 0):
        raise ValueError("segments must be ordered basal first, then apical (spec §1.2)")
    return adjusted, is_basal, is_apical


def generate_l5pc_input_spikes(
    rng,
    segment_lengths_um,
    segment_types,
    sim_duration_ms=6000,
    num_bas_ex_spikes_per_100ms_range=(0, 800),
    num_bas_ex_inh_spike_diff_per_100ms_range=(-600, 200),
    num_apic_ex_spikes_per_100ms_range=(0, 800),
    num_apic_ex_inh_spike_diff_per_100ms_range=(-600, 200),
    rate_interval_options_ms=L5PC_RATE_INTERVAL_OPTIONS_MS,
    smoothing_sigma_options_ms=L5PC_SMOOTHING_SIGMA_OPTIONS_MS,
    rate_interval_jitter_range_ms=JITTER_RANGE_MS,
    smoothing_sigma_jitter_range_ms=JITTER_RANGE_MS,
    min_seg_length_um=MIN_SEG_LENGTH_UM,
):
    """Excitatory and inhibitory bool (num_segments, sim_duration_ms) spike matrices of one L5PC simulation.

    Spec §3, steps 1-11, with the random draws in the original's order (see the module docstring).
    """
    adjusted_length, is_basal, is_apical = segment_rate_weights(segment_lengths_um, segment_types, min_seg_length_um)
    num_segments = adjusted_length.size
    basal_total_length = adjusted_length[is_basal].sum()
    apical_total_length = adjusted_length[is_apical].sum()

    block_length_ms = draw_jittered_option(rng, rate_interval_options_ms, rate_interval_jitter_range_ms)
    sigma_ms = draw_jittered_option(rng, smoothing_sigma_options_ms, smoothing_sigma_jitter_range_ms)
    num_blocks = int(math.ceil(sim_duration_ms / block_length_ms))

    def draw_tree_counts(ex_range, diff_range):
        ex_counts = rng.uniform(low=ex_range[0], high=ex_range[1], size=(1, num_blocks))
        inh_low = np.maximum(0, ex_counts + diff_range[0])
        inh_counts = rng.uniform(low=inh_low, high=ex_counts + diff_range[1], size=(1, num_blocks))
        return ex_counts, inh_counts

    bas_ex, bas_inh = draw_tree_counts(num_bas_ex_spikes_per_100ms_range, num_bas_ex_inh_spike_diff_per_100ms_range)
    apic_ex, apic_inh = draw_tree_counts(num_apic_ex_spikes_per_100ms_range, num_apic_ex_inh_spike_diff_per_100ms_range)

    # per-um per-ms rates, broadcast to the segments of each tree (basal rows first, then apical)
    ex_rates = np.where(is_basal[:, None], bas_ex / (basal_total_length * 100.0), apic_ex / (apical_total_length * 100.0))
    inh_rates = np.where(is_basal[:, None], bas_inh / (basal_total_length * 100.0), apic_inh / (apical_total_length * 100.0))

    ex_rates = ex_rates * rng.uniform(low=0.5, high=1.5, size=(num_segments, num_blocks))
    inh_rates = inh_rates * rng.uniform(low=0.5, high=1.5, size=(num_segments, num_blocks))
    ex_rates = ex_rates * adjusted_length[:, None]
    inh_rates = inh_rates * adjusted_length[:, None]

    ex_rates = blocks_to_smoothed_rates(ex_rates, block_length_ms, sim_duration_ms, sigma_ms)
    inh_rates = blocks_to_smoothed_rates(inh_rates, block_length_ms, sim_duration_ms, sigma_ms)

    ex_spikes = rates_to_spikes(rng, ex_rates)
    inh_spikes = rates_to_spikes(rng, inh_rates)
    return ex_spikes, inh_spikes


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
