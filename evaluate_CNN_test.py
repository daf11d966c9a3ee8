"""Score the best networks (best_models/<arch>/) on the test files, with 12 random subsets (spec §7).

Each ``best_models/<arch>/<name>_model.h5`` (or ``.keras``) of the chosen synapse type, with its
``<name>_training.pickle`` (the authors' Keras-2.2 ``.h5`` models and Python-2 pickles load too), predicts
every test simulation with overlapping windows and is scored exactly as in evaluate_CNN_valid.py: soma alignment,
AUC / TP / AUC at the false-positive list, soma explained variance, RMSE and MAE, from 500 ms on, for the
[0,18], [1,24], [0,24], [0,30] and [0,90] spike-count filters. The same metrics are then computed on 12 random
subsets of 67 % of the simulations (drawn without replacement, seeded), whose spread gives Fig. S5's error bars.

    python evaluate_CNN_test.py --models-dir models/best_models --data-dir data/L5PC_NMDA_test
    python evaluate_CNN_test.py --synapse-type AMPA --models-dir models/best_models --data-dir data/L5PC_AMPA_test
    python evaluate_CNN_test.py --preset quick --models-dir OUT/best_models --data-dir DATA/test
    python evaluate_CNN_test.py --help                                    # every parameter

Writes ``<name>_evaluation_test.pickle`` beside each model (``--output-dir DIR`` writes them into DIR instead):
the training pickle plus ``evaluations_results_dict``, ``list_of_subset_eval_results_dict`` (12 dicts of the
same form) and ``evaluation_info``; and ``evaluate_CNN_test_run.json`` into the output folder (or the models
folder). ``--synapse-type AMPA`` excludes the AMPA_SK models, as in the original.
"""

import copy
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import UserError  # noqa: E402

# -----------------------------------------------------------------------------
# data
data_dir = "data/L5PC_NMDA_test"  # [folder] test dataset files
file_pattern = "*_secDuration_*.p"  # dataset files in data_dir
use_parse_cache = True  # cache parsed files (.npz keyed by the file's sha256)
parse_cache_dir = ""  # '' = <models_dir>/.parsed_cache
# models
models_dir = "models/best_models"  # [folder] <arch>/<name>_model.h5 + _training.pickle (saving_best_valid_CNN_models.py)
synapse_type = "NMDA"  # [NMDA | AMPA | AMPA_SK | all] which best models to evaluate
skip_evaluated = False  # skip models whose test evaluation pickle exists (the original re-evaluated all)
# evaluation
ignore_time_at_start_ms = 500  # [>= 0] burn-in excluded from the metrics
filter_ranges = [[0, 18], [1, 24], [0, 24], [0, 30], [0, 90]]  # output-spike ranges [low, high] of the simulation subsets
soma_threshold_mv = -55.0  # ground-truth soma clipped here (spikes removed)
soma_bias_mv = -67.7  # then this is subtracted (the training target's offset)
num_subsets = 12  # [>= 0] random subsets of the simulations, for the error bars
subset_fraction = 0.67  # [> 0, <= 1] each subset has int(subset_fraction * num_simulations) simulations
random_seed = 0  # [>= 0] subset draws (the original was unseeded)
inference_batch_size = 64  # [>= 1] windows per prediction batch
inference_path = "auto"  # [auto | fast | keras] fast: sparse first layer + FFT convolutions (the CPU's path); keras: Keras predict (a GPU's); auto: by the device
mixed_precision = False  # Keras predict in float16 with float32 outputs (GPU only; refused on a CPU)
# output
output_dir = ""  # test evaluation pickles; '' = beside each model
# -----------------------------------------------------------------------------

PRESETS = {
    "paper": {},  # the evaluation is the same at every scale; the models and data set the scale
    "quick": {"synapse_type": "all"},
    "smoke": {"synapse_type": "all", "filter_ranges": [[0, 24], [0, 90]], "num_subsets": 3,
              "inference_batch_size": 16},
}
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}
PRINTED_KEYS = ["AUC", "TP @ 0.0025 FP", "soma_explained_variance_percent", "soma_RMSE"]


def main(argv=None, devices=None):
    """Run the script with ``argv`` (default: the command line); ``devices`` injects the device list (tests)."""
    from neuron_as_deep_net.core import devices as core_devices
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__)
    setup, inference_path = core_devices.setup_inference(devices, p.inference_path, p.mixed_precision)
    print(f"inference: {inference_path} path")

    from neuron_as_deep_net.l5pc import datasets, evaluation, model_files

    options = evaluation.evaluation_options(p, inference_path)
    # ---- the best models (§7 "Selection")
    models = model_files.find_best_models(p.models_dir, p.synapse_type)
    if not models:
        raise UserError(f"no best models ({p.synapse_type} <arch>/<name>_model.h5) in {p.models_dir}")

    def output_path(name):
        return evaluation.test_evaluation_path(models[name], name, p.output_dir)

    todo = evaluation.models_without_test_evaluation(models, p.output_dir) if p.skip_evaluated else dict(models)
    print(f"{len(models)} {p.synapse_type} best models in {p.models_dir}, {len(todo)} to evaluate")

    # ---- test data, parsed once for all models
    cache_dir = p.parse_cache_dir or os.path.join(p.models_dir, datasets.PARSED_CACHE_FOLDER)
    return evaluation.evaluate_saved_models(
        todo, output_path, p.data_dir, p.file_pattern, cache_dir if p.use_parse_cache else None,
        print_keys=PRINTED_KEYS,
        run_summary_path=os.path.join(p.output_dir or p.models_dir, "evaluate_CNN_test_run.json"),
        run_summary={"params": parameters_snapshot(p), "num_models": len(models)},
        device_report=setup.report, **options)


if __name__ == "__main__":
    run(main)
