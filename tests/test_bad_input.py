"""Bad input never ends in a traceback (issue 19): one line on stderr, exit status 2, nothing written.

Each row runs a top-level script's ``main`` in-process through ``run()`` with bad arguments or a bad file and
asserts the exit status 2, the expected fragment on a single stderr line (``error: ...``) and that no file or
folder was created or changed (the working folder, where the outputs would go, and the shared input files).

The rows are

* the five commands of the issue;
* generated from the scripts' own constraints: for every constrained parameter a value just outside each bound
  (a negative or zero count, duration or rate), an unknown choice, and a missing file or folder, so a new
  parameter declared with ``[>= 1]`` is covered without editing this file;
* the checks across parameters of each script;
* a missing, empty, truncated and wrong-layout file for every loader (dataset pickles, models and their
  training pickles, evaluation pickles, morphology files and dicts, ball-and-stick ``.npy`` files and records,
  results CSVs).

No row runs NEURON or trains anything: every input is tiny and every check comes before the work.
"""

import functools
import glob
import importlib.util
import os
import pickle
import re
import shutil
import zipfile

import numpy as np
import pytest
from synthetic_data import write_synthetic_dataset

from neuron_as_deep_net.core import config
from neuron_as_deep_net.core.errors import DataFileError, MechanismError, MissingFileError, UserError
from neuron_as_deep_net.core.files import save_pickle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, "*.py")))
MODEL_NAME = "NMDA_TCN__DxWxT_1x4x3__2024-01-01__00_00__samples_0__LogLoss_train_0_valid_0__ID_1"
#: int/float parameters whose name says they are a count, a duration, a rate or a size must declare a constraint
COUNT_LIKE = re.compile(r"(^|_)num_|_ms$|_sec$|rate|size|epochs|repeats|steps|workers|iterations|samples|window")


