"""Spike and voltage metrics: ROC, AUC, TP @ FP, AUC @ FP, d', explained variance / RMSE / MAE, recall curve.

Ground truth is the behaviour spec (/work/shared/spec/original_behaviour.md): §7 ("Metrics"), §5 (threshold,
recall curve), §9 (d') and §11 ("Cross-correlation", smoothing). Used by every experiment.

Array convention: (num_sims, num_time_bins[, channels]), 1 ms bins.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics


FP_LIST = [0.0001, 0.0005, 0.0010, 0.0015, 0.0020, 0.0025, 0.0050, 0.0100, 0.0200, 0.0300, 0.0400, 0.0500,
           0.1000]


NUM_FPR_INTERP_POINTS = 20000


FIGURE_DESIRED_FP = 0.002
RECALL_HALF_WINDOW_MS = 50


# ----------------------------------------------------------------------------------------------------------
# Metrics (§7 "Metrics", §5 threshold)
# ----------------------------------------------------------------------------------------------------------

def roc(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn roc_curve (drop_intermediate=True) on ravelled arrays -> (fpr, tpr, thresholds)."""
    return metrics.roc_curve(np.ravel(y_true), np.ravel(y_score))


def _fp_index(fpr, desired_fp: float) -> int:
    """Index of the ROC point whose FPR is closest to desired_fp; index 0 is replaced by 1 (§5, §7)."""
    idx = int(np.argmin(np.abs(np.asarray(fpr) - desired_fp)))
    return 1 if idx == 0 else idx


def tp_at_fp(fpr, tpr, desired_fp: float) -> float:
    """TPR at the ROC point with FPR closest to desired_fp (index 0 replaced by 1) (§7)."""
    return float(np.asarray(tpr)[_fp_index(fpr, desired_fp)])


def threshold_at_fp(fpr, thresholds, desired_fp: float = FIGURE_DESIRED_FP) -> tuple[float, int]:
    """Decision threshold and ROC index at FPR closest to desired_fp (index 0 replaced by 1) (§5, §11)."""
    idx = _fp_index(fpr, desired_fp)
    return float(np.asarray(thresholds)[idx]), idx


def auc_at_fp(fpr, tpr, desired_fp: float) -> float:
    """Mean TPR over FPR in [0, desired_fp) on a 20000-point linear FPR grid (§7; not divided by x).

    TPR is linearly interpolated onto np.linspace(0, 1, 20000) with np.interp (at a vertical ROC segment
    the upper TPR is taken); idx = argmin |grid - x| clamped to [1, 19999]; returns mean(TPR[:idx]).
    """
    fpr_grid = np.linspace(0.0, 1.0, NUM_FPR_INTERP_POINTS)
    tpr_grid = np.interp(fpr_grid, np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64))
    idx = int(np.argmin(np.abs(fpr_grid - desired_fp)))
    idx = min(max(idx, 1), NUM_FPR_INTERP_POINTS - 1)
    return float(tpr_grid[:idx].mean())


def d_prime(auc: float) -> float:
    """Discriminability d' = sqrt(2) * Phi^-1(AUC) (§9)."""
    return float(np.sqrt(2.0) * stats.norm.ppf(auc))


def tp_key(desired_fp: float) -> str:
    """Result key 'TP @ %.4f FP'."""
    return 'TP @ %.4f FP' % desired_fp


def auc_key(desired_fp: float) -> str:
    """Result key 'AUC @ %.4f FP'."""
    return 'AUC @ %.4f FP' % desired_fp


def _metric_keys() -> list[str]:
    keys = ['AUC']
    for fp in FP_LIST:
        keys += [tp_key(fp), auc_key(fp)]
    return keys + ['soma_explained_variance_percent', 'soma_RMSE', 'soma_MAE']


def extract_key_results(y_spikes_gt, y_spikes_pred, y_soma_gt, y_soma_pred) -> dict:
    """Spike ROC metrics (AUC, TP@FP, AUC@FP for FP_LIST) and soma metrics (EV %, RMSE, MAE) (§7).

    Soma metrics compare ravelled arrays in float64 with sklearn (y_true = GT). If the spike GT has a
    single class, sklearn warns and the spike metrics are NaN.
    """
    fpr, tpr, _ = roc(y_spikes_gt, y_spikes_pred)
    results = {'AUC': float(metrics.auc(fpr, tpr))}
    for fp in FP_LIST:
        results[tp_key(fp)] = tp_at_fp(fpr, tpr, fp)
        results[auc_key(fp)] = auc_at_fp(fpr, tpr, fp)

    soma_gt = np.ravel(y_soma_gt).astype(np.float64)
    soma_pred = np.ravel(y_soma_pred).astype(np.float64)
    results['soma_explained_variance_percent'] = float(100.0 * metrics.explained_variance_score(soma_gt,
                                                                                                soma_pred))
    results['soma_RMSE'] = float(np.sqrt(metrics.mean_squared_error(soma_gt, soma_pred)))
    results['soma_MAE'] = float(metrics.mean_absolute_error(soma_gt, soma_pred))
    return results


def _regression_metrics(prefix, gt, pred) -> dict:
    """'<prefix>_explained_variance_percent', '_RMSE', '_MAE' of ravelled float64 arrays."""
    gt, pred = np.ravel(gt).astype(np.float64), np.ravel(pred).astype(np.float64)
    return {f"{prefix}_explained_variance_percent": float(100.0 * metrics.explained_variance_score(gt, pred)),
            f"{prefix}_RMSE": float(np.sqrt(np.mean((gt - pred) ** 2))),
            f"{prefix}_MAE": float(np.mean(np.abs(gt - pred)))}


# ----------------------------------------------------------------------------------------------------------
# Recall / cross-correlation curve (§5, §11)
# ----------------------------------------------------------------------------------------------------------

def spike_recall_curve(y_spikes_gt, y_spikes_pred_binary,
                       half_window_ms: int = RECALL_HALF_WINDOW_MS) -> tuple[np.ndarray, np.ndarray]:
    """Predicted spikes within +-half_window around every GT spike, summed and normalised to sum 1 (§5).

    Both arrays are (N, T); predictions are zero-padded by half_window at both ends of time. Returns
    (time_axis_ms = arange(-h, h+1), curve); positive lags are predicted spikes after the GT spike. If
    there is no predicted spike near any GT spike the curve is all zeros.
    """
    h = int(half_window_ms)
    pred = np.asarray(y_spikes_pred_binary, dtype=np.float64)
    padded = np.pad(pred, ((0, 0), (h, h)))
    sim_idx, t_idx = np.nonzero(np.asarray(y_spikes_gt))
    offsets = np.arange(-h, h + 1)
    windows = padded[sim_idx[:, None], t_idx[:, None] + h + offsets[None, :]]
    curve = windows.sum(axis=0)
    total = curve.sum()
    if total > 0:
        curve = curve / total
    return offsets, curve


def smooth_recall_curve(curve) -> np.ndarray:
    """0.5*curve + 0.5*(2-tap box filter, 'same') (§11 "Cross-correlation")."""
    curve = np.asarray(curve, dtype=np.float64)
    return 0.5 * curve + 0.5 * np.convolve(curve, np.ones(2) / 2.0, mode='same')
