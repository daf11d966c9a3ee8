"""Evaluation toolkit: overlapped inference, soma alignment, spike/soma metrics, filters and recall curves.

Ground truth is the behaviour spec (/work/shared/spec/original_behaviour.md): §7 (overlapped inference,
soma alignment, metrics, filters), §5 ("Evaluation and figures": threshold, recall curve) and §11
("Cross-correlation", smoothing).

Array convention: (num_sims, num_time_bins[, channels]), 1 ms bins. The original code kept y as
(time, sims); here it is transposed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics

from .datasets import SOMA_BIAS_MV, SOMA_THRESHOLD_MV

FP_LIST = [0.0001, 0.0005, 0.0010, 0.0015, 0.0020, 0.0025, 0.0050, 0.0100, 0.0200, 0.0300, 0.0400, 0.0500,
           0.1000]
FILTER_RANGES = [(0, 18), (1, 24), (0, 24), (0, 30), (0, 90)]
MAIN_FILTER = (0, 24)
IGNORE_TIME_AT_START_MS = 500
NUM_FPR_INTERP_POINTS = 20000
MAX_OVERLAP = 250
DEFAULT_MIN_OVERLAP = 150
WINDOW_MARGIN = 50
FIGURE_DESIRED_FP = 0.002
RECALL_HALF_WINDOW_MS = 50
NUM_SUBSETS = 12
SUBSET_FRACTION = 0.67

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


def align_soma(soma_pred, soma_gt) -> np.ndarray:
    """Z-score the predicted soma by its global mean/std, then rescale to GT's global mean/std (§7 step 7).

    Statistics are taken over all sims and times in float64. A constant prediction (std 0) maps to the GT
    mean instead of NaN.
    """
    soma_pred = np.asarray(soma_pred)
    soma_gt = np.asarray(soma_gt)
    pred_mean, pred_std = soma_pred.mean(dtype=np.float64), soma_pred.std(dtype=np.float64)
    gt_mean, gt_std = soma_gt.mean(dtype=np.float64), soma_gt.std(dtype=np.float64)
    z = (soma_pred - pred_mean) / pred_std if pred_std > 0 else np.zeros(soma_pred.shape)
    out_dtype = np.result_type(soma_pred.dtype, np.float32)
    return (z * gt_std + gt_mean).astype(out_dtype, copy=False)


# ----------------------------------------------------------------------------------------------------------
# Metrics (§7 "Metrics", §5 threshold)
# ----------------------------------------------------------------------------------------------------------

def roc(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn roc_curve (drop_intermediate=True) on ravelled arrays -> (fpr, tpr, thresholds)."""
    return metrics.roc_curve(np.ravel(y_true), np.ravel(y_score))


def _fp_index(fpr, desired_fp: float) -> int:
    """Index of the ROC point whose FPR is closest to desired_fp; index 0 is replaced by 1 (§5, §7)."""
    idx = int(np.argmin(np.abs(np.asarray(fpr) - desired_fp)))
    return 1 if idx == 0 else idx


def tp_at_fp(fpr, tpr, desired_fp: float) -> float:
    """TPR at the ROC point with FPR closest to desired_fp (index 0 replaced by 1) (§7)."""
    return float(np.asarray(tpr)[_fp_index(fpr, desired_fp)])


def threshold_at_fp(fpr, thresholds, desired_fp: float = FIGURE_DESIRED_FP) -> tuple[float, int]:
    """Decision threshold and ROC index at FPR closest to desired_fp (index 0 replaced by 1) (§5, §11)."""
    idx = _fp_index(fpr, desired_fp)
    return float(np.asarray(thresholds)[idx]), idx


def auc_at_fp(fpr, tpr, desired_fp: float) -> float:
    """Mean TPR over FPR in [0, desired_fp) on a 20000-point linear FPR grid (§7; not divided by x).

    TPR is linearly interpolated onto np.linspace(0, 1, 20000) with np.interp (at a vertical ROC segment
    the upper TPR is taken); idx = argmin |grid - x| clamped to [1, 19999]; returns mean(TPR[:idx]).
    """
    fpr_grid = np.linspace(0.0, 1.0, NUM_FPR_INTERP_POINTS)
    tpr_grid = np.interp(fpr_grid, np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64))
    idx = int(np.argmin(np.abs(fpr_grid - desired_fp)))
    idx = min(max(idx, 1), NUM_FPR_INTERP_POINTS - 1)
    return float(tpr_grid[:idx].mean())


