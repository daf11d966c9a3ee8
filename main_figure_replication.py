"""Figures 2 and 3 of the paper for one trained network: evaluation on the test files and first-layer weights.

Loads a saved network (``--model``, a ``.keras`` or ``.h5`` file) with its training pickle (the same base name with
``.pickle``, or ``_training.pickle``; it holds ``architecture_dict``), predicts every test simulation with
overlapped windows, evaluates it as evaluate_CNN_test.py does (spec §7) and draws the figures of spec §11:

* ``__morphology``: the cell coloured by region (basal magenta, oblique orange, tuft green);
* ``__model_evaluation``: ROC with a low-false-positive inset, spike-timing curve, soma-voltage scatter;
* ``__single_prediction_trace_<i>``: one test simulation (index i) with a zoom, for up to 30 simulations;
* ``__multiple_prediction_traces_<r>``: five test simulations;
* ``__first_layer_weights_filter_ind_<f>``: filter f of the first layer, basal / oblique / tuft heatmaps and traces;
* ``__full_combined_figure_v2_<r>`` and ``__full_combined_figure_v3_<r>``: the combined figure in two layouts;
* ``__main_results.json``: the metrics of every filter, the threshold, the chosen simulations and filters.

Every name starts with ``<prefix>``: the model's folder name when the model file's name starts with it (the
original's ``best_models/<arch>/`` layout), else the model file's base name (without ``_model``); or
``--figure-prefix``. ``<r>`` is a number drawn from the seeded generator.

    python main_figure_replication.py --model models/NMDA/NAME.keras --data-dir data/L5PC_NMDA_test \\
        --output-dir output/figures/NMDA
    python main_figure_replication.py --model M.keras --data-dir DIR --figure-formats png,pdf,svg
    python main_figure_replication.py --help

Evaluation (spec §7, §11): overlap = min(max(T+1, min(150, W-50)), 250); the soma ground truth is clipped at
-55 mV and shifted by +67.7 mV, the prediction is rescaled to its mean and std; metrics for the simulations with
[0,18], [0,24] and [0,30] output spikes from 500 ms on. The figures' threshold is the ROC point nearest a false
positive rate of 0.002 on the [0,24]-filtered data, whose spike-timing curve and voltage scatter are drawn.

Choices that replace the original's hard-coded values (documented rules):

* Traces: the original used random test simulations for the single and multiple traces but the hard-coded
  simulation 1313 in the combined figures. Here all are drawn with the seeded generator among the simulations
  with 3-10 (single, combined) or 3-15 (multiple) output spikes, without replacement; the combined figures show
  the first single-trace simulation. If no simulation qualifies, any simulation is used.
* Filters: the original picked from a list of "interesting" filters of another model. Here the filters are
  ranked by the L2 norm of their preprocessed weights: the first ``num_filter_figures`` get their own figure,
  the first three appear in the v2 combined figure and the first in v3.
* Scale bars and zooms are those of 6-s traces (600 ms / 40 mV, 60 ms / 5 mV); for shorter traces the time bars
  shrink in proportion (to a 1-2-5 length).
* The network illustration PNG of the original is replaced by a drawn schematic (one box per layer).
* Colour-bar ticks of the weight heatmaps are multiples of 0.06 as in the original, or automatic when the
  weights are too small to give three such ticks. The unsaved all-filters figure is not drawn.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402
from neuron_as_deep_net.l5pc.model_files import (  # noqa: E402  (light: no Keras import)
    architecture_from_model,
    find_training_pickle,
    model_base_name,
    synapse_type_from_name,
)

# -----------------------------------------------------------------------------
# data
data_dir = "output/data/L5PC_NMDA_test"  # [folder] test dataset files (read in sorted order)
morphology = ""  # [file] cell1.asc, to build the morphology dict when none is beside the data ('' = default location)
# model
model = ""  # [file] the saved network (.keras or .h5); required
training_pickle = ""  # [file] its training pickle ('' = <base>.pickle or <base>_training.pickle beside the model)
model_string = ""  # ["" | NMDA | AMPA | AMPA_SK] for the axis labels; '' = from the model's name, else from the data
# evaluation
ignore_time_at_start_ms = 500  # [>= 0] burn-in excluded from the metrics
filter_ranges = [[0, 18], [0, 24], [0, 30]]  # output-spike ranges [low, high] of the evaluated simulation subsets
main_filter = [0, 24]  # the subset [low, high] of the ROC, threshold, spike-timing curve and scatter
desired_false_positive_rate = 0.002  # [> 0, < 1] operating point of the figures' threshold
soma_clip_mv = -55.0  # ground-truth soma clipped here (spikes removed)
soma_bias_mv = -67.7  # subtracted from the clipped ground truth (the training target's offset)
inference_batch_size = 64  # [>= 1] windows per predict call
inference_path = "auto"  # [auto | fast | keras] fast: sparse first layer + FFT convolutions (the CPU's path); keras: Keras predict (a GPU's); auto: by the device
mixed_precision = False  # Keras predict in float16 with float32 outputs (GPU only; refused on a CPU)
# figures
num_single_traces = 30  # [>= 1] single prediction trace figures (fewer if fewer simulations qualify)
single_trace_spike_range = [3, 10]  # output spikes [low, high] of those simulations
num_multiple_traces = 5  # [>= 1] simulations in the multiple-traces figure
multiple_trace_spike_range = [3, 15]  # output spikes [low, high] of those simulations
num_scatter_points = 20000  # [>= 1] points of the voltage scatter
num_filter_figures = 3  # [>= 0] first-layer filters drawn in their own figure (largest weight norm first)
random_seed = 1234  # [>= 0] trace choices, zooms, scatter points, name suffixes
# output
output_dir = "output/figures/main_figure"  # figures and the results json
figure_prefix = ""  # '' = model folder or model base name (see above)
figure_formats = ["png"]  # [each png | pdf | svg] (pdf and svg are written to pdf/ and svg/ sub-folders)
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    "smoke": {"num_single_traces": 3, "num_scatter_points": 2000, "num_filter_figures": 1},
}
DATASET_GLOB = "*_secDuration_*.p"
SINGLE_TRACE_ZOOM = (0.25, 0.52, 0.23)  # zoom fractions [0.25 + 0.23 U, 0.52 + 0.23 U]
COMBINED_TRACE_ZOOM = (0.34, 0.65)
COMBINED_SPIKE_HEIGHT_MV = 37.0
V2_INSET_XMAX = 0.045
NUM_COMBINED_FILTERS = 3


def find_test_files(folder):
    """Dataset files in ``folder`` (else in its sub-folders), sorted as the original main-figure script did."""
    import glob

    files = sorted(glob.glob(os.path.join(glob.escape(folder), DATASET_GLOB)))
    if not files:
        files = sorted(glob.glob(os.path.join(glob.escape(folder), "*", DATASET_GLOB)))
    if not files:
        raise UserError(f"no dataset files ({DATASET_GLOB}) in {folder} or its sub-folders")
    return files


def figure_name_prefix(model_path):
    """The model's folder name if the model's base name starts with it (best_models/<arch>/), else the base name."""
    folder = os.path.basename(os.path.dirname(os.path.abspath(model_path)))
    base = model_base_name(model_path)
    return folder if folder and base.startswith(folder) else base


def main(argv=None, devices=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    start_time = time.time()
    setup, inference_path = core_devices.setup_inference(devices, p.inference_path, p.mixed_precision)
    if not p.model:
        raise UserError("--model PATH is required (a .keras or .h5 file saved by the training script)")

    from sklearn import metrics

    from neuron_as_deep_net.core import model_weights, plotting, windows
    from neuron_as_deep_net.core import metrics as core_metrics
    from neuron_as_deep_net.core.errors import DataFileError
    from neuron_as_deep_net.core.files import atomic_write
    from neuron_as_deep_net.l5pc import evaluation, figures, figures_dataset, model_files, networks
    from neuron_as_deep_net.l5pc import morphology as morph_tools
    from neuron_as_deep_net.l5pc.data_format import check_pickle_file, load_experiment, parse_experiment

    for option, spike_range in (("--main-filter", p.main_filter), ("--single-trace-spike-range",
                                p.single_trace_spike_range), ("--multiple-trace-spike-range",
                                p.multiple_trace_spike_range)):
        evaluation.check_spike_range(spike_range, option)
    for spike_range in p.filter_ranges:
        evaluation.check_spike_range(spike_range, "--filter-ranges")
    files = find_test_files(p.data_dir)
    for path in files:
        check_pickle_file(path)  # cheap: an empty or truncated file stops the run before the model is loaded

    rng = np.random.default_rng(p.random_seed)
    prefix = p.figure_prefix or figure_name_prefix(p.model)
    save = lambda fig, name: plotting.save_figure(fig, p.output_dir, f"{prefix}__{name}", p.figure_formats)  # noqa
    written = []

    # ---- model and its training metadata
    t0 = time.time()
    model = model_files.load_model(p.model)
    pickle_path = p.training_pickle or find_training_pickle(p.model)
    training_info = model_files.load_training_pickle(pickle_path) if pickle_path else {}
    architecture = training_info.get("architecture_dict") or architecture_from_model(model)
    if not pickle_path:
        print("note: no training pickle beside the model; the architecture is read from the model's layers")
    window_size = int(model.input_shape[1])
    num_channels = int(model.input_shape[2])
    extent = windows.temporal_extent(architecture["filter_sizes_per_layer"])
    overlap = windows.default_overlap(window_size, extent)
    print(f"model {os.path.basename(p.model)} loaded in {time.time() - t0:.1f} s: input window {window_size} ms, "
          f"{num_channels} channels, filter sizes {architecture['filter_sizes_per_layer']}, T = {extent} ms, "
          f"overlap {overlap} ms; figures named {prefix}__*")

    # ---- test data (sorted files) and overlapped inference (spec §7), one file at a time: the inputs of a whole
    # test set (bool sims x 6000 x 1278, 0.98 GB per 128-sim file) are never held at once
    t0 = time.time()
    files = find_test_files(p.data_dir)
    predict_fn = core_devices.inference_predict_fn(model, inference_path, p.inference_batch_size, p.mixed_precision)
    y_spike, y_soma, spikes_pred, soma_pred = [], [], [], []
    synapse_type = p.model_string or synapse_type_from_name(prefix) or synapse_type_from_name(model_base_name(p.model))
    for path in files:
        experiment = load_experiment(path)
        if not synapse_type:
            folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
            synapse_type = "AMPA_SK" if "SKE2_mult_10_" in folder else str(
                experiment["Params"].get("excitatorySynapseType", "NMDA"))
        X_file, y_spike_file, y_soma_file = parse_experiment(experiment, path=path)
        del experiment
        if y_spike and X_file.shape[1] != y_spike[0].shape[1]:
            print(f"skipping {os.path.basename(path)}: its simulations last {X_file.shape[1]} ms, "
                  f"not {y_spike[0].shape[1]}")
            continue
        if X_file.shape[2] != num_channels:
            raise DataFileError(path, f"wrong number of segments (expected {num_channels // 2}, got "
                                      f"{X_file.shape[2] // 2}): the model reads {num_channels} input channels",
                                "use test data of the model's cell")
        spikes_file, soma_file = windows.overlapped_inference(predict_fn, X_file, window_size, overlap,
                                                                 batch_size=p.inference_batch_size)
        del X_file
        y_spike.append(y_spike_file)
        y_soma.append(y_soma_file)
        spikes_pred.append(spikes_file)
        soma_pred.append(soma_file)
    y_spike, y_soma = np.concatenate(y_spike), np.concatenate(y_soma)
    spikes_pred, soma_pred = np.concatenate(spikes_pred), np.concatenate(soma_pred)
    num_sims, duration = y_spike.shape
    if duration <= p.ignore_time_at_start_ms:
        raise UserError(f"the simulations last {duration} ms, not longer than the ignored start "
                        f"({p.ignore_time_at_start_ms} ms): lower --ignore-time-at-start-ms")
    print(f"{len(files)} test file(s), {num_sims} simulations of {duration} ms loaded and predicted "
          f"({inference_path} path) in {time.time() - t0:.1f} s")

    # ---- evaluation (spec §7): soma alignment over all simulations, then the metrics of every filter
    soma_gt = np.minimum(y_soma, p.soma_clip_mv) - p.soma_bias_mv
    soma_pred = evaluation.align_soma(soma_pred, soma_gt)
    results = evaluation.evaluate_all_filters(y_spike, spikes_pred, soma_gt, soma_pred, p.ignore_time_at_start_ms,
                                              [tuple(r) for r in p.filter_ranges])
    main_key = evaluation.filter_string(*p.main_filter, p.ignore_time_at_start_ms)
    main = results.get(main_key) or evaluation.filter_and_extract_key_results(
        y_spike, spikes_pred, soma_gt, soma_pred, p.ignore_time_at_start_ms, tuple(p.main_filter), verbose=False)
    print(f"main results ({main_key}):")
    for key in (core_metrics.tp_key(0.0025), "AUC", "soma_explained_variance_percent", "soma_RMSE", "soma_MAE"):
        print(f"  {key}: {main[key]:.4f}")

    # the figures' data: the main-filter subset from ignore_time on
    spike_counts = evaluation.spike_counts_per_sim(y_spike)
    keep = (spike_counts >= p.main_filter[0]) & (spike_counts <= p.main_filter[1])
    if not keep.any():
        print(f"note: no simulation has {p.main_filter[0]}-{p.main_filter[1]} spikes; the figures use all of them")
        keep[:] = True
    t_start = p.ignore_time_at_start_ms
    gt_f, pred_f = y_spike[keep, t_start:], spikes_pred[keep, t_start:]
    soma_gt_f, soma_pred_f = soma_gt[keep, t_start:], soma_pred[keep, t_start:]
    fpr, tpr, thresholds = core_metrics.roc(gt_f, pred_f)
    threshold, threshold_index = core_metrics.threshold_at_fp(fpr, thresholds, p.desired_false_positive_rate)
    auc_value = float(metrics.auc(fpr, tpr))
    print(f"threshold {threshold:.4f} at {fpr[threshold_index]:.4f} false positive rate "
          f"(TP {tpr[threshold_index]:.4f})")
    recall_time_ms, recall_curve = core_metrics.spike_recall_curve(gt_f, pred_f > threshold)
    recall_curve = core_metrics.smooth_recall_curve(recall_curve)
    points = rng.choice(soma_gt_f.size, size=min(p.num_scatter_points, soma_gt_f.size), replace=False)
    scatter_gt = soma_gt_f.ravel()[points] + 0.02 * rng.standard_normal(points.size) + p.soma_bias_mv
    scatter_pred = soma_pred_f.ravel()[points] + p.soma_bias_mv
    gt_label = f"L5PC ({synapse_type}) (mV)"

    # ---- figures
    morph, _ = morph_tools.load_morphology_dict([os.path.dirname(os.path.abspath(files[0]))], p.morphology or None,
                                                fallback_cache_dir=p.output_dir, num_segments=num_channels // 2)
    polylines = morph_tools.segment_polylines(morph)
    regions = morph_tools.segment_regions(morph)
    region_indices = morph_tools.region_segment_indices(morph)
    soma_xy, limits = morph_tools.soma_xy(morph), morph_tools.drawing_limits(morph)
    written += save(figures_dataset.plot_morphology_regions(polylines, regions, soma_xy, limits), "morphology")

    written += save(figures.plot_model_evaluation(fpr, tpr, auc_value, threshold_index, recall_time_ms, recall_curve,
                                                   scatter_gt, scatter_pred, gt_label,
                                                   main["soma_explained_variance_percent"]), "model_evaluation")

    time_ms = np.arange(duration, dtype=float)

    def trace_of(sim):
        return (soma_gt[sim] + p.soma_bias_mv, y_spike[sim], soma_pred[sim] + p.soma_bias_mv,
                spikes_pred[sim] > threshold)

    single = evaluation.choose_sims_in_spike_range(rng, spike_counts, p.single_trace_spike_range, p.num_single_traces, "single traces")
    for sim in single:
        low, high, span = SINGLE_TRACE_ZOOM
        u = rng.random()
        fig = figures.plot_prediction_trace(time_ms, *trace_of(sim), (low + span * u, high + span * u),
                                             title=f"test simulation {sim} ({spike_counts[sim]} spikes)")
        written += save(fig, f"single_prediction_trace_{sim}")
    print(f"single prediction traces: simulations {sorted(int(s) for s in single)}")

    multiple = evaluation.choose_sims_in_spike_range(rng, spike_counts, p.multiple_trace_spike_range, p.num_multiple_traces, "multiple traces")
    fig = figures.plot_multiple_prediction_traces(
        time_ms, [trace_of(sim) for sim in multiple],
        [f"test simulation {sim} ({spike_counts[sim]} spikes)" for sim in multiple])
    written += save(fig, f"multiple_prediction_traces_{int(rng.integers(100000))}")

    kernels = model_weights.first_layer_weights(model)  # (filters, channels, kernel)
    num_exc = num_channels // 2
    filters = [figures.preprocess_first_layer_filter(kernel, num_exc) for kernel in kernels]
    ranked = [int(k) for k in np.argsort([-np.linalg.norm(w) for w in filters], kind="stable")]
    for index in ranked[:p.num_filter_figures]:
        written += save(figures.plot_first_layer_filter(filters[index], region_indices, num_exc, index),
                        f"first_layer_weights_filter_ind_{index}")
    print(f"first-layer filters by weight norm: {ranked[:max(p.num_filter_figures, NUM_COMBINED_FILTERS)]}")

    arch_title = (f"{networks.network_type_prefix(synapse_type, architecture)}  "
                  f"{networks.architecture_string(architecture)}")
    combined_sim = int(single[0])
    soma_gt_trace, spikes_gt_trace, soma_pred_trace, spikes_pred_trace = trace_of(combined_sim)
    combined = {
        "morphology": {"polylines": polylines, "regions": regions, "soma_xy": soma_xy, "limits": limits},
        "architecture": {"filter_sizes": list(architecture["filter_sizes_per_layer"]),
                         "num_filters": list(architecture["num_filters_per_layer"]), "window_size": window_size,
                         "num_input_channels": num_channels, "title": arch_title},
        "trace": {"time_ms": time_ms, "soma_gt": soma_gt_trace, "spikes_gt": spikes_gt_trace,
                  "soma_pred": soma_pred_trace, "spikes_pred": spikes_pred_trace,
                  "zoom_fraction": COMBINED_TRACE_ZOOM, "spike_height_mv": COMBINED_SPIKE_HEIGHT_MV},
        "roc": {"fpr": fpr, "tpr": tpr, "auc": auc_value, "threshold_index": threshold_index,
                "inset_xmax": V2_INSET_XMAX},
        "xcorr": (recall_time_ms, recall_curve),
        "scatter": {"gt": scatter_gt, "pred": scatter_pred, "label": gt_label},
        "filters": [(index, filters[index]) for index in ranked[:NUM_COMBINED_FILTERS]],
        "region_indices": region_indices, "num_exc": num_exc,
    }
    suffix = int(rng.integers(100000))
    written += save(figures.plot_full_combined_figure_v2(combined), f"full_combined_figure_v2_{suffix}")
    written += save(figures.plot_full_combined_figure_v3(combined), f"full_combined_figure_v3_{suffix}")

    # ---- results
    summary = {
        "model": os.path.abspath(p.model), "training_pickle": pickle_path, "test_files": files,
        "num_simulations": int(num_sims), "duration_ms": int(duration), "window_size": window_size,
        "temporal_extent": extent, "overlap": overlap, "evaluations_results_dict": results,
        "main_filter": main_key, "threshold": float(threshold), "threshold_fpr": float(fpr[threshold_index]),
        "threshold_tpr": float(tpr[threshold_index]), "single_trace_sims": [int(s) for s in single],
        "multiple_trace_sims": [int(s) for s in multiple], "combined_figure_sim": combined_sim,
        "filters_by_norm": ranked, "figures": [os.path.relpath(path, p.output_dir) for path in written],
        "params": parameters_snapshot(p), "runtime_sec": time.time() - start_time,
        "device_report": setup.report, "inference_path": inference_path,
    }
    with atomic_write(os.path.join(p.output_dir, f"{prefix}__main_results.json"), "w") as handle:
        json.dump(summary, handle, indent=4, sort_keys=True, default=float)
    print(f"{len(written)} figure files written to {p.output_dir} in {time.time() - start_time:.1f} s")
    return summary


if __name__ == "__main__":
    run(main)
