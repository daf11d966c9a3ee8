"""Figure 1 (integrate-and-fire, spec §5 "Evaluation and figures"): learned weights, ROC, voltage scatter,
the full figure. Each function takes data and returns a matplotlib figure; the script saves them.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ..core.plotting import draw_recall_curve, draw_roc, draw_scale_bars, traces_with_spikes, voltage_scatter_ticks


def oriented_first_layer_kernel(kernel, num_exc, sign_window=20):
    """Flip the (synapses, kernel) weights' sign if the excitatory weights over the last 20 taps sum < 0 (§5)."""
    kernel = np.asarray(kernel, dtype=float)
    if kernel[:num_exc, -sign_window:].sum() < 0:
        kernel = -kernel
    return kernel


def draw_weights_heatmap(ax, kernel, num_exc, color_limit):
    """Heatmap of synapse x time-before-t0 weights (most recent lag on the right, like the original)."""
    num_synapses, kernel_size = kernel.shape
    image = ax.imshow(kernel, aspect="auto", cmap="jet", vmin=-color_limit, vmax=color_limit,
                      extent=[-kernel_size + 0.5, 0.5, num_synapses - 0.5, -0.5])
    ax.axhline(num_exc - 0.5, color="k", lw=0.8)
    ax.set_xlabel("Time before t0 (ms)")
    ax.set_ylabel("synapse index (exc. above line)")
    return image


def draw_weights_cross_sections(ax, kernel, num_exc, xlabel="time before prediction moment [ms]"):
    """Every synapse's temporal kernel against -lag: red excitatory, blue inhibitory."""
    kernel_size = kernel.shape[1]
    lags = -np.arange(kernel_size)
    flipped = kernel[:, ::-1]
    ax.plot(lags, flipped[:num_exc].T, color="r", alpha=0.3, lw=0.8)
    ax.plot(lags, flipped[num_exc:].T, color="b", alpha=0.3, lw=0.8)
    ax.plot(lags, flipped[:num_exc].mean(0), color="darkred", lw=2.5, label="excitatory")
    ax.plot(lags, flipped[num_exc:].mean(0), color="darkblue", lw=2.5, label="inhibitory")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("weight")
    ax.legend(loc="lower left", fontsize=8)


def plot_learned_weights(kernel, num_exc):
    """Figure 1D: the learned first-layer weights as a heatmap and temporal cross-sections."""
    kernel = oriented_first_layer_kernel(kernel, num_exc)
    color_limit = 1.05 * abs(kernel[num_exc:].mean(0).min())
    if color_limit == 0:
        color_limit = np.abs(kernel).max() or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(15, 6))
    image = draw_weights_heatmap(axes[0], kernel, num_exc, color_limit)
    fig.colorbar(image, ax=axes[0])
    axes[0].set_title("learned weights (synapse x time)")
    draw_weights_cross_sections(axes[1], kernel, num_exc)
    axes[1].set_title("temporal cross-sections")
    return fig


def plot_spike_predictions(y_spikes_gt, y_spikes_pred, fpr, tpr, auc_value, threshold_index, desired_fp,
                           recall_time_ms, recall_curve):
    """Figure 1B: prediction histograms, ROC with AUC, and the spike-timing recall curve."""
    gt = y_spikes_gt.ravel().astype(bool)
    pred = y_spikes_pred.ravel()
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    bins = np.linspace(0, 1, 60)
    axes[0].hist(pred[~gt], bins=bins, density=True, color="b", alpha=0.6, label="no spike")
    axes[0].hist(pred[gt], bins=bins, density=True, color="r", alpha=0.6, label="spike")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("predicted spike probability")
    axes[0].legend()
    draw_roc(axes[1], fpr, tpr, auc_value, threshold_index, inset_xlim=(-0.001, 0.012))
    axes[1].set_title(f"AUC = {auc_value:.4f};  at {desired_fp:.4f} FP rate, TP = {tpr[threshold_index]:.3f}")
    draw_recall_curve(axes[2], recall_time_ms, recall_curve)
    return fig