def d_prime(auc: float) -> float:
    """Discriminability d' = sqrt(2) * Phi^-1(AUC) (§9)."""
    return float(np.sqrt(2.0) * stats.norm.ppf(auc))


def tp_key(desired_fp: float) -> str:
    """Result key 'TP @ %.4f FP'."""
    return 'TP @ %.4f FP' % desired_fp


def auc_key(desired_fp: float) -> str:
    """Result key 'AUC @ %.4f FP'."""
    return 'AUC @ %.4f FP' % desired_fp


def _metric_keys() -> list[str]:
    keys = ['AUC']
    for fp in FP_LIST:
        keys += [tp_key(fp), auc_key(fp)]
    return keys + ['soma_explained_variance_percent', 'soma_RMSE', 'soma_MAE']


def extract_key_results(y_spikes_gt, y_spikes_pred, y_soma_gt, y_soma_pred) -> dict:
    """Spike ROC metrics (AUC, TP@FP, AUC@FP for FP_LIST) and soma metrics (EV %, RMSE, MAE) (§7).

    Soma metrics compare ravelled arrays in float64 with sklearn (y_true = GT). If the spike GT has a
    single class, sklearn warns and the spike metrics are NaN.
    """
    fpr, tpr, _ = roc(y_spikes_gt, y_spikes_pred)
    results = {'AUC': float(metrics.auc(fpr, tpr))}
    for fp in FP_LIST:
        results[tp_key(fp)] = tp_at_fp(fpr, tpr, fp)
        results[auc_key(fp)] = auc_at_fp(fpr, tpr, fp)

    soma_gt = np.ravel(y_soma_gt).astype(np.float64)
    soma_pred = np.ravel(y_soma_pred).astype(np.float64)
    results['soma_explained_variance_percent'] = float(100.0 * metrics.explained_variance_score(soma_gt,
                                                                                                soma_pred))
    results['soma_RMSE'] = float(np.sqrt(metrics.mean_squared_error(soma_gt, soma_pred)))
    results['soma_MAE'] = float(metrics.mean_absolute_error(soma_gt, soma_pred))
    return results


# ----------------------------------------------------------------------------------------------------------
# Filters and subsets (§7 "Filtering", "Outputs")
# ----------------------------------------------------------------------------------------------------------

def spike_counts_per_sim(y_spikes) -> np.ndarray:
    """Number of spikes in each sim of a (N, T) spike array, as int64 (N,)."""
    return np.rint(np.asarray(y_spikes).sum(axis=1, dtype=np.float64)).astype(np.int64)


def filter_string(lo: int, hi: int, ignore_time_at_start_ms: int = IGNORE_TIME_AT_START_MS) -> str:
    """Filter key, e.g. 'starting_at_500ms_spikes_in_[0,24]_range' (§7)."""
    return 'starting_at_%dms_spikes_in_[%d,%d]_range' % (ignore_time_at_start_ms, lo, hi)


def filter_and_extract_key_results(y_spikes_gt, y_spikes_pred, y_soma_gt, y_soma_pred,
                                   ignore_time_at_start_ms: int = IGNORE_TIME_AT_START_MS,
                                   num_spikes_per_sim=MAIN_FILTER, verbose: bool = True) -> dict:
    """Keep t >= ignore_time and sims with [lo, hi] GT spikes (full-duration count), then extract_key_results.

    If no sim passes the filter, every metric is NaN (the original never met that case).
    """
    lo, hi = num_spikes_per_sim
    counts = spike_counts_per_sim(y_spikes_gt)
    keep = (counts >= lo) & (counts <= hi)
    num_kept, num_sims = int(keep.sum()), len(counts)
    if verbose:
        pct = 100.0 * num_kept / num_sims if num_sims else 0.0
        print('%s: %d simulations kept (%.2f%% of %d)' % (filter_string(lo, hi, ignore_time_at_start_ms),
                                                           num_kept, pct, num_sims))
    if num_kept == 0:
        return {key: float('nan') for key in _metric_keys()}
    t0 = ignore_time_at_start_ms
    return extract_key_results(np.asarray(y_spikes_gt)[keep, t0:], np.asarray(y_spikes_pred)[keep, t0:],
                               np.asarray(y_soma_gt)[keep, t0:], np.asarray(y_soma_pred)[keep, t0:])


