"""Bonus (b) of the ball-and-stick assignment: can another architecture beat the largest TCN, and cheaper?

Trains (or reuses) twins of one cell with ``train_DNN_twin_of_BS_neuron.py`` -- the TCN configs and the
alternatives of spec §4 (ResNet-TCN, ELM, Transformer) -- each in its own process, then measures each one's
inference time and memory for one test simulation (one 8128-ms window, batch 1, median of repeats after a
warm-up call, in a fresh process per twin: the memory is what loading and running the twin added to it; by default
each twin is measured both as Keras runs it on a CPU and XLA-compiled, and for time and for memory its better mode
counts) and
writes a table per cell: test AUC, parameter count, inference time, inference memory and the peak memory of the
process that trained it, naming the smallest network that beats the largest TCN (the reference, default config
D) on test AUC by parameters, by inference time and by inference memory.

    python compare_twin_architectures.py --preset quick --data-dir OUT/BS/data --models-dir OUT/BS/models --output-dir OUT/BS/compare
    python compare_twin_architectures.py --preset laptop --data-dir OUT/BS/data --models-dir OUT/BS/models --output-dir OUT/BS/compare
    python compare_twin_architectures.py --data-dir OUT/BS/data --models-dir OUT/BS/models --output-dir OUT/BS/compare   # tutorial scale
    python compare_twin_architectures.py --help

Twins already trained with the same run name (for example by ``ball_and_stick_experiment.py`` into the same
models folder) are reused, so an interrupted comparison resumes. Writes ``comparison.csv``,
``comparison.json`` and ``comparison.md`` into the output folder.
"""

import csv
import io
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402

# -----------------------------------------------------------------------------
# data and twins
data_dir = "output/ball_and_stick/data"  # [folder] root holding the datasets (create_dataset_BS_neuron.py's output dir)
cells = ["NMDA_cable"]  # [each AMPA_point | NMDA_cable] the "complex" cell of the assignment; add AMPA_point for both
models = ["TCN:A", "TCN:B", "TCN:C", "TCN:D", "TCN:E", "ResNetTCN", "ELM", "Transformer"]  # TCN:<config> | type
reference_model = "TCN:D"  # the largest TCN, the one to beat (one of models)
models_dir = "output/ball_and_stick/models"  # trained twins (<cell>/<run name>/), shared with the experiment
# training (passed to train_DNN_twin_of_BS_neuron.py; its own presets apply through script_preset)
script_preset = ""  # ["" | quick | laptop | smoke | full] '' = the train script's defaults (tutorial scale)
random_seed = 0  # [>= 0, < 4294967296] weights and windows
jit_compile = "auto"  # [auto | true | false] XLA for training the twins (the train script's --jit-compile); auto: on a GPU only
# inference timing
timing_window_ms = 8128  # [>= 1] one test simulation, as evaluated
timing_repeats = 5  # [>= 1] median of this many calls after one warm-up call
inference_jit_compile = "both"  # [both | true | false] XLA for the measured forward pass; both: each twin measured without and with it (a fresh process each), and for time and for memory its better mode counts
# output
output_dir = "output/ball_and_stick/compare"  # comparison.csv / .json / .md
# -----------------------------------------------------------------------------

PRESETS = {
    "full": {},
    "quick": {"script_preset": "quick"},
    "laptop": {"script_preset": "laptop"},  # the twins of ball_and_stick_experiment.py --preset laptop (reused)
    "smoke": {"script_preset": "smoke", "models": ["TCN:A", "ELM"], "reference_model": "TCN:A",
              "timing_repeats": 2, "timing_window_ms": 512},
}
COLUMNS = ["cell", "model", "model_name", "num_params", "AUC", "TP @ 0.0020 FP", "soma_explained_variance_percent",
           "inference_ms_per_simulation", "inference_memory_mb", "inference_ms_xla", "inference_memory_xla",
           "inference_ms_without_xla", "inference_ms_with_xla", "inference_memory_mb_without_xla",
           "inference_memory_mb_with_xla", "peak_memory_mb", "training_sec", "beats_reference"]
#: inference_jit_compile -> the modes timed (XLA off / on)
INFERENCE_MODES = {"both": (False, True), "false": (False,), "true": (True,)}
# memory: what running the twin on one test simulation adds to a fresh process; the training process's peak
# (peak_memory_mb, also in the table) is mostly the training data's, the same for every twin of a dataset
MEASURES = {"parameters": "num_params", "inference time": "inference_ms_per_simulation",
            "inference memory": "inference_memory_mb"}


def split_model(spec):
    """'TCN:C' -> ('TCN', 'C'); 'ELM' -> ('ELM', None)."""
    model_type, _, config = spec.partition(":")
    if model_type == "TCN" and not config:
        raise ValueError(f"a TCN needs its config, e.g. TCN:D (got {spec!r})")
    return model_type, config or None


