"""Testing a ball-and-stick twin (ball_and_stick.md §4 "Evaluation"): one long window per test file."""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from ..core.metrics import FIGURE_DESIRED_FP, _regression_metrics, roc, tp_at_fp, tp_key
from .training import scale_ball_and_stick_batch, unscale_ball_and_stick_outputs


# ----------------------------------------------------------------------------------------------------------
# Ball-and-stick twins (ball_and_stick.md §4 "Evaluation"): one long window per test file
# ----------------------------------------------------------------------------------------------------------

BS_TEST_WINDOW_MS = 8128
BS_TEST_START_RANGE_MS = (16, 48)  # random start in [16, 47]
BS_TEST_SOMA_CLIP_MV = (-90.0, -57.0)
BS_TEST_BRANCH_CLIP_MV = (-90.0, 5.0)


def evaluate_ball_and_stick_twin(model, test_arrays, window_ms=BS_TEST_WINDOW_MS, seed=0, batch_size=4,
                                 desired_fp=FIGURE_DESIRED_FP) -> tuple[dict, dict]:
    """Test metrics of a twin: spike AUC and TP @ desired_fp (pooled over all bins of all files), the same for
    near-spike, and explained variance / RMSE / MAE of soma (mV, GT clipped to [-90, -57]), rate (spikes/ms)
    and branch voltages (mV, GT clipped to [-90, 5]). Returns (results, predictions dict)."""
    num_sims, num_ms = test_arrays["spikes"].shape
    window_ms = min(int(window_ms), num_ms - BS_TEST_START_RANGE_MS[0])
    rng = np.random.default_rng(seed)
    starts = rng.integers(BS_TEST_START_RANGE_MS[0], min(BS_TEST_START_RANGE_MS[1], num_ms - window_ms + 1),
                          size=num_sims)
    times = starts[:, None] + np.arange(window_ms)
    batch = {key: test_arrays[key][np.arange(num_sims)[:, None], times]
             for key in ("inputs", "spikes", "soma_v", "near_spike", "inst_rate", "branch_v")}
    x, _ = scale_ball_and_stick_batch(batch)
    predictions = unscale_ball_and_stick_outputs(model.predict(x, batch_size=batch_size, verbose=0))
    results = {}
    for name, gt in (("spikes", batch["spikes"]), ("near_spike", batch["near_spike"])):
        fpr, tpr, _ = roc(gt, predictions[name])
        prefix = "" if name == "spikes" else "near_spike_"
        results[f"{prefix}AUC"] = float(metrics.auc(fpr, tpr))
        results[f"{prefix}{tp_key(desired_fp)}"] = tp_at_fp(fpr, tpr, desired_fp)
    results.update(_regression_metrics("soma", np.clip(batch["soma_v"], *BS_TEST_SOMA_CLIP_MV), predictions["soma"]))
    results.update(_regression_metrics("inst_rate", batch["inst_rate"], predictions["inst_rate"]))
    results.update(_regression_metrics("branch_v", np.clip(batch["branch_v"].astype(np.float64),
                                                           *BS_TEST_BRANCH_CLIP_MV), predictions["branch_v"]))
    results["num_test_files"] = int(num_sims)
    results["num_test_spikes"] = int(batch["spikes"].sum())
    predictions["ground_truth"] = batch
    return results, predictions


# ----------------------------------------------------------------------------------------------------------
# Inference cost of one twin (compare_twin_architectures.py), meant to run in a fresh process
# ----------------------------------------------------------------------------------------------------------

def _memory_status_mb():
    """The process's current and peak resident memory (MB) from /proc/self/status (Linux), or None."""
    try:
        with open("/proc/self/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if line.startswith(("VmRSS", "VmHWM")))
        return float(fields["VmRSS"].split()[0]) / 1024.0, float(fields["VmHWM"].split()[0]) / 1024.0
    except (OSError, KeyError, ValueError):
        return None


def _reset_peak_memory():
    """Reset the process's peak resident memory to its current value (Linux: /proc/self/clear_refs); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def inference_cost(run_dir, x, repeats=5, jit_compile=False) -> dict:
    """Median wall time (ms) of one forward pass over the batch ``x`` after a warm-up call, and the inference
    memory (MB): the peak resident memory of loading the twin from ``run_dir`` and running it, above the memory the
    process held before (Keras imported, ``x`` loaded). The peak is measured by resetting the process's
    high-water mark first (Linux); elsewhere the memory is None. jit_compile: the forward pass XLA-compiled (its
    compilation happens in the warm-up call) or not. Meant for a fresh process per twin."""
    import time

    import keras  # noqa: F401  (imported before the baseline, so the framework itself is not counted)

    from .training import load_ball_and_stick_twin

    before = _memory_status_mb() if _reset_peak_memory() else None  # (current, peak) MB, or None off Linux
    baseline_mb = before[0] if before else None
    model = load_ball_and_stick_twin(run_dir)
    model.jit_compile = bool(jit_compile)
    model.predict_on_batch(x)  # warm-up: tracing (and XLA compilation)
    times = []
    for _ in range(int(repeats)):
        started = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - started)
    after = _memory_status_mb() if before else None
    return {"inference_ms_per_simulation": 1000.0 * float(np.median(times)),
            "inference_memory_mb": (after[1] - baseline_mb) if after else None, "baseline_memory_mb": baseline_mb,
            "jit_compile": bool(model.jit_compile)}
