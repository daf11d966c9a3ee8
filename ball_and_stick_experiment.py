"""The ball-and-stick experiment end to end: two cells, their datasets, TCN twins A-E, test AUC bar plot.

For each cell (AMPA_point: a short wide AMPA dendrite, ~ a point neuron; NMDA_cable: a long thin dendrite
with human NMDA synapses) it creates the dataset (``create_dataset_BS_neuron.py``'s recipe, resumable),
trains and evaluates the five TCN configs (``train_DNN_twin_of_BS_neuron.py``; finished runs are reused),
and writes the comparison: ``results.csv`` / ``results.json`` (one row per cell and config), the bar plot of
test AUC per config with one colour per cell (the tutorial's config-C AUCs marked), and the first-layer
weights of configs A and B as spatio-temporal heatmaps (bonus a).

    python ball_and_stick_experiment.py --preset quick --output-dir OUT      # < 45 min on 2 CPU cores
    python ball_and_stick_experiment.py --preset laptop --output-dir OUT     # the assignment's data sizes (< 3 h)
    python ball_and_stick_experiment.py --preset full --output-dir OUT       # the tutorial's sizes (hours)
    python ball_and_stick_experiment.py --preset quick --cells NMDA_cable --excitatory-preset NMDA_rodent --output-dir OUT_rodent
    python ball_and_stick_experiment.py --help

Output folder: ``data/`` (datasets), ``models/<cell>/<run>/``, ``results.csv``, ``results.json``,
``params.json``, ``ball_and_stick_AUC_per_config.png``, ``ball_and_stick_learning_curves.png`` (validation
spike loss against steps, per cell and config, with the constant-output level), ``first_layer_weights_A_B.png``.
"""

import csv
import io
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neuron_as_deep_net.ball_and_stick.recipes import LAPTOP_RECIPE, QUICK_RECIPE  # noqa: E402
from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402

# -----------------------------------------------------------------------------
# cells and data
cells = ["AMPA_point", "NMDA_cable"]  # [each AMPA_point | NMDA_cable] which cells
excitatory_preset = ""  # ["" | AMPA | NMDA_rodent | NMDA_human] empty: each cell's own; else this one for every cell
ske2_factor = 0.0  # [>= 0] somatic SK_E2 factor (0 in the tutorial: "regular spiking")
num_repeats_per_cell = [110, 185]  # [each >= 1] dataset repeats (24 train + 2 valid + 2 test each), one per cell
sim_duration_ms = 8192  # [>= 1] per simulation
random_seed = 0  # [>= 0, < 4294967296] datasets and training
prune = True  # prune simulations by the spec's statistics
workers = 0  # [>= 0] simulation worker processes; 0 = all cores
engine = "neuron"  # [neuron | coreneuron] simulator of the datasets (the same fixed step; coreneuron is faster)
cells_per_run = 1  # [>= 1] > 1: that many copies of the cell share one simulator run, each with its own simulation (4.5x faster at 16 with coreneuron)
# models
configs = ["A", "B", "C", "D", "E"]  # [each A | B | C | D | E] TCN configs to train
# training (passed to train_DNN_twin_of_BS_neuron.py)
num_epochs = 100  # [>= 1] epochs
steps_per_epoch = 0  # [>= 0] 0 = ceil(train files / batch size)
batch_size = 16  # [>= 1] windows per step
train_window_ms = 2048  # [>= 1] training window
max_valid_files = 0  # [>= 0] validation files scored after every epoch (the first ones); 0 = all, as the tutorial
valid_window_ms = 4096  # [>= 1] validation window
learning_rate = 3e-4  # [> 0] AdamW peak learning rate
warmup_epochs = 10  # [>= 0] warm-up epochs (loss-weight ramp from 2.5x to 4x this); 0 = constant rate, initial weights
cooldown_epochs = 25  # [>= 0] final decay epochs
warmup_steps = 0  # [>= 0] > 0: per-step linear rate warm-up over these steps instead of the per-epoch one
warmup_start_factor = 0.001  # [> 0, <= 1] its first rate, as a fraction of learning_rate
deep_rate_fan_in = 0  # [>= 0] > 0: conv kernels after the first layer learn at rate x min(1, this / fan-in); 0 = one rate
head_bias_init = "tutorial"  # [tutorial | targets] heads' initial biases: the tutorial's, or the training targets' means
test_window_ms = 8128  # [>= 1] evaluation window per test file
jit_compile = "auto"  # [auto | true | false] XLA for the twins' training and predictions; auto: on a GPU only
# output
output_dir = "output/ball_and_stick"  # everything is written here
# -----------------------------------------------------------------------------