def check_models(specs, reference):
    """UserError for a --models entry that is neither TCN:<config> nor a twin type, or a reference not among them."""
    from neuron_as_deep_net.ball_and_stick.networks import BALL_AND_STICK_TCN_CONFIGS
    from neuron_as_deep_net.ball_and_stick.twins import ALTERNATIVE_TWIN_BUILDERS

    allowed = [f"TCN:{config}" for config in BALL_AND_STICK_TCN_CONFIGS] + sorted(ALTERNATIVE_TWIN_BUILDERS)
    for spec in specs:
        if spec not in allowed:
            raise UserError(f"each value of --models must be one of {', '.join(allowed)} (got {spec!r})")
    if reference not in specs:
        raise UserError(f"--reference-model {reference} must be one of --models ({', '.join(specs)})")


def run_folder(models_dir, cell, spec):
    """The train script's run folder of a twin (its default run name, twins.twin_run_name)."""
    from neuron_as_deep_net.ball_and_stick import twins

    model_type, config = split_model(spec)
    model_name = twins.build_ball_and_stick_twin(model_type, config or "C").name
    return os.path.join(models_dir, cell, twins.twin_run_name(model_name, model_type, config))


def train_twin(p, cell, spec):
    """Train and test one twin in its own process (clean peak-memory figure); returns its results.json."""
    model_type, config = split_model(spec)
    command = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "train_DNN_twin_of_BS_neuron.py"),
               "--cell", cell, "--model-type", model_type, "--config", config or "C", "--data-dir", p.data_dir,
               "--output-dir", p.models_dir, "--random-seed", str(p.random_seed), "--jit-compile", p.jit_compile]
    if p.script_preset:
        command += ["--preset", p.script_preset]
    print(f"\n==== {cell}: training {spec} ====\n$ {' '.join(command)}", flush=True)
    completed = subprocess.run(command)
    if completed.returncode != 0:
        raise UserError(f"training {spec} for {cell} failed (exit code {completed.returncode}); see the output "
                           f"above, fix it and re-run the same command (finished twins are reused)")


INFERENCE_PROBE = ("import json, sys; import numpy as np; from neuron_as_deep_net.ball_and_stick import evaluation; "
                   "print(json.dumps(evaluation.inference_cost(sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3]), "
                   "sys.argv[4] == 'true')))")


def inference_cost(folder, test_arrays, window_ms, repeats, scratch_dir, modes=(False,)):
    """Inference time and memory of one twin over one test simulation (batch 1), measured in a fresh process per
    mode (evaluation.inference_cost; modes: XLA off / on), so that neither the test data held here, another twin
    nor the other mode counts. Returns, for time and for memory, the better mode's value and which mode it is
    (inference_ms_xla, inference_memory_xla), and every mode's values."""
    import numpy as np

    from neuron_as_deep_net.ball_and_stick import training

    x, _ = training.scale_ball_and_stick_batch(training.random_windows(
        test_arrays, np.random.default_rng(0), 1, training.fitting_window_ms(test_arrays, window_ms)))
    os.makedirs(scratch_dir, exist_ok=True)
    x_path = os.path.join(scratch_dir, "inference_window.npy")
    np.save(x_path, x)
    root = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    costs = {}
    try:
        for xla in modes:
            completed = subprocess.run([sys.executable, "-c", INFERENCE_PROBE, folder, x_path, str(int(repeats)),
                                        "true" if xla else "false"], capture_output=True, text=True, env=env)
            if completed.returncode != 0:
                raise UserError(f"measuring the inference of {folder} {'with' if xla else 'without'} XLA failed (exit "
                                f"code {completed.returncode}): {completed.stderr.strip()[-500:]}")
            costs[xla] = json.loads(completed.stdout.strip().splitlines()[-1])
    finally:
        os.remove(x_path)
    result = {"baseline_memory_mb": costs[modes[0]]["baseline_memory_mb"]}  # the first mode's process
    for key, short, measure in (("inference_ms_per_simulation", "inference_ms", "ms"),
                                ("inference_memory_mb", "inference_memory_mb", "memory")):
        measured = [mode for mode in costs if costs[mode][key] is not None]  # memory is None off Linux
        best = min(measured, key=lambda mode: costs[mode][key]) if measured else None
        result.update({key: costs[best][key] if measured else None, f"inference_{measure}_xla": best})
        result.update({f"{short}_{'with' if mode else 'without'}_xla": cost[key] for mode, cost in costs.items()})
    return result


def smallest_beating(rows, reference_auc):
    """For each measure, the row with the smallest value among those whose AUC beats the reference's."""
    better = [row for row in rows if row["AUC"] > reference_auc]
    winners = {}
    for measure, key in MEASURES.items():
        measured = [row for row in better if row.get(key) is not None]  # memory is None off Linux
        winners[measure] = min(measured, key=lambda row: row[key]) if measured else None
    return winners


def megabytes(value):
    """'794 MB', or 'n/a' where the memory was not measured."""
    return "n/a" if value is None else f"{value:.0f} MB"


def format_measure(measure, value):
    """'17,612 parameters', '8.1 ms', '794 MB'."""
    return {"parameters": f"{int(value):,} parameters", "inference time": f"{value:.1f} ms",
            "inference memory": megabytes(value)}[measure]


