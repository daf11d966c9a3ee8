"""Trained L5PC model files, all in one place: names, saving, discovery, loading (legacy Keras-2 ``.h5`` files
rebuilt from their weights by :func:`rebuild_from_legacy_h5`), and the best-models copies.

Ground truth: /work/shared/spec/original_behaviour.md §6 ("Model saving": the file names), §7 ("Selection"),
§8 (the ``best_models/<arch>/`` copies) and §9 (``extract_useful_info``: what a name tells).

Layout (as the original's)::

    models/<TYPE>/<name>.h5 (+ our <name>.keras), <name>.pickle        fit_CNN.py
    models/<TYPE>/eval_results/<name>.pickle                             evaluate_CNN_valid.py
    models/best_models/best_results_valid_<N>_models.csv                 valid_fitting_results_exploration.py
    models/best_models/<arch>/<name>_{model.h5,weights.h5,json.json,training.pickle,evaluation.pickle}
                                                                         saving_best_valid_CNN_models.py
    models/best_models/<arch>/<name>_evaluation_test.pickle              evaluate_CNN_test.py

where ``<arch>`` is ``<name>`` up to its date field, e.g. ``NMDA_TCN__DxWxT_7x128x153``. Models load for
inference without compiling; the authors' Keras-2.2 ``.h5`` files load too (their compiled Nadam arguments
``lr``/``schedule_decay`` are never read, and a config Keras 3 cannot read is rebuilt from the weights by
:func:`load_model`).
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import pickle
import re
import shutil
import warnings

import numpy as np

from ..core.errors import DataFileError, MissingFileError
from ..core.files import atomic_keras_file, atomic_write, load_pickle, save_pickle


MODEL_EXTENSIONS = (".keras", ".h5")  # preferred first when a model is saved in both
EVAL_RESULTS_FOLDER = "eval_results"
BEST_MODELS_FOLDER = "best_models"
SYNAPSE_TYPES = ("NMDA", "AMPA", "AMPA_SK")
# suffixes of the best-models copies (§8)
BEST_MODEL_SUFFIX = "_model"
BEST_WEIGHTS_SUFFIX = "_weights"
BEST_JSON_SUFFIX = "_json"
BEST_TRAINING_SUFFIX = "_training"
BEST_EVALUATION_SUFFIX = "_evaluation"
TEST_EVALUATION_SUFFIX = "_evaluation_test"
NOT_MODEL_SUFFIXES = (".weights.h5", BEST_WEIGHTS_SUFFIX + ".h5")  # weights-only files
KERAS_2_VERSION_WRITTEN = b"2.2.4"  # the layout of the _weights.h5 copies (Keras 3 reads it as legacy h5)

_NAME_FIELDS = re.compile(r"^DxWxT_(\d+)x(\d+)x(\d+)$")


# ----------------------------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------------------------

def model_base_name(model_path) -> str:
    """The model file's name without extension and without a trailing '_model' (best-models layout)."""
    base = os.path.splitext(os.path.basename(model_path))[0]
    return base[: -len(BEST_MODEL_SUFFIX)] if base.endswith(BEST_MODEL_SUFFIX) else base


def architecture_folder_name(name) -> str:
    """``best_models`` sub-folder of a model: its name up to the date field, ``name.split('__20')[0]`` (§8)."""
    return os.path.basename(name).split("__20")[0]


def synapse_type_from_name(name) -> str:
    """'NMDA' / 'AMPA' / 'AMPA_SK' from a model name's first tokens, or '' when it names none."""
    for candidate in ("AMPA_SK", "AMPA", "NMDA"):
        if os.path.basename(name).startswith(candidate):
            return candidate
    return ""


