"""The paper's central finding on one machine: how deep a TCN the L5PC needs, with NMDA and with AMPA synapses.

Beniaguev et al.: the NMDA L5PC takes a temporally convolutional network of 5 to 8 layers, while without NMDA
receptors one hidden layer is enough (Fig. S5). This script runs that comparison end to end with the project's
own scripts, so names, pickles, metrics and model selection stay the original's:
  1. datasets: NMDA and AMPA train / valid / test files (simulate_L5PC_and_create_dataset.py, CoreNEURON fast mode);
  2. a depth sweep per synapse type at one width, every network with the same recipe, data and budget
     (fit_CNN.py; depth 1 is the paper's 1-hidden-layer FCN, kernel 43 ms; each deeper layer adds one kernel);
  3. the validation scores of every saved checkpoint and the best checkpoint per network
     (evaluate_CNN_valid.py, valid_fitting_results_exploration.py, saving_best_valid_CNN_models.py);
  4. the test scores ([0,24] output spikes, from 500 ms on, 12 random subsets for the error bars;
     evaluate_CNN_test.py) and Figure S5 (test_accuracy_vs_complexity.py), plus ``depth_sweep.csv`` and
     ``depth_sweep.png`` (AUC and soma explained variance against depth, not cumulative);
  5. Figures 2 and 3 for the NMDA network that model selection picked on the validation files
     (main_figure_replication.py);
  6. a learning curve: the deepest NMDA network trained with the same recipe on 1/8, 1/4, 1/2 and all of the
     training files, its test AUC against simulated seconds of training data, extrapolated to the size of the
     published dataset (``learning_curve.csv`` / ``.png``).

    python l5pc_depth_sweep.py --preset laptop --output-dir OUT/l5pc_depth    # the finding, hours on 2 cores
    python l5pc_depth_sweep.py --preset smoke --output-dir OUT/l5pc_depth     # minutes: the orchestration (CI)
    python l5pc_depth_sweep.py --steps data,train --output-dir OUT/l5pc_depth # some steps only
    python reproduce.py --preset laptop --stages l5pc_depth --output-dir OUT  # the same, as a reproduce stage

Every step is resumable: dataset files and chunks that exist are kept, a network whose fit_CNN run finished is
not trained again (an interrupted one resumes from its checkpoint), evaluated checkpoints are not evaluated
again. Hyper-parameters are never chosen on the test files: the checkpoint of each network is picked by its
validation AUC, and so is the network drawn in Figures 2 and 3.
"""

import copy
import csv
import glob
import json
import os
import time

from neuron_as_deep_net.core.errors import UserError