def plot_voltage_predictions(soma_gt, soma_pred, rng, num_points=60000, ground_truth_label="I&F (mV)"):
    """Figure 1C: GT vs predicted soma voltage scatter (explained variance) and the residual histogram."""
    from sklearn.metrics import explained_variance_score

    gt = soma_gt.ravel()
    pred = soma_pred.ravel()
    explained_variance = 100 * explained_variance_score(gt, pred)
    rmse = float(np.sqrt(np.mean((gt - pred) ** 2)))
    chosen = rng.choice(gt.size, size=min(num_points, gt.size), replace=False)
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    axes[0].scatter(gt[chosen] + 0.02 * rng.randn(chosen.size), pred[chosen], s=1, alpha=0.2, color="k")
    low, high = np.percentile(pred, [0.2, 99.8])
    axes[0].plot([-90, -50], [-90, -50], color="r", lw=1)
    axes[0].set_xlim(low, high)
    axes[0].set_ylim(low, high)
    ticks = voltage_scatter_ticks(low, high, -56, 5)
    axes[0].set_xticks(ticks)
    axes[0].set_yticks(ticks)
    axes[0].set_xlabel(ground_truth_label)
    axes[0].set_ylabel("ANN (mV)")
    axes[0].set_title(f"explained variance = {explained_variance:.2f}%")
    axes[1].hist(gt - pred, bins=300, color="k")
    axes[1].set_xlim(-20, 20)
    axes[1].set_xlabel("residual (mV)")
    axes[1].set_title(f"RMSE = {rmse:.3f} mV")
    return fig


def plot_if_full_figure(input_spikes, soma_gt, spikes_gt, soma_pred, spikes_pred, zoom_fraction, fpr, tpr,
                        auc_value, threshold_index, recall_time_ms, recall_curve, kernel, num_exc, soma_scatter):
    """The combined Figure 1 (v3 layout): inputs, traces, zoom, ROC, recall, weights and the voltage scatter."""
    duration = soma_gt.size
    time_ms = np.arange(duration)
    fig = plt.figure(figsize=(26, 16))
    grid = fig.add_gridspec(4, 4, height_ratios=[1.1, 1.0, 1.0, 1.2], hspace=0.45, wspace=0.3)

    ax_raster = fig.add_subplot(grid[0, :])
    syn, t = np.nonzero(input_spikes.T)
    rows = input_spikes.shape[1] - syn
    is_exc = syn < num_exc
    ax_raster.scatter(t[is_exc], rows[is_exc], s=1, color="r")
    ax_raster.scatter(t[~is_exc], rows[~is_exc], s=1, color="b")
    ax_raster.set_xlim(0, duration)
    ax_raster.set_ylabel("synapse")
    ax_raster.set_title("input spikes (red: excitatory, blue: inhibitory)")
    ax_raster.set_xticks([])

    ax_trace = fig.add_subplot(grid[1, :])
    ax_trace.plot(time_ms, traces_with_spikes(soma_gt, spikes_gt), color="c", lw=1.5, label="I&F")
    ax_trace.plot(time_ms, traces_with_spikes(soma_pred, spikes_pred), color="m", lw=1.2, ls=":", label="ANN")
    zoom_start, zoom_end = int(zoom_fraction[0] * duration), int(zoom_fraction[1] * duration)
    low = min(soma_gt.min(), soma_pred.min())
    ax_trace.add_patch(Rectangle((zoom_start, low - 1), zoom_end - zoom_start, 45 - low, fill=False, ls="--"))
    ax_trace.set_xlim(0, duration)
    ax_trace.axis("off")
    draw_scale_bars(ax_trace, 0.02 * duration, low, 600, 40)
    ax_trace.legend(loc="upper right")

    ax_zoom = fig.add_subplot(grid[2, :])
    window = slice(zoom_start, zoom_end)
    ax_zoom.plot(time_ms[window], soma_gt[window], color="c", lw=2)
    ax_zoom.plot(time_ms[window], soma_pred[window], color="m", lw=1.5, ls=":")
    zoom_low = min(soma_gt[window].min(), soma_pred[window].min())
    ax_zoom.set_ylim(zoom_low - 1, -52)
    ax_zoom.axis("off")
    draw_scale_bars(ax_zoom, zoom_start + 5, zoom_low, 100, 8)

    draw_roc(fig.add_subplot(grid[3, 0]), fpr, tpr, auc_value, threshold_index, inset_xlim=(-0.001, 0.012))
    draw_recall_curve(fig.add_subplot(grid[3, 1]), recall_time_ms, recall_curve, scale=1000.0,
                      ylabel="spike rate (Hz)")
    ax_weights = fig.add_subplot(grid[3, 2])
    oriented = oriented_first_layer_kernel(kernel, num_exc)
    color_limit = 1.1 * abs(oriented[num_exc:].mean(0).min()) or np.abs(oriented).max() or 1.0
    draw_weights_heatmap(ax_weights, oriented, num_exc, color_limit)
    ax_scatter = fig.add_subplot(grid[3, 3])
    gt_points, pred_points = soma_scatter
    ax_scatter.scatter(gt_points, pred_points, s=1, alpha=0.2, color="k")
    low, high = np.percentile(pred_points, [0.2, 99.8])
    ax_scatter.plot([low, high], [low, high], color="r", lw=1)
    ax_scatter.set_xlim(low, high)
    ax_scatter.set_ylim(low, high)
    ax_scatter.set_xlabel("I&F (mV)")
    ax_scatter.set_ylabel("ANN (mV)")
    return fig
