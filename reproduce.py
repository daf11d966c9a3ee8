"""Reproduce the paper's story at laptop scale with one command, and write a report.

Runs the project's scripts in order, each with the matching preset, every output under one folder:
  1. Figure 1: the integrate-and-fire neuron and its 1-unit TCN (integrate_and_fire_figure_replication.py);
  2. the ball-and-stick depth experiment: AMPA point neuron vs NMDA cable, TCN configs A-E;
  3. a small L5PC dataset (simulate_L5PC_and_create_dataset.py; train / valid / test files);
  4. a TCN trained on it (fit_CNN.py);
  5. its evaluation (evaluate_CNN_test.py), and
  6. the Figure 2/3-style panels (dataset_exploration.py, main_figure_replication.py) for the network that
     model selection picked on the validation files;
  7. (stage l5pc_depth, in the laptop preset) the paper's central finding: NMDA and AMPA depth sweeps,
     Figure S5 and a learning curve (l5pc_depth_sweep.py);
then writes OUT/REPORT.md and OUT/REPORT.html (figures embedded) with each stage's figures, metrics next to
the published numbers, runtime, the machine and the exact commands.

    python reproduce.py --preset quick --output-dir OUT      # about an hour on 2 CPU cores
    python reproduce.py --preset smoke --output-dir OUT      # minutes: the same pipeline, tiny (CI)
    python reproduce.py --preset laptop --stages l5pc_depth --output-dir OUT   # the depth finding (hours)
    python reproduce.py --preset full --output-dir OUT       # the original sizes (days of CPU)
    python reproduce.py --stages integrate_and_fire,ball_and_stick --output-dir OUT

A finished stage leaves OUT/<stage>/stage_record.json and is skipped when the command is run again
(``--force true`` reruns); the first failing stage stops the run with its log's path. The L5PC stages need the
morphology (``python tools/download_morphology.py``); the others run without it.
"""

import csv
import glob
import json
import os
import subprocess
import sys
import time

from neuron_as_deep_net.core.config import run
from neuron_as_deep_net.core.errors import UserError

# -----------------------------------------------------------------------------
# run
stages = ["integrate_and_fire", "ball_and_stick", "l5pc_dataset", "l5pc_training", "l5pc_evaluation",
          "l5pc_figures"]  # stages to run, in this order (the keys of STAGES, checked in main)
script_preset = "quick"  # [quick | paper | smoke] preset passed to every script
ball_and_stick_preset = "quick"  # [quick | laptop | full | smoke] the ball-and-stick script's preset
depth_sweep_preset = "laptop"  # [laptop | smoke] l5pc_depth_sweep.py's preset (stage l5pc_depth)
force = False  # rerun stages that already finished
workers = 0  # [>= 0] simulation worker processes; 0 = all cores
# L5PC dataset
morphology = None  # [file] path of cell1.asc (else $L5PC_MORPHOLOGY, else the default location)
l5pc_num_files = [4, 1, 1]  # [each >= 1] dataset files for train, valid, test
l5pc_num_simulations_per_file = 8  # [>= 1] simulations per file
l5pc_sim_duration_sec = 2.0  # [> 0] per simulation
l5pc_solver = "fast"  # [fast | fixed | cvode | coreneuron] fast (dt 0.05 ms, Crank-Nicolson) | fixed (dt 0.025 ms) | cvode (the original's, slowest)
l5pc_first_random_seed = 1000  # [>= 0] file k of split s uses seed first + 100 * s + k
# output
output_dir = "output/reproduce"  # every stage writes into its own sub-folder here
# -----------------------------------------------------------------------------