def parse_model_name(name) -> dict:
    """What a model's name tells (§9 ``extract_useful_info``): biophysical type, NN type, depth, width, T.

    The biophysical type is the first '_'-token, the NN type the second (the third, with type 'AMPA_SK',
    when the second is 'SK'); D, W and T come from the ``DxWxT_<D>x<W>x<T>`` field. Raises ValueError for a
    name not in the §6 form.
    """
    base = model_base_name(name)
    fields = base.split("__")
    tokens = fields[0].split("_")
    if len(fields) < 2 or len(tokens) < 2:
        raise ValueError(f"{base!r} is not a model name of the form <TYPE>_<TCN|FCN>__DxWxT_<D>x<W>x<T>__...")
    bio_type, nn_type = tokens[0], tokens[1]
    if nn_type == "SK" and len(tokens) > 2:
        bio_type, nn_type = "AMPA_SK", tokens[2]
    match = _NAME_FIELDS.match(fields[1])
    if not match:
        raise ValueError(f"{base!r}: the second '__' field should be DxWxT_<D>x<W>x<T>, got {fields[1]!r}")
    depth, width, extent = (int(v) for v in match.groups())
    return {"biophysical_model_type": bio_type, "NN_model_type": nn_type, "NN_depth": depth,
            "NN_width": width, "NN_input_time_window": extent}


# ----------------------------------------------------------------------------------------------------------
# Discovery
# ----------------------------------------------------------------------------------------------------------

def _is_model_file(path) -> bool:
    name = os.path.basename(path)
    return name.endswith(MODEL_EXTENSIONS) and not name.endswith(NOT_MODEL_SUFFIXES)


def find_model_files(folder, include_subfolders=False, name_suffix="") -> dict[str, str]:
    """{base name: path} of the model files in ``folder`` (and its sub-folders if asked), sorted by name.

    A model saved as both ``.keras`` and ``.h5`` is listed once, as its ``.keras`` file. Only files whose
    name (without extension) ends with ``name_suffix`` count (``'_model'`` in the best-models layout);
    weights-only files and hidden folders (checkpoints, parse caches) are skipped.
    """
    if not os.path.isdir(folder):
        raise MissingFileError(folder, "models folder")
    patterns = [os.path.join(glob.escape(folder), "*")]
    if include_subfolders:
        patterns.append(os.path.join(glob.escape(folder), "*", "*"))
    found = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            stem = os.path.splitext(os.path.basename(path))[0]
            if not (os.path.isfile(path) and _is_model_file(path) and stem.endswith(name_suffix)):
                continue
            base = model_base_name(path) if name_suffix else stem
            previous = found.get(base)
            if previous is None or (MODEL_EXTENSIONS.index(os.path.splitext(path)[1])
                                    < MODEL_EXTENSIONS.index(os.path.splitext(previous)[1])):
                found[base] = path
    return dict(sorted(found.items()))


def matches_synapse_type(name, synapse_type) -> bool:
    """Whether a model name is of ``synapse_type`` ('all' matches every name; 'AMPA' excludes 'AMPA_SK', §7)."""
    if synapse_type in ("", "all"):
        return True
    return synapse_type_from_name(name) == synapse_type


def find_best_models(best_models_dir, synapse_type="NMDA") -> dict[str, str]:
    """{base name: path} of ``<best_models_dir>/*/<TYPE>*_model.{keras,h5}`` (and directly in the folder) (§7)."""
    found = find_model_files(best_models_dir, include_subfolders=True, name_suffix=BEST_MODEL_SUFFIX)
    return {name: path for name, path in found.items() if matches_synapse_type(name, synapse_type)}


def find_training_pickle(model_path):
    """``<base>.pickle``, ``<base>_training.pickle`` (also without '_model') beside the model, or None."""
    folder = os.path.dirname(os.path.abspath(model_path))
    full_base = os.path.splitext(os.path.basename(model_path))[0]
    for base in dict.fromkeys((full_base, model_base_name(model_path))):
        for suffix in (".pickle", BEST_TRAINING_SUFFIX + ".pickle"):
            candidate = os.path.join(folder, base + suffix)
            if os.path.isfile(candidate):
                return candidate
    return None


