"""Devices (issue 18): the report, the install check, the path chosen per device, mixed precision, mirrored training.

A GPU is declared by injecting the device list; mirrored training runs over two logical CPU devices in a
subprocess (logical devices must be configured before TensorFlow initialises).
"""

import glob
import json
import os
import re
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from synthetic_data import write_train_valid_folders

import fit_CNN
from neuron_as_deep_net.core import devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_GPU = ["CPU 0", "GPU 0: Fake GPU 80GB"]
CPU_ONLY = ["CPU 0"]


# ---------------------------------------------------------------------------------------------------------
# report and install check
# ---------------------------------------------------------------------------------------------------------

def test_device_report_with_an_injected_gpu_and_without():
    report = devices.device_report(FAKE_GPU)
    assert report == {"visible": ["CPU 0", "GPU 0: Fake GPU 80GB"], "used": "GPU 0: Fake GPU 80GB",
                      "mixed_precision": False, "strategy": "none"}
    assert devices.uses_gpu(report)
    cpu = devices.device_report(CPU_ONLY, num_replicas=2)
    assert cpu["used"] == devices.NO_GPU == "CPU (no GPU visible)" and not devices.uses_gpu(cpu)
    assert cpu["strategy"] == "mirrored (2 replicas)"
    assert devices.format_report(report) == ("devices: CPU 0, GPU 0: Fake GPU 80GB visible; using GPU 0: Fake GPU "
                                             "80GB; mixed precision off; strategy none")
    assert [devices.parse_device(text).label for text in ("GPU:1", "/physical_device:GPU:0", "cpu 0")] == [
        "GPU 1", "GPU 0", "CPU 0"]
    with pytest.raises(ValueError, match="not a device"):
        devices.parse_device("TPU 0")


def test_device_report_of_this_machine_is_printed_once(capsys):
    import tensorflow as tf

    report = devices.device_report()
    assert "CPU 0" in report["visible"]
    gpus = tf.config.list_physical_devices("GPU")
    assert devices.uses_gpu(report) == bool(gpus) and (gpus or report["used"] == devices.NO_GPU)
    devices._printed.clear()
    first = devices.setup_devices(CPU_ONLY)
    again = devices.setup_devices(CPU_ONLY)
    assert first.report == again.report and first.strategy is None and not first.gpu
    assert capsys.readouterr().out.count("devices: CPU 0 visible; using CPU (no GPU visible)") == 1


class FakeDistribution:
    def __init__(self, name):
        self.metadata = {"Name": name}


def test_two_tensorflow_wheels_are_one_clear_error(monkeypatch, tmp_path):
    assert devices.installed_tensorflow_wheels(["numpy", "tensorflow_cpu", "keras"]) == ["tensorflow-cpu"]
    assert devices.check_single_tensorflow(["tensorflow", "tensorflow-intel"]) == ["tensorflow"]  # Windows' parts
    with pytest.raises(RuntimeError) as error:
        devices.check_single_tensorflow(["tensorflow-cpu", "tensorflow", "numpy"])
    message = str(error.value)
    assert "\n" not in message and "2 TensorFlow wheels are installed (tensorflow, tensorflow-cpu)" in message
    assert "pip uninstall -y tensorflow tensorflow-cpu" in message
    assert "-r requirements.txt" in message and "-r requirements-gpu.txt" in message
    # what every script runs first, with the installed distributions injected
    monkeypatch.setattr(devices.importlib.metadata, "distributions",
                        lambda: [FakeDistribution(name) for name in ("keras", "tensorflow_cpu", "tensorflow")])
    with pytest.raises(RuntimeError, match="uninstall -y tensorflow tensorflow-cpu"):
        devices.setup_devices(FAKE_GPU)
    with pytest.raises(RuntimeError, match="reinstall ONE requirements file"):
        fit_CNN.main(["--preset", "smoke", "--train-dir", str(tmp_path), "--valid-dir", str(tmp_path)],
                     devices=FAKE_GPU)


