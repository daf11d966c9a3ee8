"""Tabulate the validation results of every trained network and keep the best one per architecture (spec §9).

Reads the evaluation pickles of evaluate_CNN_valid.py (``eval_results/<name>.pickle``) and builds one row per
network from its [0,24]-filter results: biophysical type, NN type (TCN/FCN), depth, width, T, training samples,
unique training files, spikes d' (= sqrt(2) * Phi^-1(AUC)), AUC, TP at 0.25 % and 0.1 % false positives, AUC at
1 % false positives (the mean TPR below it), soma RMSE, MAE and explained variance. Rows pass the filters
(d' >= 0.5, AUC >= 0.6, explained variance >= 60 %, width <= 256, T <= 260, 5e4 <= samples <= 5e6), then the
best row of each (depth, width, T, NN type, biophysical type) is kept (highest AUC, or lowest RMSE with
``--select-best-auc false``).

    python valid_fitting_results_exploration.py --models-dir models --output-dir models/best_models
    python valid_fitting_results_exploration.py --preset quick --models-dir OUT/models --output-dir OUT/best_models
    python valid_fitting_results_exploration.py --help                       # every parameter

Writes into the output folder (default ``<models_dir>/best_models``, where saving_best_valid_CNN_models.py
looks): ``best_results_valid_<N>_models.csv`` (N = its number of rows; column ``full model filename``),
``results_valid_<M>_models.csv`` (all M evaluated networks, before the filters; not in the original), the
scatter figures ``valid_scatter__<x>.png`` (the six metrics against depth, width, T, training samples and
unique training files; jittered), and for the best table ``valid_best_scatter__<x>.png`` (no jitter),
``valid_best_vs_complexity__by_type.png`` and ``__by_type_and_NN.png`` (the best-so-far curves against depth,
width and T) and ``valid_best_architectures.png`` (W vs T, W vs D, D vs T), plus
``valid_fitting_results_exploration.json`` (parameters and counts).
"""

import copy
import os
import time

from neuron_as_deep_net.core.config import run
from neuron_as_deep_net.core.errors import UserError

# -----------------------------------------------------------------------------
# data
models_dir = "models"  # the models root: <TYPE>/eval_results/<name>.pickle (or eval_results/ directly in it)
data_dir = ""  # [folder] folder of the evaluation pickles instead; '' = <models_dir>/eval_results, <models_dir>/*/eval_results
# selection
select_best_auc = True  # best network per architecture by AUC (false: by lowest soma RMSE)
min_d_prime = 0.5  # filters applied before the selection (inclusive bounds)
min_auc = 0.6  # [>= 0, <= 1]
min_explained_variance = 60.0  # soma explained variance, %
max_width = 256  # [>= 1] filters per layer
max_time_window = 260  # [>= 1] T, ms
min_num_train_samples = 50000  # [>= 0] training windows
max_num_train_samples = 5000000  # [>= 0]
# figures
draw_figures = True  # the scatter and curve figures
scatter_noise_level = 1.0  # [>= 0] multiplies the x jitter of the first scatter figures
curves_min_time_window = 10  # [>= 0] the curves use the best rows with T >= this (and width and T bounds above) ...
curves_min_num_train_samples = 100000  # [>= 0] ... and at least this many training windows
curves_min_change_fraction = 0.02  # [>= 0, < 1] a curve point is kept when it changes by more than this fraction of its y-span
random_seed = 0  # [>= 0] scatter jitter
figure_formats = ["png"]  # [each png | pdf | svg] (pdf and svg are written to pdf/ and svg/ sub-folders)
# output
output_dir = ""  # CSVs and figures; '' = <models_dir>/best_models
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    # quick networks train on far fewer windows than the paper's filters demand
    "quick": {"min_num_train_samples": 0, "curves_min_num_train_samples": 0},
    "smoke": {"min_num_train_samples": 0, "curves_min_num_train_samples": 0, "curves_min_time_window": 0,
              "min_d_prime": -1e9, "min_auc": 0.0, "min_explained_variance": -1e9},
}
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}


