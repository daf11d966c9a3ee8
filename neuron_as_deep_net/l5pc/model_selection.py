"""Model selection: evaluation pickles -> results tables, the best network per architecture, complexity curves.

Ground truth: /work/shared/spec/original_behaviour.md §9 (valid_fitting_results_exploration.py:
``extract_useful_info``, the filters, the best table, the curves) and §10 (test_accuracy_vs_complexity.py:
the subset columns and Fig. S5's curves). Used by valid_fitting_results_exploration.py,
saving_best_valid_CNN_models.py and test_accuracy_vs_complexity.py.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..core.files import atomic_write, load_pickle
from ..core.metrics import auc_key, d_prime, tp_key
from . import evaluation
from .model_files import model_base_name, parse_model_name

MAIN_FILTER_KEY = evaluation.filter_string(*evaluation.MAIN_FILTER)
FILENAME_COLUMN = "full model filename"
BIO_TYPE_COLUMN = "biophysical_model_type"
NN_TYPE_COLUMN = "NN_model_type"
ARCHITECTURE_COLUMNS = ["NN_depth", "NN_width", "NN_input_time_window", NN_TYPE_COLUMN, BIO_TYPE_COLUMN]
# table column -> key of the evaluation results dict (§9 "Row fields")
METRIC_COLUMNS = {
    "spikes AUC": "AUC",
    "spikes TP @ 0.25% FP": tp_key(0.0025),
    "spikes TP @ 0.1% FP": tp_key(0.0010),
    "spikes AUC @ 1% FP": auc_key(0.0100),
    "soma RMSE": "soma_RMSE",
    "soma MAE": "soma_MAE",
    "soma explained variance %": "soma_explained_variance_percent",
}
D_PRIME_COLUMN = "spikes D prime"
SUBSET_COLUMNS = {"spikes AUC": "AUC", "soma explained variance %": "soma_explained_variance_percent"}  # §10
LOWER_IS_BETTER = ("soma RMSE", "soma MAE")
# the six panels of the §9 scatter figures
SCATTER_COLUMNS = [D_PRIME_COLUMN, "spikes AUC", "spikes TP @ 0.25% FP", "soma explained variance %",
                   "soma RMSE", "soma MAE"]
BIO_TYPE_COLORS = {"AMPA_SK": "orange", "AMPA": "m", "NMDA": "b"}
BIO_TYPE_LABELS = {"NMDA": "NMDA synapses", "AMPA": "AMPA synapses", "AMPA_SK": "AMPA synapses w\\o SK_E2"}


def subset_column(column, statistic):
    """'spikes AUC std of subsets' / '... mean of subsets' (§10)."""
    return f"{column} {statistic} of subsets"


def results_row(name, evaluation_dict, filter_key=MAIN_FILTER_KEY) -> dict:
    """One table row (§9 ``extract_useful_info``, plus the §10 subset statistics when the dict has subsets).

    ``evaluation_dict`` is an evaluation pickle: the training dict (architecture_dict, training_history_dict)
    plus 'evaluations_results_dict' (and 'list_of_subset_eval_results_dict' for the test set).
    """
    results = evaluation_dict["evaluations_results_dict"]
    if filter_key not in results:
        raise ValueError(f"{name}: its evaluation has no {filter_key!r} results (it has {sorted(results)})")
    metrics_dict = results[filter_key]
    architecture = evaluation_dict["architecture_dict"]
    history = evaluation_dict.get("training_history_dict", {})
    train_histograms = history.get("train_files_histogram") or [{}]
    row = parse_model_name(name)
    row.update({
        "NN_depth": int(architecture["network_depth"]),
        "NN_width": int(np.mean(architecture["num_filters_per_layer"])),
        "NN_num_train_samples": int(np.sum(history.get("num_train_samples", []))),
        "NN_unique_train_files": len(train_histograms[-1]),
    })
    for column, key in METRIC_COLUMNS.items():
        row[column] = float(metrics_dict[key])
    row[D_PRIME_COLUMN] = d_prime(row["spikes AUC"])
    subsets = evaluation_dict.get("list_of_subset_eval_results_dict")
    if subsets:
        for column, key in SUBSET_COLUMNS.items():
            values = [float(subset[filter_key][key]) for subset in subsets if filter_key in subset]
            row[subset_column(column, "mean")] = float(np.mean(values)) if values else float("nan")
            row[subset_column(column, "std")] = float(np.std(values)) if values else float("nan")
    row[FILENAME_COLUMN] = model_base_name(name)
    return row


def results_table(pickle_paths, name_suffix="", filter_key=MAIN_FILTER_KEY, verbose=True) -> pd.DataFrame:
    """A DataFrame with one row per evaluation pickle; the model name is the file name minus ``name_suffix``.

    Pickles that are not evaluations of a §6-named model are skipped with a note; a file that is not a readable
    pickle (empty, truncated) raises DataFileError naming it.
    """
    rows = []
    for path in pickle_paths:
        name = os.path.splitext(os.path.basename(path))[0]
        if name_suffix and name.endswith(name_suffix):
            name = name[: -len(name_suffix)]
        evaluation_dict = load_pickle(path, what="evaluation pickle")
        try:
            if not isinstance(evaluation_dict, dict):
                raise ValueError(f"not an evaluation pickle (it holds a {type(evaluation_dict).__name__})")
            rows.append(results_row(name, evaluation_dict, filter_key))
        except (KeyError, ValueError, TypeError) as error:
            if verbose:
                print(f"skipping {path}: {type(error).__name__}: {error}")
    return pd.DataFrame(rows)


def filter_results(table, min_d_prime=-np.inf, min_auc=-np.inf, min_explained_variance=-np.inf,
                   max_width=np.inf, min_time_window=-np.inf, max_time_window=np.inf,
                   min_num_train_samples=-np.inf, max_num_train_samples=np.inf) -> pd.DataFrame:
    """Rows passing every bound (inclusive) (§9 "Filters" and "After saving", §10)."""
    if table.empty:
        return table
    time_window = table["NN_input_time_window"]
    keep = ((table[D_PRIME_COLUMN] >= min_d_prime) & (table["spikes AUC"] >= min_auc)
            & (table["soma explained variance %"] >= min_explained_variance) & (table["NN_width"] <= max_width)
            & (time_window >= min_time_window) & (time_window <= max_time_window)
            & (table["NN_num_train_samples"] >= min_num_train_samples)
            & (table["NN_num_train_samples"] <= max_num_train_samples))
    return table[keep]


def best_per_architecture(table, select_best_auc=True) -> pd.DataFrame:
    """For each (depth, width, T, NN type, bio type), the row with the highest AUC (lowest RMSE if not
    select_best_auc), sorted by [bio type, depth, NN type, width, T, D'] (§9 "Best table")."""
    if table.empty:
        return table
    column, ascending = ("spikes AUC", False) if select_best_auc else ("soma RMSE", True)
    ordered = table.sort_values(column, ascending=ascending, kind="stable")
    best = ordered.drop_duplicates(ARCHITECTURE_COLUMNS, keep="first")
    return best.sort_values([BIO_TYPE_COLUMN, "NN_depth", NN_TYPE_COLUMN, "NN_width", "NN_input_time_window",
                             D_PRIME_COLUMN], kind="stable").reset_index(drop=True)


def duplicate_fcn_as_tcn(table) -> pd.DataFrame:
    """The table plus a copy of every FCN row labelled TCN (an FCN is also a TCN of depth 1) (§9, §10)."""
    fcn = table[table[NN_TYPE_COLUMN] == "FCN"].copy()
    fcn[NN_TYPE_COLUMN] = "TCN"
    return pd.concat([table, fcn], ignore_index=True)


def write_csv(table, path) -> str:
    """Write a table as CSV atomically (no index column); returns the path."""
    with atomic_write(path, "w") as handle:
        table.to_csv(handle, index=False)
    return path


def complexity_curve(x, y, maximize=True, min_change_fraction=0.02):
    """The best-so-far curve of y against network complexity x (§9 "After saving" item 4, §10 Fig. S5).

    Rows are sorted by x; the curve is the cumulative max of y (cumulative min if not maximize), keeping
    the extreme value for each x, then only the points that differ from the last kept one by more than
    min_change_fraction of the curve's y-span (the first and last points are always kept). Returns
    (x values, y values, positions of the rows that reached each kept value).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return np.array([]), np.array([]), np.array([], dtype=int)
    order = np.argsort(x, kind="stable")
    signed = y[order] if maximize else -y[order]
    best_position = np.empty(order.size, dtype=int)
    best = 0
    for k in range(order.size):
        if signed[k] > signed[best] or np.isnan(signed[best]):
            best = k
        best_position[k] = best
    # the last row of each x holds the extreme cumulative value for that x
    last_of_x = np.flatnonzero(np.r_[np.diff(x[order]) != 0, True])
    positions = order[best_position[last_of_x]]
    xs, ys = x[order][last_of_x], y[positions]
    span = np.nanmax(ys) - np.nanmin(ys) if ys.size else 0.0
    kept = [0]
    for k in range(1, ys.size):
        if k == ys.size - 1 or abs(ys[k] - ys[kept[-1]]) > min_change_fraction * span:
            kept.append(k)
    kept = np.array(sorted(set(kept)))
    return xs[kept], ys[kept], positions[kept]


# ----------------------------------------------------------------------------------------------------------
# Figure data (the figures themselves are figures_selection.plot_results_scatters / plot_curve_grid)
# ----------------------------------------------------------------------------------------------------------

# (x column, axis label, jitter at noise level 1, log x axis, x multiplier) of the §9 scatter figures
SCATTER_AXES = [
    ("NN_depth", "network depth", 0.15, False, 1.0),
    ("NN_width", "network width (filters per layer)", 2.0, False, 1.0),
    ("NN_width", "network width (filters per layer)", 0.5, True, 1.0),
    ("NN_input_time_window", "network time window T (ms)", 1.5, False, 1.0),
    ("NN_input_time_window", "network time window T (ms)", 1.5, True, 1.0),
    ("NN_num_train_samples", "training samples (thousands)", 0.0, True, 1e-3),
    ("NN_unique_train_files", "unique training files", 0.0, False, 1.0),
]
COMPLEXITY_X_COLUMNS = ["NN_depth", "NN_width", "NN_input_time_window"]
COMPLEXITY_X_LABELS = {"NN_depth": "network depth", "NN_width": "network width",
                       "NN_input_time_window": "network time window T (ms)"}


def scatter_panels(table, x_column, x_label, jitter=0.0, noise_level=1.0, log_x=False, x_multiplier=1.0,
                   rng=None) -> list[dict]:
    """Panels of the §9 scatter figures: each metric of SCATTER_COLUMNS against x_column (with jitter)."""
    rng = np.random.default_rng(rng)
    x = table[x_column].to_numpy(dtype=np.float64) * x_multiplier
    jittered = x + noise_level * jitter * rng.standard_normal(x.size)
    x = np.where(jittered > 0, jittered, x) if log_x else jittered  # jitter never leaves a log axis
    return [{"x": x, "y": table[column].to_numpy(dtype=np.float64), "x_label": x_label, "y_label": column,
             "log_x": log_x} for column in SCATTER_COLUMNS]


def pairwise_panels(table, pairs=(("NN_width", "NN_input_time_window"), ("NN_width", "NN_depth"),
                                  ("NN_depth", "NN_input_time_window"))) -> list[dict]:
    """Panels of architecture columns against each other (§9 "After saving" item 5)."""
    return [{"x": table[x].to_numpy(dtype=np.float64), "y": table[y].to_numpy(dtype=np.float64),
             "x_label": COMPLEXITY_X_LABELS.get(x, x), "y_label": COMPLEXITY_X_LABELS.get(y, y)}
            for x, y in pairs]


def bio_type_colors(table) -> list[str]:
    """One colour per row by biophysical type: AMPA_SK orange, AMPA magenta, NMDA blue (§9)."""
    return [BIO_TYPE_COLORS.get(bio, "k") for bio in table[BIO_TYPE_COLUMN]]


def curve_panels(table, y_columns, group_columns=(BIO_TYPE_COLUMN,), x_columns=COMPLEXITY_X_COLUMNS,
                 min_change_fraction=0.02, ylims=None, error_bars=False) -> list[dict]:
    """Row-major panels (y_columns x x_columns) of complexity curves, one line per group (§9, §10).

    min_change_fraction is one number or {x column: fraction}; ylims {y column: (low, high)}; with
    error_bars, each point's error bar is the '<y column> std of subsets' of the row that reached it.
    """
    panels = []
    groups = list(table.groupby(list(group_columns), sort=True)) if not table.empty else []
    for y_column in y_columns:
        for x_column in x_columns:
            fraction = (min_change_fraction.get(x_column, 0.02) if isinstance(min_change_fraction, dict)
                        else min_change_fraction)
            lines = []
            for key, group in groups:
                key = key if isinstance(key, tuple) else (key,)
                xs, ys, rows = complexity_curve(group[x_column], group[y_column],
                                                maximize=y_column not in LOWER_IS_BETTER,
                                                min_change_fraction=fraction)
                error_column = subset_column(y_column, "std")
                yerr = (group[error_column].to_numpy(dtype=np.float64)[rows]
                        if error_bars and error_column in group else None)
                label = BIO_TYPE_LABELS.get(key[0], key[0]) if len(key) == 1 else " ".join(map(str, key))
                color = BIO_TYPE_COLORS.get(key[0]) if len(key) == 1 else None
                lines.append({"x": xs, "y": ys, "yerr": yerr, "label": label, "color": color})
            panels.append({"x_label": COMPLEXITY_X_LABELS.get(x_column, x_column), "y_label": y_column,
                           "ylim": (ylims or {}).get(y_column), "lines": lines})
    return panels


def scatter_figures(table, noise_level=1.0, rng=None, title=""):
    """(name, figure) of every §9 scatter figure: the six metrics against each x of SCATTER_AXES."""
    from . import figures_selection

    rng = np.random.default_rng(rng)
    colors = bio_type_colors(table)
    figures = []
    for x_column, x_label, jitter, log_x, multiplier in SCATTER_AXES:
        panels = scatter_panels(table, x_column, x_label, jitter, noise_level, log_x, multiplier, rng)
        name = f"{x_column}{'_log' if log_x else ''}"
        figure_title = f"{title}: metrics vs {x_label}" if title else f"metrics vs {x_label}"
        figures.append((name, figures_selection.plot_results_scatters(panels, colors, title=figure_title)))
    return figures


VALID_RESULTS_PATTERN = "best_results_valid_*_models.csv"


def newest_valid_results_csv(folder) -> str:
    """The newest best_results_valid_<N>_models.csv of valid_fitting_results_exploration.py in ``folder`` ('')."""
    import glob

    paths = glob.glob(os.path.join(glob.escape(folder), VALID_RESULTS_PATTERN))
    return max(paths, key=os.path.getmtime) if paths else ""


def best_valid_model(best_models_dir, synapse_type) -> tuple[str, str]:
    """(name, model file) of the network with the highest validation AUC among the copies in ``best_models_dir``.

    Reads the selection's own table (the newest best_results_valid CSV there), so the choice is made on the
    validation files, never on the test files; the file is the saving_best_valid_CNN_models.py copy.
    """
    from .model_files import find_best_models, matches_synapse_type

    path = newest_valid_results_csv(best_models_dir)
    if not path:
        raise FileNotFoundError(f"no {VALID_RESULTS_PATTERN} in {best_models_dir} "
                                "(run valid_fitting_results_exploration.py first)")
    table = pd.read_csv(path)
    table = table[[matches_synapse_type(str(name), synapse_type) for name in table[FILENAME_COLUMN]]]
    copies = find_best_models(best_models_dir, synapse_type)
    table = table[[str(name) in copies for name in table[FILENAME_COLUMN]]]
    if table.empty:
        raise FileNotFoundError(f"no {synapse_type} network of {path} has a copy in {best_models_dir} "
                                "(run saving_best_valid_CNN_models.py first)")
    name = str(table.sort_values("spikes AUC", ascending=False, kind="stable")[FILENAME_COLUMN].iloc[0])
    return name, copies[name]