# ---------------------------------------------------------------------------------------------------------
# the path per device
# ---------------------------------------------------------------------------------------------------------

def test_first_layer_and_xla_are_chosen_per_device():
    cpu, gpu = devices.device_report(CPU_ONLY), devices.device_report(FAKE_GPU)
    params = types.SimpleNamespace(sparse_first_layer=fit_CNN._DEFAULTS["sparse_first_layer"],
                                   jit_compile=fit_CNN._DEFAULTS["jit_compile"])
    assert params.sparse_first_layer == params.jit_compile == "auto"
    assert fit_CNN.device_plan(params, cpu) == (True, False)  # sparse layer_1, no XLA
    assert fit_CNN.device_plan(params, gpu) == (False, True)  # cuDNN Conv1D, XLA
    assert fit_CNN.device_plan(params, gpu, distributed=True) == (False, False)  # Keras: no XLA under a strategy
    # explicit choices override (the command line gives strings, Python callers may give booleans)
    for value, expected in (("true", True), ("false", False), (True, True), (False, False)):
        assert devices.resolve_first_layer(value, cpu) is expected
        assert devices.resolve_first_layer(value, gpu) is expected
    assert devices.resolve_jit_compile("false", gpu, sparse_first_layer=False) is False
    assert devices.resolve_jit_compile("true", cpu, sparse_first_layer=False) is True
    with pytest.raises(ValueError, match="dense first layer"):
        devices.resolve_jit_compile("true", gpu, sparse_first_layer=True)
    with pytest.raises(ValueError, match="auto | true | false"):
        devices.resolve_first_layer("sometimes", cpu)
    # inference: the sparse/FFT fast path on a CPU, Keras predict on a GPU
    assert devices.resolve_inference_path("auto", cpu) == "fast"
    assert devices.resolve_inference_path("auto", gpu) == "keras"
    assert devices.resolve_inference_path("keras", cpu) == "keras"
    assert devices.resolve_inference_path("fast", gpu) == "fast"
    with pytest.raises(ValueError, match="Keras predict"):
        devices.resolve_inference_path("fast", gpu, mixed_precision=True)


def test_mixed_precision_is_refused_on_a_cpu(tmp_path):
    with pytest.raises(ValueError) as error:
        devices.setup_devices(CPU_ONLY, mixed_precision=True)
    assert "\n" not in str(error.value) and "needs a GPU" in str(error.value)
    with pytest.raises(ValueError, match="--mixed-precision true needs a GPU"):  # before any data is read
        fit_CNN.main(["--preset", "smoke", "--mixed-precision", "true", "--train-dir", str(tmp_path),
                      "--valid-dir", str(tmp_path)], devices=CPU_ONLY)  # an empty folder: no data file is read
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mixed_precision_policy_heads_and_inference_clone():
    from neuron_as_deep_net.core import fast_inference
    from neuron_as_deep_net.l5pc import networks

    architecture = networks.make_architecture_dict([5, 3], 6, input_window_size=40)
    try:
        setup = devices.setup_devices(FAKE_GPU, mixed_precision=True, log=None)
        assert setup.report["mixed_precision"] and keras.mixed_precision.global_policy().name == "mixed_float16"
        mixed = networks.build_tcn(architecture, num_segments=12, num_DVT_components=3)
    finally:
        devices.set_mixed_precision(False)
    assert mixed.get_layer("layer_1").compute_dtype == "float16"
    assert mixed.get_layer("layer_1").kernel.dtype == "float32"
    assert all(mixed.get_layer(name).compute_dtype == "float32" for name in ("spikes", "somatic", "dendritic"))

    model = fast_inference.randomize_model_weights(
        networks.build_tcn(architecture, num_segments=12, num_DVT_components=3), seed=1)
    clone = devices.mixed_precision_clone(model)
    assert clone.get_layer("layer_2").compute_dtype == "float16"
    assert clone.get_layer("spikes").compute_dtype == "float32"
    assert model.get_layer("layer_2").compute_dtype == "float32"  # the original is untouched
    x = (np.random.default_rng(0).random((2, 40, 12)) < 0.1).astype(np.float32)
    for full, half in zip(model.predict(x, verbose=0), clone.predict(x, verbose=0)):
        assert half.dtype == np.float32 and np.allclose(full, half, atol=0.05 * (np.abs(full).max() + 1))


