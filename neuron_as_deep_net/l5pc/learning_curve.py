"""Learning curves: test AUC against the amount of training data, a power-law fit, and what limits a run.

The fit is the usual one for learning curves: the error falls as a power of the data size,
``1 - AUC = a * n ** -b`` (a straight line in log-log), fitted by least squares on log(1 - AUC). It has no
floor, so its projection to a much larger dataset is an optimistic bound; with fewer than two points below
AUC 1, or when the error does not fall with more data, there is no fit.
"""

from __future__ import annotations

import numpy as np

# how a run's last part must look to call it "still improving" (the validation spike loss, per Keras epoch)
LAST_PART = 0.25  # the last quarter of the epochs ...
MIN_RELATIVE_GAIN = 0.02  # ... improved the best validation spike loss by more than 2 %
MIN_DATA_GAIN_AUC = 0.005  # doubling the data raised the test AUC by more than this


def fit_power_law(num_samples, auc_values) -> dict | None:
    """{'a', 'b', 'num_points'} of ``1 - AUC = a * n**-b`` fitted in log-log; None with < 2 usable points or when
    the error does not fall with the data size (b <= 0)."""
    n = np.asarray(num_samples, dtype=float)
    error = 1.0 - np.asarray(auc_values, dtype=float)
    usable = (n > 0) & (error > 0) & np.isfinite(error)
    if usable.sum() < 2 or len(set(n[usable])) < 2:
        return None
    slope, intercept = np.polyfit(np.log(n[usable]), np.log(error[usable]), 1)
    if slope >= 0:  # the error did not fall with more data: nothing to extrapolate
        return None
    return {"a": float(np.exp(intercept)), "b": float(-slope), "num_points": int(usable.sum())}


def projected_auc(fit, num_samples) -> float | None:
    """The fitted curve's AUC at ``num_samples`` (None without a fit)."""
    if not fit:
        return None
    return float(1.0 - fit["a"] * float(num_samples) ** -fit["b"])


def still_improving(val_losses, last_part=LAST_PART, min_relative_gain=MIN_RELATIVE_GAIN) -> bool | None:
    """Whether the best validation loss of the last part of a run beat the best before it by > min_relative_gain."""
    losses = np.asarray([v for v in val_losses if v is not None and np.isfinite(v)], dtype=float)
    if losses.size < 4:
        return None
    split = max(1, int(round(losses.size * (1.0 - last_part))))
    before, after = losses[:split].min(), losses[split:].min()
    return bool(after < before * (1.0 - min_relative_gain))


def what_limits(points, val_spike_losses) -> dict:
    """Data, steps, both or neither, from a learning curve and the validation losses of its runs.

    ``points``: dicts with 'train_sim_sec' and 'AUC', sorted by data size; ``val_spike_losses``: per point, the
    run's validation spike loss per Keras epoch (or None). More data limits when the AUC still rose between the
    two largest datasets by more than MIN_DATA_GAIN_AUC; more steps limit when the largest run's validation
    loss was still falling in its last quarter.
    """
    result = {"data_gain_last_doubling": None, "largest_run_still_improving": None, "verdict": "not known"}
    if len(points) >= 2:
        result["data_gain_last_doubling"] = float(points[-1]["AUC"] - points[-2]["AUC"])
    if val_spike_losses and val_spike_losses[-1] is not None:
        result["largest_run_still_improving"] = still_improving(val_spike_losses[-1])
    data = result["data_gain_last_doubling"] is not None and result["data_gain_last_doubling"] > MIN_DATA_GAIN_AUC
    steps = bool(result["largest_run_still_improving"])
    if result["data_gain_last_doubling"] is not None or result["largest_run_still_improving"] is not None:
        result["verdict"] = {(True, True): "data and steps", (True, False): "data", (False, True): "steps",
                             (False, False): "neither (the recipe or the architecture)"}[(data, steps)]
    return result