PRESETS = {
    "full": {},
    # quick (< 45 min on 2 cores): 16 repeats per cell (~330 / ~310 train sims after pruning), 16 cells per CoreNEURON
    # run; every twin trains with recipes.QUICK_RECIPE (3,000 steps of 4 x 1024 ms, AdamW peak 1e-3 after a per-step
    # warm-up, the tutorial's loss-weight ramp, deeper kernels' rates x 256 / fan-in; the train script's quick preset)
    "quick": {"num_repeats_per_cell": [16, 16], "engine": "coreneuron", "cells_per_run": 16, **QUICK_RECIPE},
    # laptop (2.15 h measured on 2 cores, README): the assignment's dataset sizes (155 / 280 repeats -> 3,141
    # AMPA_point and 5,131 NMDA_cable train sims after pruning, which keeps 84 % / 76 % of them), simulated 16 cells
    # per CoreNEURON run (4.5x faster than one), and recipes.LAPTOP_RECIPE (the quick recipe, loss ramp included,
    # for 7,200 steps; 64 validation files per epoch; the train script's laptop preset)
    "laptop": {"num_repeats_per_cell": [155, 280], "engine": "coreneuron", "cells_per_run": 16, **LAPTOP_RECIPE},
    "smoke": {"num_repeats_per_cell": [1, 1], "sim_duration_ms": 1024, "prune": False, "workers": 1,
              "configs": ["A", "C"], "num_epochs": 2, "steps_per_epoch": 2, "batch_size": 2, "train_window_ms": 256,
              "valid_window_ms": 512, "learning_rate": 1e-3, "warmup_epochs": 1, "cooldown_epochs": 1},
}
#: the tutorial's recorded test results (config C only; ball_and_stick.md §5)
TUTORIAL_CONFIG_C = {"AMPA_point": {"AUC": 0.99904, "TP @ 0.0020 FP": 0.8859, "soma_explained_variance_percent": 93.94,
                                    "soma_RMSE": 1.418},
                     "NMDA_cable": {"AUC": 0.97555, "TP @ 0.0020 FP": 0.2483, "soma_explained_variance_percent": 66.12,
                                    "soma_RMSE": 3.013}}
CSV_COLUMNS = ["cell", "config", "model_name", "num_params", "AUC", "TP @ 0.0020 FP", "soma_explained_variance_percent",
               "soma_RMSE", "near_spike_AUC", "branch_v_explained_variance_percent", "best_epoch", "num_train_files",
               "num_valid_files", "num_train_steps", "training_sec", "best_valid_spike_loss",
               "constant_output_valid_spike_loss", "tutorial_AUC"]
TRAIN_PARAMETERS = ["num_epochs", "steps_per_epoch", "batch_size", "train_window_ms", "valid_window_ms",
                    "max_valid_files", "learning_rate", "warmup_epochs", "cooldown_epochs", "warmup_steps", "warmup_start_factor",
                    "deep_rate_fan_in", "head_bias_init", "test_window_ms", "random_seed", "jit_compile"]