# -----------------------------------------------------------------------------
# what to compare
synapse_types = ["NMDA", "AMPA"]  # [each NMDA | AMPA | AMPA_SK] one dataset and one sweep each
depths = [1, 2, 3, 5, 7]  # [each >= 1] conv layers of the swept TCNs (1 = the paper's 1-hidden-layer FCN)
width = 64  # [>= 1] filters per layer, the same at every depth
first_filter_size = 43  # [>= 1] ms, kernel of layer 1 (the published AMPA FCN: 1x128x43)
deeper_filter_size = 19  # [>= 1] ms, kernel of every further layer (depth 7: T = 43 + 6 x 18 = 151 ms)
# data (per synapse type)
num_files = [16, 1, 1]  # [each >= 1] dataset files for train, valid, test (16 x 16 x 6 s = 1,536 s of training data)
num_simulations_per_file = 16  # [>= 1] simulations per file
sim_duration_sec = 6.0  # [> 0] per simulation
solver = "coreneuron"  # [coreneuron | fast | fixed | cvode] coreneuron: the fast mode (dt 0.05 ms, Crank-Nicolson) run by CoreNEURON, ~2.5x faster, identical output; fast where CoreNEURON is missing
first_random_seed = 3000  # [>= 0] file k of split s of synapse type t uses seed first + 1000 t + 100 s + k
workers = 0  # [>= 0] simulation worker processes; 0 = all cores
morphology = None  # [file] cell1.asc (else $L5PC_MORPHOLOGY, else the default location)
# training: one recipe for every network (fit_CNN.py parameters)
num_schedules = 8  # [>= 1] learning schedules, each a fresh compile with a new optimizer (see below)
num_steps_multiplier = 4  # [>= 1] Keras epochs per schedule
stage_first_schedules = [0, 4, 5, 6, 7]  # [each >= 0] first schedule of each of the 5 stages
learning_rate_per_stage = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5]  # [each > 0] Nadam learning rate per stage (10x the paper's)
# Why 8 schedules on 16 files (chosen on the validation files): with 16 schedules on 8 files every network's validation
# spike loss was lowest by schedule 7 and rose after it, and model selection picked checkpoints of 3,840-7,680 of
# 30,720 windows; the learning curve said data limits. So half the steps and twice the data (the 3-h budget).
batch_size = 8  # [>= 1] windows per batch
input_window_size = 400  # [>= 1] ms
train_file_load = 0.5  # [> 0] fraction of a file's sims x T drawn in windows before switching files
valid_file_load = 0.25  # [> 0] the same for the validation file
train_files_per_epoch = 4  # [>= 1] training files per Keras epoch
activation = "relu"  # [relu | lrelu]
num_DVT_components = 0  # [>= 0] principal components of the DVTs; 0 = fit_CNN's (20 for NMDA, 30 otherwise)
training_random_seed = 0  # [>= 0] fit_CNN's seed: initial weights and window draws (the same for every network)
# learning curve (the deepest NMDA network)
learning_curve_fractions = [0.125, 0.25, 0.5]  # [each > 0] parts of the training files (1.0 is the sweep's own run)
published_dataset_sim_sec = 38400.0  # [> 0] simulated seconds of the published dataset (see README: ~115 GB)
# run
steps = ["data", "train", "select", "test", "figures", "learning_curve"]  # [each data | train | select | test | figures | learning_curve]
figure_formats = ["png"]  # [each png | pdf | svg] (add pdf and/or svg)
output_dir = "output/l5pc_depth"  # everything goes here
# -----------------------------------------------------------------------------

PRESETS = {
    "laptop": {},
    # the orchestration in minutes (CI): two depths, tiny files, a few schedules
    "smoke": {"synapse_types": ["NMDA", "AMPA"], "depths": [1, 2], "width": 4, "first_filter_size": 5,
              "deeper_filter_size": 3, "num_files": [2, 1, 1], "num_simulations_per_file": 2,
              "sim_duration_sec": 2.0, "first_random_seed": 1000, "solver": "fast", "workers": 2, "num_schedules": 2, "num_steps_multiplier": 1,
              "stage_first_schedules": [0, 1, 2, 3, 4], "learning_rate_per_stage": [1e-2, 3e-3, 1e-3, 3e-4, 1e-4],
              "input_window_size": 64, "batch_size": 4, "train_files_per_epoch": 2,
              "num_DVT_components": 4, "learning_curve_fractions": [0.5]},
}
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}
ROOT = os.path.dirname(os.path.abspath(__file__))
SPLITS = ("train", "valid", "test")
CSV_COLUMNS = ["synapse_type", "depth", "width", "T", "num_params", "AUC", "TP @ 0.0025 FP",
               "soma_explained_variance_percent", "soma_RMSE", "AUC_subsets_std",
               "soma_explained_variance_subsets_std", "valid_AUC", "num_train_windows", "train_sim_sec", "model"]


# ---- paths ------------------------------------------------------------------------------------------------
def data_dir(p, synapse_type, split):
    return os.path.join(p.output_dir, "data", synapse_type, split)


