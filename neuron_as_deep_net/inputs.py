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


# =========================================================================================================
# Ball-and-stick cells (ball_and_stick.md §3 "Per simulation", per-chunk ranges). These draw from a
# numpy Generator (no original order to keep); one Generator per chunk and per simulation, seeded from
# (seed, chunk index[, simulation index]), so any worker reproduces any simulation.
# =========================================================================================================

# per-chunk ranges: (low end drawn from, high end drawn from)
BALL_AND_STICK_RANGE_BOUNDS = {
    "exc_max_magnitude": ((2.0, 4.5), (5.0, 7.0)),
    "inh_max_magnitude": ((2.0, 3.5), (4.0, 7.0)),
    "exc_sparsity": ((0.92, 0.95), (0.97, 0.98)),
    "inh_sparsity": ((0.93, 0.96), (0.97, 0.99)),
}
MODULATION_PROBABILITY = 0.4  # chance that a simulation gets modulation intervals
MODULATION_NUM_INTERVALS = (6, 24)  # randint bounds (6..23)
MODULATION_DURATION_MS = (16, 256)  # randint bounds
MODULATION_FACTORS = [0.0, 0.3, 0.5, 2.0, 3.0, 4.0, 5.0]
MODULATION_FACTOR_PROBABILITIES = [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
MODULATION_MAX_SEGMENTS = 7  # each interval modulates a random 1..7-segment subset (exc and inh separately)


def draw_ball_and_stick_chunk_ranges(rng):
    """The [low, high] range of each input statistic for one chunk of simulations (spec §3 table)."""
    return {name: [float(rng.uniform(*low)), float(rng.uniform(*high))]
            for name, (low, high) in BALL_AND_STICK_RANGE_BOUNDS.items()}


def random_weighted_spikes(rng, num_segments, duration_ms, max_magnitude, sparsity):
    """(segments, ms) float array: U(0,1) * max_magnitude per bin, zeroed with probability ``sparsity``."""
    values = rng.uniform(size=(num_segments, duration_ms)) * max_magnitude
    values[rng.uniform(size=(num_segments, duration_ms)) < sparsity] = 0.0
    return values


def random_segment_mask(rng, num_segments, num_intervals):
    """(intervals, segments) bool: each row a random subset of 1..min(7, segments) segments."""
    max_size = min(MODULATION_MAX_SEGMENTS, num_segments)
    sizes = rng.integers(1, max_size + 1, size=num_intervals)
    ranks = np.argsort(rng.uniform(size=(num_intervals, num_segments)), axis=1)  # a random permutation per row
    return ranks < sizes[:, None]


def modulation_gain(rng, num_segments, duration_ms):
    """Multiplicative (segments, ms) gains of the exc and inh inputs: ones, or 6..23 modulation intervals.

    Each interval: duration randint(16, 256) ms, start U[0, duration_ms - dur), factor from
    MODULATION_FACTORS, applied to a random segment subset of X_exc and an independent one of X_inh. Where
    intervals overlap, their factors multiply.
    """
    gains = np.ones((2, num_segments, duration_ms))
    if rng.uniform() >= MODULATION_PROBABILITY:
        return gains
    num_intervals = int(rng.integers(*MODULATION_NUM_INTERVALS))
    durations = rng.integers(*MODULATION_DURATION_MS, size=num_intervals)
    starts = np.floor(rng.uniform(size=num_intervals) * (duration_ms - durations)).astype(np.int64)
    factors = rng.choice(MODULATION_FACTORS, size=num_intervals, p=MODULATION_FACTOR_PROBABILITIES)
    time_ms = np.arange(duration_ms)
    in_interval = (time_ms >= starts[:, None]) & (time_ms < (starts + durations)[:, None])  # (intervals, ms)
    log_factors = np.log(np.maximum(factors, 1e-300))[:, None]  # factor 0 -> a gain of exactly 0 below
    for kind in range(2):
        segments = random_segment_mask(rng, num_segments, num_intervals)  # (intervals, segments)
        hit = segments[:, :, None] & in_interval[:, None, :]  # (intervals, segments, ms)
        zeroed = (hit & (factors == 0)[:, None, None]).any(axis=0)
        log_gain = (hit * log_factors[:, :, None]).sum(axis=0, where=factors[:, None, None] != 0)
        gains[kind] = np.where(zeroed, 0.0, np.exp(log_gain))
    return gains


def generate_ball_and_stick_inputs(rng, chunk_ranges, num_segments=8, duration_ms=8192):
    """One simulation's inputs: float16 (segments, ms, 2), [..., 0] excitatory, [..., 1] inhibitory (spec §3).

    max magnitude and sparsity are drawn U(range) separately for exc and inh, then every bin is
    U(0,1) * max_magnitude, zeroed with probability sparsity, times the modulation gain.
    """
    exc_max = rng.uniform(*chunk_ranges["exc_max_magnitude"])
    inh_max = rng.uniform(*chunk_ranges["inh_max_magnitude"])
    exc_sparsity = rng.uniform(*chunk_ranges["exc_sparsity"])
    inh_sparsity = rng.uniform(*chunk_ranges["inh_sparsity"])
    exc = random_weighted_spikes(rng, num_segments, duration_ms, exc_max, exc_sparsity)
    inh = random_weighted_spikes(rng, num_segments, duration_ms, inh_max, inh_sparsity)
    gains = modulation_gain(rng, num_segments, duration_ms)
    return np.stack((exc * gains[0], inh * gains[1]), axis=-1).astype(np.float16)