def find_result_pickles(folder, pattern) -> list[str]:
    """Sorted files matching ``pattern`` in ``folder`` and in its sub-folders (one level)."""
    if not os.path.isdir(folder):
        raise MissingFileError(folder, "folder")
    escaped = glob.escape(folder)
    found = glob.glob(os.path.join(escaped, pattern)) + glob.glob(os.path.join(escaped, "*", pattern))
    return sorted(set(found))


# ----------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------

def architecture_from_model(model) -> dict:
    """A minimal architecture dict (filter sizes, filters, window) read from the model's ``layer_k`` convs."""
    sizes, filters = [], []
    k = 1
    while True:
        try:
            layer = model.get_layer(f"layer_{k}")
        except ValueError:
            break
        sizes.append(int(layer.kernel_size[0]))
        filters.append(int(layer.filters))
        k += 1
    if not sizes:
        raise ValueError("the model has no 'layer_1' convolution and its training pickle gives no architecture")
    return {"network_depth": len(sizes), "filter_sizes_per_layer": sizes, "num_filters_per_layer": filters,
            "input_window_size": int(model.input_shape[1])}


def load_model_and_metadata(model_path, require_metadata=True):
    """(model, training dict, training pickle path) of a saved model, loaded for inference (not compiled).

    The training dict is the §6 pickle beside the model (``<base>.pickle`` or ``<base>_training.pickle``);
    without one, ``require_metadata`` raises ValueError, else the architecture is read from the layers.
    """
    pickle_path, training_dict = check_model_files(model_path, require_metadata)
    model = load_model(model_path)
    if "architecture_dict" not in training_dict:
        training_dict["architecture_dict"] = architecture_from_model(model)
    return model, training_dict, pickle_path


# ----------------------------------------------------------------------------------------------------------
# Loading models
# ----------------------------------------------------------------------------------------------------------

def load_training_pickle(path) -> dict:
    """A model's training pickle (§6: data_dict, architecture_dict, ...); DataFileError if it is not one."""
    training_dict = load_pickle(path, what="training pickle")
    if not isinstance(training_dict, dict):
        raise DataFileError(path, f"not a training pickle: it holds a {type(training_dict).__name__}, not a dict",
                            "expected the <name>.pickle fit_CNN.py writes beside each model")
    architecture = training_dict.get("architecture_dict", {"filter_sizes_per_layer": None})
    if not (isinstance(architecture, dict) and "filter_sizes_per_layer" in architecture):
        raise DataFileError(path, "not a training pickle: its architecture_dict has no filter_sizes_per_layer")
    return dict(training_dict)


def check_model_file(path) -> None:
    """Cheap checks of a model file before Keras reads it: it exists, is not empty, and is what its extension
    says (a zip archive for .keras, HDF5 for .h5); DataFileError naming the file otherwise."""
    import zipfile

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(path, "model file")
    if os.path.getsize(path) == 0:
        raise DataFileError(path, "the model file is empty (0 bytes: an interrupted save or copy?)")
    if path.lower().endswith(".keras") and not zipfile.is_zipfile(path):
        raise DataFileError(path, "not a Keras model file (a .keras file is a zip archive): truncated or damaged?",
                            "save or copy it again")
    if path.lower().endswith((".h5", ".hdf5")):
        import h5py

        if not h5py.is_hdf5(path):
            raise DataFileError(path, "not an HDF5 model file: truncated or damaged?", "save or copy it again")


def check_model_files(model_path, require_metadata=True):
    """(training pickle path or None, training dict) of a model after the cheap checks of both files; every
    problem is a DataFileError naming the file (evaluations check all models before writing anything)."""
    check_model_file(model_path)
    pickle_path = find_training_pickle(model_path)
    if pickle_path is None and require_metadata:
        raise DataFileError(model_path, "no training pickle (<name>.pickle or <name>_training.pickle) beside it")
    return pickle_path, (load_training_pickle(pickle_path) if pickle_path else {})


