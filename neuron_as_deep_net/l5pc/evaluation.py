"""Evaluating L5PC networks (spec §7): soma alignment, the spike-count filters, random subsets, and whole
evaluations of saved models on dataset files (evaluate_CNN_valid.py / evaluate_CNN_test.py).

The metrics themselves are in :mod:`neuron_as_deep_net.core.metrics`, the overlapped inference in
:mod:`neuron_as_deep_net.core.windows`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from ..core.errors import DataFileError, UserError
from ..core.metrics import _metric_keys, extract_key_results
from ..core.windows import PredictFn, default_overlap, overlapped_inference, temporal_extent
from .datasets import SOMA_BIAS_MV, SOMA_THRESHOLD_MV


FILTER_RANGES = [(0, 18), (1, 24), (0, 24), (0, 30), (0, 90)]
MAIN_FILTER = (0, 24)
IGNORE_TIME_AT_START_MS = 500


NUM_SUBSETS = 12
SUBSET_FRACTION = 0.67


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


def choose_sims_in_spike_range(rng, spike_counts, count_range, num, what="figure"):
    """Up to ``num`` sims (drawn without replacement) whose spike count is in [lo, hi]; any sims if none is."""
    lo, hi = count_range
    eligible = np.flatnonzero((spike_counts >= lo) & (spike_counts <= hi))
    if eligible.size == 0:
        print(f"note: no simulation has {lo}-{hi} output spikes; the {what} uses any simulation")
        eligible = np.arange(len(spike_counts))
    return rng.choice(eligible, size=min(num, eligible.size), replace=False)


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
    from .data_format import NUM_SEGMENTS, check_pickle_file

    files = datasets.list_dataset_files(data_dir, file_pattern)
    if not files:
        raise UserError(f"no dataset files matching {file_pattern!r} in {data_dir}")
    for path in files:
        check_pickle_file(path)  # cheap: an empty or truncated file stops the run before anything is parsed
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
                            verbose: bool = True, inference_path: str = "fast",
                            mixed_precision: bool = False) -> dict:
    """The whole §7 evaluation of one network on parsed dataset files.

    Overlapped inference (inference_path 'fast': the sparse/FFT path on all cores, the CPU's choice; 'keras':
    Keras predict, a GPU's, in float16 with mixed_precision), the soma GT clipped at soma_threshold_mV and shifted
    by -soma_bias_mV, soma alignment over all simulations, then the metrics of every spike-count filter
    ('evaluations_results_dict') and, when num_subsets > 0, of every filter on num_subsets random subsets
    of int(subset_fraction * nSims) simulations ('list_of_subset_eval_results_dict'). Also returns the
    windowing ('window_size', 'temporal_extent', 'overlap') and 'num_simulations'.
    """
    from ..core import devices
    from . import datasets

    windowing = model_windowing(model, architecture_dict)
    if parsed_files[0].shape[2] != windowing["num_channels"]:
        channels = (windowing["num_channels"], parsed_files[0].shape[2])
        raise DataFileError(parsed_files[0].path, f"wrong number of segments (expected {channels[0] // 2}, got "
                                                  f"{channels[1] // 2}): the model reads {channels[0]} input "
                                                  f"channels, the file has {channels[1]}",
                            "use data of the model's cell")
    duration = parsed_files[0].num_time_bins
    if duration <= ignore_time_at_start_ms:
        raise UserError(f"the simulations last {duration} ms, not longer than the ignored start "
                        f"({ignore_time_at_start_ms} ms): lower --ignore-time-at-start-ms")
    predict_fn = devices.inference_predict_fn(model, inference_path, batch_size, mixed_precision)
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


def check_spike_range(value, option) -> None:
    """UserError unless ``value`` is an output-spike-count range [low, high] with 0 <= low <= high."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value) and 0 <= value[0] <= value[1]):
        raise UserError(f"{option}: a spike-count range is [low, high] with integers 0 <= low <= high (got {value!r})")


def evaluation_options(params, inference_path="fast") -> dict:
    """evaluate_model_on_files keyword arguments from an evaluate script's parameters (same names in both) and
    the resolved inference path; UserError for a malformed --filter-ranges."""
    if not params.filter_ranges:
        raise UserError("--filter-ranges needs at least one [low, high] range")
    for spike_range in params.filter_ranges:
        check_spike_range(spike_range, "--filter-ranges")
    options = {"batch_size": params.inference_batch_size, "inference_path": inference_path,
               "mixed_precision": bool(getattr(params, "mixed_precision", False)),
               "ignore_time_at_start_ms": params.ignore_time_at_start_ms,
               "filter_ranges": [tuple(r) for r in params.filter_ranges],
               "soma_threshold_mV": params.soma_threshold_mv, "soma_bias_mV": params.soma_bias_mv}
    if getattr(params, "num_subsets", 0):
        options.update(num_subsets=params.num_subsets, subset_fraction=params.subset_fraction,
                       rng=params.random_seed)
    return options


def test_evaluation_path(model_path, name, output_dir="") -> str:
    """Where evaluate_CNN_test.py saves a best model's test evaluation: <output_dir or the model's folder>/
    <name>_evaluation_test.pickle."""
    from . import model_files

    folder = output_dir or os.path.dirname(os.path.abspath(model_path))
    return os.path.join(folder, name + model_files.TEST_EVALUATION_SUFFIX + ".pickle")


def models_without_test_evaluation(models: dict, output_dir="") -> dict[str, str]:
    """The {name: model file} of ``models`` whose test evaluation pickle does not exist yet."""
    return {name: path for name, path in models.items()
            if not os.path.exists(test_evaluation_path(path, name, output_dir))}


def evaluate_saved_models(model_paths: dict, output_path_of: Callable[[str], str], data_dir: str,
                          file_pattern: str = "*_secDuration_*.p", cache_dir: str | None = None,
                          print_keys=None, run_summary_path: str = "", run_summary: dict | None = None,
                          verbose: bool = True, device_report: dict | None = None,
                          **evaluate_options) -> list[dict]:
    """Evaluate saved networks on the dataset files of data_dir; save an evaluation pickle each (§7 "Outputs").

    The files are parsed once (through the parse cache in cache_dir unless it is None). model_paths maps
    model names to files; each network is loaded for inference (Keras-2.2 .h5 files too) with its
    training pickle, evaluated by evaluate_model_on_files(**evaluate_options), and saved to
    output_path_of(name) as the training dict plus 'evaluations_results_dict' (plus
    'list_of_subset_eval_results_dict' with subsets, and 'evaluation_info': files, windowing, sims).
    print_keys: the metrics printed for the main [0,24] filter (None: all). Returns one summary per model,
    and writes them with run_summary (e.g. the parameters) as JSON to run_summary_path, if given.
    device_report (core.devices) goes into every 'evaluation_info' and the run summary.
    """
    import time

    from ..core.files import save_pickle
    from . import model_files

    start_time = time.time()
    summaries = []
    for path in model_paths.values():
        model_files.check_model_files(path)  # cheap: a missing or broken file stops the run before any output
    if model_paths:
        import keras

        parsed_files = load_evaluation_files(data_dir, file_pattern, use_cache=cache_dir is not None,
                                             cache_dir=cache_dir or "", verbose=verbose)
        for k, (name, path) in enumerate(model_paths.items()):
            t0 = time.time()
            if verbose:
                print(f"[{k + 1}/{len(model_paths)}] {name}")
            model, training_dict, pickle_path = model_files.load_model_and_metadata(path)
            results = evaluate_model_on_files(model, training_dict["architecture_dict"], parsed_files,
                                              verbose=verbose, **evaluate_options)
            evaluation_dict = dict(training_dict)
            evaluation_dict["evaluations_results_dict"] = results.pop("evaluations_results_dict")
            if "list_of_subset_eval_results_dict" in results:
                subsets = results.pop("list_of_subset_eval_results_dict")
                evaluation_dict["list_of_subset_eval_results_dict"] = subsets
            evaluation_dict["evaluation_info"] = dict(results, model_file=os.path.abspath(path),
                                                      training_pickle=pickle_path,
                                                      data_files=[os.path.abspath(f.path) for f in parsed_files],
                                                      device_report=device_report,
                                                      inference_path=evaluate_options.get("inference_path", "fast"))
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
    if run_summary_path and not summaries and os.path.exists(run_summary_path):
        if verbose:  # nothing new: the earlier run's summary stays
            print(f"nothing evaluated; kept the earlier run's summary {run_summary_path}")
    elif run_summary_path:
        from ..core.files import write_json

        write_json(run_summary_path, dict(run_summary or {}, evaluated=summaries, device_report=device_report,
                                          runtime_sec=time.time() - start_time))
    if verbose:
        print(f"{len(summaries)} models evaluated in {time.time() - start_time:.1f} s")
    return summaries
