"""End-to-end runs of fit_CNN.py on tiny synthetic files (spec §6): files written, pickle keys, resume."""

import glob
import os
import pickle
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from synthetic_data import write_train_valid_folders

import fit_CNN
from neuron_as_deep_net.core import devices
from neuron_as_deep_net.l5pc import networks, training
from neuron_as_deep_net.core.files import load_pickle
from neuron_as_deep_net.core.errors import UserError

pytestmark = pytest.mark.slow

NAME_PATTERN = re.compile(r"^NMDA_TCN__DxWxT_2x4x7__\d{4}-\d{2}-\d{2}__\d{2}_\d{2}__samples_(\d+)"
                          r"__LogLoss_train_\d+_valid_\d+__ID_\d+$")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_train_valid_folders(tmp_path_factory.mktemp("fit_cnn"))


def run(data, models_dir, *extra):
    return fit_CNN.main(["--preset", "smoke", "--train-dir", str(data / "train"), "--valid-dir", str(data / "valid"),
                         "--models-dir", str(models_dir), *extra])


@pytest.fixture(scope="module")
def smoke_run(data):
    models_dir = data / "models_full"
    return run(data, models_dir), models_dir


def test_smoke_run_writes_the_model_files(smoke_run, data):
    results, models_dir = smoke_run
    assert results["finished"] and results["completed_schedules"] == 2
    assert results["history_length"] == 2 * 2  # schedules x Keras epochs per schedule
    assert results["last_spikes_loss"] < results["first_spikes_loss"]  # it learns
    stems = results["saved_models"]
    assert stems and all(NAME_PATTERN.match(stem) for stem in stems)
    stem = os.path.join(str(models_dir), stems[-1])
    for suffix in (".keras", ".h5", ".pickle", "_DVT_PCA.pkl"):
        assert os.path.exists(stem + suffix), suffix
    assert int(NAME_PATTERN.match(stems[-1]).group(1)) == 4 * 8 * 4  # epochs x batches x batch size
    assert not glob.glob(os.path.join(str(models_dir), ".fit_CNN_checkpoint__*"))  # removed after completion
    assert glob.glob(os.path.join(str(models_dir), "fit_CNN_run__*.json"))
    assert not glob.glob(os.path.join(str(models_dir), ".*.tmp*"))
    assert glob.glob(os.path.join(str(models_dir), ".parsed_cache", "*.npz"))  # the parse cache, not beside the data
    assert not os.path.exists(os.path.join(str(data / "train"), ".parsed_cache"))
    report = results["device_report"]  # printed at start, recorded in the run JSON and the model pickles
    assert report["strategy"] == "none" and not report["mixed_precision"] and "CPU 0" in report["visible"]
    assert results["first_layer"] == ("dense Conv1D" if devices.uses_gpu(report) else "on sparse inputs")
    assert results["jit_compile"] == devices.uses_gpu(report)


def test_saved_pickle_and_models_load(smoke_run, data):
    results, models_dir = smoke_run
    stem = os.path.join(str(models_dir), results["saved_models"][-1])
    with open(stem + ".pickle", "rb") as handle:
        assert handle.read(2) == b"\x80\x02"  # protocol 2
    saved = load_pickle(stem + ".pickle")
    assert {"data_dict", "architecture_dict", "learning_schedule_dict", "training_history_dict"} <= set(saved)
    assert set(saved["data_dict"]) == {"train_files", "valid_files", "test_files"}
    assert len(saved["data_dict"]["train_files"]) == 2
    assert set(saved["architecture_dict"]) == set(networks.ARCHITECTURE_KEYS)
    history = saved["training_history_dict"]
    assert set(history) == set(training.HISTORY_KEYS)
    assert len(history["loss"]) == len(history["val_spikes_loss"]) == len(history["learning_rate"]) == 4
    assert len(history["train_files_histogram"]) == 2
    assert sum(history["train_files_histogram"][-1].values()) == 4 * 8  # all batches drawn
    assert saved["fit_CNN_parameters"]["optimizer"] == "legacy_nadam"
    assert saved["device_report"] == results["device_report"]
    assert history["learning_rate"] == [1e-2, 1e-2, 3e-3, 3e-3]
    pca = load_pickle(os.path.join(str(models_dir), saved["DVT_PCA_file"]))
    assert pca.n_components_ == 4

    x = np.zeros((1, 64, 1278), dtype=np.float32)
    x[0, ::7, ::5] = 1
    outputs = []
    for suffix in (".keras", ".h5"):
        model = keras.models.load_model(stem + suffix, compile=False)
        assert model.input_shape == (None, 64, 1278)
        assert [tuple(o.shape) for o in model.outputs] == [(None, 64, 1), (None, 64, 1), (None, 64, 4)]
        outputs.append(model.predict(x, verbose=0))
    for a, b in zip(*outputs):
        assert np.allclose(a, b, atol=1e-6)
    # a plain Keras process (nothing of this project imported) loads both files, compiled
    code = ("import warnings, keras; warnings.simplefilter('error'); "
            "[print(type(keras.models.load_model(p).optimizer).__name__) for p in __import__('sys').argv[1:]]")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code, stem + ".keras", stem + ".h5"], capture_output=True, text=True,
                         env=env, cwd=str(data), timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Nadam", "Nadam"]


