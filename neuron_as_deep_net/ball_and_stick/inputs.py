"""Random synaptic inputs of the ball-and-stick datasets (ball_and_stick.md §3 "Per simulation")."""

import numpy as np


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