def evaluate_all_filters(y_spikes_gt, y_spikes_pred, y_soma_gt, y_soma_pred,
                         ignore_time_at_start_ms: int = IGNORE_TIME_AT_START_MS,
                         filter_ranges=FILTER_RANGES, verbose: bool = True) -> dict:
    """{filter_string: metrics dict} over filter_ranges (default FILTER_RANGES) (§7)."""
    return {filter_string(lo, hi, ignore_time_at_start_ms):
            filter_and_extract_key_results(y_spikes_gt, y_spikes_pred, y_soma_gt, y_soma_pred,
                                           ignore_time_at_start_ms, (lo, hi), verbose)
            for lo, hi in filter_ranges}


def random_subset_results(y_spikes_gt, y_spikes_pred, y_soma_gt, y_soma_pred,
                          num_subsets: int = NUM_SUBSETS, subset_fraction: float = SUBSET_FRACTION,
                          rng=None, ignore_time_at_start_ms: int = IGNORE_TIME_AT_START_MS,
                          filter_ranges=(MAIN_FILTER,), verbose: bool = False) -> list[dict]:
    """Results on num_subsets random subsets of int(fraction*nSims) sims, drawn without replacement (§7).

    Each entry has the form of evaluate_all_filters' output, {filter_string: metrics dict}, by default for
    the main [0,24] filter only. The subset is drawn from all sims, then filtered. rng: a numpy Generator,
    a seed, or None.
    """
    rng = np.random.default_rng(rng)
    y_spikes_gt, y_spikes_pred = np.asarray(y_spikes_gt), np.asarray(y_spikes_pred)
    y_soma_gt, y_soma_pred = np.asarray(y_soma_gt), np.asarray(y_soma_pred)
    num_sims = y_spikes_gt.shape[0]
    subset_size = int(subset_fraction * num_sims)
    out = []
    for _ in range(num_subsets):
        sel = rng.choice(num_sims, size=subset_size, replace=False)
        out.append(evaluate_all_filters(y_spikes_gt[sel], y_spikes_pred[sel], y_soma_gt[sel],
                                        y_soma_pred[sel], ignore_time_at_start_ms, filter_ranges, verbose))
    return out


# ----------------------------------------------------------------------------------------------------------
# Recall / cross-correlation curve (§5, §11)
# ----------------------------------------------------------------------------------------------------------

def spike_recall_curve(y_spikes_gt, y_spikes_pred_binary,
                       half_window_ms: int = RECALL_HALF_WINDOW_MS) -> tuple[np.ndarray, np.ndarray]:
    """Predicted spikes within +-half_window around every GT spike, summed and normalised to sum 1 (§5).

    Both arrays are (N, T); predictions are zero-padded by half_window at both ends of time. Returns
    (time_axis_ms = arange(-h, h+1), curve); positive lags are predicted spikes after the GT spike. If
    there is no predicted spike near any GT spike the curve is all zeros.
    """
    h = int(half_window_ms)
    pred = np.asarray(y_spikes_pred_binary, dtype=np.float64)
    padded = np.pad(pred, ((0, 0), (h, h)))
    sim_idx, t_idx = np.nonzero(np.asarray(y_spikes_gt))
    offsets = np.arange(-h, h + 1)
    windows = padded[sim_idx[:, None], t_idx[:, None] + h + offsets[None, :]]
    curve = windows.sum(axis=0)
    total = curve.sum()
    if total > 0:
        curve = curve / total
    return offsets, curve


def smooth_recall_curve(curve) -> np.ndarray:
    """0.5*curve + 0.5*(2-tap box filter, 'same') (§11 "Cross-correlation")."""
    curve = np.asarray(curve, dtype=np.float64)
    return 0.5 * curve + 0.5 * np.convolve(curve, np.ones(2) / 2.0, mode='same')


def choose_sims_in_spike_range(rng, spike_counts, count_range, num, what="figure"):
    """Up to ``num`` sims (drawn without replacement) whose spike count is in [lo, hi]; any sims if none is."""
    lo, hi = count_range
    eligible = np.flatnonzero((spike_counts >= lo) & (spike_counts <= hi))
    if eligible.size == 0:
        print(f"note: no simulation has {lo}-{hi} output spikes; the {what} uses any simulation")
        eligible = np.arange(len(spike_counts))
    return rng.choice(eligible, size=min(num, eligible.size), replace=False)


# ----------------------------------------------------------------------------------------------------------
# Ball-and-stick twins (ball_and_stick.md §4 "Evaluation"): one long window per test file
# ----------------------------------------------------------------------------------------------------------