def test_resume_gives_the_uninterrupted_history(smoke_run, data):
    full_results, _ = smoke_run
    models_dir = data / "models_resumed"
    first = run(data, models_dir, "--stop-after-schedules", "1")
    assert not first["finished"] and first["completed_schedules"] == 1 and first["history_length"] == 2
    checkpoints = glob.glob(os.path.join(str(models_dir), ".fit_CNN_checkpoint__*"))
    assert len(checkpoints) == 1
    assert len(glob.glob(os.path.join(checkpoints[0], "weights_after_schedule_0001.weights.h5"))) == 1
    with open(os.path.join(checkpoints[0], training.CHECKPOINT_STATE), "rb") as handle:
        assert pickle.load(handle)["next_schedule"] == 1

    second = run(data, models_dir, "--resume")
    assert second["finished"] and second["history_length"] == full_results["history_length"] == 4
    stem = os.path.join(str(models_dir), second["saved_models"][-1])
    assert os.path.exists(stem + ".keras") and os.path.exists(stem + ".h5")
    resumed = load_pickle(stem + ".pickle")["training_history_dict"]
    full = load_pickle(os.path.join(str(smoke_run[1]), full_results["saved_models"][-1] + ".pickle"))[
        "training_history_dict"]
    for key in ("loss", "spikes_loss", "val_spikes_loss", "val_somatic_loss"):
        assert np.allclose(resumed[key], full[key], rtol=1e-4, atol=1e-6), key
    assert resumed["train_files_histogram"] == full["train_files_histogram"]
    assert not glob.glob(os.path.join(str(models_dir), ".fit_CNN_checkpoint__*"))


def test_architecture_options():
    from types import SimpleNamespace

    base = dict(filter_sizes=[35, 21], depth=0, num_filters=64, width=0, input_window_size=400,
                initializer_std=0.002, l2_regularization=1e-8, activation="relu")
    paper = fit_CNN.resolve_architecture(SimpleNamespace(**dict(base, **fit_CNN.PRESETS["paper"])))
    assert networks.architecture_string(paper) == "DxWxT_7x128x153"
    grown = fit_CNN.resolve_architecture(SimpleNamespace(**dict(base, depth=4, width=32)))
    assert grown["filter_sizes_per_layer"] == [35, 21, 21, 21] and grown["num_filters_per_layer"] == [32] * 4
    with pytest.raises(UserError, match="--depth 1 is smaller than the 2 filter sizes"):
        fit_CNN.resolve_architecture(SimpleNamespace(**dict(base, depth=1)))
    with pytest.raises(UserError, match="longer than the sum of the filter sizes"):
        fit_CNN.resolve_architecture(SimpleNamespace(**dict(base, input_window_size=56)))


def test_missing_data_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no dataset files"):
        fit_CNN.main(["--preset", "smoke", "--train-dir", str(tmp_path / "empty"), "--valid-dir",
                      str(tmp_path / "empty"), "--models-dir", str(tmp_path / "models")])