def dataset_folder(p, synapse_type, split):
    """The folder holding a split's files (simulate_L5PC_and_create_dataset.py names its sub-folder)."""
    folders = sorted(glob.glob(os.path.join(glob.escape(data_dir(p, synapse_type, split)), "L5PC__*")))
    return folders[0] if folders else data_dir(p, synapse_type, split)


def dataset_files(p, synapse_type, split):
    return sorted(glob.glob(os.path.join(glob.escape(dataset_folder(p, synapse_type, split)), "*.p")))


def filter_sizes(p, depth):
    return [p.first_filter_size] + [p.deeper_filter_size] * (depth - 1)


def receptive_field(p, depth):
    return sum(k - 1 for k in filter_sizes(p, depth)) + 1


def network_dir(p, synapse_type, depth, fraction=1.0):
    """Where one network's fit_CNN run writes (a learning-curve run gets its own folder)."""
    if fraction == 1.0:
        return os.path.join(p.output_dir, "models", synapse_type, f"depth_{depth}")
    return os.path.join(p.output_dir, "learning_curve", f"{synapse_type}_depth_{depth}__train_{fraction:g}")


def best_models_dir(folder):
    return os.path.join(folder, "best_models")


def parse_cache_dir(p):
    """One cache of parsed dataset files for every network (entries are named by content): fit_CNN.py's default,
    a cache per models folder, held a copy of the training files per network (~2.8 GB each at the laptop preset)."""
    return os.path.join(p.output_dir, "data", ".parsed_cache")


# ---- running the project's scripts --------------------------------------------------------------------------
def run(command, log_path):
    """Run one of the project's scripts, [name, arguments...] (output to the terminal and the log, reproduce.py's
    runner); raise on failure."""
    import reproduce

    run_argv([reproduce.PYTHON, os.path.join(ROOT, command[0]), *command[1:]], log_path)


def run_argv(argv, log_path):
    import reproduce

    print("\n$ " + " ".join(map(str, argv)), flush=True)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    code = reproduce.run_command(argv, log_path)
    if code != 0:
        raise UserError(f"{os.path.basename(str(argv[1]))} failed (exit code {code}); its output is in {log_path}. "
                        "Fix the cause and run the same command again: finished work is kept.")


def log_path(p, step):
    return os.path.join(p.output_dir, "logs", f"{step}.log")


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def finished_run(folder):
    """The results of a finished fit_CNN run in ``folder`` (None if there is none)."""
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "fit_CNN_run__*.json"))):
        results = read_json(path).get("results", {})
        if results.get("finished"):
            return results
    return None


def val_spike_losses(folder):
    """The validation spike loss per Keras epoch of the finished fit_CNN run in ``folder`` (None if unknown)."""
    from neuron_as_deep_net.core.files import load_pickle

    results = finished_run(folder)
    if not results or not results.get("saved_models"):
        return None
    saved = os.path.join(results["models_dir"], results["saved_models"][-1] + ".pickle")
    if not os.path.isfile(saved):
        return None
    return list(load_pickle(saved)["training_history_dict"]["val_spikes_loss"])


# ---- step 1: data -------------------------------------------------------------------------------------------
def make_datasets(p):
    for type_index, synapse_type in enumerate(p.synapse_types):
        for split_index, (split, count) in enumerate(zip(SPLITS, p.num_files)):
            for k in range(count):
                seed = p.first_random_seed + 1000 * type_index + 100 * split_index + k
                command = ["simulate_L5PC_and_create_dataset.py", "--synapse-type", synapse_type,
                           "--random-seed", seed, "--num-simulations", p.num_simulations_per_file,
                           "--sim-duration-sec", p.sim_duration_sec, "--solver", p.solver, "--workers", p.workers,
                           "--output-dir", data_dir(p, synapse_type, split)]
                if p.morphology:
                    command += ["--morphology", p.morphology]
                run(command, log_path(p, "data"))  # an existing file is kept (the script says so and returns)


