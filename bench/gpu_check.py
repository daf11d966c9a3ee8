"""GPU check (issue 18): how fast does ``fit_CNN.py --preset paper`` train here, and how long would the paper take?

Runs ``fit_CNN.py --preset paper`` for a fixed number of steps on small synthetic dataset files
(tests/synthetic_data.py), each configuration in its own process:

* dense fp32: the GPU's default path (dense first layer on cuDNN, XLA);
* mixed precision: ``--mixed-precision true`` (GPU only);
* mirrored: ``--distribute mirrored`` (only with more than one GPU; each batch of 8 split across them).

On a machine without a GPU it says so and measures the CPU's default path (sparse first layer) instead.
It installs nothing (install requirements-gpu.txt first, see the README's "Training on GPUs") and takes a few
minutes (under 10 on a 2-core CPU).

    python bench/gpu_check.py
    python bench/gpu_check.py --steps-per-epoch 48     # longer, steadier measurement

Each run is 2 learning schedules of 2 Keras epochs of ``steps_per_epoch`` batches, plus validation at the
paper's ratio (half as many batches, forward only). windows/s = training windows of an epoch / the epoch's
wall time (fit + validation), median over the epochs that follow another epoch of the same schedule; the
re-compile overhead of a schedule (tracing, XLA) = the second schedule's first epoch minus that. The paper
preset's wall time is projected for its data (6 files of 128 x 6-s simulations per epoch: 288 batches of 8):
250 schedules x (10 epochs x 288 x 8 windows / windows/s + overhead). The last line is
``gpu_windows_per_s=<dense fp32 | none> mixed_windows_per_s=<mixed | none> projected_paper_hours=<fastest>``.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

# -----------------------------------------------------------------------------
# measurement
fit_preset = "paper"  # [paper | quick | smoke] the fit_CNN.py preset measured
steps_per_epoch = 24  # training batches per Keras epoch (validation: half as many, the paper's ratio)
epochs_per_schedule = 2  # Keras epochs per learning schedule (2 schedules are run)
# synthetic data
sims_per_file = 2  # simulations per synthetic file (2 train files, 1 valid file)
sim_duration_ms = 6000  # per simulation
# the projection: the paper's data
paper_sims_per_file = 128  # simulations per dataset file of the paper's data
paper_sim_duration_ms = 6000  # their duration
# output
work_dir = ""  # synthetic files, models and logs; '' = a temporary folder, removed afterwards
# -----------------------------------------------------------------------------

PRESETS = {"paper": {}, "smoke": {"fit_preset": "smoke", "steps_per_epoch": 2, "sim_duration_ms": 1000}}
NUM_SCHEDULES = 2


def file_load(batches, batch_size, window, sims, duration):
    """fit_CNN's --*-file-load that gives ``batches`` batches per file (int(load * sims * T / (B * W)))."""
    return (batches + 0.5) * batch_size * window / (sims * duration)


def measure(epoch_seconds, train_windows, epochs):
    """(windows/s of the steady epochs, per-schedule overhead in s) from a run's epoch wall times."""
    steady = [t for k, t in enumerate(epoch_seconds) if k % epochs]
    epoch = statistics.median(steady)
    first_epochs = [t for k, t in enumerate(epoch_seconds) if k % epochs == 0]
    overhead = max(0.0, first_epochs[-1] - epoch) if len(first_epochs) > 1 else 0.0
    return train_windows / epoch, overhead


def projected_hours(windows_per_s, overhead_s, fit, p):
    """Wall time of fit_CNN with the preset's schedule on the paper's data, in hours."""
    batches_per_file = int(fit["train_file_load"] * p.paper_sims_per_file * p.paper_sim_duration_ms /
                           (fit["batch_size"] * fit["input_window_size"]))
    windows_per_schedule = fit["num_steps_multiplier"] * fit["train_files_per_epoch"] * batches_per_file * \
        fit["batch_size"]
    return fit["num_schedules"] * (windows_per_schedule / windows_per_s + overhead_s) / 3600.0