PRESETS = {
    "quick": {},
    # the quick stages plus the depth sweep of the L5PC (the paper's central finding; hours on 2 cores)
    "laptop": {"stages": ["integrate_and_fire", "ball_and_stick", "l5pc_dataset", "l5pc_training",
                          "l5pc_evaluation", "l5pc_figures", "l5pc_depth"]},
    "smoke": {"script_preset": "smoke", "ball_and_stick_preset": "smoke", "depth_sweep_preset": "smoke",
              "l5pc_num_files": [1, 1, 1], "l5pc_num_simulations_per_file": 2, "l5pc_sim_duration_sec": 1.0},
    "full": {"script_preset": "paper", "ball_and_stick_preset": "full", "l5pc_num_files": [100, 12, 12],
             "l5pc_num_simulations_per_file": 128, "l5pc_sim_duration_sec": 6.0, "l5pc_solver": "cvode"},
}
ROOT = os.path.dirname(os.path.abspath(__file__))
PYTHON = "python"  # shown in the report's commands; runs as this interpreter (sys.executable)
SPLITS = ("train", "valid", "test")
RECORD_NAME = "stage_record.json"
L5PC_STAGES = ("l5pc_dataset", "l5pc_training", "l5pc_evaluation", "l5pc_figures", "l5pc_depth")


class StageFailed(RuntimeError):
    """A stage's command exited with an error (the message names the stage and its log)."""


def script(name):
    """Absolute path of one of the project's scripts."""
    return os.path.join(ROOT, name)


def run_command(command, log_path):
    """Run ``command``, copying its output to the terminal and appending it to ``log_path``; return the code."""
    with open(log_path, "ab") as log:
        log.write(("\n$ " + " ".join(map(str, command)) + "\n").encode())
        log.flush()
        argv = [sys.executable if k == 0 and part == PYTHON else str(part) for k, part in enumerate(command)]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
        for chunk in iter(lambda: process.stdout.read1(65536), b""):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            log.write(chunk)
        return process.wait()


def figures_under(folder, report_dir, limit=None):
    """PNG files below ``folder`` (sorted), as paths relative to the report folder."""
    paths = sorted(glob.glob(os.path.join(glob.escape(folder), "**", "*.png"), recursive=True))
    return [os.path.relpath(path, report_dir) for path in paths[:limit]]


def read_json(path):
    """A JSON file's content, or {} if it is missing."""
    if not os.path.isfile(path):
        return {}
    with open(path) as handle:
        return json.load(handle)


def read_csv(path):
    """The rows of a CSV file as dicts ([] if it is missing)."""
    if not path or not os.path.isfile(path):
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def newest(pattern):
    """The most recently modified file matching ``pattern`` ('' if none)."""
    paths = glob.glob(pattern, recursive=True)
    return max(paths, key=os.path.getmtime) if paths else ""


# ---- the stages: each returns its commands and, after they ran, what the report shows -------------------
def integrate_and_fire_stage(p, folder):
    commands = [[PYTHON, script("integrate_and_fire_figure_replication.py"), "--preset", p.script_preset,
                 "--output-dir", folder]]

    def collect():
        results = read_json(os.path.join(folder, "results.json"))
        metrics = {"AUC": results.get("AUC"), "TP @ 0.2 % FP": results.get("TP @ 0.0020 FP"),
                   "soma explained variance %": results.get("soma_explained_variance_percent"),
                   "soma RMSE (mV)": results.get("soma_RMSE"),
                   "train output rate (Hz)": results.get("train_output_rate_hz"),
                   "train simulations": results.get("num_simulations_train")}
        return {"metrics": metrics, "notes": [
            "The soma explained variance of this 1-filter linear network is bounded by what any linear 80-ms "
            "filter can reach on this cell (77.7 %, `python tools/integrate_and_fire_linear_ceiling.py`)."]}

    return {"title": "Figure 1: integrate-and-fire neuron vs a 1-unit TCN", "commands": commands,
            "description": "A leaky integrate-and-fire neuron with 80 excitatory and 20 inhibitory synapses is "
                           "mimicked by a single causal convolution unit (80 ms) with spike and soma heads.",
            "collect": collect}