# ---- step 2: training -----------------------------------------------------------------------------------------
def fit_command(p, synapse_type, depth, train_dir, models_dir):
    command = ["fit_CNN.py", "--synapse-type", synapse_type, "--train-dir", train_dir,
               "--valid-dir", dataset_folder(p, synapse_type, "valid"), "--models-dir", models_dir,
               "--filter-sizes", ",".join(map(str, filter_sizes(p, depth))), "--num-filters", p.width,
               "--activation", p.activation, "--random-seed", p.training_random_seed,
               "--num-schedules", p.num_schedules, "--num-steps-multiplier", p.num_steps_multiplier,
               "--stage-first-schedules", json.dumps(p.stage_first_schedules),
               "--learning-rate-per-stage", json.dumps(p.learning_rate_per_stage),
               "--batch-size", p.batch_size, "--input-window-size", p.input_window_size,
               "--train-file-load", p.train_file_load, "--valid-file-load", p.valid_file_load,
               "--train-files-per-epoch", p.train_files_per_epoch, "--save-final-model", "true",
               "--parse-cache-dir", parse_cache_dir(p), "--progress-bar", "false", "--resume"]
    return [str(part) for part in command + ["--num-DVT-components", p.num_DVT_components]]


def train_network(p, synapse_type, depth, train_dir, models_dir, label):
    done = finished_run(models_dir)
    if done:
        print(f"{label}: finished earlier ({len(done['saved_models'])} saved checkpoints), kept")
        return done
    started = time.time()
    run(fit_command(p, synapse_type, depth, train_dir, models_dir), log_path(p, "train"))
    print(f"{label}: trained in {(time.time() - started) / 60:.1f} min", flush=True)
    return finished_run(models_dir)


def train_sweep(p):
    for synapse_type in p.synapse_types:
        for depth in p.depths:
            train_network(p, synapse_type, depth, dataset_folder(p, synapse_type, "train"),
                          network_dir(p, synapse_type, depth), f"{synapse_type} depth {depth}")


# ---- step 3-4: selection on the validation files, scores on the test files -----------------------------------
def select_checkpoints(p, models_root, best_dir, synapse_type, step):
    """Score every saved checkpoint on the validation files; copy the best per network into best_dir (reproduce.py's
    model selection, every network kept whatever its number of training windows; no figures). The validation files
    are read through the training's parse cache (parsed once, by fit_CNN.py), not into a second one."""
    import reproduce

    exploration = ["--min-num-train-samples", "0", "--max-num-train-samples", "1000000000000", "--draw-figures", "false"]
    for argv in reproduce.l5pc_selection_commands(models_root, dataset_folder(p, synapse_type, "valid"), best_dir,
                                                  exploration_options=exploration,
                                                  valid_options=["--parse-cache-dir", parse_cache_dir(p)]):
        run_argv(argv, log_path(p, step))


def test_networks(p, best_dir, synapse_type, output_dir, step):
    """Score the networks of ``best_dir`` on the test files, unless every one of them was scored earlier (then no
    evaluation process is started; evaluate_CNN_test.py --skip-evaluated makes the same check)."""
    from neuron_as_deep_net.l5pc import evaluation, model_files

    selected = model_files.find_best_models(best_dir, synapse_type)
    if selected and not evaluation.models_without_test_evaluation(selected, output_dir):
        print(f"{synapse_type}: the {len(selected)} selected networks were evaluated on the test files earlier, kept")
        return
    run(["evaluate_CNN_test.py", "--models-dir", best_dir, "--synapse-type", synapse_type,
         "--data-dir", dataset_folder(p, synapse_type, "test"), "--output-dir", output_dir,
         "--parse-cache-dir", parse_cache_dir(p), "--skip-evaluated", "true"], log_path(p, step))


def sweep_best_dir(p, synapse_type):
    return best_models_dir(os.path.join(p.output_dir, "models", synapse_type))