def results_csv_text(rows):
    """CSV of the result rows (CSV_COLUMNS, missing values empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def auc_plot_title(rows):
    """The bar plot's title; names the twins trained for another number of steps than the rest."""
    steps = [row.get("num_train_steps") for row in rows]
    common = max(set(steps), key=steps.count) if steps else None
    others = [f"{row['cell']} {row['config']}: {row.get('num_train_steps')} steps" for row in rows
              if row.get("num_train_steps") != common]
    title = "test spike AUC of the TCN twins"
    return title + (f"\n({', '.join(others)}; the others {common})" if others else "")


def learning_curve(run_dir, num_train_steps):
    """(steps, validation spike losses) of a trained twin from its history.json (one point per epoch)."""
    with open(os.path.join(run_dir, "history.json")) as handle:
        history = json.load(handle)
    steps_per_epoch = num_train_steps / max(len(history), 1)  # runs written before the history had "step"
    return ([entry.get("step", (entry["epoch"] + 1) * steps_per_epoch) for entry in history],
            [entry["valid_spikes"] for entry in history])


def check_parameters(p, training):
    """The checks across parameters (UserError): one repeat count per cell, epochs and windows."""
    if len(p.num_repeats_per_cell) != len(p.cells):
        raise UserError(f"--num-repeats-per-cell needs one value per cell ({', '.join(p.cells)}), got "
                        f"{p.num_repeats_per_cell}")
    windows = {"--train-window-ms": p.train_window_ms, "--valid-window-ms": p.valid_window_ms,
               "--test-window-ms": p.test_window_ms}
    training.check_twin_parameters(p.configs, p.num_epochs, p.warmup_epochs, p.cooldown_epochs, windows)