def test_synchronized_batch_norm_is_restored_and_the_batch_must_split():
    from neuron_as_deep_net.l5pc import networks

    model = networks.build_tcn(networks.make_architecture_dict([3], 2, input_window_size=10), num_segments=4,
                               num_DVT_components=1)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    with devices.synchronized_batch_norm(model):
        assert all(layer.synchronized for layer in norms)
    assert not any(layer.synchronized for layer in norms)
    devices.check_batch_split(8, 2)
    with pytest.raises(ValueError, match="does not split evenly across 3 replicas"):
        devices.check_batch_split(8, 3)
    with pytest.raises(ValueError, match="none | mirrored"):
        devices.make_strategy("parameter_server")


# ---------------------------------------------------------------------------------------------------------
# fit_CNN on the device paths
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_train_valid_folders(tmp_path_factory.mktemp("devices"))


def short_run(data, *extra):
    """fit_CNN's smoke preset cut to one schedule of one Keras epoch of 3 steps (3 x 4 windows)."""
    return ["--preset", "smoke", "--train-dir", str(data / "train"), "--valid-dir", str(data / "valid"),
            "--num-schedules", "1", "--num-steps-multiplier", "1", "--train-files-per-epoch", "1",
            "--train-file-load", "0.33", *extra]


@pytest.mark.slow
def test_fit_cnn_on_a_declared_gpu_trains_the_dense_xla_path(data):
    results = fit_CNN.main(short_run(data, "--models-dir", str(data / "gpu")), devices=FAKE_GPU)
    assert results["first_layer"] == "dense Conv1D" and results["jit_compile"] is True
    assert results["device_report"]["used"] == "GPU 0: Fake GPU 80GB"
    assert results["num_train_windows"] == 3 * 4 and len(results["epoch_seconds"]) == 1
    (run_json,) = glob.glob(str(data / "gpu" / "fit_CNN_run__*.json"))
    with open(run_json) as handle:
        recorded = json.load(handle)["results"]
    assert recorded["device_report"] == results["device_report"] and recorded["first_layer"] == "dense Conv1D"
    saved = results["saved_models"][-1]
    from neuron_as_deep_net.core.files import load_pickle

    assert load_pickle(str(data / "gpu" / saved) + ".pickle")["device_report"]["used"] == "GPU 0: Fake GPU 80GB"