def test_dir(p):
    return os.path.join(p.output_dir, "test_evaluation")


# ---- the tables ---------------------------------------------------------------------------------------------
def test_rows(folder, synapse_types):
    """One row per network from the test evaluation pickles in ``folder`` ([0,24] filter, from 500 ms)."""
    from neuron_as_deep_net.l5pc import model_files
    from neuron_as_deep_net.l5pc import model_selection as ms

    if not os.path.isdir(folder):
        return []
    suffix = model_files.TEST_EVALUATION_SUFFIX
    table = ms.results_table(model_files.find_result_pickles(folder, f"*{suffix}.pickle"), name_suffix=suffix,
                             verbose=False)
    return [row for row in table.to_dict("records") if row[ms.BIO_TYPE_COLUMN] in synapse_types]


def valid_auc_of(best_dir):
    """{network name: validation AUC} from the selection's newest best_results_valid CSV in ``best_dir``."""
    from neuron_as_deep_net.l5pc import model_selection as ms

    path = ms.newest_valid_results_csv(best_dir)
    if not path:
        return {}
    with open(path, newline="") as handle:
        return {row[ms.FILENAME_COLUMN]: float(row["spikes AUC"]) for row in csv.DictReader(handle)}


def num_parameters(best_dir, name, synapse_type):
    from neuron_as_deep_net.l5pc import model_files

    path = model_files.find_best_models(best_dir, synapse_type).get(name)
    if not path:
        return None
    model, _, _ = model_files.load_model_and_metadata(path, require_metadata=False)
    return int(model.count_params())


def table_row(p, row, best_dir, valid_aucs, train_sim_sec):
    from neuron_as_deep_net.l5pc import model_selection as ms

    name = row[ms.FILENAME_COLUMN]
    return {"synapse_type": row[ms.BIO_TYPE_COLUMN], "depth": int(row["NN_depth"]), "width": int(row["NN_width"]),
            "T": int(row["NN_input_time_window"]), "num_params": num_parameters(best_dir, name, row[ms.BIO_TYPE_COLUMN]),
            "AUC": row["spikes AUC"], "TP @ 0.0025 FP": row["spikes TP @ 0.25% FP"],
            "soma_explained_variance_percent": row["soma explained variance %"], "soma_RMSE": row["soma RMSE"],
            "AUC_subsets_std": row.get(ms.subset_column("spikes AUC", "std")),
            "soma_explained_variance_subsets_std": row.get(ms.subset_column("soma explained variance %", "std")),
            "valid_AUC": valid_aucs.get(name), "num_train_windows": int(row.get("NN_num_train_samples") or 0),
            "train_sim_sec": train_sim_sec, "model": name}


def write_table(rows, path):
    from neuron_as_deep_net.core.files import atomic_write

    with atomic_write(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in CSV_COLUMNS})
    return path


def train_sim_sec(p, synapse_type, fraction=1.0):
    files = dataset_files(p, synapse_type, "train")
    return len(files[:max(1, int(round(fraction * len(files))))]) * p.num_simulations_per_file * p.sim_duration_sec


def sweep_table(p):
    rows = []
    for synapse_type in p.synapse_types:
        best_dir = sweep_best_dir(p, synapse_type)
        valid_aucs = valid_auc_of(best_dir)
        rows += [table_row(p, row, best_dir, valid_aucs, train_sim_sec(p, synapse_type))
                 for row in test_rows(test_dir(p), [synapse_type])]
    rows.sort(key=lambda row: (p.synapse_types.index(row["synapse_type"]), row["depth"]))
    return rows


# ---- step 5: figures ------------------------------------------------------------------------------------------
def selected_network(p, synapse_type):
    """The network model selection picked on the validation files (highest validation AUC) and its file."""
    from neuron_as_deep_net.l5pc import model_selection as ms

    return ms.best_valid_model(sweep_best_dir(p, synapse_type), synapse_type)


