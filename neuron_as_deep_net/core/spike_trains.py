"""Inhomogeneous-Poisson spike-train helpers shared by the L5PC and integrate-and-fire input generators (spec §3, §5).

They draw from a ``numpy.random.RandomState`` in exactly the original's call order: do not reorder, add or
remove draws here.
"""

import numpy as np
from scipy import signal


JITTER_RANGE_MS = 20


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