def inference_text(row, measure):
    """'15.5 ms (XLA; 227.2 ms without)' or '34 MB (no XLA; 119 MB with)': the value that counts (each measure
    takes the twin's better mode), its mode, and the other mode's value if it was measured."""
    key, unit = {"ms": ("inference_ms", lambda value: f"{value:.1f} ms"),
                 "memory": ("inference_memory_mb", megabytes)}[measure]
    value = row.get("inference_ms_per_simulation" if measure == "ms" else "inference_memory_mb")
    xla = row.get(f"inference_{measure}_xla")
    if xla is None:
        return unit(value)
    other = row.get(f"{key}_{'without' if xla else 'with'}_xla")
    return f"{unit(value)} ({'XLA' if xla else 'no XLA'}" + (f"; {unit(other)} {'without' if xla else 'with'})"
                                                           if other is not None else ")")


def markdown_table(cell, rows, reference, winners):
    """The per-cell table and the verdict lines, as markdown."""
    lines = [f"### {cell} (reference: {reference['model']}, AUC {reference['AUC']:.4f})", "",
             "| model | parameters | test AUC | TP @ 0.2 % FP | inference per simulation | inference memory | "
             "training process peak | beats reference |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: row["num_params"]):
        lines.append(f"| {row['model']} ({row['model_name']}) | {row['num_params']:,} | {row['AUC']:.4f} | "
                     f"{row['TP @ 0.0020 FP']:.3f} | {inference_text(row, 'ms')} | "
                     f"{inference_text(row, 'memory')} | {megabytes(row['peak_memory_mb'])} | "
                     f"{'yes' if row['beats_reference'] else 'no'} |")
    lines.append("")
    for measure, row in winners.items():
        lines.append(f"- smallest by {measure} that beats {reference['model']}: "
                     + (f"**{row['model']}** ({format_measure(measure, row[MEASURES[measure]])})" if row else "none"))
    return "\n".join(lines) + "\n"


def main(argv=None, devices=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(globals(), PRESETS, argv, description=__doc__)
    started = time.time()
    setup = core_devices.setup_devices(devices, set_policy=False)
    from neuron_as_deep_net.ball_and_stick import dataset
    from neuron_as_deep_net.core import files
    from neuron_as_deep_net.core.files import atomic_write

    check_models(p.models, p.reference_model)
    # every test split is read (and checked) before any twin is trained or anything written
    tests = {cell: dataset.load_split(dataset.find_dataset_folder(p.data_dir, cell), "test") for cell in p.cells}
    all_rows, sections = [], []
    for cell in p.cells:
        test = tests[cell]
        rows = []
        for spec in p.models:
            folder = run_folder(p.models_dir, cell, spec)
            if os.path.exists(os.path.join(folder, "results.json")):
                print(f"reusing {folder}")
            else:
                train_twin(p, cell, spec)
            with open(os.path.join(folder, "results.json")) as handle:
                results = json.load(handle)
            row = {key: results.get(key) for key in COLUMNS}
            cost = inference_cost(folder, test, p.timing_window_ms, p.timing_repeats, p.output_dir,
                                  INFERENCE_MODES[p.inference_jit_compile])
            row.update({"cell": cell, "model": spec,
                        **{key: cost.get(key) for key in COLUMNS if key.startswith("inference_")}})
            print(f"{cell} {spec}: AUC {row['AUC']:.4f}, {row['num_params']:,} parameters, "
                  f"{inference_text(row, 'ms')} and {inference_text(row, 'memory')} per "
                  f"simulation (training process peak {megabytes(row['peak_memory_mb'])})", flush=True)
            rows.append(row)
        reference = next(row for row in rows if row["model"] == p.reference_model)
        for row in rows:
            row["beats_reference"] = bool(row["AUC"] > reference["AUC"])
        winners = smallest_beating(rows, reference["AUC"])
        sections.append(markdown_table(cell, rows, reference, winners))
        all_rows += rows

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(all_rows)
    with atomic_write(os.path.join(p.output_dir, "comparison.csv"), "w") as handle:
        handle.write(buffer.getvalue())
    text = (f"## Twin architectures vs the largest TCN\n\nTimings on {setup.report['used']} ({os.cpu_count()} "
            f"logical cores), batch 1, one "
            f"{p.timing_window_ms}-ms window, each twin in a fresh process"
            + ("; each twin measured without and with XLA (each in its own process), and for time and for memory "
               "its better mode counts" if len(INFERENCE_MODES[p.inference_jit_compile]) > 1 else "")
            + f"; inference memory = the peak resident "
            f"memory that loading and running the twin added to that process; training process peak = the peak "
            f"resident memory of the process that trained and tested the twin (mostly its training data; twins "
            f"reused from ball_and_stick_experiment.py share that process's peak, an upper bound).\n\n"
            + "\n".join(sections))
    with atomic_write(os.path.join(p.output_dir, "comparison.md"), "w") as handle:
        handle.write(text)
    files.write_json(os.path.join(p.output_dir, "comparison.json"),
                        {"rows": all_rows, "params": parameters_snapshot(p), "runtime_sec": time.time() - started,
                         "device_report": setup.report})
    print("\n" + text)
    return all_rows


if __name__ == "__main__":
    run(main)
