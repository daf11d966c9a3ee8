"""Figure S5: test accuracy of the best networks against their depth, width and time window (spec §10).

Reads the test evaluations of evaluate_CNN_test.py (``<arch>/<name>_evaluation_test.pickle``), builds the
results table of valid_fitting_results_exploration.py (one row per network, [0,24]-filter results) plus the
mean and std over the 12 random test subsets of the spike AUC and the soma explained variance, and saves it
sorted by [biophysical type, depth, NN type, T, width, AUC]. It then re-reads that table (the original re-read a
hard-coded ``best_results_test_105_models.csv``), keeps 10 <= T <= 260, and draws Fig. S5: for each synapse type
the best AUC and the best soma explained variance reached at each depth, width and T (the cumulative best over
less complex networks, FCNs counted as TCNs of depth 1, only points that change by more than 1 %, 5 % or 3 %
of the curve's span kept), with the std over the test subsets of the network reaching it as the error bar.

    python test_accuracy_vs_complexity.py --models-dir models/best_models --output-dir output/figures/S5
    python test_accuracy_vs_complexity.py --preset quick --models-dir OUT/best_models --output-dir OUT/S5
    python test_accuracy_vs_complexity.py --help                                # every parameter

Writes into the output folder: ``best_results_test_<N>_models.csv``, ``Figure_S5__accuracy_vs_complexity.png``
(headless), the scatter figures ``test_scatter__<x>.png`` (no jitter) and ``test_accuracy_vs_complexity.json``
(parameters and counts). The paper's y ranges (AUC 0.979-0.9981, explained variance 90.9-98.3 %) are the
defaults; the quick and smoke presets let them follow the data.
"""

import copy
import os
import time

from neuron_as_deep_net.core.config import run
from neuron_as_deep_net.core.errors import UserError

# -----------------------------------------------------------------------------
# data
models_dir = "models/best_models"  # the best-models folder: <arch>/<name>_evaluation_test.pickle
data_dir = ""  # [folder] folder of the *_evaluation_test.pickle files instead ('' = models_dir and its sub-folders)
# selection
min_time_window = 10  # [>= 0] networks with T in [min, max] ms are drawn
max_time_window = 260  # [>= 1]
# figures
auc_ylim = [0.979, 0.9981]  # y range [low, high] of the AUC row; [] = automatic
explained_variance_ylim = [90.9, 98.3]  # y range [low, high] of the explained variance row (%); [] = automatic
min_change_fraction_depth = 0.01  # [>= 0, < 1] a curve point is kept when it changes by more than this fraction of its span
min_change_fraction_width = 0.05  # [>= 0, < 1]
min_change_fraction_time_window = 0.03  # [>= 0, < 1]
draw_scatter_figures = True  # also the scatter figures of every metric against each complexity measure
figure_formats = ["png"]  # [each png | pdf | svg] (pdf and svg are written to pdf/ and svg/ sub-folders)
# output
output_dir = "output/figures/S5"  # the CSV and the figures
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},
    "quick": {"auc_ylim": [], "explained_variance_ylim": []},
    "smoke": {"auc_ylim": [], "explained_variance_ylim": [], "min_time_window": 0,
              "draw_scatter_figures": False},
}
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}
FIGURE_NAME = "Figure_S5__accuracy_vs_complexity"
S5_ROWS = ["spikes AUC", "soma explained variance %"]


def check_parameters(p):
    """The checks across parameters (UserError)."""
    if p.min_time_window > p.max_time_window:
        raise UserError(f"--min-time-window ({p.min_time_window}) must not exceed --max-time-window "
                        f"({p.max_time_window})")
    for name in ("auc_ylim", "explained_variance_ylim"):
        value = getattr(p, name)
        if value and not (len(value) == 2 and all(isinstance(v, (int, float)) for v in value) and value[0] < value[1]):
            raise UserError(f"--{name.replace('_', '-')} must be [] or [low, high] with low < high (got {value!r})")


def main(argv=None):
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__)
    start_time = time.time()
    check_parameters(p)

    import pandas as pd

    from neuron_as_deep_net.l5pc import model_selection as ms
    from neuron_as_deep_net.core import files, plotting
    from neuron_as_deep_net.l5pc import figures_selection, model_files

    save = lambda fig, name: plotting.save_figure(fig, p.output_dir, name, p.figure_formats)  # noqa: E731

    # ---- the test results table (§10)
    suffix = model_files.TEST_EVALUATION_SUFFIX
    pickles = model_files.find_result_pickles(p.data_dir or p.models_dir, f"*{suffix}.pickle")
    table = ms.results_table(pickles, name_suffix=suffix)
    if table.empty:
        raise UserError(f"no test evaluation pickles (*{suffix}.pickle) in {p.data_dir or p.models_dir} "
                        f"(run evaluate_CNN_test.py first)")
    table = table.sort_values([ms.BIO_TYPE_COLUMN, "NN_depth", ms.NN_TYPE_COLUMN, "NN_input_time_window",
                               "NN_width", "spikes AUC"], kind="stable")
    csv_path = ms.write_csv(table, os.path.join(p.output_dir, f"best_results_test_{len(table)}_models.csv"))
    print(f"{len(table)} networks evaluated on the test set; saved {csv_path}")

    # ---- Figure S5, from the saved table
    table = ms.filter_results(pd.read_csv(csv_path), min_time_window=p.min_time_window,
                              max_time_window=p.max_time_window)
    if table.empty:
        raise UserError(f"no network has {p.min_time_window} <= T <= {p.max_time_window} ms (written: {csv_path})")
    if p.draw_scatter_figures:
        for name, fig in ms.scatter_figures(table, 0.0, title="test"):
            save(fig, f"test_scatter__{name}")
    curves_table = ms.duplicate_fcn_as_tcn(table)
    fractions = {"NN_depth": p.min_change_fraction_depth, "NN_width": p.min_change_fraction_width,
                 "NN_input_time_window": p.min_change_fraction_time_window}
    ylims = {"spikes AUC": p.auc_ylim or None, "soma explained variance %": p.explained_variance_ylim or None}
    panels = ms.curve_panels(curves_table, S5_ROWS, [ms.BIO_TYPE_COLUMN], min_change_fraction=fractions,
                             ylims=ylims, error_bars=True)
    written = save(figures_selection.plot_curve_grid(panels, len(S5_ROWS), len(ms.COMPLEXITY_X_COLUMNS),
                                            "best network performance as function of network complexity"),
                   FIGURE_NAME)
    print(f"saved {', '.join(written)}")

    best = {row["biophysical_model_type"]: row for row in table.sort_values("spikes AUC").to_dict("records")}
    summary = {"params": parameters_snapshot(p), "results_csv": csv_path, "num_networks": len(table),
               "figure": written, "best_per_type": {bio: {key: row[key] for key in (
                   ms.FILENAME_COLUMN, "spikes AUC", "soma explained variance %",
                   ms.subset_column("spikes AUC", "std")) if key in row} for bio, row in best.items()},
               "runtime_sec": time.time() - start_time}
    files.write_json(os.path.join(p.output_dir, "test_accuracy_vs_complexity.json"), summary)
    return summary


if __name__ == "__main__":
    run(main)
