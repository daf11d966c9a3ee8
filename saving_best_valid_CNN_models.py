"""Copy the best network of each architecture into ``best_models/<arch>/`` (spec §8).

Reads ``best_results_valid_<N>_models.csv`` (valid_fitting_results_exploration.py), takes its column
``full model filename``, and for every listed network found among the model files of ``--models-dir`` (and its
sub-folders) writes into ``<output_dir>/<arch>/`` (``<arch>`` = the name up to its date, e.g.
``NMDA_TCN__DxWxT_7x128x153``):

* ``<name>_model.h5`` (the whole model), ``<name>_weights.h5`` (weights only, Keras-2 layout) and
  ``<name>_json.json`` (``json.dump`` of ``model.to_json()``: a JSON string inside JSON, as the original wrote);
* ``<name>_training.pickle``, a copy of the training pickle ``<name>.pickle``;
* ``<name>_evaluation.pickle``, a copy of the validation evaluation ``eval_results/<name>.pickle``. The original
  meant to copy this file but its glob (``models/*/<name>.pickle``) found the training pickle again; here the
  evaluation pickle is copied (a fix; a network without one gets no ``_evaluation`` file, with a note).

    python saving_best_valid_CNN_models.py --models-dir models --output-dir models/best_models
    python saving_best_valid_CNN_models.py --preset quick --models-dir OUT/models --output-dir OUT/best_models
    python saving_best_valid_CNN_models.py --help                              # every parameter

evaluate_CNN_test.py then reads ``<output_dir>/<arch>/<name>_model.h5``. A summary of what was copied goes to
``<output_dir>/saving_best_valid_CNN_models.json``.
"""

import copy
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from neuron_as_deep_net.core.config import run  # noqa: E402
from neuron_as_deep_net.core.errors import DataFileError, MissingFileError, UserError  # noqa: E402

# -----------------------------------------------------------------------------
# data
models_dir = "models"  # [folder] trained networks (<name>.keras/.h5 + <name>.pickle), here and in its sub-folders
data_dir = ""  # [folder] folder of best_results_valid_<N>_models.csv; '' = the output folder
results_csv = ""  # the CSV's file name (or path); '' = the newest best_results_valid_*_models.csv in data_dir
eval_results_dir = ""  # [folder] validation evaluation pickles; '' = eval_results/ beside each model
# output
output_dir = ""  # the best-models folder; '' = <models_dir>/best_models
# -----------------------------------------------------------------------------

PRESETS = {"paper": {}, "quick": {}, "smoke": {}}  # nothing here depends on the scale
_DEFAULTS = {name: copy.deepcopy(value) for name, value in dict(globals()).items()
             if not name.startswith("_") and isinstance(value, (bool, int, float, str, list, type(None)))}
CSV_PATTERN = "best_results_valid_*_models.csv"


def find_results_csv(folder, name=""):
    """``name`` (a path, or a file in folder), or the newest best_results_valid_*_models.csv in folder."""
    if name:
        path = name if os.path.isfile(name) else os.path.join(folder, name)
        if not os.path.isfile(path):
            raise MissingFileError(path, "results CSV")
        return path
    candidates = glob.glob(os.path.join(glob.escape(folder), CSV_PATTERN))
    if not candidates:
        raise UserError(f"no {CSV_PATTERN} in {folder} (run valid_fitting_results_exploration.py first)")
    return max(candidates, key=os.path.getmtime)


def read_selected_names(csv_path, pd, column):
    """The model names of the results CSV's column ``column``; DataFileError if the file is not such a CSV."""
    try:
        return [str(name) for name in pd.read_csv(csv_path)[column]]
    except (KeyError, ValueError, pd.errors.ParserError) as error:
        raise DataFileError(csv_path, f"not a results CSV of valid_fitting_results_exploration.py (no column "
                                      f"{column!r}: {type(error).__name__})") from error


def main(argv=None):
    from neuron_as_deep_net.core.config import configure, parameters_snapshot

    p = configure(dict(copy.deepcopy(_DEFAULTS), __file__=__file__), PRESETS, argv, description=__doc__)
    start_time = time.time()

    import pandas as pd

    from neuron_as_deep_net.core import files
    from neuron_as_deep_net.l5pc import model_files, model_selection

    output_dir = p.output_dir or os.path.join(p.models_dir, model_files.BEST_MODELS_FOLDER)
    csv_path = find_results_csv(p.data_dir or output_dir, p.results_csv)
    selected = read_selected_names(csv_path, pd, model_selection.FILENAME_COLUMN)
    models = model_files.find_model_files(p.models_dir, include_subfolders=True)
    found = [name for name in selected if name in models]
    print(f"{len(selected)} networks listed in {csv_path}, {len(found)} found in {p.models_dir}")
    for name in sorted(set(selected) - set(found)):
        print(f"  not found: {name}")
    for name in found:
        model_files.check_model_files(models[name])  # cheap: a broken file stops the run before any copy

    copied = []
    for name in found:
        model, _, training_pickle = model_files.load_model_and_metadata(models[name])
        folder = p.eval_results_dir or os.path.join(os.path.dirname(os.path.abspath(models[name])),
                                                    model_files.EVAL_RESULTS_FOLDER)
        evaluation_pickle = os.path.join(folder, name + ".pickle")
        if not os.path.isfile(evaluation_pickle):
            print(f"  note: no validation evaluation {evaluation_pickle}; no _evaluation.pickle for {name}")
            evaluation_pickle = None
        paths = model_files.save_best_model_copy(model, name, output_dir, training_pickle, evaluation_pickle)
        print(f"  {name} -> {os.path.dirname(paths['model'])}")
        copied.append(paths)

    summary = {"params": parameters_snapshot(p), "results_csv": csv_path, "num_listed": len(selected),
               "copied": copied, "runtime_sec": time.time() - start_time}
    files.write_json(os.path.join(output_dir, "saving_best_valid_CNN_models.json"), summary)
    print(f"{len(copied)} best networks written to {output_dir} in {summary['runtime_sec']:.1f} s")
    return summary


if __name__ == "__main__":
    run(main)