def load_model(path, activation: str | None = None):
    """Load a saved model for inference (``compile=False``).

    ``.keras`` and Keras-3 ``.h5`` files load directly. A legacy Keras-2 ``.h5`` whose config Keras 3 cannot
    read is rebuilt from its weights with :func:`rebuild_from_legacy_h5` (``activation`` overrides the
    activation read from the file's config).
    """
    import keras

    from ..core import activations  # noqa: F401  (registers the 'lrelu' activation)

    path = os.fspath(path)
    check_model_file(path)
    keras_problem = ""
    if activation is None:
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as error:  # noqa: BLE001 - any failure of the config route falls back to the weights
            message = str(error) if len(str(error)) < 200 else str(error)[:200] + "..."
            keras_problem = f"{type(error).__name__}: {message}"
            if not path.lower().endswith((".h5", ".hdf5")):
                raise DataFileError(path, f"Keras cannot load this model ({keras_problem})",
                                    "was it saved by another program or Keras version?") from error
    try:
        model = rebuild_from_legacy_h5(path, activation=activation)
    except (ValueError, KeyError, OSError) as error:
        raise DataFileError(path, "not a model of this project: its weights do not form a TCN "
                                  f"({str(error).removeprefix(f'{path}: ')[:160]})") from error
    if keras_problem:  # said only once the weights did give a model: else the error above is the whole story
        warnings.warn(f"keras could not load {path} ({keras_problem}); rebuilding the architecture from the "
                      f"file's weights instead", stacklevel=2)
    return model


_CONV_NAME = re.compile(r"^layer_(\d+)$")
_BN_NAME = re.compile(r"^layer_(\d+)_BN$")


def _decode(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _h5_layer_weights(h5file) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {weight short name: array}} from a Keras 2 or 3 ``.h5`` (model or weights-only file)."""
    root = h5file["model_weights"] if "model_weights" in h5file else h5file
    names = [_decode(n) for n in root.attrs.get("layer_names", list(root.keys()))]
    weights = {}
    for name in names:
        if name not in root:
            continue
        group = root[name]
        weight_names = [_decode(w) for w in group.attrs.get("weight_names", [])]
        arrays = {}
        for weight_name in weight_names:
            short = weight_name.split("/")[-1].split(":")[0]
            arrays[short] = np.asarray(group[weight_name])
        if arrays:
            weights[name] = arrays
    return weights


def _h5_layer_configs(h5file) -> tuple[dict[str, dict], int | None]:
    """{layer name: config} and the input window size from the file's ``model_config`` (if readable)."""
    raw = h5file.attrs.get("model_config")
    if raw is None:
        return {}, None
    try:
        config = json.loads(_decode(raw))
    except (TypeError, ValueError):
        return {}, None
    layer_list = config.get("config", {}).get("layers", [])
    configs = {}
    window = None
    for entry in layer_list:
        layer_config = entry.get("config", {})
        name = layer_config.get("name", entry.get("name"))
        configs[name] = layer_config
        shape = layer_config.get("batch_input_shape") or layer_config.get("batch_shape")
        if entry.get("class_name") == "InputLayer" and shape and len(shape) == 3 and shape[1]:
            window = int(shape[1])
    return configs, window


def _config_activation(layer_config: dict) -> str:
    activation = layer_config.get("activation", "relu")
    if isinstance(activation, dict):  # Keras 3 serialisation of a function
        activation = str(activation.get("config", "relu")).split(">")[-1]
    activation = str(activation)
    if activation in ("<lambda>", "LeakyReLU", "leaky_relu_025"):
        return "lrelu"
    return activation


