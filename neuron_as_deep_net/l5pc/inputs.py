"""Random synaptic inputs of the L5PC datasets: the original's inhomogeneous-Poisson inputs (spec §3).

The generator draws from a ``numpy.random.RandomState`` in exactly the original's call order, so the same
seed gives bit-identical spike trains to the authors' scripts (which used numpy's global legacy generator,
seeded with ``np.random.seed(seed)``). Do not reorder, add or remove draws here.

Per simulation the recipe is (spec §3 "Input spike generation"):
rate blocks of a random length -> a random total count per block and tree -> a per-(segment, block) spatial
factor in [0.5, 1.5) -> per-ms rates -> Gaussian smoothing ('same', zero padded) -> ``exponential(rate)``
compared with ``rand()``: at most one spike per synapse per ms.
"""

import math

import numpy as np

from ..core.spike_trains import JITTER_RANGE_MS, blocks_to_smoothed_rates, draw_jittered_option, rates_to_spikes


# L5PC defaults (spec §3 parameter block)
L5PC_RATE_INTERVAL_OPTIONS_MS = [25, 30, 35, 40, 45, 55, 60, 65, 70, 75, 80, 85, 90, 100, 150, 200, 300, 450]
L5PC_SMOOTHING_SIGMA_OPTIONS_MS = [25, 30, 35, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500, 600]


MIN_SEG_LENGTH_UM = 10.0

# per-100-ms total spike-count ranges of the three L5PC dataset variants (spec §3 table)
L5PC_INPUT_RANGES = {
    "NMDA": {"bas_ex": [0, 800], "bas_inh_diff": [-600, 200], "apic_ex": [0, 800], "apic_inh_diff": [-600, 200]},
    "AMPA": {"bas_ex": [0, 1900], "bas_inh_diff": [-1650, 150], "apic_ex": [0, 2000], "apic_inh_diff": [-1650, 150]},
    "AMPA_SK": {"bas_ex": [0, 1900], "bas_inh_diff": [-1500, 300], "apic_ex": [0, 2000], "apic_inh_diff": [-1500, 300]},
}


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