def main(argv=None, devices=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, option_name, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    started = time.time()
    setup = core_devices.setup_devices(devices, set_policy=False)
    from neuron_as_deep_net.ball_and_stick import dataset, figures, networks, training, twins
    from neuron_as_deep_net.core import files, parallel, plotting
    from neuron_as_deep_net.ball_and_stick import cell as bs_cell
    from neuron_as_deep_net.core.files import atomic_write

    import train_DNN_twin_of_BS_neuron as train_script

    check_parameters(p, training)
    data_dir = os.path.join(p.output_dir, "data")
    models_dir = os.path.join(p.output_dir, "models")
    timings = {}  # this part's wall time per stage (a reused stage takes ~0 s)
    recorded = {}  # each stage's wall time as recorded when it ran, in this part or an earlier one

    def run_dir(cell, model_name, config):
        """The folder of a trained TCN twin (train_DNN_twin_of_BS_neuron.py's <cell>/<run name>)."""
        return os.path.join(models_dir, cell, twins.twin_run_name(model_name, "TCN", config))

    # ---- datasets
    folders = {}
    for cell, num_repeats in zip(p.cells, p.num_repeats_per_cell):
        t0 = time.time()
        parameters = bs_cell.cell_parameters(cell, excitatory_preset=p.excitatory_preset or None,
                                                    ske2_factor=p.ske2_factor)
        folders[cell], record = dataset.create_dataset(
            data_dir, parameters, int(num_repeats), seed=p.random_seed, sim_duration_ms=p.sim_duration_ms,
            workers=p.workers or parallel.default_num_workers(), prune=p.prune, engine=p.engine,
            cells_per_run=p.cells_per_run)
        timings[f"dataset_{cell}_sec"] = time.time() - t0
        recorded[f"dataset_{cell}_sec"] = record.get("total_wall_sec")

    # ---- twins
    rows = []
    for cell in p.cells:
        splits = None  # loaded once per cell, at its first twin to train (dataset.load_twin_splits says why)
        for config in p.configs:
            t0 = time.time()
            name = networks.ball_and_stick_tcn_name(*networks.BALL_AND_STICK_TCN_CONFIGS[config])
            results_path = os.path.join(run_dir(cell, name, config), "results.json")
            if os.path.exists(results_path):
                print(f"reusing {results_path}")
                with open(results_path) as handle:
                    results = json.load(handle)
            else:
                print(f"\n==== {cell}, config {config} ====", flush=True)
                argv_train = ["--cell", cell, "--config", config, "--dataset-folder", folders[cell],
                              "--output-dir", models_dir]
                for parameter in TRAIN_PARAMETERS:
                    argv_train += [option_name(parameter), str(getattr(p, parameter))]
                if splits is None:
                    splits = dataset.load_twin_splits(folders[cell], max_valid_files=p.max_valid_files)
                results = train_script.main(argv_train, devices=devices, loaded_splits=splits)
            timings[f"train_{cell}_{config}_sec"] = time.time() - t0
            recorded[f"train_{cell}_{config}_sec"] = results.get("runtime_sec")
            results["tutorial_AUC"] = TUTORIAL_CONFIG_C.get(cell, {}).get("AUC") if config == "C" else None
            results["best_valid_spike_loss"] = (results.get("best_valid_losses") or {}).get("spikes")
            rows.append(results)

    # ---- results and figures
    with atomic_write(os.path.join(p.output_dir, "results.csv"), "w") as handle:
        handle.write(results_csv_text(rows))
    auc_by_cell = {cell: {row["config"]: row["AUC"] for row in rows if row["cell"] == cell} for cell in p.cells}
    reference = {cell: {"C": TUTORIAL_CONFIG_C[cell]["AUC"]} for cell in p.cells if cell in TUTORIAL_CONFIG_C}
    figure_paths = plotting.save_figure(figures.plot_auc_bars(auc_by_cell, list(p.configs), reference,
                                                               title=auc_plot_title(rows)),
                                        p.output_dir, "ball_and_stick_AUC_per_config")
    curves = {cell: {row["config"]: learning_curve(run_dir(cell, row["model_name"], row["config"]),
                                                row["num_train_steps"]) for row in rows if row["cell"] == cell}
        for cell in p.cells}
    plateaus = {row["cell"]: row["constant_output_valid_spike_loss"] for row in rows
                if row.get("constant_output_valid_spike_loss") is not None}
    figure_paths += plotting.save_figure(figures.plot_learning_curves(curves, plateaus), p.output_dir,
                                         "ball_and_stick_learning_curves")
    kernels = {}
    for cell in p.cells:
        for config in [c for c in ("A", "B") if c in p.configs]:
            row = next(r for r in rows if r["cell"] == cell and r["config"] == config)
            model = training.load_ball_and_stick_twin(run_dir(cell, row["model_name"], config))
            kernels[f"{cell} {config}"] = model.get_layer("layer_1").kernel.numpy()
    if kernels:
        figure_paths += plotting.save_figure(figures.plot_first_layer_heatmaps(kernels), p.output_dir,
                                             "first_layer_weights_A_B")
    summary = {"rows": rows, "auc_by_cell": auc_by_cell, "tutorial_config_C": TUTORIAL_CONFIG_C, "timings_sec": timings,
               "recorded_stage_sec": recorded, "runtime_sec": time.time() - started, "figures": figure_paths,
               "cpu_count": os.cpu_count(), "device_report": setup.report}
    files.write_json(os.path.join(p.output_dir, "results.json"), summary)
    files.write_json(os.path.join(p.output_dir, "params.json"), parameters_snapshot(p))
    print("\n" + results_csv_text(rows))
    for cell in p.cells:
        print(f"{cell}: " + ", ".join(f"{c} {auc_by_cell[cell][c]:.4f}" for c in p.configs))
    print(f"finished in {(time.time() - started) / 60:.1f} min; figures: {figure_paths}")
    if any(seconds is not None for seconds in recorded.values()):
        print(f"the stages took {sum(v or 0.0 for v in recorded.values()) / 60:.1f} min as recorded when they ran "
              f"(earlier parts of a resumed run included; results.json: recorded_stage_sec)")
    return summary


if __name__ == "__main__":
    run(main)