MIRRORED_RUNS = """
import glob, json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import fit_CNN
out = {}
for mode in ("none", "mirrored"):
    models_dir = sys.argv[1] + "/" + mode
    results = fit_CNN.main(json.loads(sys.argv[2]) + ["--models-dir", models_dir, "--distribute", mode])
    (path,) = glob.glob(models_dir + "/*.keras")
    weights = keras.models.load_model(path, compile=False).get_weights()
    out[mode] = {"report": results["device_report"], "loss": results["last_loss"],
                 "val_spikes_loss": results["last_val_spikes_loss"], "windows": results["num_train_windows"],
                 "weights": [w.tolist() for w in weights]}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_equals_one_device(data, tmp_path):
    # 3 steps of 4 windows (2 per replica), LegacyNadam at 1e-3 (Nadam normalises tiny gradients, so summation
    # order differences scale with the learning rate: ~3e-5 at the smoke preset's 1e-2)
    argv = short_run(data, "--learning-rate-per-stage", "1e-3,1e-3,1e-3,1e-3,1e-3")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    completed = subprocess.run([sys.executable, "-c", MIRRORED_RUNS, str(tmp_path), json.dumps(argv)], cwd=ROOT,
                               capture_output=True, text=True, env=env, timeout=900, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    runs = json.loads(line[len("RESULT "):])
    single, mirrored = runs["none"], runs["mirrored"]
    assert single["report"]["strategy"] == "none" and mirrored["report"]["strategy"] == "mirrored (2 replicas)"
    assert single["windows"] == mirrored["windows"] == 3 * 4
    assert abs(single["loss"] - mirrored["loss"]) < 1e-5
    assert abs(single["val_spikes_loss"] - mirrored["val_spikes_loss"]) < 1e-5
    differences = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(single["weights"], mirrored["weights"])]
    assert len(differences) == 18 and max(differences) < 1e-5


def test_requirements_files_share_the_base_and_differ_only_in_tensorflow():
    def lines(name):
        with open(os.path.join(ROOT, name)) as handle:
            return [line.strip() for line in handle if line.strip() and not line.startswith("#")]

    base, cpu, gpu = (lines(name) for name in ("requirements-base.txt", "requirements.txt", "requirements-gpu.txt"))
    assert not [line for line in base if "tensorflow" in line] and "keras>=3.0" in base
    assert cpu == ["-r requirements-base.txt", 'tensorflow-cpu>=2.16; platform_machine == "x86_64"',
                   'tensorflow>=2.16; platform_machine != "x86_64"']
    assert gpu == ["-r requirements-base.txt", "tensorflow[and-cuda]>=2.16"]


# ---------------------------------------------------------------------------------------------------------
# bench/gpu_check.py
# ---------------------------------------------------------------------------------------------------------

def load_gpu_check():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check_under_test", os.path.join(ROOT, "bench", "gpu_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_projection_of_the_paper_preset():
    check = load_gpu_check()
    fit = dict(fit_CNN._DEFAULTS, **fit_CNN.PRESETS["paper"])
    params = types.SimpleNamespace(paper_sims_per_file=128, paper_sim_duration_ms=6000)
    # 250 schedules x 10 epochs x 288 batches x 8 windows = 5.76 M windows: the issue's ~90 h at 18 windows/s
    assert check.projected_hours(18.0, 0.0, fit, params) == pytest.approx(250 * 10 * 288 * 8 / 18 / 3600)
    assert check.projected_hours(18.0, 36.0, fit, params) == pytest.approx(88.889 + 2.5, abs=1e-3)
    # epochs [schedule 1: first, steady, schedule 2: first, steady]: steady = median of the 2nd epochs
    assert check.measure([30.0, 10.0, 14.0, 12.0], 192, 2) == (192 / 11.0, 3.0)
    # the file loads give the wanted number of batches per file (fit_CNN's int(load * sims * T / (B * W)))
    for batches in (1, 12, 48):
        load = check.file_load(batches, 8, 400, 2, 6000)
        assert int(load * 2 * 6000 / (8 * 400)) == batches


@pytest.mark.slow
def test_gpu_check_says_so_on_a_cpu_and_ends_with_its_line(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu_check.py"), "--preset", "smoke",
                                "--work-dir", str(tmp_path)], capture_output=True, text=True, env=env, cwd=ROOT,
                               timeout=900, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    last = completed.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"gpu_windows_per_s=(none|[\d.]+) mixed_windows_per_s=(none|[\d.]+) "
                         r"projected_paper_hours=([\d.]+)", last)
    assert match, last
    assert float(match.group(3)) > 0
    (report_line,) = [line for line in completed.stdout.splitlines() if line.startswith("devices: ")]
    if "using CPU (no GPU visible)" in report_line:
        assert "no GPU visible to TensorFlow" in completed.stdout
        assert match.group(1) == match.group(2) == "none"
    assert glob.glob(str(tmp_path / "models_*" / "fit_CNN_run__*.json"))  # installs nothing, writes only here
