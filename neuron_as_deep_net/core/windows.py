"""Windows over time: causal-convolution arithmetic, overlapped inference and dense windows of sparse inputs.

Spec §7 steps 1-6 (/work/shared/spec/original_behaviour.md): the receptive field of a stack of causal convs,
the overlap rule, the split starts and the stitching of full-length predictions from overlapping windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


MAX_OVERLAP = 250
DEFAULT_MIN_OVERLAP = 150
WINDOW_MARGIN = 50


PredictFn = Callable[[np.ndarray], Sequence[np.ndarray]]


# ----------------------------------------------------------------------------------------------------------
# Overlapped inference (§7 steps 1-6)
# ----------------------------------------------------------------------------------------------------------

def temporal_extent(filter_sizes) -> int:
    """Receptive field of a stack of stride-1, dilation-1 causal convs: sum(k-1)+1 (§7 step 1)."""
    return int(sum(int(k) - 1 for k in filter_sizes) + 1)


def default_overlap(window_size: int, temporal_extent: int) -> int:
    """Overlap between consecutive windows: min(max(T+1, min(150, W-50)), 250) (§7 step 2)."""
    return int(min(max(temporal_extent + 1, min(DEFAULT_MIN_OVERLAP, window_size - WINDOW_MARGIN)),
                   MAX_OVERLAP))


def split_starts(sim_duration: int, window_size: int, overlap: int) -> list[int]:
    """Window start times k*stride, k < 2 + (duration-W)//stride, stride = W-overlap (§7 step 3).

    At least one split is returned, so a trace shorter than the window is still covered (the original
    never met that case).
    """
    stride = window_size - overlap
    if stride <= 0:
        raise ValueError(f'overlap ({overlap}) must be smaller than window_size ({window_size})')
    num_splits = max(1, 2 + (sim_duration - window_size) // stride)
    return [k * stride for k in range(num_splits)]


def _fill_ranges(sim_duration: int, window_size: int, overlap: int) -> list[tuple[int, int, int]]:
    """(start, fill_lo, fill_hi) per split: split 0 fills [0, W), later ones [start+overlap, start+W)."""
    out = []
    for k, start in enumerate(split_starts(sim_duration, window_size, overlap)):
        lo = start if k == 0 else start + overlap
        hi = min(start + window_size, sim_duration)
        out.append((start, lo, hi))
    return out


def _as_nw(a, n: int, window_size: int) -> np.ndarray:
    """Coerce a head output of shape (n, W, 1) or (n, W) to float32 (n, W)."""
    a = np.asarray(a)
    if a.ndim == 3:
        if a.shape[-1] != 1:
            raise ValueError(f'expected a single-channel output, got shape {a.shape}')
        a = a[..., 0]
    if a.shape != (n, window_size):
        raise ValueError(f'predict_fn output has shape {a.shape}, expected ({n}, {window_size}[, 1])')
    return a.astype(np.float32, copy=False)


def overlapped_inference(predict_fn: PredictFn, X, window_size: int, overlap: int,
                         batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stitch full-length spike and soma predictions from overlapping windows (§7 steps 4-6).

    Split k reads the window [k*stride, k*stride + W) of every sim, zero-padded past the end of the trace.
    Split 0 writes its outputs to [0, W); every later split writes outputs [overlap:] to
    [start+overlap, min(start+W, T)). Only the first two outputs of predict_fn (spikes, soma) are used;
    the dendritic output is ignored. Windows of all sims and splits (split-major order) are sent to
    predict_fn in chunks of batch_size windows (None: all at once); X is converted to float32 one chunk at
    a time. Returns (spikes_pred, soma_pred), both float32 (N, T).
    """
    num_sims, sim_duration = X.shape[0], X.shape[1]
    num_channels = X.shape[2]
    ranges = _fill_ranges(sim_duration, window_size, overlap)
    num_windows = num_sims * len(ranges)
    if batch_size is None:
        batch_size = num_windows
    if batch_size < 1:
        raise ValueError('batch_size must be >= 1')

    spikes_pred = np.zeros((num_sims, sim_duration), dtype=np.float32)
    soma_pred = np.zeros((num_sims, sim_duration), dtype=np.float32)

    for chunk_lo in range(0, num_windows, batch_size):
        chunk_hi = min(chunk_lo + batch_size, num_windows)
        # window j <-> (split j // N, sim j % N); list the (split, sim-range, chunk-offset) pieces
        pieces = []
        j = chunk_lo
        while j < chunk_hi:
            k, sim_lo = divmod(j, num_sims)
            sim_hi = min(num_sims, sim_lo + (chunk_hi - j))
            pieces.append((k, sim_lo, sim_hi, j - chunk_lo))
            j += sim_hi - sim_lo

        x_chunk = np.zeros((chunk_hi - chunk_lo, window_size, num_channels), dtype=np.float32)
        for k, sim_lo, sim_hi, off in pieces:
            start = ranges[k][0]
            stop = min(start + window_size, sim_duration)
            x_chunk[off:off + sim_hi - sim_lo, :stop - start] = X[sim_lo:sim_hi, start:stop]

        outputs = predict_fn(x_chunk)
        n = chunk_hi - chunk_lo
        spk = _as_nw(outputs[0], n, window_size)
        som = _as_nw(outputs[1], n, window_size)

        for k, sim_lo, sim_hi, off in pieces:
            start, lo, hi = ranges[k]
            if hi <= lo:
                continue
            rows = slice(off, off + sim_hi - sim_lo)
            spikes_pred[sim_lo:sim_hi, lo:hi] = spk[rows, lo - start:hi - start]
            soma_pred[sim_lo:sim_hi, lo:hi] = som[rows, lo - start:hi - start]

    return spikes_pred, soma_pred


def keras_predict_fn(model, batch_size: int = 64) -> PredictFn:
    """Wrap a Keras model as a predict_fn returning a list of numpy arrays (model.predict, verbose=0)."""
    def predict_fn(x):
        out = model.predict(x, batch_size=batch_size, verbose=0)
        if isinstance(out, dict):
            names = list(getattr(model, 'output_names', None) or out.keys())
            out = [out[name] for name in names]
        elif not isinstance(out, (list, tuple)):
            out = [out]
        return [np.asarray(o) for o in out]
    return predict_fn


def index_dtype(shape):
    """uint32 for flat indices of arrays below 2**32 elements, else int64."""
    return np.uint32 if int(np.prod(shape)) < 2**32 else np.int64


def dense_windows(spike_index, shape, sims, ends, window_size):
    """Bool (len(sims), W, channels) inputs of the windows [end - W, end) of simulations ``sims``."""
    num_time_bins, num_channels = shape[1], shape[2]
    starts = (np.asarray(sims, dtype=np.int64) * num_time_bins + np.asarray(ends, dtype=np.int64) - window_size)
    # needles in the index's own dtype: mixed dtypes make numpy convert (copy) the whole index on every call
    needles = (np.concatenate([starts, starts + window_size]) * num_channels).astype(spike_index.dtype)
    bounds = np.searchsorted(spike_index, needles)
    out = np.zeros((len(starts), window_size * num_channels), dtype=bool)
    for k, (lo, hi) in enumerate(zip(bounds[:len(starts)], bounds[len(starts):])):
        out[k, spike_index[lo:hi].astype(np.int64) - starts[k] * num_channels] = True
    return out.reshape(len(starts), window_size, num_channels)