def ball_and_stick_stage(p, folder):
    commands = [[PYTHON, script("ball_and_stick_experiment.py"), "--preset", p.ball_and_stick_preset,
                 "--output-dir", folder]]

    def collect():
        results = read_json(os.path.join(folder, "results.json"))  # ball_and_stick_experiment.py's summary
        rows = results.get("rows", [])
        metrics = {}
        for cell in ("AMPA_point", "NMDA_cable"):
            config_c = next((row for row in rows if row.get("cell") == cell and row.get("config") == "C"), {})
            metrics[f"{cell} AUC"] = config_c.get("AUC")
            metrics[f"{cell} TP @ 0.2 % FP"] = config_c.get("TP @ 0.0020 FP")
            metrics[f"{cell} soma explained variance %"] = config_c.get("soma_explained_variance_percent")
            by_config = results.get("auc_by_cell", {}).get(cell, {})
            if by_config:
                metrics[f"{cell} AUC per config"] = ", ".join(f"{c} {auc:.4f}" for c, auc in sorted(by_config.items()))
        return {"metrics": metrics, "notes": ["Measured values are for config C (the published one); the bar "
                                              "plot and results.csv hold configs A-E."]}

    return {"title": "Ball-and-stick: how much depth each cell needs", "commands": commands,
            "description": "Two ball-and-stick cells with the same active soma: a short wide dendrite with AMPA "
                           "synapses (about a point neuron) and a long thin one with human NMDA synapses; TCNs "
                           "of five sizes (configs A-E) learn each cell's input/output.",
            "collect": collect}


def l5pc_split_dir(p, split):
    return os.path.join(p.output_dir, "l5pc_dataset", split)


def l5pc_data_folder(p, split):
    """The folder holding a split's dataset files (the simulate script names its sub-folder)."""
    folders = sorted(glob.glob(os.path.join(glob.escape(l5pc_split_dir(p, split)), "L5PC__*")))
    return folders[0] if folders else l5pc_split_dir(p, split)


def l5pc_dataset_stage(p, folder):
    commands = []
    for split_index, (split, num_files) in enumerate(zip(SPLITS, p.l5pc_num_files)):
        for k in range(num_files):
            command = [PYTHON, script("simulate_L5PC_and_create_dataset.py"),
                       "--random-seed", p.l5pc_first_random_seed + 100 * split_index + k,
                       "--num-simulations", p.l5pc_num_simulations_per_file,
                       "--sim-duration-sec", p.l5pc_sim_duration_sec, "--solver", p.l5pc_solver,
                       "--workers", p.workers, "--output-dir", l5pc_split_dir(p, split)]
            if p.morphology:
                command += ["--morphology", p.morphology]
            commands.append(command)

    def collect():
        files = {split: sorted(glob.glob(os.path.join(glob.escape(l5pc_data_folder(p, split)), "*.p")))
                 for split in SPLITS}
        spikes = [int(os.path.basename(f).split("_outSpikes")[0].rsplit("__", 1)[-1]) for f in files["train"]]
        simulated = p.l5pc_num_simulations_per_file * p.l5pc_sim_duration_sec * len(files["train"])
        return {"metrics": {"files (train/valid/test)": "/".join(str(len(files[s])) for s in SPLITS),
                            "simulations per file": p.l5pc_num_simulations_per_file,
                            "duration per simulation (s)": p.l5pc_sim_duration_sec,
                            "train output rate (Hz)": sum(spikes) / simulated if simulated else None,
                            "solver": p.l5pc_solver}}

    return {"title": "L5PC dataset (Hay et al. 2011 cell, NMDA synapses)", "commands": commands,
            "description": "The detailed layer-5 pyramidal cell in NEURON under 639 excitatory and 639 inhibitory "
                           "random synaptic inputs; files in the authors' pickle layout.",
            "collect": collect}


def l5pc_training_stage(p, folder):
    commands = [[PYTHON, script("fit_CNN.py"), "--preset", p.script_preset,
                 "--train-dir", l5pc_data_folder(p, "train"), "--valid-dir", l5pc_data_folder(p, "valid"),
                 "--models-dir", folder]]

    def collect():
        run = read_json(newest(os.path.join(glob.escape(folder), "fit_CNN_run__*.json")))
        results = run.get("results", {})
        metrics = {f"{key} (first -> last epoch)": f"{results[f'first_{key}']:.4g} -> {results[f'last_{key}']:.4g}"
                   for key in ("loss", "val_spikes_loss", "val_somatic_loss")
                   if results.get(f"first_{key}") is not None}
        metrics["saved models"] = len(results.get("saved_models", []))
        return {"metrics": metrics}

    return {"title": "L5PC surrogate: TCN training (fit_CNN.py)", "commands": commands,
            "description": "A temporally convolutional network trained on random 400-ms windows to predict the "
                           "somatic spikes, the soma voltage and the dendritic voltages (PCA).",
            "collect": collect}