@functools.cache
def script(name):
    """A top-level script imported by path (once; configure() starts every call from its written defaults)."""
    spec = importlib.util.spec_from_file_location(name[:-3] + "_bad_input", os.path.join(ROOT, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script_constraints(name):
    """(parameters, {name: Constraint}) of a script, read as configure() reads them."""
    module = script(name)
    namespace = dict(vars(module), __file__=os.path.join(ROOT, name))
    parameters = config.collect_parameters(namespace)
    return parameters, config.parameter_constraints(namespace, parameters)


# ---------------------------------------------------------------------------------------------------------
# the inputs the rows read: built once, checked unchanged after every row
# ---------------------------------------------------------------------------------------------------------

def truncated_copy(source, target, keep=0.5):
    """``target`` holding the first part of ``source`` (never ending in a pickle's STOP byte)."""
    data = open(source, "rb").read()
    cut = int(len(data) * keep)
    while data[cut - 1:cut] == b".":
        cut -= 1
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(data[:cut])
    return target


def write_bytes(path, data=b""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def write_fake_model(folder, name=MODEL_NAME, model="zip", training="dict", suffix=".keras"):
    """A model file that passes (``model='zip'``: a zip archive, not a Keras model) or fails the cheap checks
    ('empty', 'junk'), or an HDF5 file that is no model ('h5'); with a training pickle ('dict', 'list',
    'empty' or None)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + suffix)
    if model == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "not a Keras model")
    elif model == "h5":
        import h5py

        with h5py.File(path, "w") as h5file:
            h5file.create_dataset("x", data=np.zeros(3))
    else:
        write_bytes(path, b"" if model == "empty" else b"PK\x03\x04 broken off")
    pickle_path = os.path.join(folder, name.removesuffix("_model") + ("_training" if name.endswith("_model") else "")
                               + ".pickle")
    if training == "dict":
        save_pickle({"architecture_dict": {"filter_sizes_per_layer": [3], "num_filters_per_layer": [4]}}, pickle_path)
    elif training == "list":
        save_pickle([1, 2, 3], pickle_path)
    elif training == "empty":
        write_bytes(pickle_path)
    return path


def write_bs_dataset(folder, splits=("train", "valid", "test"), num_ms=300, num_segments=8):
    """A tiny ball-and-stick dataset (two simulations per split) in the tutorial's layout."""
    from neuron_as_deep_net.ball_and_stick import dataset as bsd

    rng = np.random.default_rng(0)
    for split in splits:
        for index in range(2):
            bsd.write_simulation(folder, split, index, {
                "inputs": rng.integers(0, 2, (num_segments, num_ms, 2)).astype(np.float16),
                "output_spikes": rng.random(num_ms) < 0.01, "output_soma_v": np.full(num_ms, -75, np.float32),
                "output_near_spikes": np.zeros(num_ms, bool), "output_inst_rate": np.zeros(num_ms, np.float32),
                "intermidiate_branch_v": np.full((num_segments, num_ms), -70, np.float16)})
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Every input file of the rows, in one folder (``{in}`` in the rows)."""
    from neuron_as_deep_net.ball_and_stick import cell as bs_cell
    from neuron_as_deep_net.ball_and_stick import dataset as bsd
    from neuron_as_deep_net.l5pc.model_selection import FILENAME_COLUMN

    root = tmp_path_factory.mktemp("bad_inputs")
    join = lambda *parts: os.path.join(root, *parts)  # noqa: E731
    # L5PC dataset files: one readable 1 x 600-ms file, and broken ones
    good = write_synthetic_dataset(join("good"), 1, 600, seed=1)
    write_bytes(join("empty_file", "data", "sims_6_secDuration_seed_1.p"))
    truncated_copy(good, join("truncated_file", "data", os.path.basename(good)))
    save_pickle([1, 2, 3], join("not_a_dict", "data", "sims_6_secDuration_seed_1.p"))
    write_synthetic_dataset(join("segments_20", "data"), 1, 600, seed=2, num_segments=20)
    write_synthetic_dataset(join("short", "data"), 1, 505, seed=3)
    os.makedirs(join("no_files"))
    write_bytes(join("a_file.txt"), b"text")
    # the morphology dict beside a readable dataset file
    for case, content in (("morph_truncated", "truncated"), ("morph_list", [1, 2])):
        os.makedirs(join(case))
        shutil.copy(good, join(case, os.path.basename(good)))
        if content == "truncated":
            save_pickle({"all_segments_type": ["basal"] * 639}, join("morph_dict.tmp"))
            truncated_copy(join("morph_dict.tmp"), join(case, "morphology_dict.pickle"))
            os.remove(join("morph_dict.tmp"))
        else:
            save_pickle(content, join(case, "morphology_dict.pickle"))
    # morphology files
    write_bytes(join("morphology", "empty.asc"))
    write_bytes(join("morphology", "garbage.asc"), b"hello world\nnot a Neurolucida file\n")
    # models (fit_CNN layout) and their training pickles
    write_fake_model(join("models_ok"))
    write_fake_model(join("models_empty"), model="empty")
    write_fake_model(join("models_truncated"), model="junk")
    write_fake_model(join("models_h5"), model="h5", suffix=".h5")
    write_fake_model(join("models_no_pickle"), training=None)
    write_fake_model(join("models_empty_pickle"), training="empty")
    write_fake_model(join("models_list_pickle"), training="list")
    # best-models layout (evaluate_CNN_test.py)
    arch = MODEL_NAME.split("__20")[0]
    write_fake_model(join("best_ok", arch), MODEL_NAME + "_model")
    write_fake_model(join("best_empty", arch), MODEL_NAME + "_model", model="empty")
    # evaluation pickles
    evaluation = {"evaluations_results_dict": {}, "architecture_dict": {}}
    for case, test in (("evals", False), ("tests", True)):
        folder = join(f"{case}_truncated", arch if test else "eval_results")
        name = MODEL_NAME + ("_evaluation_test" if test else "") + ".pickle"
        save_pickle(evaluation, join("evaluation.tmp"))
        truncated_copy(join("evaluation.tmp"), os.path.join(folder, name))
        write_bytes(os.path.join(join(f"{case}_empty", arch if test else "eval_results"), name))
        save_pickle(["not", "an", "evaluation"], os.path.join(join(f"{case}_list", arch if test else "eval_results"),
                                                             name))
    os.remove(join("evaluation.tmp"))
    # results CSVs (saving_best_valid_CNN_models.py)
    write_bytes(join("csv", "garbage.csv"), b"a,b\n1,2\n")
    write_bytes(join("csv", "listing.csv"), f"{FILENAME_COLUMN}\n{MODEL_NAME}\n".encode())
    # ball-and-stick datasets
    write_bs_dataset(join("bs_good"))
    for case in ("bs_empty_npy", "bs_truncated_npy", "bs_wrong_dtype", "bs_no_test"):
        write_bs_dataset(join(case), splits=("train", "valid") if case == "bs_no_test" else bsd.SPLITS)
    write_bytes(join("bs_empty_npy", "train", "inputs", "sim_0000001.npy"))
    truncated_copy(join("bs_good", "test", "inputs", "sim_0000000.npy"),
                   join("bs_truncated_npy", "test", "inputs", "sim_0000000.npy"))
    np.save(join("bs_wrong_dtype", "valid", "output_soma_v", "sim_0000001.npy"), np.zeros(300))
    short_name = os.path.basename(bsd.dataset_folder("", bs_cell.cell_parameters("NMDA_cable")))
    write_bs_dataset(join("bs_root", short_name))
    write_bytes(join("bs_root", short_name, "test", "output_spikes", "sim_0000001.npy"))
    record_folder = bsd.dataset_folder(join("bs_record"), bs_cell.cell_parameters("AMPA_point"))
    write_bytes(os.path.join(record_folder, bsd.INFO_FILE), b"{not json")
    return str(root)


# ---------------------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------------------

SIM, FIT, IF = "simulate_L5PC_and_create_dataset.py", "fit_CNN.py", "integrate_and_fire_figure_replication.py"
VALID, TEST = "evaluate_CNN_valid.py", "evaluate_CNN_test.py"
BS_EXPERIMENT, BS_TRAIN, BS_CREATE = ("ball_and_stick_experiment.py", "train_DNN_twin_of_BS_neuron.py",
                                      "create_dataset_BS_neuron.py")
FIT_DIRS = ["--valid-dir", "{in}/good", "--models-dir", "{out}/models"]
EVAL_DIRS = ["--data-dir", "{in}/good", "--use-parse-cache", "false"]

#: (script, argv, expected fragment[, environment]); {in} = the inputs folder, {out} = where outputs would go
ROWS = [
    # ---- the five commands
    (SIM, ["--num-simulations", "-2"], "--num-simulations must be >= 1 (got -2)"),
    (SIM, ["--num-simulations", "1", "--sim-duration-sec", "0"], "--sim-duration-sec must be > 0 (got 0.0)"),
    (IF, ["--preset", "quick", "--num-simulations-train", "0"], "--num-simulations-train must be >= 1 (got 0)"),
    (FIT, ["--train-dir", "{in}/truncated_file/data"] + FIT_DIRS, "truncated_file/data/exBas_0_800"),
    (BS_EXPERIMENT, ["--cells", "Foo"], "--cells must be one of AMPA_point, NMDA_cable (got 'Foo')"),
    # ---- across parameters
    (SIM, ["--sim-duration-sec", "0.0001"], "--sim-duration-sec must be at least 0.001"),
    (SIM, ["--num-bas-ex-spikes-per-100ms-range", "5,1"], "two numbers [low, high] with low <= high (got [5, 1])"),
    (SIM, ["--num-apic-ex-inh-spike-diff-per-100ms-range", "[-600, -100]"], "inhibitory counts would be negative"),
    (SIM, ["--temporal-inst-rate-smoothing-sigma-jitter-range", "30"], "every option must exceed"),
    (SIM, ["--num-samples-per-ms-high-res", "4"], "the simulator records 8 samples per ms"),
    (FIT, ["--train-dir", "{in}/good", "--depth", "2"] + FIT_DIRS, "--depth 2 is smaller than the 3 filter sizes"),
    (FIT, ["--train-dir", "{in}/good", "--input-window-size", "100"] + FIT_DIRS,
     "--input-window-size (100 ms) must be longer than the sum of the filter sizes (102 ms"),
    (FIT, ["--train-dir", "{in}/good", "--stage-first-schedules", "0,10"] + FIT_DIRS, "need one entry per stage"),
    (FIT, ["--train-dir", "{in}/good", "--stage-first-schedules", "5,40,80,120,160"] + FIT_DIRS,
     "--stage-first-schedules must start at 0 and increase"),
    (FIT, ["--train-dir", "{in}/good", "--loss-weights-per-stage", "[[1, 2], [1, 2, 3], [1, 2, 3], [1, 2, 3], "
           "[1, 2, 3]]"] + FIT_DIRS, "each stage needs [spikes, somatic, dendritic] weights >= 0 (got [1, 2])"),
    (FIT, ["--train-dir", "{in}/good", "--activation", "wobbly"] + FIT_DIRS, "--activation: unknown activation"),
    (FIT, ["--train-dir", "{in}/good", "--num-DVT-components", "700"] + FIT_DIRS, "at most the 639 dendritic"),
    (FIT, ["--train-dir", "{in}/good", "--file-pattern", "*.nothing"] + FIT_DIRS, "no dataset files matching"),
    (IF, ["--v-reset-mv", "-50"], "--v-reset-mv (-50.0) must be below --v-threshold-mv (-55.0)"),
    (IF, ["--kernel-size-ms", "600"], "the filter's receptive field"),
    (IF, ["--sim-duration-ms", "501"], "--sim-duration-ms (501) must exceed --window-size-ms (500) by at least 2"),
    (IF, ["--test-overlap-ms", "500"], "--test-overlap-ms (500) must be smaller than --window-size-ms (500)"),
    (IF, ["--jitter-range-ms", "40"], "--rate-interval-options-ms: every option must exceed --jitter-range-ms (40)"),
    (IF, ["--num-ex-spikes-per-100ms-range", "50,0"], "low <= high (got [50, 0])"),
    (BS_EXPERIMENT, ["--cells", "AMPA_point"], "--num-repeats-per-cell needs one value per cell (AMPA_point)"),
    (BS_EXPERIMENT, ["--engine", "brian"], "--engine"),
    (BS_EXPERIMENT, ["--warmup-epochs", "80"], "--warmup-epochs (80) plus --cooldown-epochs (25) must not exceed"),
    (BS_EXPERIMENT, ["--train-window-ms", "200"], "--train-window-ms (200 ms) must be longer than the receptive "
                                                  "field of TCN config C (201 ms)"),
    (BS_TRAIN, ["--config", "D", "--valid-window-ms", "240"], "receptive field of TCN config D (241 ms)"),
    (BS_TRAIN, ["--warmup-epochs", "90"], "must not exceed --num-epochs (100)"),
    ("compare_twin_architectures.py", ["--data-dir", "{in}/bs_root", "--models", "TCN:F,ELM"],
     "each value of --models must be one of TCN:A"),
    ("compare_twin_architectures.py", ["--data-dir", "{in}/bs_root", "--models", "TCN:A", "--reference-model",
                                       "ELM"], "--reference-model ELM must be one of --models (TCN:A)"),
    ("l5pc_depth_sweep.py", ["--depths", "1,2,1"], "--depths must not repeat a depth, got [1, 2, 1]"),
    ("l5pc_depth_sweep.py", ["--learning-rate-per-stage", "1e-3,1e-4"], "need the 5 stages of fit_CNN's loss"),
    ("reproduce.py", ["--stages", "integrate_and_fire,nonsense"], "unknown stage(s) ['nonsense']"),
    ("reproduce.py", ["--l5pc-num-files", "1,1"], "--l5pc-num-files needs one count per split"),
    (VALID, ["--models-dir", "{in}/models_ok", "--filter-ranges", "[[5, 2]]"] + EVAL_DIRS, "--filter-ranges: a "
     "spike-count range is [low, high]"),
    (TEST, ["--models-dir", "{in}/best_ok", "--filter-ranges", "[]"] + EVAL_DIRS, "at least one [low, high] range"),
    ("test_accuracy_vs_complexity.py", ["--models-dir", "{in}/no_files", "--min-time-window", "300"],
     "--min-time-window (300) must not exceed --max-time-window (260)"),
    ("test_accuracy_vs_complexity.py", ["--models-dir", "{in}/no_files", "--auc-ylim", "1,0.5"],
     "--auc-ylim must be [] or [low, high]"),
    ("valid_fitting_results_exploration.py", ["--models-dir", "{in}/no_files", "--max-num-train-samples", "5"],
     "--min-num-train-samples (50000) must not exceed --max-num-train-samples (5)"),
    ("dataset_exploration.py", ["--data-dir", "{in}/good", "--dvt-windows-ms", "[[5, 2]]"],
     "each window is [start, end]"),
    ("dataset_exploration.py", ["--data-dir", "{in}/good", "--dvt-spike-range", "9,1"], "--dvt-spike-range: a "
     "spike-count range"),
    ("main_figure_replication.py", ["--data-dir", "{in}/good"], "--model PATH is required"),
    ("main_figure_replication.py", ["--model", "{in}/models_ok/" + MODEL_NAME + ".keras", "--data-dir",
                                    "{in}/good", "--main-filter", "9,1"], "--main-filter: a spike-count range"),
    # ---- dataset pickles: missing, empty, truncated, not a simulation file, another cell, too short
    (FIT, ["--train-dir", "{out}/missing"] + FIT_DIRS, "--train-dir: folder not found"),
    (FIT, ["--train-dir", "{in}/empty_file/data"] + FIT_DIRS, "sims_6_secDuration_seed_1.p: the dataset file is "
     "empty"),
    (FIT, ["--train-dir", "{in}/good", "--valid-dir", "{in}/truncated_file/data", "--models-dir", "{out}/models"],
     "the dataset file is truncated"),
    (FIT, ["--train-dir", "{in}/not_a_dict/data"] + FIT_DIRS, "not a simulation file: expected a dict"),
    (FIT, ["--train-dir", "{in}/segments_20/data"] + FIT_DIRS, "wrong number of segments (expected 639, got 20)"),
    # (the parse cache, content-keyed, would keep the readable file parsed: switched off to check that nothing
    # else is written when the duration is found too short only after parsing)
    (FIT, ["--train-dir", "{in}/short/data", "--valid-dir", "{in}/short/data", "--models-dir", "{out}/models",
           "--use-parse-cache", "false"], "simulations of 505 ms are too short for windows of 400 ms"),
    (VALID, ["--models-dir", "{in}/models_ok", "--data-dir", "{in}/truncated_file/data"], "is truncated"),
    (VALID, ["--models-dir", "{in}/models_ok", "--data-dir", "{in}/not_a_dict/data"], "not a simulation file"),
    (TEST, ["--models-dir", "{in}/best_ok", "--data-dir", "{in}/empty_file/data"], "the dataset file is empty"),
    ("dataset_exploration.py", ["--data-dir", "{in}/empty_file/data"], "the dataset file is empty"),
    ("dataset_exploration.py", ["--data-dir", "{in}/not_a_dict/data"], "not a simulation file"),
    ("dataset_exploration.py", ["--data-dir", "{in}/no_files"], "no dataset files"),
    ("main_figure_replication.py", ["--model", "{in}/models_ok/" + MODEL_NAME + ".keras", "--data-dir",
                                    "{in}/truncated_file/data"], "the dataset file is truncated"),
    # ---- models and training pickles
    ("main_figure_replication.py", ["--data-dir", "{in}/good", "--model", "{out}/missing.keras"],
     "--model: file not found"),
    (VALID, ["--models-dir", "{in}/models_empty"] + EVAL_DIRS, MODEL_NAME + ".keras: the model file is empty"),
    (VALID, ["--models-dir", "{in}/models_truncated"] + EVAL_DIRS, "not a Keras model file (a .keras file is a zip"),
    (VALID, ["--models-dir", "{in}/models_ok"] + EVAL_DIRS, "Keras cannot load this model"),
    (VALID, ["--models-dir", "{in}/models_h5"] + EVAL_DIRS, ".h5: not a model of this project"),
    (VALID, ["--models-dir", "{in}/models_no_pickle"] + EVAL_DIRS, "no training pickle"),
    (VALID, ["--models-dir", "{in}/models_empty_pickle"] + EVAL_DIRS, ".pickle: the training pickle is empty"),
    (VALID, ["--models-dir", "{in}/models_list_pickle"] + EVAL_DIRS, "not a training pickle: it holds a list"),
    (VALID, ["--models-dir", "{in}/no_files"] + EVAL_DIRS, "no model files"),
    (TEST, ["--models-dir", "{in}/best_empty"] + EVAL_DIRS, "_model.keras: the model file is empty"),
    ("main_figure_replication.py", ["--model", "{in}/models_truncated/" + MODEL_NAME + ".keras", "--data-dir",
                                    "{in}/good"], "not a Keras model file"),
    # ---- evaluation pickles
    ("valid_fitting_results_exploration.py", ["--models-dir", "{in}/evals_empty"], "the evaluation pickle is empty"),
    ("valid_fitting_results_exploration.py", ["--models-dir", "{in}/evals_truncated"], ".pickle: truncated"),
    ("valid_fitting_results_exploration.py", ["--models-dir", "{in}/evals_list"], "no validation evaluation pickles"),
    ("test_accuracy_vs_complexity.py", ["--models-dir", "{in}/tests_empty"], "the evaluation pickle is empty"),
    ("test_accuracy_vs_complexity.py", ["--models-dir", "{in}/tests_truncated"], "_evaluation_test.pickle: truncated"),
    ("test_accuracy_vs_complexity.py", ["--models-dir", "{in}/tests_list"], "no test evaluation pickles"),
    ("test_accuracy_vs_complexity.py", ["--models-dir", "{out}/missing"], "out/missing: folder not found"),
    ("valid_fitting_results_exploration.py", ["--models-dir", "{out}/missing"], "out/missing: folder not found"),
    # ---- results CSVs
    ("saving_best_valid_CNN_models.py", ["--models-dir", "{in}/models_ok", "--data-dir", "{in}/csv",
                                         "--results-csv", "none.csv"], "none.csv: results CSV not found"),
    ("saving_best_valid_CNN_models.py", ["--models-dir", "{in}/models_ok", "--data-dir", "{in}/csv",
                                         "--results-csv", "garbage.csv"], "garbage.csv: not a results CSV"),
    ("saving_best_valid_CNN_models.py", ["--models-dir", "{in}/models_ok", "--data-dir", "{in}/no_files"],
     "no best_results_valid_*_models.csv in"),
    ("saving_best_valid_CNN_models.py", ["--models-dir", "{in}/models_truncated", "--data-dir", "{in}/csv",
                                         "--results-csv", "listing.csv"], "not a Keras model file"),
    # ---- morphology: file and dict
    (SIM, ["--morphology", "{in}/morphology/empty.asc"], "is not the Hay et al. 2011 cell1.asc"),
    (SIM, ["--morphology", "{in}/morphology/garbage.asc"], "--check-morphology-checksum false"),
    (SIM, [], "L5PC morphology not found at {out}/nowhere/cell1.asc ($L5PC_MORPHOLOGY)",
     {"L5PC_MORPHOLOGY": "{out}/nowhere/cell1.asc"}),
    ("dataset_exploration.py", ["--data-dir", "{in}/morph_truncated"], "morphology_dict.pickle: truncated"),
    ("dataset_exploration.py", ["--data-dir", "{in}/morph_list"], "morphology_dict.pickle: not a morphology dict"),
    # ---- ball-and-stick .npy files and records
    (BS_TRAIN, ["--dataset-folder", "{in}/bs_empty_npy"], "sim_0000001.npy: the .npy file is empty"),
    (BS_TRAIN, ["--dataset-folder", "{in}/bs_truncated_npy"], "test/inputs/sim_0000000.npy: truncated"),
    (BS_TRAIN, ["--dataset-folder", "{in}/bs_wrong_dtype"], "wrong layout for output_soma_v: (300,) float64"),
    (BS_TRAIN, ["--dataset-folder", "{in}/bs_no_test"], "test: no complete simulations"),
    (BS_TRAIN, ["--data-dir", "{in}/no_files"], "no AMPA_point dataset in"),
    (BS_TRAIN, ["--dataset-folder", "{out}/missing"], "--dataset-folder: folder not found"),
    ("compare_twin_architectures.py", ["--data-dir", "{in}/bs_root", "--models", "TCN:A", "--reference-model",
                                       "TCN:A"], "output_spikes/sim_0000001.npy: the .npy file is empty"),
    (BS_CREATE, ["--output-dir", "{in}/bs_record"], "dataset_info.json: not a readable dataset record"),
]


def generated_rows():
    """A value just outside every bound, an unknown choice and a missing path, for every constrained parameter."""
    rows = []
    for name in SCRIPTS:
        parameters, rules = script_constraints(name)
        path_params = {n: r for n, r in rules.items() if any(t[0] == "path" for t in r.terms)}
        for parameter, rule in rules.items():
            option = config.option_name(parameter)
            subject = f"each value of {option}" if rule.each else option
            default = parameters[parameter]
            element = (default[0] if default else None) if rule.each else default
            for term in rule.terms:
                if term[0] == "compare":
                    _, symbol, text, number = term
                    bad = {">=": number - 1, ">": number, "<=": number + 1, "<": number}[symbol]
                    if isinstance(element, int) or (element is None and float(number).is_integer()):
                        bad = int(bad)
                    rows.append((name, [option, repr(float(bad)) if isinstance(element, float) else str(bad)],
                                 f"{subject} must be {symbol} {text} (got"))
                elif term[0] == "choice":
                    rows.append((name, [option, "not_a_choice"], f"{subject} must be one of "))
                else:  # a missing file or folder; the script's other files and folders exist
                    others = []
                    for other, other_rule in path_params.items():
                        if other != parameter and parameters[other]:
                            kind = next(t[1] for t in other_rule.terms if t[0] == "path")
                            others += [config.option_name(other), "{in}/good" if kind == "folder" else
                                       "{in}/a_file.txt"]
                    rows.append((name, others + [option, "{out}/missing"], f"{option}: {term[1]} not found: "))
    return rows


GENERATED = generated_rows()


def row_id(row):
    return f"{row[0][:-3]}:{' '.join(row[1])[:60]}"


def snapshot(*roots):
    """Every file and folder below the roots with its size and modification time."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for entry in dirs + files:
                path = os.path.join(folder, entry)
                stat = os.stat(path)
                found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize("row", ROWS + GENERATED, ids=[row_id(row) for row in ROWS + GENERATED])
def test_bad_input_is_one_line_exit_2_and_nothing_written(row, inputs, tmp_path, monkeypatch, capsys):
    name, argv, fragment = row[:3]
    environment = row[3] if len(row) > 3 else {}
    work = tmp_path / "work"
    work.mkdir()
    out = str(work / "out")
    expand = lambda text: text.replace("{in}", inputs).replace("{out}", out)  # noqa: E731
    monkeypatch.chdir(work)  # relative default paths (output/..., data/...) land in the checked folder
    monkeypatch.delenv(config.DEBUG_ENV_VAR, raising=False)
    monkeypatch.setenv("L5PC_MORPHOLOGY", os.path.join(out, "no_morphology_here.asc"))
    for key, value in environment.items():
        monkeypatch.setenv(key, expand(value))
    argv = [expand(arg) for arg in argv]
    if not any(arg.startswith("--output-dir") for arg in argv) and "output_dir" in script_constraints(name)[0]:
        argv += ["--output-dir", os.path.join(out, "results")]
    before = snapshot(str(work), inputs)
    with pytest.raises(SystemExit) as exit_info:
        config.run(script(name).main, argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, no traceback
    assert expand(fragment) in err
    assert snapshot(str(work), inputs) == before, "a file or folder was written"


# ---------------------------------------------------------------------------------------------------------
# what the table relies on
# ---------------------------------------------------------------------------------------------------------

def test_the_table_covers_every_script_and_every_constraint():
    assert len(SCRIPTS) >= 15 and {row[0] for row in ROWS + GENERATED} == set(SCRIPTS)
    for name in SCRIPTS:
        _, rules = script_constraints(name)
        covered = {row[1][-2] for row in GENERATED if row[0] == name}
        assert covered == {config.option_name(parameter) for parameter in rules}, name


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_count_duration_and_rate_declares_a_constraint(name):
    parameters, rules = script_constraints(name)
    unconstrained = [parameter for parameter, value in parameters.items()
                     if isinstance(value, (int, float)) and not isinstance(value, bool)
                     and COUNT_LIKE.search(parameter.lower()) and parameter not in rules]
    assert not unconstrained, f"{name}: give these a [constraint]: {unconstrained}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_ends_with_run_main(name):
    source = open(os.path.join(ROOT, name)).read()
    guard = source[source.rindex('if __name__ == "__main__":'):]
    assert re.search(r"\n    (config\.)?run\(main\)$", guard.rstrip()), name
    assert "raise SystemExit(" not in source, name  # user errors go through run(), as one line with status 2


def test_debug_flag_shows_the_traceback(monkeypatch):
    monkeypatch.delenv(config.DEBUG_ENV_VAR, raising=False)
    with pytest.raises(UserError, match="--num-simulations must be >= 1"):
        config.run(script(SIM).main, ["--num-simulations", "-2", "--debug"])
    monkeypatch.setenv(config.DEBUG_ENV_VAR, "1")
    with pytest.raises(UserError, match="--num-simulations must be >= 1"):
        config.run(script(SIM).main, ["--num-simulations", "-2"])


def test_user_errors_keep_the_builtin_types_callers_catch():
    from neuron_as_deep_net.l5pc.cell import MorphologyMismatchError, MorphologyNotFoundError

    assert issubclass(DataFileError, ValueError) and issubclass(MissingFileError, FileNotFoundError)
    assert issubclass(MorphologyNotFoundError, FileNotFoundError) and issubclass(MorphologyMismatchError, ValueError)
    assert issubclass(MechanismError, RuntimeError)
    for error in (DataFileError, MissingFileError, MorphologyNotFoundError, MorphologyMismatchError, MechanismError):
        assert issubclass(error, UserError)
    assert str(DataFileError("a/b.p", "truncated", "copy it again")) == "a/b.p: truncated; copy it again"


def test_a_corrupt_parse_cache_entry_is_rebuilt_with_a_warning(tmp_path):
    from neuron_as_deep_net.l5pc import datasets

    path = write_synthetic_dataset(str(tmp_path / "data"), 1, 600, seed=5)
    cache = str(tmp_path / "cache")
    first = datasets.load_dataset_file(path, use_cache=True, cache_dir=cache)
    (entry,) = glob.glob(os.path.join(cache, "*.npz"))
    truncated_copy(entry, entry, keep=0.3)
    with pytest.warns(UserWarning, match="unreadable.*rebuilding it from the file"):
        again = datasets.load_dataset_file(path, use_cache=True, cache_dir=cache)
    np.testing.assert_array_equal(again.spike_index, first.spike_index)
    np.testing.assert_array_equal(again.dvts, first.dvts)
    with np.load(entry) as data:  # rewritten whole
        assert int(data["format_version"]) == datasets.CACHE_FORMAT_VERSION


def test_nothing_is_cached_for_a_file_that_cannot_be_parsed(tmp_path):
    from neuron_as_deep_net.l5pc import datasets

    path = str(tmp_path / "x_1_secDuration_1.p")
    save_pickle({"Params": {}, "Results": {}}, path)
    with pytest.raises(DataFileError, match="not a simulation file"):
        datasets.load_dataset_file(path, use_cache=True, cache_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


def test_unpicklable_content_is_a_file_error(tmp_path):
    from neuron_as_deep_net.core.files import load_pickle

    path = tmp_path / "junk.pickle"
    path.write_bytes(b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01cno_such_module\nThing\nq\x02s.")
    with pytest.raises(DataFileError, match="junk.pickle: not a readable pickle"):
        load_pickle(str(path))
    with pytest.raises(MissingFileError, match="nothing.pickle: file not found"):
        load_pickle(str(tmp_path / "nothing.pickle"))
