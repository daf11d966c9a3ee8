"""Smoke tests of the top-level scripts (run end to end on tiny presets)."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(name):
    """Import a top-level script as a fresh module (configure() writes into the module's globals)."""
    spec = importlib.util.spec_from_file_location(name.replace(".py", "") + "_under_test", os.path.join(ROOT, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IF_RESULT_KEYS = [
    "AUC", "TP @ 0.0020 FP", "soma_explained_variance_percent", "soma_RMSE", "train_exc_input_rate_hz",
    "train_inh_input_rate_hz", "train_output_rate_hz", "test_output_rate_hz", "train_ISI_CV",
    "num_simulations_train", "num_simulations_test", "random_seed", "runtime_sec",
]
IF_FIGURE_PREFIXES = ["figure1B spike predictions", "figure1C voltage predictions", "figure1D learned_weights",
                      "figure1_full_figure_v3"]


@pytest.mark.slow
def test_integrate_and_fire_script_smoke(tmp_path):
    script = load_script("integrate_and_fire_figure_replication.py")
    assert script.PRESETS["smoke"]["num_simulations_test"] != 6  # so the override below is visible
    out = tmp_path / "IF"
    returned = script.main(["--preset", "smoke", "--num-simulations-test", "6", "--output-dir", str(out)])
    assert isinstance(returned, dict)

    with open(out / "results.json") as handle:
        results = json.load(handle)
    for key in IF_RESULT_KEYS:
        assert key in results, key
    # the explicit override beats the preset; the preset's other values apply
    assert results["num_simulations_test"] == 6
    assert results["num_simulations_train"] == script.PRESETS["smoke"]["num_simulations_train"]
    assert results["random_seed"] == 1234
    assert returned["num_simulations_test"] == 6
    assert 0.0 <= results["AUC"] <= 1.0
    assert 0.0 <= results["TP @ 0.0020 FP"] <= 1.0
    # input statistics of spec §5 (3.1 and 3.06 Hz expected; few sims, so loose bounds)
    assert 2.0 < results["train_exc_input_rate_hz"] < 4.5
    assert 2.0 < results["train_inh_input_rate_hz"] < 4.5
    assert results["train_output_rate_hz"] > 0.0
    assert results["runtime_sec"] > 0.0
    assert "CPU 0" in results["device_report"]["visible"]  # the device report is recorded
    assert results["inference_path"] == ("keras" if results["device_report"]["used"].startswith("GPU") else "fast")

    with open(out / "params.json") as handle:
        params = json.load(handle)
    assert params["num_simulations_test"] == 6 and params["preset"] == "smoke"

    pngs = [name for name in os.listdir(out) if name.endswith(".png")]
    for prefix in IF_FIGURE_PREFIXES:
        matches = [name for name in pngs if name.startswith(prefix)]
        assert len(matches) == 1, (prefix, pngs)
        assert os.path.getsize(out / matches[0]) > 10000
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]