def selected_model(p):
    """The NMDA network that model selection picked on the validation files (the l5pc_evaluation stage's
    best_models copy with the highest validation AUC); '' before that stage ran."""
    from neuron_as_deep_net.l5pc.model_selection import best_valid_model

    try:
        return best_valid_model(os.path.join(p.output_dir, "l5pc_evaluation", "best_models"), "NMDA")[1]
    except FileNotFoundError:
        return ""


#: a laptop-scale network may miss the paper's quality filters (d', AUC, explained variance); keep it
KEEP_ANY_MODEL = ["--min-d-prime=-1e9", "--min-auc=0", "--min-explained-variance=-1e9"]


def l5pc_selection_commands(models_dir, valid_dir, best_dir, options=(), exploration_options=(), valid_options=()):
    """The original's model selection on the validation files: score every saved checkpoint under models_dir,
    explore the results (quality filters off), copy the best checkpoint of every architecture into best_dir.
    ``options`` go to all three scripts, ``exploration_options`` to the exploration, ``valid_options`` to the
    validation scoring (e.g. the --parse-cache-dir the training used)."""
    return [
        [PYTHON, script("evaluate_CNN_valid.py"), *options, *valid_options, "--models-dir", models_dir,
         "--data-dir", valid_dir],
        [PYTHON, script("valid_fitting_results_exploration.py"), *options, *KEEP_ANY_MODEL, *exploration_options,
         "--models-dir", models_dir, "--output-dir", best_dir],
        [PYTHON, script("saving_best_valid_CNN_models.py"), *options, "--models-dir", models_dir,
         "--output-dir", best_dir],
    ]


def l5pc_evaluation_stage(p, folder):
    models_dir = os.path.join(p.output_dir, "l5pc_training")
    best_dir = os.path.join(folder, "best_models")
    preset = ["--preset", p.script_preset]
    commands = [
        *l5pc_selection_commands(models_dir, l5pc_data_folder(p, "valid"), best_dir, preset),
        [PYTHON, script("evaluate_CNN_test.py"), *preset, "--models-dir", best_dir,
         "--data-dir", l5pc_data_folder(p, "test"), "--output-dir", os.path.join(folder, "test_evaluation")],
        [PYTHON, script("test_accuracy_vs_complexity.py"), *preset, "--models-dir", best_dir,
         "--data-dir", os.path.join(folder, "test_evaluation"), "--output-dir", os.path.join(folder, "S5")],
    ]

    def collect():
        rows = read_csv(newest(os.path.join(glob.escape(folder), "S5", "best_results_test_*_models.csv")))
        metrics = {}
        if rows:
            best = max(rows, key=lambda row: float(row.get("spikes AUC") or "nan"))
            metrics = {"AUC": float(best["spikes AUC"]),
                       "TP @ 0.25 % FP": float(best["spikes TP @ 0.25% FP"]),
                       "soma explained variance %": float(best["soma explained variance %"]),
                       "soma RMSE (mV)": float(best["soma RMSE"]),
                       "network": f"{best['NN_model_type']} {best['NN_depth']}x{best['NN_width']}x"
                                  f"{best['NN_input_time_window']}", "best models evaluated": len(rows)}
        return {"metrics": metrics, "report_key": "l5pc_tcn", "notes": [
            "Test-set numbers of the best network: simulations with 0-24 output spikes, from 500 ms on "
            "(the paper's main subset).",
            "The quality filters of the model selection (d' >= 0.5, AUC >= 0.6, explained variance >= 60 %) are "
            "switched off here so a laptop-scale network always reaches the test stage."]}

    return {"title": "L5PC surrogate: evaluation, model selection, Figure S5", "commands": commands,
            "description": "The trained networks scored on the validation files as the paper did (overlapped "
                           "windows, soma alignment, spike-count filters, from 500 ms on), the best network per "
                           "architecture copied to best_models/, scored on the test files with 12 random subsets, "
                           "and the accuracy-vs-complexity figure.",
            "collect": collect}