def main(argv=None):
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__)
    start_time = time.time()
    if p.min_num_train_samples > p.max_num_train_samples:
        raise UserError(f"--min-num-train-samples ({p.min_num_train_samples}) must not exceed "
                        f"--max-num-train-samples ({p.max_num_train_samples})")

    from neuron_as_deep_net.l5pc import model_selection as ms
    from neuron_as_deep_net.core import files, plotting
    from neuron_as_deep_net.l5pc import figures_selection, model_files

    output_dir = p.output_dir or os.path.join(p.models_dir, model_files.BEST_MODELS_FOLDER)
    save = lambda fig, name: plotting.save_figure(fig, output_dir, name, p.figure_formats)  # noqa: E731

    # ---- the results table (§9 extract_useful_info)
    if p.data_dir:
        pickles = model_files.find_result_pickles(p.data_dir, "*.pickle")
    else:
        pattern = os.path.join(model_files.EVAL_RESULTS_FOLDER, "*.pickle")
        pickles = model_files.find_result_pickles(p.models_dir, pattern)
    table = ms.results_table(pickles)
    if table.empty:
        raise UserError(f"no validation evaluation pickles in {p.data_dir or p.models_dir} "
                        f"(run evaluate_CNN_valid.py first)")
    ms.write_csv(table, os.path.join(output_dir, f"results_valid_{len(table)}_models.csv"))
    filtered = ms.filter_results(table, p.min_d_prime, p.min_auc, p.min_explained_variance, p.max_width,
                                 max_time_window=p.max_time_window,
                                 min_num_train_samples=p.min_num_train_samples,
                                 max_num_train_samples=p.max_num_train_samples)
    print(f"{len(table)} evaluated networks, {len(filtered)} pass the filters")
    if filtered.empty:
        raise UserError("no network passes the filters; relax them (e.g. --min-num-train-samples 0; see --help)")
    if p.draw_figures:
        for name, fig in ms.scatter_figures(filtered, p.scatter_noise_level, p.random_seed, "validation"):
            save(fig, f"valid_scatter__{name}")

    # ---- the best network per architecture
    best = ms.best_per_architecture(filtered, p.select_best_auc)
    csv_path = ms.write_csv(best, os.path.join(output_dir, f"best_results_valid_{len(best)}_models.csv"))
    columns = [ms.BIO_TYPE_COLUMN, ms.NN_TYPE_COLUMN, "NN_depth", "NN_width", "NN_input_time_window",
               "spikes AUC", "soma explained variance %"]
    print(best[columns].to_string(index=False))
    print(f"saved {csv_path}")

    # ---- the best networks against complexity
    curves_table = ms.filter_results(best, max_width=p.max_width, min_time_window=p.curves_min_time_window,
                                     max_time_window=p.max_time_window,
                                     min_num_train_samples=p.curves_min_num_train_samples)
    if p.draw_figures and not curves_table.empty:
        for name, fig in ms.scatter_figures(curves_table, 0.0, p.random_seed, "best per architecture"):
            save(fig, f"valid_best_scatter__{name}")
        curves_table = ms.duplicate_fcn_as_tcn(curves_table)
        groupings = {"by_type": [ms.BIO_TYPE_COLUMN], "by_type_and_NN": [ms.BIO_TYPE_COLUMN, ms.NN_TYPE_COLUMN]}
        for suffix, groups in groupings.items():
            panels = ms.curve_panels(curves_table, ms.SCATTER_COLUMNS, groups,
                                     min_change_fraction=p.curves_min_change_fraction)
            save(figures_selection.plot_curve_grid(panels, len(ms.SCATTER_COLUMNS), len(ms.COMPLEXITY_X_COLUMNS),
                                          "best validation performance vs network complexity"),
                 f"valid_best_vs_complexity__{suffix}")
        fig = figures_selection.plot_results_scatters(ms.pairwise_panels(curves_table), ms.bio_type_colors(curves_table),
                                             1, 3, "architectures of the best networks")
        save(fig, "valid_best_architectures")

    summary = {"params": parameters_snapshot(p), "num_evaluated": len(table),
               "num_passing_filters": len(filtered), "num_best": len(best), "best_results_csv": csv_path,
               "runtime_sec": time.time() - start_time}
    files.write_json(os.path.join(output_dir, "valid_fitting_results_exploration.json"), summary)
    return summary


if __name__ == "__main__":
    run(main)