def rebuild_from_legacy_h5(path, activation: str | None = None):
    """Rebuild a :func:`~neuron_as_deep_net.l5pc.networks.build_tcn` model from the weights in an ``.h5`` file.

    Kernel shapes give the filter sizes, filter counts, input channels and DVT components; activations,
    dilations, BN epsilons and the input window come from the file's ``model_config`` when it is readable
    (activation 'relu', dilation 1, eps 1e-3 and window max(400, sum of filter sizes + 1) otherwise).
    Only the ``layer_k`` / ``layer_k_BN`` / ``spikes`` / ``somatic`` / ``dendritic`` layout of §6 is
    supported.
    """
    import h5py

    from . import networks

    with h5py.File(os.fspath(path), "r") as h5file:
        weights = _h5_layer_weights(h5file)
        configs, window = _h5_layer_configs(h5file)
    conv_indices = sorted(int(m.group(1)) for name in weights if (m := _CONV_NAME.match(name)))
    if not conv_indices or conv_indices != list(range(1, len(conv_indices) + 1)):
        raise ValueError(f"{path}: expected conv layers layer_1..layer_D, found {sorted(weights)}")
    missing_heads = [name for name in ("spikes", "somatic", "dendritic") if name not in weights]
    if missing_heads:
        raise ValueError(f"{path}: missing output layers {missing_heads}")
    kernels = [weights[f"layer_{k}"]["kernel"] for k in conv_indices]
    filter_sizes = [int(kernel.shape[0]) for kernel in kernels]
    num_filters = [int(kernel.shape[2]) for kernel in kernels]
    activations = [activation or _config_activation(configs.get(f"layer_{k}", {})) for k in conv_indices]
    dilations = [int(np.ravel(configs.get(f"layer_{k}", {}).get("dilation_rate", [1]))[0])
                 for k in conv_indices]
    window = window if window and window > sum(filter_sizes) else max(400, sum(filter_sizes) + 1)
    architecture = networks.make_architecture_dict(filter_sizes, num_filters, input_window_size=window,
                                                   activation=activations, dilation=dilations)
    model = networks.build_tcn(architecture, num_segments=int(kernels[0].shape[1]),
                               num_DVT_components=int(weights["dendritic"]["kernel"].shape[-1]))
    for k in conv_indices:
        conv = weights[f"layer_{k}"]
        model.get_layer(f"layer_{k}").set_weights([conv["kernel"], conv["bias"]])
        bn_name = f"layer_{k}_BN"
        if bn_name not in weights:
            raise ValueError(f"{path}: missing {bn_name}")
        bn = weights[bn_name]
        layer = model.get_layer(bn_name)
        layer.set_weights([bn["gamma"], bn["beta"], bn["moving_mean"], bn["moving_variance"]])
        if "epsilon" in configs.get(bn_name, {}):
            layer.epsilon = float(configs[bn_name]["epsilon"])
    for name in ("spikes", "somatic", "dendritic"):
        head = weights[name]
        model.get_layer(name).set_weights([head["kernel"].reshape(model.get_layer(name).kernel.shape),
                                           head["bias"]])
    return model


def log_loss_tag(values):
    """int(10000 * mean of the last 7 values), or of all values when fewer than 10 exist (§6 name part)."""
    values = list(values)
    if not values:
        return 0
    return int(10000 * float(np.mean(values if len(values) < 10 else values[-7:])))


def model_file_stem(synapse_type, architecture_dict, history, model_id, now=None):
    """``<T>_{FCN|TCN}__DxWxT_<D>x<W>x<T>__<YYYY-MM-DD__HH_MM>__samples_<n>__LogLoss_train_<a>_valid_<b>__ID_<id>``."""
    from .networks import architecture_string, network_type_prefix

    now = now or datetime.datetime.now()
    return (f"{network_type_prefix(synapse_type, architecture_dict)}__{architecture_string(architecture_dict)}__"
            f"{now.strftime('%Y-%m-%d__%H_%M')}__samples_{int(sum(history['num_train_samples']))}__"
            f"LogLoss_train_{log_loss_tag(history['spikes_loss'])}_valid_{log_loss_tag(history['val_spikes_loss'])}"
            f"__ID_{int(model_id)}")


