"""Evaluation and model selection (spec §7-§10): evaluate_CNN_valid/test.py, valid_fitting_results_exploration.py,
saving_best_valid_CNN_models.py and test_accuracy_vs_complexity.py, and the package code under them.

Models are built directly (build_tcn with random O(1) weights, saved like fit_CNN.py saves them) instead of
trained, so the whole pipeline runs in well under a minute on tiny synthetic dataset files.
"""

import filecmp
import importlib.util
import json
import os

import keras
import numpy as np
import pandas as pd
import pytest
from keras2_h5 import write_keras2_h5
from sklearn import metrics
from synthetic_data import write_synthetic_dataset

from neuron_as_deep_net.core import devices, fast_inference
from neuron_as_deep_net.core import metrics as core_metrics
from neuron_as_deep_net.l5pc import evaluation, model_files, model_selection, networks, training
from neuron_as_deep_net.core.files import load_pickle, save_pickle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION_MS = 1200
WINDOW = 64
NUM_DVT = 2
# name: (filter sizes, filters, seed); two networks share an architecture, so one of them is not selected
NETWORKS = {"tcn_a": ([5, 3], 4, 1), "tcn_b": ([5, 3], 4, 2), "fcn": ([9], 4, 3)}


def load_script(name):
    """Import a top-level script as a fresh module."""
    spec = importlib.util.spec_from_file_location(name.replace(".py", "") + "_selection_test", os.path.join(ROOT, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_network(filter_sizes, num_filters, seed):
    architecture = networks.make_architecture_dict(filter_sizes, num_filters, input_window_size=WINDOW)
    model = networks.build_tcn(architecture, num_DVT_components=NUM_DVT)
    fast_inference.randomize_model_weights(model, seed=seed)
    return model, architecture


def training_dict(architecture, seed):
    """A training pickle as fit_CNN.py writes it (§6), with a short made-up history."""
    history = training.empty_training_history()
    history["num_train_samples"] = [96] * 4
    history["spikes_loss"] = history["val_spikes_loss"] = [0.02] * 4
    history["train_files_histogram"] = [{"a.p": 3, "b.p": 1}] * 2
    return {"data_dict": {"train_files": [], "valid_files": [], "test_files": []}, "architecture_dict": architecture,
            "learning_schedule_dict": {}, "training_history_dict": history}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("selection")
    write_synthetic_dataset(str(root / "valid"), 5, DURATION_MS, seed=40)
    write_synthetic_dataset(str(root / "test"), 6, DURATION_MS, seed=41)
    models_dir = root / "models" / "NMDA"
    stems = {}
    for key, (sizes, filters, seed) in NETWORKS.items():
        model, architecture = make_network(sizes, filters, seed)
        info = training_dict(architecture, seed)
        stem = model_files.model_file_stem("NMDA", architecture, info["training_history_dict"], model_id=seed)
        model_files.save_trained_model(model, str(models_dir), stem, info)
        stems[key] = stem
    return root, stems


# ---- metrics on stitched predictions --------------------------------------------------------------------------

def test_metrics_equal_sklearn_and_overlapped_inference_equals_full_length_pass(setup):
    root, _ = setup
    model, architecture = make_network([7, 5, 3], 6, seed=5)
    parsed = evaluation.load_evaluation_files(str(root / "test"), verbose=False)
    windowing = evaluation.model_windowing(model, architecture)
    assert windowing == {"window_size": WINDOW, "num_channels": 1278, "temporal_extent": 13, "overlap": 14}

    # overlapped windows (fast path, batched over simulations) == one causal Keras pass over whole simulations
    spikes, soma = evaluation.predict_parsed_files(fast_inference.fast_predict_fn(model, batch_size=5), parsed, WINDOW, 14, 5)
    full = fast_inference.variable_length_model(model).predict(parsed[0].X.astype(np.float32), verbose=0)
    assert np.abs(spikes - full[0][..., 0]).max() < 1e-4
    assert np.abs(soma - full[1][..., 0]).max() < 1e-3

    # our metrics == sklearn's on the same stitched predictions (after soma alignment, from 500 ms on)
    results = evaluation.evaluate_model_on_files(model, architecture, parsed, batch_size=16, verbose=False,
                                                 filter_ranges=[(0, 90)])["evaluations_results_dict"]
    ours = results["starting_at_500ms_spikes_in_[0,90]_range"]
    y_spike = parsed[0].y_spike[:, 500:].ravel()
    assert y_spike.any() and not y_spike.all()
    assert ours["AUC"] == pytest.approx(metrics.roc_auc_score(y_spike, spikes[:, 500:].ravel()), abs=1e-6)
    fpr, tpr, _ = metrics.roc_curve(y_spike, spikes[:, 500:].ravel())
    for fp in (0.001, 0.01, 0.1):
        index = max(1, int(np.argmin(np.abs(fpr - fp))))
        assert ours["TP @ %.4f FP" % fp] == pytest.approx(tpr[index])
    soma_gt = np.minimum(parsed[0].y_soma, -55.0) + 67.7
    aligned = (soma - soma.mean()) / soma.std() * soma_gt.std() + soma_gt.mean()
    assert ours["soma_explained_variance_percent"] == pytest.approx(
        100 * metrics.explained_variance_score(soma_gt[:, 500:].ravel(), aligned[:, 500:].ravel()), rel=1e-4)
    assert ours["soma_RMSE"] == pytest.approx(
        np.sqrt(metrics.mean_squared_error(soma_gt[:, 500:].ravel(), aligned[:, 500:].ravel())), rel=1e-4)


# ---- the authors' Keras-2.2 .h5 layout ------------------------------------------------------------------------

def test_keras2_h5_model_is_evaluated_end_to_end(setup, tmp_path):
    root, _ = setup
    model, architecture = make_network([5, 3], 4, seed=7)
    name = "NMDA_TCN__DxWxT_2x4x7__2019-03-14__13_45__samples_5760000__LogLoss_train_120_valid_130__ID_4242"
    folder = tmp_path / "best_models" / model_files.architecture_folder_name(name)
    folder.mkdir(parents=True)
    write_keras2_h5(model, architecture, str(folder / f"{name}_model.h5"))
    save_pickle(training_dict(architecture, 7), str(folder / f"{name}_training.pickle"))
    with pytest.raises(ValueError, match="lr"):  # what Keras 3 does with the authors' compiled files
        keras.models.load_model(str(folder / f"{name}_model.h5"))

    script = load_script("evaluate_CNN_test.py")
    script.main(["--preset", "smoke", "--models-dir", str(tmp_path / "best_models"), "--data-dir", str(root / "test"),
                 "--synapse-type", "NMDA", "--num-subsets", "4"])
    saved = load_pickle(str(folder / f"{name}_evaluation_test.pickle"))
    assert {"architecture_dict", "training_history_dict", "evaluations_results_dict",
            "list_of_subset_eval_results_dict", "evaluation_info"} <= set(saved)
    assert len(saved["list_of_subset_eval_results_dict"]) == 4
    # the same numbers as the in-memory network it was written from
    parsed = evaluation.load_evaluation_files(str(root / "test"), verbose=False)
    expected = evaluation.evaluate_model_on_files(model, architecture, parsed, verbose=False,
                                                  filter_ranges=[(0, 24), (0, 90)])["evaluations_results_dict"]
    for key, values in expected.items():
        for metric in ("AUC", "TP @ 0.0100 FP", "soma_explained_variance_percent"):
            assert saved["evaluations_results_dict"][key][metric] == pytest.approx(values[metric], abs=1e-5)
    info = saved["evaluation_info"]
    assert "CPU 0" in info["device_report"]["visible"]
    assert info["inference_path"] == ("keras" if devices.uses_gpu(info["device_report"]) else "fast")

    # on a (declared) GPU the evaluation takes Keras predict, with the same numbers; --inference-path overrides
    script.main(["--preset", "smoke", "--models-dir", str(tmp_path / "best_models"), "--data-dir", str(root / "test"),
                 "--synapse-type", "NMDA", "--num-subsets", "4", "--output-dir", str(tmp_path / "gpu")],
                devices=["CPU 0", "GPU 0: Fake GPU"])
    on_gpu = load_pickle(str(tmp_path / "gpu" / f"{name}_evaluation_test.pickle"))
    assert on_gpu["evaluation_info"]["inference_path"] == "keras"
    assert on_gpu["evaluation_info"]["device_report"]["used"] == "GPU 0: Fake GPU"
    for key, values in expected.items():
        for metric in ("AUC", "TP @ 0.0100 FP", "soma_explained_variance_percent"):
            assert on_gpu["evaluations_results_dict"][key][metric] == pytest.approx(values[metric], abs=1e-4)
    with open(tmp_path / "gpu" / "evaluate_CNN_test_run.json") as handle:
        assert json.load(handle)["device_report"]["used"] == "GPU 0: Fake GPU"
    # --skip-evaluated with every network scored: nothing evaluated, the test pickle and the run summary are kept
    summary_before = (tmp_path / "gpu" / "evaluate_CNN_test_run.json").read_text()
    pickle_mtime = (tmp_path / "gpu" / f"{name}_evaluation_test.pickle").stat().st_mtime_ns
    assert script.main(["--preset", "smoke", "--models-dir", str(tmp_path / "best_models"), "--data-dir",
                        str(root / "test"), "--synapse-type", "NMDA", "--output-dir", str(tmp_path / "gpu"),
                        "--skip-evaluated", "true"]) == []
    assert (tmp_path / "gpu" / "evaluate_CNN_test_run.json").read_text() == summary_before
    assert (tmp_path / "gpu" / f"{name}_evaluation_test.pickle").stat().st_mtime_ns == pickle_mtime


# ---- the five scripts in sequence -----------------------------------------------------------------------------

@pytest.mark.slow
def test_five_scripts_in_sequence(setup):
    root, stems = setup
    models_root = root / "models"
    best_dir = models_root / "best_models"
    out = root / "S5"

    # 1. validation evaluation of every model, then nothing left to do on a rerun
    valid = load_script("evaluate_CNN_valid.py")
    evaluated = valid.main(["--preset", "smoke", "--models-dir", str(models_root), "--data-dir", str(root / "valid")])
    assert sorted(s["name"] for s in evaluated) == sorted(stems.values())
    eval_dir = models_root / "NMDA" / model_files.EVAL_RESULTS_FOLDER
    for stem in stems.values():
        result = load_pickle(str(eval_dir / f"{stem}.pickle"))
        assert set(result["evaluations_results_dict"]) == {"starting_at_500ms_spikes_in_[0,24]_range",
                                                           "starting_at_500ms_spikes_in_[0,90]_range"}
        assert "training_history_dict" in result and result["evaluation_info"]["overlap"] == 14
    assert valid.main(["--preset", "smoke", "--models-dir", str(models_root), "--data-dir", str(root / "valid")]) == []

    # 2. results table and the best network per architecture
    explore = load_script("valid_fitting_results_exploration.py")
    summary = explore.main(["--preset", "smoke", "--models-dir", str(models_root), "--data-dir", "",
                            "--output-dir", str(best_dir)])
    assert summary["num_evaluated"] == 3 and summary["num_best"] == 2
    best = pd.read_csv(best_dir / "best_results_valid_2_models.csv")
    aucs = {key: load_pickle(str(eval_dir / f"{stem}.pickle"))["evaluations_results_dict"][
        "starting_at_500ms_spikes_in_[0,24]_range"]["AUC"] for key, stem in stems.items()}
    winner = stems["tcn_a"] if aucs["tcn_a"] >= aucs["tcn_b"] else stems["tcn_b"]
    assert sorted(best[model_selection.FILENAME_COLUMN]) == sorted([stems["fcn"], winner])
    assert list(best[model_selection.NN_TYPE_COLUMN]) == ["FCN", "TCN"]  # sorted by bio type, depth, NN type, ...
    assert best["spikes D prime"].tolist() == pytest.approx([core_metrics.d_prime(a) for a in best["spikes AUC"]])
    for name in ("valid_scatter__NN_depth", "valid_best_vs_complexity__by_type", "valid_best_architectures"):
        assert (best_dir / f"{name}.png").is_file(), name

    # 3. copies into best_models/<arch>/, the evaluation pickle being the validation evaluation (bug fixed)
    saving = load_script("saving_best_valid_CNN_models.py")
    assert len(saving.main(["--models-dir", str(models_root), "--output-dir", str(best_dir)])["copied"]) == 2
    folder = best_dir / model_files.architecture_folder_name(winner)
    assert folder.name == "NMDA_TCN__DxWxT_2x4x7"
    for suffix in ("_model.h5", "_weights.h5", "_json.json", "_training.pickle", "_evaluation.pickle"):
        assert (folder / f"{winner}{suffix}").is_file(), suffix
    assert filecmp.cmp(folder / f"{winner}_evaluation.pickle", eval_dir / f"{winner}.pickle", shallow=False)
    assert filecmp.cmp(folder / f"{winner}_training.pickle", models_root / "NMDA" / f"{winner}.pickle", shallow=False)
    # the weights-only file loads in Keras 3 (legacy h5 reader); the JSON is a JSON string inside JSON
    source = keras.models.load_model(str(models_root / "NMDA" / f"{winner}.keras"), compile=False)
    with open(folder / f"{winner}_json.json") as handle:
        rebuilt = keras.models.model_from_json(json.load(handle))
    rebuilt.load_weights(str(folder / f"{winner}_weights.h5"))
    for a, b in zip(source.get_weights(), rebuilt.get_weights()):
        np.testing.assert_array_equal(a, b)

    # 4. test evaluation with random subsets
    test = load_script("evaluate_CNN_test.py")
    assert len(test.main(["--preset", "smoke", "--models-dir", str(best_dir), "--data-dir", str(root / "test")])) == 2
    result = load_pickle(str(folder / f"{winner}_evaluation_test.pickle"))
    assert len(result["list_of_subset_eval_results_dict"]) == 3
    assert result["evaluation_info"]["num_simulations"] == 6

    # 5. the test table and Figure S5
    s5 = load_script("test_accuracy_vs_complexity.py")
    summary = s5.main(["--preset", "smoke", "--models-dir", str(best_dir), "--output-dir", str(out)])
    table = pd.read_csv(out / "best_results_test_2_models.csv")
    assert {"spikes AUC std of subsets", "soma explained variance % std of subsets"} <= set(table.columns)
    assert table["spikes AUC std of subsets"].gt(0).all()
    assert os.path.getsize(out / "Figure_S5__accuracy_vs_complexity.png") > 20000
    assert summary["num_networks"] == 2


# ---- package helpers ------------------------------------------------------------------------------------------

def test_parse_model_name():
    assert model_files.parse_model_name("AMPA_SK_TCN__DxWxT_4x64x120__2019-03-14__13_45__samples_1__ID_3_model") == {
        "biophysical_model_type": "AMPA_SK", "NN_model_type": "TCN", "NN_depth": 4, "NN_width": 64,
        "NN_input_time_window": 120}
    assert model_files.parse_model_name("NMDA_FCN__DxWxT_1x128x43__2019")["NN_model_type"] == "FCN"
    assert model_files.architecture_folder_name("NMDA_TCN__DxWxT_7x128x153__2019-03-14__13_45__x") == (
        "NMDA_TCN__DxWxT_7x128x153")
    with pytest.raises(ValueError, match="DxWxT"):
        model_files.parse_model_name("NMDA_TCN__something_else")
    assert model_files.matches_synapse_type("AMPA_SK_TCN__x", "AMPA_SK")
    assert not model_files.matches_synapse_type("AMPA_SK_TCN__x", "AMPA")  # AMPA excludes AMPA_SK (§7)


def test_find_model_files_prefers_keras_and_skips_weights(tmp_path):
    for name in ("a.keras", "a.h5", "b.h5", "b_weights.h5", "c.weights.h5", "c.pickle"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d_model.h5").write_bytes(b"")
    assert model_files.find_model_files(str(tmp_path)) == {"a": str(tmp_path / "a.keras"), "b": str(tmp_path / "b.h5")}
    assert model_files.find_model_files(str(tmp_path), include_subfolders=True, name_suffix="_model") == {
        "d": str(tmp_path / "sub" / "d_model.h5")}


def test_complexity_curve_keeps_the_best_so_far():
    x = [1, 2, 2, 3, 4, 5]
    y = [0.90, 0.95, 0.93, 0.94, 0.951, 0.97]
    xs, ys, rows = model_selection.complexity_curve(x, y, maximize=True, min_change_fraction=0.02)
    # cumulative max per x: 0.90, 0.95, 0.95, 0.951, 0.97; 0.951 changes by < 2 % of the 0.07 span
    assert xs.tolist() == [1, 2, 5] and ys.tolist() == [0.90, 0.95, 0.97] and rows.tolist() == [0, 1, 5]
    xs, ys, rows = model_selection.complexity_curve([3, 1, 2], [2.0, 3.0, 1.0], maximize=False,
                                                    min_change_fraction=0.0)
    assert xs.tolist() == [1, 2, 3] and ys.tolist() == [3.0, 1.0, 1.0] and rows.tolist() == [1, 2, 2]


def test_best_per_architecture_and_filters():
    rows = [{"biophysical_model_type": "NMDA", "NN_model_type": "TCN", "NN_depth": 2, "NN_width": 8,
             "NN_input_time_window": 20, "spikes AUC": auc, "soma RMSE": rmse, "spikes D prime": core_metrics.d_prime(auc),
             "soma explained variance %": 80.0, "NN_num_train_samples": 1e5, "full model filename": name}
            for auc, rmse, name in ((0.9, 1.0, "a"), (0.95, 2.0, "b"), (0.55, 0.5, "c"))]
    table = pd.DataFrame(rows)
    assert model_selection.best_per_architecture(table)["full model filename"].tolist() == ["b"]
    assert model_selection.best_per_architecture(table, select_best_auc=False)["full model filename"].tolist() == ["c"]
    assert model_selection.filter_results(table, min_auc=0.6)["full model filename"].tolist() == ["a", "b"]
    assert model_selection.filter_results(table, min_num_train_samples=2e5).empty