def l5pc_figures_stage(p, folder):
    test_dir = l5pc_data_folder(p, "test")
    smoke = ["--preset", "smoke"] if p.script_preset == "smoke" else []
    commands = [
        [PYTHON, script("dataset_exploration.py"), *smoke, "--data-dir", test_dir,
         "--output-dir", os.path.join(folder, "dataset_exploration")],
        [PYTHON, script("main_figure_replication.py"), *smoke, "--model", selected_model(p),
         "--data-dir", test_dir, "--output-dir", os.path.join(folder, "main_figure")],
    ]

    def collect():
        summary = read_json(newest(os.path.join(glob.escape(folder), "main_figure", "*__main_results.json")))
        main = summary.get("evaluations_results_dict", {}).get(summary.get("main_filter"), {})
        metrics = {"AUC": main.get("AUC"), "soma explained variance %": main.get("soma_explained_variance_percent"),
                   "soma RMSE (mV)": main.get("soma_RMSE"), "test simulations": summary.get("num_simulations"),
                   "evaluated subset": summary.get("main_filter")}
        return {"metrics": metrics, "report_key": "l5pc_tcn"}

    return {"title": "L5PC surrogate: Figure 2/3-style panels", "commands": commands,
            "description": "The dataset (morphology, rasters, traces, rate statistics) and the trained network's "
                           "test predictions (ROC, spike timing, voltage scatter, traces, first-layer filters).",
            "collect": collect}


def l5pc_depth_stage(p, folder):
    command = [PYTHON, script("l5pc_depth_sweep.py"), "--preset", p.depth_sweep_preset, "--workers", p.workers,
               "--output-dir", folder]
    if p.morphology:
        command += ["--morphology", p.morphology]

    def collect():
        summary = read_json(os.path.join(folder, "depth_sweep.json"))
        metrics = {}
        for synapse_type in ("NMDA", "AMPA"):
            rows = sorted((r for r in summary.get("rows", []) if r["synapse_type"] == synapse_type),
                          key=lambda r: r["depth"])
            if rows:
                metrics[f"{synapse_type} test AUC by depth"] = ", ".join(f"{r['depth']}: {r['AUC']:.4f}" for r in rows)
                best = max(rows, key=lambda r: r["AUC"])
                metrics[f"{synapse_type} best depth (test AUC)"] = f"{best['depth']} ({best['AUC']:.4f})"
                metrics[f"{synapse_type} deepest - depth 1 (AUC)"] = f"{rows[-1]['AUC'] - rows[0]['AUC']:+.4f}"
        curve = summary.get("learning_curve") or {}
        if curve.get("projected_AUC_at_published_size") is not None:
            metrics["NMDA deepest: projected AUC at the published dataset size"] = \
                round(curve["projected_AUC_at_published_size"], 4)
            metrics["what limits (learning curve)"] = curve.get("limits", {}).get("verdict")
        if summary.get("selected_NMDA_network"):
            metrics["Figures 2/3 drawn for (chosen on validation)"] = summary["selected_NMDA_network"]
        return {"metrics": metrics, "notes": [
            "Test files, simulations with 0-24 output spikes, from 500 ms on; error bars in depth_sweep.png are "
            "the std over 12 random test subsets. Every network has the same recipe, data and number of training "
            "windows; each network's checkpoint, and the network of Figures 2/3, were chosen on the validation files."]}

    return {"title": "L5PC: how deep a TCN the cell needs, with NMDA and with AMPA synapses (Fig. S5)",
            "commands": [command],
            "description": "NMDA and AMPA datasets, a depth sweep of TCNs at one width trained with one recipe, "
                           "test accuracy against depth, Figures 2/3 for the NMDA network selected on the "
                           "validation files, and a learning curve of the deepest NMDA network.",
            "collect": collect}


STAGES = {
    "integrate_and_fire": integrate_and_fire_stage,
    "ball_and_stick": ball_and_stick_stage,
    "l5pc_dataset": l5pc_dataset_stage,
    "l5pc_training": l5pc_training_stage,
    "l5pc_evaluation": l5pc_evaluation_stage,
    "l5pc_figures": l5pc_figures_stage,
    "l5pc_depth": l5pc_depth_stage,
}