def run_fit(p, fit, work, name, extra):
    """One fit_CNN.py run in its own process; returns its run JSON's results (None if it failed)."""
    batch, window = fit["batch_size"], fit["input_window_size"]
    per_file = max(1, p.steps_per_epoch // 2)
    models_dir = os.path.join(work, "models_" + name.replace(" ", "_"))
    command = [sys.executable, os.path.join(ROOT, "fit_CNN.py"), "--preset", p.fit_preset,
               "--train-dir", os.path.join(work, "train"), "--valid-dir", os.path.join(work, "valid"),
               "--models-dir", models_dir, "--parse-cache-dir", os.path.join(work, "parse_cache"),
               "--num-schedules", str(NUM_SCHEDULES), "--num-steps-multiplier", str(p.epochs_per_schedule),
               "--train-files-per-epoch", "2", "--validation-fraction", "0.5", "--progress-bar", "false",
               "--save-final-model", "false",
               "--train-file-load", repr(file_load(per_file, batch, window, p.sims_per_file, p.sim_duration_ms)),
               "--valid-file-load", repr(file_load(per_file, batch, window, p.sims_per_file, p.sim_duration_ms)),
               *extra]
    log_path = os.path.join(work, f"{name.replace(' ', '_')}.log")
    started = time.time()
    with open(log_path, "w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    runs = [os.path.join(models_dir, f) for f in os.listdir(models_dir) if f.startswith("fit_CNN_run__")] \
        if os.path.isdir(models_dir) else []
    if completed.returncode != 0 or len(runs) != 1:
        with open(log_path) as handle:
            tail = handle.read()[-3000:]
        print(f"{name}: fit_CNN.py failed (exit code {completed.returncode}); the end of {log_path}:\n{tail}")
        return None
    with open(runs[0]) as handle:
        results = json.load(handle)["results"]
    results["wall_sec"] = time.time() - started
    return results


def main(argv=None):
    from neuron_as_deep_net.core import devices
    from neuron_as_deep_net.core.config import configure

    p = configure(globals(), PRESETS, argv, description=__doc__)
    started = time.time()
    import fit_CNN
    from synthetic_data import write_synthetic_dataset

    report = devices.setup_devices(set_policy=False).report
    gpus = [label for label in report["visible"] if label.startswith("GPU")]
    fit = dict(fit_CNN._DEFAULTS, **fit_CNN.PRESETS.get(p.fit_preset, {}))
    if not gpus:
        print("no GPU visible to TensorFlow: measuring this machine's CPU path instead (the sparse first layer); "
              "for a GPU, install requirements-gpu.txt on a Linux x86_64 machine with an NVIDIA driver")
    configs = [("dense fp32" if gpus else "CPU", [])]
    if gpus:
        configs.append(("mixed precision", ["--mixed-precision", "true"]))
    if len(gpus) > 1:
        if fit["batch_size"] % len(gpus):
            print(f"mirrored: skipped (a batch of {fit['batch_size']} does not split across {len(gpus)} GPUs)")
        else:
            configs.append((f"mirrored over {len(gpus)} GPUs", ["--distribute", "mirrored"]))

    work = p.work_dir or tempfile.mkdtemp(prefix="gpu_check_")
    try:
        t0 = time.time()
        for folder, seeds in (("train", (0, 1)), ("valid", (100,))):
            for seed in seeds:
                write_synthetic_dataset(os.path.join(work, folder), p.sims_per_file, p.sim_duration_ms, seed)
        print(f"synthetic files ({p.sims_per_file} x {p.sim_duration_ms} ms each) written in "
              f"{time.time() - t0:.0f} s; each run: {NUM_SCHEDULES} schedules x {p.epochs_per_schedule} epochs x "
              f"{p.steps_per_epoch} batches of {fit['batch_size']}, fit_CNN.py --preset {p.fit_preset}", flush=True)
        rates, hours = {}, {}
        for name, extra in configs:
            results = run_fit(p, fit, work, name, extra)
            if results is None:
                continue
            rate, overhead = measure(results["epoch_seconds"], results["train_windows_per_epoch"],
                                     p.epochs_per_schedule)
            rates[name], hours[name] = rate, projected_hours(rate, overhead, fit, p)
            print(f"{name}: {rate:.1f} windows/s (layer_1 {results['first_layer']}, XLA "
                  f"{'on' if results['jit_compile'] else 'off'}, {results['device_report']['used']}, "
                  f"{results['device_report']['strategy']}); re-compile overhead {overhead:.1f} s per schedule; "
                  f"projected fit_CNN.py --preset {p.fit_preset} on the paper's data: {hours[name]:.1f} h "
                  f"(run took {results['wall_sec']:.0f} s)", flush=True)
    finally:
        if not p.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    def value(name):
        return f"{rates[name]:.1f}" if name in rates else "none"

    fastest = min(hours, key=hours.get) if hours else None
    if fastest:
        print(f"fastest: {fastest}; check took {time.time() - started:.0f} s")
    print(f"gpu_windows_per_s={value('dense fp32')} mixed_windows_per_s={value('mixed precision')} "
          f"projected_paper_hours={f'{hours[fastest]:.1f}' if fastest else 'none'}")
    return {"rates": rates, "hours": hours, "ok": len(rates) == len(configs)}


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