def draw_figures(p, rows):
    from neuron_as_deep_net.core import plotting
    from neuron_as_deep_net.l5pc import figures_selection

    written = plotting.save_figure(figures_selection.plot_depth_sweep(rows, p.synapse_types), p.output_dir,
                                   "depth_sweep", p.figure_formats)
    run(["test_accuracy_vs_complexity.py", "--preset", "quick", "--min-time-window", "0", "--data-dir", test_dir(p),
         "--output-dir", os.path.join(p.output_dir, "S5"), "--figure-formats", ",".join(p.figure_formats)],
        log_path(p, "figures"))
    if "NMDA" in p.synapse_types:
        name, path = selected_network(p, "NMDA")
        smoke = ["--preset", "smoke"] if p.preset == "smoke" else []
        run(["main_figure_replication.py", *smoke, "--model", path,
             "--data-dir", dataset_folder(p, "NMDA", "test"), "--output-dir", os.path.join(p.output_dir, "main_figure"),
             "--figure-formats", ",".join(p.figure_formats)], log_path(p, "figures"))
        print(f"Figures 2 and 3 drawn for {name} (chosen on the validation files)")
    return written


# ---- step 6: learning curve -----------------------------------------------------------------------------------
def subset_train_dir(p, synapse_type, fraction):
    """A folder of links to the first part of the training files (the PCA file, the first, is always in)."""
    files = dataset_files(p, synapse_type, "train")
    count = max(1, int(round(fraction * len(files))))
    folder = os.path.join(p.output_dir, "learning_curve", "data", f"{synapse_type}_train_{fraction:g}")
    os.makedirs(folder, exist_ok=True)
    for path in files[:count]:
        link = os.path.join(folder, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(path, folder), link)
    return folder


def learning_curve(p):
    from neuron_as_deep_net.core import plotting
    from neuron_as_deep_net.l5pc import figures_selection, learning_curve as lc, model_files

    synapse_type, depth = "NMDA", max(p.depths)
    points = []
    for fraction in sorted(p.learning_curve_fractions):
        folder = network_dir(p, synapse_type, depth, fraction)
        train_network(p, synapse_type, depth, subset_train_dir(p, synapse_type, fraction), folder,
                      f"learning curve: {synapse_type} depth {depth} on {fraction:g} of the training data")
        best_dir = best_models_dir(folder)
        if not (os.path.isdir(best_dir) and model_files.find_best_models(best_dir, synapse_type)):  # else kept
            select_checkpoints(p, folder, best_dir, synapse_type, "learning_curve")
        # scores only the selected networks without a test evaluation (all scored: no process is started)
        test_networks(p, best_dir, synapse_type, os.path.join(folder, "test_evaluation"), "learning_curve")
        rows = test_rows(os.path.join(folder, "test_evaluation"), [synapse_type])
        valid_aucs = valid_auc_of(best_dir)
        points += [dict(table_row(p, row, best_dir, valid_aucs, train_sim_sec(p, synapse_type, fraction)),
                        fraction=fraction) for row in rows]
    points += [dict(row, fraction=1.0) for row in sweep_table(p)
               if row["synapse_type"] == synapse_type and row["depth"] == depth]
    points.sort(key=lambda row: row["train_sim_sec"])
    fit = lc.fit_power_law([row["train_sim_sec"] for row in points], [row["AUC"] for row in points])
    projected = lc.projected_auc(fit, p.published_dataset_sim_sec) if fit else None
    write_table(points, os.path.join(p.output_dir, "learning_curve.csv"))
    figure = figures_selection.plot_learning_curve(points, fit, p.published_dataset_sim_sec,
                                                   f"{synapse_type} TCN, depth {depth}, width {p.width}")
    written = plotting.save_figure(figure, p.output_dir, "learning_curve", p.figure_formats)
    summary = {"points": [{k: row[k] for k in ("fraction", "train_sim_sec", "AUC", "AUC_subsets_std",
                                               "soma_explained_variance_percent", "num_train_windows")}
                          for row in points],
               "power_law_fit": fit, "published_dataset_sim_sec": p.published_dataset_sim_sec,
               "projected_AUC_at_published_size": projected, "figure": written,
               "limits": lc.what_limits(points, [val_spike_losses(network_dir(p, synapse_type, depth, row["fraction"]))
                                                for row in points])}
    return summary