BS_TEST_WINDOW_MS = 8128
BS_TEST_START_RANGE_MS = (16, 48)  # random start in [16, 47]
BS_TEST_SOMA_CLIP_MV = (-90.0, -57.0)
BS_TEST_BRANCH_CLIP_MV = (-90.0, 5.0)


def _regression_metrics(prefix, gt, pred) -> dict:
    """'<prefix>_explained_variance_percent', '_RMSE', '_MAE' of ravelled float64 arrays."""
    gt, pred = np.ravel(gt).astype(np.float64), np.ravel(pred).astype(np.float64)
    return {f"{prefix}_explained_variance_percent": float(100.0 * metrics.explained_variance_score(gt, pred)),
            f"{prefix}_RMSE": float(np.sqrt(np.mean((gt - pred) ** 2))),
            f"{prefix}_MAE": float(np.mean(np.abs(gt - pred)))}


def evaluate_ball_and_stick_twin(model, test_arrays, window_ms=BS_TEST_WINDOW_MS, seed=0, batch_size=4,
                                 desired_fp=FIGURE_DESIRED_FP) -> tuple[dict, dict]:
    """Test metrics of a twin: spike AUC and TP @ desired_fp (pooled over all bins of all files), the same for
    near-spike, and explained variance / RMSE / MAE of soma (mV, GT clipped to [-90, -57]), rate (spikes/ms)
    and branch voltages (mV, GT clipped to [-90, 5]). Returns (results, predictions dict)."""
    from neuron_as_deep_net.training import (random_windows, scale_ball_and_stick_batch,
                                             unscale_ball_and_stick_outputs)

    num_sims, num_ms = test_arrays["spikes"].shape
    window_ms = min(int(window_ms), num_ms - BS_TEST_START_RANGE_MS[0])
    rng = np.random.default_rng(seed)
    starts = rng.integers(BS_TEST_START_RANGE_MS[0], min(BS_TEST_START_RANGE_MS[1], num_ms - window_ms + 1),
                          size=num_sims)
    times = starts[:, None] + np.arange(window_ms)
    batch = {key: test_arrays[key][np.arange(num_sims)[:, None], times]
             for key in ("inputs", "spikes", "soma_v", "near_spike", "inst_rate", "branch_v")}
    x, _ = scale_ball_and_stick_batch(batch)
    predictions = unscale_ball_and_stick_outputs(model.predict(x, batch_size=batch_size, verbose=0))
    results = {}
    for name, gt in (("spikes", batch["spikes"]), ("near_spike", batch["near_spike"])):
        fpr, tpr, _ = roc(gt, predictions[name])
        prefix = "" if name == "spikes" else "near_spike_"
        results[f"{prefix}AUC"] = float(metrics.auc(fpr, tpr))
        results[f"{prefix}{tp_key(desired_fp)}"] = tp_at_fp(fpr, tpr, desired_fp)
    results.update(_regression_metrics("soma", np.clip(batch["soma_v"], *BS_TEST_SOMA_CLIP_MV), predictions["soma"]))
    results.update(_regression_metrics("inst_rate", batch["inst_rate"], predictions["inst_rate"]))
    results.update(_regression_metrics("branch_v", np.clip(batch["branch_v"].astype(np.float64),
                                                           *BS_TEST_BRANCH_CLIP_MV), predictions["branch_v"]))
    results["num_test_files"] = int(num_sims)
    results["num_test_spikes"] = int(batch["spikes"].sum())
    predictions["ground_truth"] = batch
    return results, predictions


# ----------------------------------------------------------------------------------------------------------
# Evaluating a trained network on dataset files (§7: evaluate_CNN_valid.py / evaluate_CNN_test.py)
# ----------------------------------------------------------------------------------------------------------

def model_windowing(model, architecture_dict) -> dict:
    """Window W (``model.input_shape[1]``), input channels, T = sum(k-1)+1 and the §7 overlap of a model."""
    window_size = int(model.input_shape[1])
    extent = temporal_extent(architecture_dict["filter_sizes_per_layer"])
    return {"window_size": window_size, "num_channels": int(model.input_shape[2]), "temporal_extent": extent,
            "overlap": default_overlap(window_size, extent)}


