"""l5pc_depth_sweep.py (issue 21): one recipe for every depth, names, resume, the table, the learning curve."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, needs_morphology

sys.path.insert(0, ROOT)
import l5pc_depth_sweep as sweep  # noqa: E402

from neuron_as_deep_net.core.config import configure  # noqa: E402
from neuron_as_deep_net.l5pc import learning_curve as lc  # noqa: E402
from neuron_as_deep_net.l5pc import model_selection as ms  # noqa: E402


def params(argv=()):
    return configure(dict(sweep._DEFAULTS), sweep.PRESETS, list(argv), verbose=False)


def option(command, flag):
    return command[command.index(flag) + 1]


def test_laptop_sweep_architectures_and_one_recipe(tmp_path):
    p = params(["--output-dir", str(tmp_path)])
    assert p.depths == [1, 2, 3, 5, 7] and p.synapse_types == ["NMDA", "AMPA"]
    assert [sweep.receptive_field(p, d) for d in p.depths] == [43, 61, 79, 115, 151]
    commands = {d: sweep.fit_command(p, "NMDA", d, "TRAIN", sweep.network_dir(p, "NMDA", d)) for d in p.depths}
    assert option(commands[1], "--filter-sizes") == "43" and option(commands[7], "--filter-sizes") == "43,19,19,19,19,19,19"
    # everything but the architecture and the folder is the same for every depth (same recipe, data, budget)
    recipe = [[part for k, part in enumerate(c) if k == 0 or c[k - 1] not in ("--filter-sizes", "--models-dir")]
              for c in commands.values()]
    assert all(r == recipe[0] for r in recipe)
    assert option(commands[3], "--num-filters") == "64" and "--resume" in commands[3]
    assert option(commands[5], "--parse-cache-dir") == os.path.join(str(tmp_path), "data", ".parsed_cache")
    assert sweep.network_dir(p, "AMPA", 5).endswith(os.path.join("models", "AMPA", "depth_5"))
    assert sweep.network_dir(p, "NMDA", 7, 0.25).endswith(os.path.join("learning_curve", "NMDA_depth_7__train_0.25"))


def test_finished_runs_are_reused_and_unfinished_ones_resume(tmp_path, monkeypatch):
    p = params(["--output-dir", str(tmp_path)])
    folder = sweep.network_dir(p, "NMDA", 2)
    os.makedirs(folder)
    calls = []
    monkeypatch.setattr(sweep, "run", lambda command, log: calls.append(command))
    with open(os.path.join(folder, "fit_CNN_run__x.json"), "w") as handle:  # an interrupted run
        json.dump({"results": {"finished": False, "saved_models": []}}, handle)
    sweep.train_network(p, "NMDA", 2, "TRAIN", folder, "NMDA depth 2")
    assert len(calls) == 1 and calls[0][0] == "fit_CNN.py" and "--resume" in calls[0]
    with open(os.path.join(folder, "fit_CNN_run__x.json"), "w") as handle:  # now finished
        json.dump({"results": {"finished": True, "saved_models": ["a", "b"]}}, handle)
    assert sweep.train_network(p, "NMDA", 2, "TRAIN", folder, "NMDA depth 2")["saved_models"] == ["a", "b"]
    assert len(calls) == 1


def test_selection_and_test_read_the_training_parse_cache(tmp_path, monkeypatch):
    p = params(["--output-dir", str(tmp_path)])
    commands = []
    monkeypatch.setattr(sweep, "run_argv", lambda argv, log: commands.append(argv))
    monkeypatch.setattr(sweep, "run", lambda command, log: commands.append(command))
    (tmp_path / "best").mkdir()
    sweep.select_checkpoints(p, str(tmp_path / "models" / "NMDA"), str(tmp_path / "best"), "NMDA", "select")
    sweep.test_networks(p, str(tmp_path / "best"), "NMDA", str(tmp_path / "test"), "test")
    cache = os.path.join(str(tmp_path), "data", ".parsed_cache")
    scripts = [os.path.basename(next(part for part in c if str(part).endswith(".py"))) for c in commands]
    assert scripts == ["evaluate_CNN_valid.py", "valid_fitting_results_exploration.py",
                       "saving_best_valid_CNN_models.py", "evaluate_CNN_test.py"]
    assert option(commands[0], "--parse-cache-dir") == cache and option(commands[3], "--parse-cache-dir") == cache
    assert "--parse-cache-dir" not in commands[1] + commands[2]


def test_power_law_fit_and_projection():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    auc = 1.0 - 0.5 * n ** -0.4
    fit = lc.fit_power_law(n, auc)
    assert fit["a"] == pytest.approx(0.5) and fit["b"] == pytest.approx(0.4) and fit["num_points"] == 4
    assert lc.projected_auc(fit, 38400.0) == pytest.approx(1.0 - 0.5 * 38400.0 ** -0.4)
    assert lc.fit_power_law([100.0], [0.9]) is None and lc.fit_power_law([1.0, 2.0], [1.0, 1.0]) is None
    assert lc.fit_power_law([100.0, 200.0], [0.9, 0.8]) is None  # worse with more data: no projection


def test_what_limits():
    rising = [{"train_sim_sec": 100, "AUC": 0.90}, {"train_sim_sec": 200, "AUC": 0.93}]
    flat = [{"train_sim_sec": 100, "AUC": 0.930}, {"train_sim_sec": 200, "AUC": 0.931}]
    falling_loss = list(np.linspace(0.1, 0.05, 20))
    flat_loss = [0.1] * 10 + [0.08] * 10
    assert lc.what_limits(rising, [None, falling_loss])["verdict"] == "data and steps"
    assert lc.what_limits(rising, [None, flat_loss])["verdict"] == "data"
    assert lc.what_limits(flat, [None, falling_loss])["verdict"] == "steps"
    assert lc.what_limits(flat, [None, flat_loss])["verdict"].startswith("neither")
    assert lc.still_improving([0.1, 0.09]) is None  # too short to tell


def test_best_valid_model_is_chosen_on_the_validation_table(tmp_path):
    names = ["NMDA_TCN__DxWxT_2x4x7__a__ID_1", "NMDA_FCN__DxWxT_1x4x5__b__ID_2", "AMPA_FCN__DxWxT_1x4x5__c__ID_3"]
    pd.DataFrame({ms.FILENAME_COLUMN: names, "spikes AUC": [0.80, 0.85, 0.99]}).to_csv(
        tmp_path / "best_results_valid_3_models.csv", index=False)
    for name in names:
        folder = tmp_path / name.split("__")[1]
        folder.mkdir(exist_ok=True)
        (folder / f"{name}_model.h5").write_bytes(b"")
    name, path = ms.best_valid_model(str(tmp_path), "NMDA")
    assert name == names[1] and path.endswith(f"{names[1]}_model.h5")
    assert ms.best_valid_model(str(tmp_path), "AMPA")[0] == names[2]
    with pytest.raises(FileNotFoundError, match="best_results_valid"):
        ms.best_valid_model(str(tmp_path / "nowhere"), "NMDA")


@pytest.mark.slow
@pytest.mark.neuron
@needs_morphology
def test_smoke_sweep_end_to_end_and_resume(tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, "l5pc_depth_sweep.py", "--preset", "smoke", "--output-dir", str(out)]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    with open(out / "depth_sweep.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:9] == ["synapse_type", "depth", "width", "T", "num_params", "AUC", "TP @ 0.0025 FP",
                                 "soma_explained_variance_percent", "soma_RMSE"]
    assert [(r["synapse_type"], int(r["depth"]), int(r["T"])) for r in rows] == [
        ("NMDA", 1, 5), ("NMDA", 2, 7), ("AMPA", 1, 5), ("AMPA", 2, 7)]
    assert all(0.0 <= float(r["AUC"]) <= 1.0 and int(r["num_params"]) > 0 for r in rows)
    assert rows[0]["model"].startswith("NMDA_FCN__DxWxT_1x4x5__") and rows[1]["model"].startswith("NMDA_TCN__DxWxT_2x4x7__")
    for figure in ("depth_sweep.png", "learning_curve.png", "S5/Figure_S5__accuracy_vs_complexity.png"):
        assert (out / figure).is_file(), figure
    summary = json.load(open(out / "depth_sweep.json"))
    chosen = summary["selected_NMDA_network"]
    assert chosen in {r["model"] for r in rows if r["synapse_type"] == "NMDA"}
    assert chosen == max((r for r in rows if r["synapse_type"] == "NMDA"), key=lambda r: float(r["valid_AUC"]))["model"]
    assert [p["fraction"] for p in summary["learning_curve"]["points"]] == [0.5, 1.0]
    # the parsed dataset files are cached once for every network and step (training, selection, test), not once per
    # network or models folder
    assert [str(c.relative_to(out)) for c in out.rglob(".parsed_cache")] == [os.path.join("data", ".parsed_cache")]
    # run again: every network and dataset is reused, the table is the same
    second = subprocess.run(command + ["--steps", "data,train,test"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert second.stdout.count("finished earlier") == 4 and "learning schedule 1/" not in second.stdout
    assert second.stdout.count("the dataset file already exists") == 8
    # and the test step does not score the same networks again
    assert second.stdout.count("were evaluated on the test files earlier, kept") == 2
    assert "evaluate_CNN_test.py" not in second.stdout
    with open(out / "depth_sweep.csv", newline="") as handle:
        assert [r["model"] for r in csv.DictReader(handle)] == [r["model"] for r in rows]
    # the learning curve's network, selected and tested earlier, is neither selected nor scored again
    third = subprocess.run(command + ["--steps", "learning_curve"], cwd=ROOT, capture_output=True, text=True,
                           timeout=900)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert "evaluate_CNN_valid.py" not in third.stdout and "evaluate_CNN_test.py" not in third.stdout
    assert third.stdout.count("were evaluated on the test files earlier, kept") == 1
    again = json.load(open(out / "depth_sweep.json"))["learning_curve"]["points"]
    assert [(q["fraction"], q["AUC"]) for q in again] == [(q["fraction"], q["AUC"]) for q in summary["learning_curve"]["points"]]


def test_reproduce_draws_figures_for_the_network_chosen_on_validation(tmp_path):
    import reproduce

    best = tmp_path / "l5pc_evaluation" / "best_models"
    names = ["NMDA_TCN__DxWxT_2x16x31__a__ID_1", "NMDA_FCN__DxWxT_1x16x21__b__ID_2"]
    best.mkdir(parents=True)
    pd.DataFrame({ms.FILENAME_COLUMN: names, "spikes AUC": [0.83, 0.79]}).to_csv(
        best / "best_results_valid_2_models.csv", index=False)
    for name in names:
        (best / name.split("__")[1]).mkdir()
        (best / name.split("__")[1] / f"{name}_model.h5").write_bytes(b"")
    p = configure(dict(vars(reproduce)), reproduce.PRESETS, ["--output-dir", str(tmp_path)], verbose=False)
    commands = reproduce.l5pc_figures_stage(p, str(tmp_path / "l5pc_figures"))["commands"]
    assert commands[1][commands[1].index("--model") + 1].endswith(f"{names[0]}_model.h5")
    laptop = configure(dict(vars(reproduce)), reproduce.PRESETS, ["--preset", "laptop", "--output-dir", str(tmp_path)],
                       verbose=False)
    assert laptop.stages[-1] == "l5pc_depth"
    depth_command = reproduce.l5pc_depth_stage(laptop, str(tmp_path / "l5pc_depth"))["commands"][0]
    assert depth_command[1].endswith("l5pc_depth_sweep.py") and depth_command[depth_command.index("--preset") + 1] == "laptop"