def check_morphology(p):
    """'' if the morphology resolves, else the one-line reason with the fix."""
    from neuron_as_deep_net.l5pc.cell import resolve_morphology

    try:
        resolve_morphology(p.morphology)
        return ""
    except (FileNotFoundError, ValueError) as error:
        return str(error)


def run_stage(p, key, index, total, started):
    """Run one stage (or reuse its record); return the record. Raises StageFailed."""
    folder = os.path.join(p.output_dir, key)
    record_path = os.path.join(folder, RECORD_NAME)
    if os.path.isfile(record_path) and not p.force:
        print(f"[{index}/{total}] {key}: already finished, skipped ({record_path})")
        return read_json(record_path)
    os.makedirs(folder, exist_ok=True)
    stage = STAGES[key](p, folder)
    print(f"\n[{index}/{total}] {key}: {stage['title']} (total elapsed {(time.time() - started) / 60:.1f} min)",
          flush=True)
    log_path = os.path.join(folder, "log.txt")
    stage_started = time.time()
    for command in stage["commands"]:
        code = run_command(command, log_path)
        if code != 0:
            raise StageFailed(f"stage {key!r} failed (exit code {code}) running:\n  {' '.join(map(str, command))}\n"
                              f"its output is in {log_path}; fix the cause and run the same reproduce command "
                              "again (finished stages are skipped)")
    collected = stage["collect"]()
    record = {"key": collected.pop("report_key", key), "stage": key, "title": stage["title"],
              "description": stage["description"], "status": "done", "runtime_sec": time.time() - stage_started,
              "commands": [[os.path.relpath(str(c), ROOT) if str(c).startswith(ROOT) else str(c) for c in command]
                           for command in stage["commands"]],
              "figures": figures_under(folder, p.output_dir), **collected}
    from neuron_as_deep_net.core.files import write_json

    write_json(record_path, record)
    print(f"[{index}/{total}] {key}: done in {record['runtime_sec'] / 60:.1f} min", flush=True)
    return record


def main(argv=None):
    from neuron_as_deep_net.core import report
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    unknown = [s for s in p.stages if s not in STAGES]
    if unknown:
        raise UserError(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    if len(p.l5pc_num_files) != len(SPLITS):
        raise UserError(f"--l5pc-num-files needs one count per split ({', '.join(SPLITS)}), got {p.l5pc_num_files}")
    p.output_dir = os.path.abspath(p.output_dir)
    os.makedirs(p.output_dir, exist_ok=True)
    started = time.time()
    morphology_problem = check_morphology(p) if any(s in L5PC_STAGES for s in p.stages) else ""
    if morphology_problem:
        print(f"note: the L5PC stages will stop here: {morphology_problem}")

    records, failure = [], ""
    for index, key in enumerate(p.stages, start=1):
        if key in L5PC_STAGES and morphology_problem:
            failure = f"stage {key!r} needs the L5PC morphology: {morphology_problem}"
            break
        try:
            records.append(run_stage(p, key, index, len(p.stages), started))
        except StageFailed as error:
            failure = str(error)
            records.append({"key": key, "stage": key, "title": STAGES[key](p, "")["title"], "status": "failed",
                            "description": failure})
            break
    done = {r["stage"] for r in records}
    records += [{"key": key, "stage": key, "title": key, "status": "not run", "description": ""}
                for key in p.stages if key not in done]
    header = {"preset": p.preset or "quick (default)", "machine": report.machine_description(),
              "code revision": report.git_revision(ROOT), "command": " ".join(["python reproduce.py", *sys.argv[1:]]),
              "total runtime (this invocation)": report.format_duration(time.time() - started),
              "total runtime (all stages)": report.format_duration(
                  sum(r.get("runtime_sec") or 0 for r in records))}
    markdown_path, html_path = report.write_report(
        p.output_dir, "Single cortical neurons as deep networks: reproduction report", records, header)
    print(f"\nreport: {markdown_path} and {html_path}")
    if failure:
        print(f"\nSTOPPED: {failure}", file=sys.stderr)
        return None
    print(f"all {len(p.stages)} stages finished; total {report.format_duration(time.time() - started)}")
    return records


if __name__ == "__main__":
    run(main)
