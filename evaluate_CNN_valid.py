"""Score every trained network of a models folder on the validation files, as the paper did (spec §7).

Each model (``<name>.keras`` or ``<name>.h5`` from fit_CNN.py, with its ``<name>.pickle``; the authors'
Keras-2.2 ``.h5`` files load too) predicts every validation simulation with overlapping windows
(overlap = min(max(T+1, min(150, W-50)), 250); windows of all simulations of a file batched together; on a
CPU the fast sparse/FFT inference on all cores, on a GPU Keras predict, see --inference-path). The predicted soma is rescaled to the mean and std of the ground
truth (clipped at -55 mV, shifted by +67.7 mV), and AUC, TP and AUC at the false-positive list, soma
explained variance, RMSE and MAE are computed from 500 ms on for the simulations with [0,18], [1,24], [0,24],
[0,30] and [0,90] output spikes. Models already evaluated are skipped.

    python evaluate_CNN_valid.py --models-dir models/NMDA --data-dir data/L5PC_NMDA_valid
    python evaluate_CNN_valid.py --preset quick --models-dir OUT/models --data-dir DATA/valid
    python evaluate_CNN_valid.py --help                                    # every parameter

Writes ``eval_results/<name>.pickle`` beside each model (the original's place; ``--output-dir DIR`` writes
them into DIR instead): the model's training pickle plus ``evaluations_results_dict`` ({filter string:
metrics}) and ``evaluation_info``; and ``evaluate_CNN_valid_run.json`` (parameters and a summary) into the output folder
(or the models folder). Models are the files directly in ``--models-dir`` and in its sub-folders (so
``--models-dir models`` evaluates every synapse type's folder).
"""

import copy
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402

# -----------------------------------------------------------------------------
# data
data_dir = "data/L5PC_NMDA_valid"  # [folder] validation dataset files
file_pattern = "*_secDuration_*.p"  # dataset files in data_dir
use_parse_cache = True  # cache parsed files (.npz keyed by the file's sha256), shared with fit_CNN.py
parse_cache_dir = ""  # '' = <models_dir>/.parsed_cache (where fit_CNN.py puts it)
# models
models_dir = "models/NMDA"  # [folder] trained networks: <name>.keras/.h5 + <name>.pickle, here and in sub-folders
skip_evaluated = True  # skip models whose evaluation pickle exists (the original's behaviour)
max_models = 0  # [>= 0] evaluate at most this many (not yet evaluated) models; 0 = all
# evaluation
ignore_time_at_start_ms = 500  # [>= 0] burn-in excluded from the metrics
filter_ranges = [[0, 18], [1, 24], [0, 24], [0, 30], [0, 90]]  # output-spike ranges [low, high] of the simulation subsets
soma_threshold_mv = -55.0  # ground-truth soma clipped here (spikes removed)
soma_bias_mv = -67.7  # then this is subtracted (the training target's offset)
inference_batch_size = 64  # [>= 1] windows per prediction batch
inference_path = "auto"  # [auto | fast | keras] fast: sparse first layer + FFT convolutions (the CPU's path); keras: Keras predict (a GPU's); auto: by the device
mixed_precision = False  # Keras predict in float16 with float32 outputs (GPU only; refused on a CPU)
# output
output_dir = ""  # evaluation pickles; '' = eval_results/ beside each model
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},  # the evaluation is the same at every scale; the models and data set the scale
    "quick": {},
    "smoke": {"filter_ranges": [[0, 24], [0, 90]], "inference_batch_size": 16},
}
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}


def evaluation_path(model_path, name, output_dir):
    """``<output_dir>/<name>.pickle``, or ``eval_results/<name>.pickle`` beside the model."""
    from neuron_as_deep_net.l5pc.model_files import EVAL_RESULTS_FOLDER

    folder = output_dir or os.path.join(os.path.dirname(os.path.abspath(model_path)), EVAL_RESULTS_FOLDER)
    return os.path.join(folder, name + ".pickle")


def main(argv=None, devices=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__)
    setup, inference_path = core_devices.setup_inference(devices, p.inference_path, p.mixed_precision)
    print(f"inference: {inference_path} path")

    from neuron_as_deep_net.l5pc import datasets, evaluation, model_files

    options = evaluation.evaluation_options(p, inference_path)
    # ---- models not yet evaluated (§7 "Selection")
    models = model_files.find_model_files(p.models_dir, include_subfolders=True)
    if not models:
        raise UserError(f"no model files (*.keras, *.h5) in {p.models_dir} or its sub-folders")
    outputs = {name: evaluation_path(path, name, p.output_dir) for name, path in models.items()}
    todo = {name: path for name, path in models.items()
            if not (p.skip_evaluated and os.path.exists(outputs[name]))}
    if p.max_models:
        todo = dict(list(todo.items())[:p.max_models])
    num_done = len(models) - len(todo) if p.skip_evaluated else 0
    print(f"{len(models)} models in {p.models_dir}: {num_done} already evaluated, {len(todo)} to evaluate")

    # ---- validation data, parsed once for all models
    cache_dir = p.parse_cache_dir or os.path.join(p.models_dir, datasets.PARSED_CACHE_FOLDER)
    return evaluation.evaluate_saved_models(
        todo, outputs.get, p.data_dir, p.file_pattern, cache_dir if p.use_parse_cache else None, 
        run_summary_path=os.path.join(p.output_dir or p.models_dir, "evaluate_CNN_valid_run.json"),
        run_summary={"params": parameters_snapshot(p), "num_models": len(models)},
        device_report=setup.report, **options)


if __name__ == "__main__":
    run(main)