# ---- main ---------------------------------------------------------------------------------------------------
def main(argv=None):
    from neuron_as_deep_net.core.config import configure, parameters_snapshot
    from neuron_as_deep_net.core.files import write_json

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__)
    if len(p.num_files) != 3:
        raise UserError(f"--num-files needs 3 counts (train, valid, test), got {p.num_files}")
    if sorted(set(p.depths)) != sorted(p.depths):
        raise UserError(f"--depths must not repeat a depth, got {p.depths}")
    firsts = list(p.stage_first_schedules)
    if len(firsts) != 5 or len(p.learning_rate_per_stage) != 5 or firsts[0] != 0 or sorted(firsts) != firsts:
        raise UserError(f"--stage-first-schedules (starting at 0, increasing) and --learning-rate-per-stage need the 5 "
                        f"stages of fit_CNN's loss weights, got {firsts} and {p.learning_rate_per_stage}")
    p.output_dir = os.path.abspath(p.output_dir)
    started, timings = time.time(), {}

    def step(name, function):
        if name not in p.steps:
            return None
        t0 = time.time()
        print(f"\n==== {name} (elapsed {(time.time() - started) / 60:.1f} min) ====", flush=True)
        result = function()
        timings[name] = time.time() - t0
        print(f"==== {name}: {timings[name] / 60:.1f} min ====", flush=True)
        return result

    step("data", lambda: make_datasets(p))
    step("train", lambda: train_sweep(p))

    def select():
        for synapse_type in p.synapse_types:
            select_checkpoints(p, os.path.join(p.output_dir, "models", synapse_type), sweep_best_dir(p, synapse_type),
                               synapse_type, "select")

    step("select", select)
    step("test", lambda: [test_networks(p, sweep_best_dir(p, t), t, test_dir(p), "test") for t in p.synapse_types])
    rows = sweep_table(p) if any(s in p.steps for s in ("test", "figures", "learning_curve")) else []
    if rows:
        write_table(rows, os.path.join(p.output_dir, "depth_sweep.csv"))
        print_table(rows)
    figures = step("figures", lambda: draw_figures(p, rows))
    curve = step("learning_curve", lambda: learning_curve(p))

    summary = {"params": parameters_snapshot(p), "rows": rows, "figures": figures, "learning_curve": curve,
               "selected_NMDA_network": selected_network(p, "NMDA")[0] if rows and "NMDA" in p.synapse_types
               else None, "step_minutes": {k: v / 60 for k, v in timings.items()},
               "runtime_sec": time.time() - started}
    write_json(os.path.join(p.output_dir, "depth_sweep.json"), summary)
    print(f"\ndone in {(time.time() - started) / 60:.1f} min; {os.path.join(p.output_dir, 'depth_sweep.csv')}")
    return summary


def print_table(rows):
    print("\nsynapse depth   T  params     AUC  TP@0.25%FP  soma EV %  soma RMSE")
    for row in rows:
        print(f"{row['synapse_type']:>7} {row['depth']:>5} {row['T']:>3} {row['num_params'] or 0:>7} "
              f"{row['AUC']:.4f}  {row['TP @ 0.0025 FP']:.3f}  {row['soma_explained_variance_percent']:9.2f}  "
              f"{row['soma_RMSE']:8.3f}")


if __name__ == "__main__":
    from neuron_as_deep_net.core import config  # (this script's own run() runs one of the other scripts)

    config.run(main)