def load_evaluation_files(data_dir, file_pattern="*_secDuration_*.p", num_segments=None, use_cache=False,
                          cache_dir="", verbose=True) -> list:
    """Parse the dataset files of a folder once, for any number of models: sparse inputs plus labels.

    Returns datasets.ParsedFile objects, in sorted file order. Files whose simulations last a different
    time than the first file's are skipped with a note. Raises ValueError if the folder has no such file.
    """
    from . import datasets
    from .data_format import NUM_SEGMENTS

    files = datasets.list_dataset_files(data_dir, file_pattern)
    if not files:
        raise ValueError(f"no dataset files matching {file_pattern!r} in {data_dir}")
    parsed_files = []
    for path in files:
        parsed = datasets.load_dataset_file(path, num_segments or NUM_SEGMENTS, include_dvts=False,
                                            use_cache=use_cache, cache_dir=cache_dir)
        if parsed_files and parsed.num_time_bins != parsed_files[0].num_time_bins:
            print(f"skipping {os.path.basename(path)}: its simulations last {parsed.num_time_bins} ms, "
                  f"not {parsed_files[0].num_time_bins}")
            continue
        parsed_files.append(parsed)
    if verbose:
        num_sims = sum(parsed.num_sims for parsed in parsed_files)
        print(f"{len(parsed_files)} dataset file(s) in {data_dir}: {num_sims} simulations of "
              f"{parsed_files[0].num_time_bins} ms")
    return parsed_files


def predict_parsed_files(predict_fn: PredictFn, parsed_files, window_size: int, overlap: int,
                         batch_size: int | None = 64) -> tuple[np.ndarray, np.ndarray]:
    """overlapped_inference over every simulation of the parsed files, one file's dense inputs at a time.

    Windows of all simulations of a file go to predict_fn in batches of batch_size windows. Returns the
    stitched (spikes_pred, soma_pred), float32 (total sims, T).
    """
    spikes, soma = [], []
    for parsed in parsed_files:
        spikes_file, soma_file = overlapped_inference(predict_fn, parsed.X, window_size, overlap, batch_size)
        spikes.append(spikes_file)
        soma.append(soma_file)
    return np.concatenate(spikes), np.concatenate(soma)


def evaluate_model_on_files(model, architecture_dict, parsed_files, batch_size: int = 64,
                            ignore_time_at_start_ms: int = IGNORE_TIME_AT_START_MS,
                            filter_ranges=FILTER_RANGES,
                            soma_threshold_mV: float = SOMA_THRESHOLD_MV, soma_bias_mV: float = SOMA_BIAS_MV,
                            num_subsets: int = 0, subset_fraction: float = SUBSET_FRACTION, rng=None,
                            verbose: bool = True) -> dict:
    """The whole §7 evaluation of one network on parsed dataset files.

    Overlapped inference (fast sparse path, all cores), the soma GT clipped at soma_threshold_mV and shifted
    by -soma_bias_mV, soma alignment over all simulations, then the metrics of every spike-count filter
    ('evaluations_results_dict') and, when num_subsets > 0, of every filter on num_subsets random subsets
    of int(subset_fraction * nSims) simulations ('list_of_subset_eval_results_dict'). Also returns the
    windowing ('window_size', 'temporal_extent', 'overlap') and 'num_simulations'.
    """
    from . import datasets, fast_inference

    windowing = model_windowing(model, architecture_dict)
    if parsed_files[0].shape[2] != windowing["num_channels"]:
        raise ValueError(f"the model reads {windowing['num_channels']} input channels but "
                         f"{parsed_files[0].path} has {parsed_files[0].shape[2]}")
    duration = parsed_files[0].num_time_bins
    if duration <= ignore_time_at_start_ms:
        raise ValueError(f"the simulations last {duration} ms, not longer than the ignored start "
                         f"({ignore_time_at_start_ms} ms)")
    predict_fn = fast_inference.fast_predict_fn(model, batch_size=batch_size)
    spikes_pred, soma_pred = predict_parsed_files(predict_fn, parsed_files, windowing["window_size"],
                                                  windowing["overlap"], batch_size)
    y_spike = np.concatenate([parsed.y_spike for parsed in parsed_files])
    y_soma = np.concatenate([parsed.y_soma for parsed in parsed_files])
    soma_gt = datasets.soma_targets(y_soma, soma_threshold_mV, soma_bias_mV)
    soma_pred = align_soma(soma_pred, soma_gt)
    results = dict(windowing, num_simulations=int(y_spike.shape[0]))
    results["evaluations_results_dict"] = evaluate_all_filters(
        y_spike, spikes_pred, soma_gt, soma_pred, ignore_time_at_start_ms, filter_ranges, verbose)
    if num_subsets > 0:
        results["list_of_subset_eval_results_dict"] = random_subset_results(
            y_spike, spikes_pred, soma_gt, soma_pred, num_subsets, subset_fraction, rng,
            ignore_time_at_start_ms, filter_ranges, verbose=False)
    return results