def save_trained_model(model, models_dir, stem, training_dict, pca=None):
    """Write ``<stem>.keras``, ``<stem>.h5``, ``<stem>.pickle`` (protocol 2) and ``<stem>_DVT_PCA.pkl``.

    ``training_dict`` has the §6 keys (data_dict, architecture_dict, learning_schedule_dict,
    training_history_dict); the DVT PCA file name is added under 'DVT_PCA_file'. Every file is written
    atomically. Returns the written paths.
    """
    os.makedirs(models_dir, exist_ok=True)
    paths = {"keras": os.path.join(models_dir, stem + ".keras"), "h5": os.path.join(models_dir, stem + ".h5"),
             "pickle": os.path.join(models_dir, stem + ".pickle")}
    payload = dict(training_dict)
    if pca is not None:
        paths["DVT_PCA"] = os.path.join(models_dir, stem + "_DVT_PCA.pkl")
        save_pickle(pca, paths["DVT_PCA"], protocol=pickle.HIGHEST_PROTOCOL)
        payload["DVT_PCA_file"] = os.path.basename(paths["DVT_PCA"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' notice that .h5 is a legacy format
        atomic_keras_file(model.save, paths["keras"])  # first: after a legacy .h5 save, Keras 3.15 writes a
        atomic_keras_file(model.save, paths["h5"])  # wrong compile config (rmsprop) into a later .keras file
    save_pickle(payload, paths["pickle"], protocol=2)
    return paths


# ----------------------------------------------------------------------------------------------------------
# The best-models copies (§8)
# ----------------------------------------------------------------------------------------------------------

def write_keras2_weights(group, model) -> None:
    """Write ``model``'s weights into an h5py group in Keras 2's layout (``layer_names``/``weight_names``
    attributes, datasets ``<layer>/<layer>/<weight>:0``), the layout Keras 3 reads as a legacy ``.h5``."""
    layer_names = []
    for layer in model.layers:
        layer_names.append(layer.name.encode("utf8"))
        layer_group = group.create_group(layer.name)
        weight_names = [f"{layer.name}/{w.path.split('/')[-1]}:0" for w in layer.weights]
        layer_group.attrs["weight_names"] = np.array([n.encode("utf8") for n in weight_names], dtype="S")
        for weight_name, value in zip(weight_names, layer.get_weights()):
            layer_group.create_dataset(weight_name, data=value)
    group.attrs["layer_names"] = np.array(layer_names, dtype="S")
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_2_VERSION_WRITTEN


def save_weights_h5(model, path) -> None:
    """``model.save_weights`` of Keras 2 (a weights-only ``.h5``; Keras 3 only writes ``*.weights.h5``), atomically."""
    import h5py

    with atomic_write(path) as handle:
        with h5py.File(handle, "w") as h5file:
            write_keras2_weights(h5file, model)


def save_best_model_copy(model, name, best_models_dir, training_pickle, evaluation_pickle=None) -> dict:
    """Write ``best_models/<arch>/<name>_{model.h5,weights.h5,json.json,training.pickle[,evaluation.pickle]}`` (§8).

    ``_json.json`` is ``json.dump`` of ``model.to_json()`` (a JSON string inside JSON, as the original wrote
    it). ``evaluation_pickle`` is the validation evaluation (``eval_results/<name>.pickle``); the original
    copied the training pickle there instead (its glob missed ``eval_results/``). Every file is written
    atomically. Returns {kind: path}.
    """
    import warnings

    folder = os.path.join(best_models_dir, architecture_folder_name(name))
    os.makedirs(folder, exist_ok=True)
    stem = os.path.join(folder, name)
    paths = {"model": stem + BEST_MODEL_SUFFIX + ".h5", "weights": stem + BEST_WEIGHTS_SUFFIX + ".h5",
             "json": stem + BEST_JSON_SUFFIX + ".json", "training": stem + BEST_TRAINING_SUFFIX + ".pickle"}
    with atomic_write(paths["json"], "w") as handle:
        json.dump(model.to_json(), handle)
    save_weights_h5(model, paths["weights"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' notice that .h5 is a legacy format
        atomic_keras_file(model.save, paths["model"])
    copies = [("training", training_pickle)]
    if evaluation_pickle:
        paths["evaluation"] = stem + BEST_EVALUATION_SUFFIX + ".pickle"
        copies.append(("evaluation", evaluation_pickle))
    for kind, source in copies:
        with open(source, "rb") as src, atomic_write(paths[kind]) as dst:
            shutil.copyfileobj(src, dst)
    return paths