def print_key_results(results: dict, keys=None) -> None:
    """Print the metrics of one filter's results dict (all of them, or ``keys``)."""
    for key in keys or results:
        print(f"    {key}: {results[key]:.4f}")


def evaluation_options(params) -> dict:
    """evaluate_model_on_files keyword arguments from an evaluate script's parameters (same names in both)."""
    options = {"batch_size": params.inference_batch_size,
               "ignore_time_at_start_ms": params.ignore_time_at_start_ms,
               "filter_ranges": [tuple(r) for r in params.filter_ranges],
               "soma_threshold_mV": params.soma_threshold_mv, "soma_bias_mV": params.soma_bias_mv}
    if getattr(params, "num_subsets", 0):
        options.update(num_subsets=params.num_subsets, subset_fraction=params.subset_fraction,
                       rng=params.random_seed)
    return options


def evaluate_saved_models(model_paths: dict, output_path_of: Callable[[str], str], data_dir: str,
                          file_pattern: str = "*_secDuration_*.p", cache_dir: str | None = None,
                          print_keys=None, run_summary_path: str = "", run_summary: dict | None = None,
                          verbose: bool = True, **evaluate_options) -> list[dict]:
    """Evaluate saved networks on the dataset files of data_dir; save an evaluation pickle each (§7 "Outputs").

    The files are parsed once (through the parse cache in cache_dir unless it is None). model_paths maps
    model names to files; each network is loaded for inference (Keras-2.2 .h5 files too) with its
    training pickle, evaluated by evaluate_model_on_files(**evaluate_options), and saved to
    output_path_of(name) as the training dict plus 'evaluations_results_dict' (plus
    'list_of_subset_eval_results_dict' with subsets, and 'evaluation_info': files, windowing, sims).
    print_keys: the metrics printed for the main [0,24] filter (None: all). Returns one summary per model,
    and writes them with run_summary (e.g. the parameters) as JSON to run_summary_path, if given.
    """
    import time

    import keras

    from . import models_io
    from .data_format import save_pickle

    start_time = time.time()
    summaries = []
    if model_paths:
        parsed_files = load_evaluation_files(data_dir, file_pattern, use_cache=cache_dir is not None,
                                             cache_dir=cache_dir or "", verbose=verbose)
        for k, (name, path) in enumerate(model_paths.items()):
            t0 = time.time()
            if verbose:
                print(f"[{k + 1}/{len(model_paths)}] {name}")
            model, training_dict, pickle_path = models_io.load_model_and_metadata(path)
            results = evaluate_model_on_files(model, training_dict["architecture_dict"], parsed_files,
                                              verbose=verbose, **evaluate_options)
            evaluation_dict = dict(training_dict)
            evaluation_dict["evaluations_results_dict"] = results.pop("evaluations_results_dict")
            if "list_of_subset_eval_results_dict" in results:
                subsets = results.pop("list_of_subset_eval_results_dict")
                evaluation_dict["list_of_subset_eval_results_dict"] = subsets
            evaluation_dict["evaluation_info"] = dict(results, model_file=os.path.abspath(path),
                                                      training_pickle=pickle_path,
                                                      data_files=[os.path.abspath(f.path) for f in parsed_files])
            output_path = output_path_of(name)
            save_pickle(evaluation_dict, output_path)
            main = evaluation_dict["evaluations_results_dict"].get(filter_string(*MAIN_FILTER))
            if verbose and main is not None:
                print(f"  {filter_string(*MAIN_FILTER)} (T = {results['temporal_extent']} ms, overlap "
                      f"{results['overlap']} ms, {time.time() - t0:.1f} s):")
                print_key_results(main, print_keys)
                print(f"  saved {output_path}")
            main_values = {f"main_{key}": main[key] for key in ("AUC", "soma_explained_variance_percent")
                           } if main is not None else {}
            summaries.append({"name": name, "model_file": path, "evaluation_file": output_path,
                              "runtime_sec": time.time() - t0, **main_values})
            del model
            keras.backend.clear_session()  # free each network's graph before loading the next
    if run_summary_path:
        from .training import write_json

        write_json(run_summary_path, dict(run_summary or {}, evaluated=summaries,
                                          runtime_sec=time.time() - start_time))
    if verbose:
        print(f"{len(summaries)} models evaluated in {time.time() - start_time:.1f} s")
    return summaries
