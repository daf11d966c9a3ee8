"""Figures 2-3 of the paper (spec §11, main_figure_replication.py): model evaluation, prediction traces,
first-layer filters and the combined figures.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..core.plotting import draw_roc, draw_scale_bars, traces_with_spikes, voltage_scatter_ticks
from .figures_dataset import (GROUND_TRUTH_COLOR, PREDICTION_COLOR, REGION_COLORS, REGION_ORDER, draw_morphology,
                              region_colors, scaled_time_bar)


def draw_cross_correlation(ax, time_axis_ms, curve):
    """The smoothed spike-timing curve x1000 as 'spike rate (Hz)', y ticks [0, M/2, M] (spec §11)."""
    rate = 1000.0 * np.asarray(curve, dtype=float)
    ax.plot(time_axis_ms, rate, color="k", lw=2)
    top = 10 * int(rate.max() / 10) if rate.size else 0
    if top > 0:
        ax.set_yticks([0, 5 * int(top / 10), top])
    ax.set_xlabel("$\\Delta$t (ms)")
    ax.set_ylabel("spike rate (Hz)")
    ax.set_xlim(time_axis_ms[0], time_axis_ms[-1])
    return ax


def draw_voltage_scatter(ax, gt_points, pred_points, ground_truth_label, upper_mv=-56.0, tick_anchor=-57.0,
                         tick_step=6.0):
    """GT vs ANN soma voltage: limits [round(0.2 percentile of GT), -56], ticks every 6 mV at -57 (spec §11)."""
    ax.scatter(gt_points, pred_points, s=1, alpha=0.25, color="k", rasterized=True)
    low = float(np.round(np.percentile(gt_points, 0.2)))
    if low >= upper_mv:
        low = upper_mv - tick_step
    ax.plot([low, upper_mv], [low, upper_mv], color="r", lw=1)
    ax.set_xlim(low, upper_mv)
    ax.set_ylim(low, upper_mv)
    ticks = voltage_scatter_ticks(low, upper_mv, tick_anchor, tick_step)
    ticks = ticks[(ticks >= low) & (ticks <= upper_mv)]
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel(ground_truth_label)
    ax.set_ylabel("ANN (mV)")
    return ax


def plot_model_evaluation(fpr, tpr, auc_value, threshold_index, recall_time_ms, recall_curve, gt_points,
                          pred_points, ground_truth_label, explained_variance, inset_xlim=(-0.001, 0.05)):
    """Fig. 2 evaluation (10x11 in): ROC with a low-FP inset, spike-timing curve, voltage scatter (§11 item 2)."""
    fig = plt.figure(figsize=(10, 11))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.25], hspace=0.3, wspace=0.35)
    draw_roc(fig.add_subplot(grid[0, 0]), fpr, tpr, auc_value, threshold_index, inset_xlim=inset_xlim)
    draw_cross_correlation(fig.add_subplot(grid[0, 1]), recall_time_ms, recall_curve)
    ax = fig.add_subplot(grid[1, :])
    draw_voltage_scatter(ax, gt_points, pred_points, ground_truth_label)
    ax.set_aspect("equal")
    ax.set_title(f"explained variance = {explained_variance:.2f}%")
    return fig


def draw_trace_pair(ax, time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, spike_height_mv=40.0, lw=1.5):
    """Ground-truth (cyan) and ANN (magenta, dotted) soma traces with spikes drawn up to ``spike_height_mv``."""
    ax.plot(time_ms, traces_with_spikes(soma_gt, spikes_gt, spike_height_mv), color=GROUND_TRUTH_COLOR, lw=lw,
            label="L5PC")
    ax.plot(time_ms, traces_with_spikes(soma_pred, spikes_pred, spike_height_mv), color=PREDICTION_COLOR,
            lw=0.8 * lw, ls=":", label="ANN")


def zoom_window(duration, zoom_fraction):
    """Sample range [start, end) of a zoom given as fractions of the trace."""
    start = int(zoom_fraction[0] * duration)
    end = max(start + 2, int(zoom_fraction[1] * duration))
    return start, min(end, duration)


def draw_full_trace(ax, time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, zoom_fraction=None,
                    spike_height_mv=40.0, legend=True):
    """The whole trace with spikes, a dashed box around the zoom, and scale bars (600 ms / 40 mV at 6 s)."""
    duration = len(time_ms)
    draw_trace_pair(ax, time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, spike_height_mv)
    low = float(min(np.min(soma_gt), np.min(soma_pred)))
    if zoom_fraction is not None:
        start, end = zoom_window(duration, zoom_fraction)
        ax.add_patch(Rectangle((time_ms[start], low - 1), time_ms[end - 1] - time_ms[start],
                               spike_height_mv + 3 - low, fill=False, ls="--", lw=1))
    margin = 0.05 * (time_ms[-1] - time_ms[0])  # the scale bars sit left of the trace
    ax.set_xlim(time_ms[0] - margin, time_ms[-1])
    ax.set_ylim(low - 12, spike_height_mv + 5)
    ax.axis("off")
    draw_scale_bars(ax, time_ms[0] - 0.8 * margin, low - 10, scaled_time_bar(duration, 600), 40)
    if legend:
        ax.legend(loc="upper right", frameon=False)


def draw_zoom_trace(ax, time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, zoom_fraction, top_mv=-52.0):
    """The zoomed part of the trace, ylim [min - 2.5, -52], scale bars (60 ms / 5 mV at 6 s)."""
    duration = len(time_ms)
    start, end = zoom_window(duration, zoom_fraction)
    window = slice(start, end)
    draw_trace_pair(ax, time_ms[window], soma_gt[window], spikes_gt[window], soma_pred[window], spikes_pred[window],
                    lw=2.0)
    low = float(min(np.min(soma_gt[window]), np.min(soma_pred[window])))
    margin = 0.05 * (time_ms[end - 1] - time_ms[start])
    ax.set_xlim(time_ms[start] - margin, time_ms[end - 1])
    ax.set_ylim(low - 2.5, top_mv)
    ax.axis("off")
    draw_scale_bars(ax, time_ms[start] - 0.8 * margin, low - 2.0, scaled_time_bar(duration, 60), 5)


def plot_prediction_trace(time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, zoom_fraction, title=""):
    """Fig. 2 single prediction trace: the full trace and a zoom (spec §11 item 3)."""
    fig, axes = plt.subplots(2, 1, figsize=(20, 9), gridspec_kw={"height_ratios": [1, 1]})
    draw_full_trace(axes[0], time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, zoom_fraction)
    draw_zoom_trace(axes[1], time_ms, soma_gt, spikes_gt, soma_pred, spikes_pred, zoom_fraction)
    if title:
        axes[0].set_title(title)
    return fig


def plot_multiple_prediction_traces(time_ms, traces, titles):
    """Several full prediction traces, one per row (spec §11 item 4); ``traces`` holds 4-tuples
    (soma_gt, spikes_gt, soma_pred, spikes_pred)."""
    fig, axes = plt.subplots(len(traces), 1, figsize=(20, 3.2 * len(traces)), squeeze=False)
    for k, (ax, trace, title) in enumerate(zip(axes[:, 0], traces, titles)):
        draw_full_trace(ax, time_ms, *trace, legend=k == 0)
        ax.set_title(title, fontsize=9, loc="left")
    return fig


def preprocess_first_layer_filter(kernel, num_exc, num_lags=40, sign_lags=12):
    """One first-layer filter (channels, kernel) as the original drew it (spec §11 item 6).

    Flip in time (index 0 = the most recent lag), 2-tap box smoothing ('valid'), crop to ``num_lags`` lags, and
    negate if the excitatory minus inhibitory weights over the first ``sign_lags`` lags sum to less than 0.
    """
    weights = np.asarray(kernel, dtype=float)[:, ::-1]
    if weights.shape[1] > 1:
        weights = 0.5 * (weights[:, :-1] + weights[:, 1:])
    weights = weights[:, :num_lags]
    if weights[:num_exc, :sign_lags].sum() - weights[num_exc:, :sign_lags].sum() < 0:
        weights = -weights
    return weights


def symmetric_percentile_limit(weights, upper=99.8, lower=0.2, factor=1.0):
    """factor x max(|upper percentile|, |lower percentile|) of the weights (a zero-safe colour limit)."""
    limit = factor * max(abs(np.percentile(weights, upper)), abs(np.percentile(weights, lower)))
    return float(limit) if limit > 0 else float(np.abs(weights).max() or 1.0)


def region_rows(region_indices, region, num_exc):
    """Input channels of a region: its excitatory channels then its inhibitory ones."""
    indices = np.asarray(region_indices[region])
    return np.r_[indices, num_exc + indices]


def colorbar_ticks(limit, step=0.06):
    """Ticks at multiples of ``step`` within +-limit (the original's 0.06), or None when that gives < 3 ticks."""
    ticks = step * np.arange(-np.floor(limit / step), np.floor(limit / step) + 1)
    return ticks if ticks.size >= 3 else None


def draw_region_weight_traces(ax, weights, region_indices, region, num_exc, alpha=0.08, tick_step=20):
    """Every excitatory (red) and inhibitory (blue) synapse's weights of a region, plus thick means."""
    indices = np.asarray(region_indices[region])
    lags = np.arange(weights.shape[1])
    ax.plot(lags, weights[indices].T, color="r", alpha=alpha, lw=0.8)
    ax.plot(lags, weights[num_exc + indices].T, color="b", alpha=alpha, lw=0.8)
    ax.plot(lags, weights[indices].mean(0), color="darkred", lw=3, label="excitatory mean")
    ax.plot(lags, weights[num_exc + indices].mean(0), color="darkblue", lw=3, label="inhibitory mean")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xticks(np.arange(0, weights.shape[1], tick_step))
    ax.set_xlim(0, weights.shape[1] - 1)
    ax.set_xlabel("Time before t0 (ms)")


def plot_first_layer_filter(weights, region_indices, num_exc, filter_index):
    """Fig. 3 first-layer filter: basal / oblique / tuft heatmaps (exc. above inh.) and weight traces (§11 item 6).

    ``weights`` is the preprocessed (channels, lags) array of :func:`preprocess_first_layer_filter`. Colour
    limits +-1.08 x max(|99.8th|, |0.2th| percentile), jet colour map, colour-bar ticks at multiples of 0.06
    (automatic ticks when the weights are too small for that).
    """
    limit = symmetric_percentile_limit(weights, factor=1.08)
    num_lags = weights.shape[1]
    fig = plt.figure(figsize=(20, 13))
    grid = fig.add_gridspec(2, 4, height_ratios=[2.2, 1], width_ratios=[1, 1, 1, 0.05], hspace=0.25, wspace=0.25)
    image = None
    for column, region in enumerate(REGION_ORDER):
        rows = region_rows(region_indices, region, num_exc)
        num_region = len(region_indices[region])
        ax = fig.add_subplot(grid[0, column])
        image = ax.imshow(weights[rows], aspect="auto", cmap="jet", vmin=-limit, vmax=limit, interpolation="nearest",
                          extent=[-0.5, num_lags - 0.5, rows.size - 0.5, -0.5])
        ax.axhline(num_region - 0.5, color="k", lw=1)
        ax.set_yticks([num_region / 2, num_region * 1.5])
        ax.set_yticklabels(["exc", "inh"])
        ax.set_xticks(np.arange(0, num_lags, 20))
        ax.set_title(f"{region} ({num_region} segments)", color=REGION_COLORS[region])
        trace_ax = fig.add_subplot(grid[1, column])
        draw_region_weight_traces(trace_ax, weights, region_indices, region, num_exc)
        if column == 0:
            trace_ax.set_ylabel("weight")
            trace_ax.legend(loc="upper right", fontsize=8)
    colorbar = fig.colorbar(image, cax=fig.add_subplot(grid[0, 3]))
    ticks = colorbar_ticks(limit)
    if ticks is not None:
        colorbar.set_ticks(ticks)
    fig.suptitle(f"first-layer filter {filter_index}")
    return fig


def smooth_weights_3tap(weights):
    """3-tap box smoothing along lags ('same'): the second smoothing the original's ``draw_weights`` applied."""
    kernel = np.ones(3) / 3.0
    return np.array([np.convolve(row, kernel, mode="same") for row in np.asarray(weights, dtype=float)])


def draw_weights(fig, grid_cell, weights, region_indices, num_exc, title=""):
    """A compact filter panel for the combined figures: heatmap of all channels by region and the region means.

    As the original's ``draw_weights``, the preprocessed weights are smoothed again (3 taps) and scaled by their
    99.8 / 0.2 percentiles.
    """
    smoothed = smooth_weights_3tap(weights)
    limit = symmetric_percentile_limit(smoothed)
    inner = grid_cell.subgridspec(2, 1, height_ratios=[2, 1], hspace=0.12)
    ax = fig.add_subplot(inner[0])
    order = np.concatenate([np.asarray(region_indices[r]) for r in REGION_ORDER])
    rows = np.r_[order, num_exc + order]
    num_lags = smoothed.shape[1]
    ax.imshow(smoothed[rows], aspect="auto", cmap="jet", vmin=-limit, vmax=limit, interpolation="nearest",
              extent=[-0.5, num_lags - 0.5, rows.size - 0.5, -0.5])
    boundary = 0
    for block in range(2):
        for region in REGION_ORDER:
            boundary += len(region_indices[region])
            ax.axhline(boundary - 0.5, color="k", lw=1.5 if region == "tuft" else 0.5)
    ax.set_yticks([order.size / 2, order.size * 1.5])
    ax.set_yticklabels(["exc", "inh"])
    ax.set_xticks([])
    ax.set_title(title)
    trace_ax = fig.add_subplot(inner[1])
    lags = np.arange(num_lags)
    for region in REGION_ORDER:
        indices = np.asarray(region_indices[region])
        trace_ax.plot(lags, smoothed[indices].mean(0), color=REGION_COLORS[region], lw=2, label=f"exc {region}")
        trace_ax.plot(lags, smoothed[num_exc + indices].mean(0), color=REGION_COLORS[region], lw=2, ls="--",
                      label=f"inh {region}")
    trace_ax.axhline(0, color="0.5", lw=0.6)
    trace_ax.set_xlim(0, num_lags - 1)
    trace_ax.set_xticks(np.arange(0, num_lags, 20))
    trace_ax.set_xlabel("Time before t0 (ms)")
    trace_ax.legend(fontsize=6, ncol=3, loc="upper right")
    return ax


def draw_architecture_schematic(ax, filter_sizes, num_filters, window_size, num_input_channels, title=""):
    """A schematic of the network in place of the original's illustration PNG: one box per layer."""
    depth = len(filter_sizes)
    labels = [f"input\n{num_input_channels} ch\nx {window_size} ms"]
    labels += [f"conv {k + 1}\n{num_filters[k]} filters\nkernel {filter_sizes[k]} ms" for k in range(depth)]
    labels += ["spike\n(sigmoid)\n& soma\n(linear)"]
    num_boxes = len(labels)
    width = 0.75 / num_boxes
    gap = 0.2 / max(num_boxes - 1, 1)
    for k, label in enumerate(labels):
        x = 0.025 + k * (width + gap)
        color = "lightgray" if k == 0 else ("lightyellow" if k == num_boxes - 1 else "lightskyblue")
        ax.add_patch(FancyBboxPatch((x, 0.25), width, 0.5, boxstyle="round,pad=0.01", facecolor=color,
                                    edgecolor="k", transform=ax.transAxes))
        ax.text(x + width / 2, 0.5, label, ha="center", va="center", fontsize=max(6, 11 - depth // 2),
                transform=ax.transAxes)
        if k:
            ax.add_patch(FancyArrowPatch((x - gap, 0.5), (x, 0.5), arrowstyle="-|>", mutation_scale=12,
                                         transform=ax.transAxes, color="k"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def _combined_panels(fig, cells, data):
    """Draw the combined-figure panels into the given grid cells (shared by the v2 and v3 layouts)."""
    morph = data["morphology"]
    draw_morphology(fig.add_subplot(cells["morphology"]), morph["polylines"], region_colors(morph["regions"]),
                    morph["soma_xy"], morph["limits"])
    arch = data["architecture"]
    draw_architecture_schematic(fig.add_subplot(cells["schematic"]), arch["filter_sizes"], arch["num_filters"],
                                arch["window_size"], arch["num_input_channels"], arch["title"])
    trace = data["trace"]
    trace_args = (trace["time_ms"], trace["soma_gt"], trace["spikes_gt"], trace["soma_pred"], trace["spikes_pred"])
    draw_full_trace(fig.add_subplot(cells["trace"]), *trace_args, zoom_fraction=trace["zoom_fraction"],
                    spike_height_mv=trace["spike_height_mv"])
    draw_zoom_trace(fig.add_subplot(cells["zoom"]), *trace_args, zoom_fraction=trace["zoom_fraction"])
    roc_data = data["roc"]
    draw_roc(fig.add_subplot(cells["roc"]), roc_data["fpr"], roc_data["tpr"], roc_data["auc"],
             roc_data["threshold_index"], inset_xlim=(-0.001, roc_data["inset_xmax"]))
    draw_cross_correlation(fig.add_subplot(cells["xcorr"]), *data["xcorr"])
    scatter = data["scatter"]
    ax = fig.add_subplot(cells["scatter"])
    draw_voltage_scatter(ax, scatter["gt"], scatter["pred"], scatter["label"])
    ax.set_aspect("equal")
    for cell, (index, weights) in zip(cells["filters"], data["filters"]):
        draw_weights(fig, cell, weights, data["region_indices"], data["num_exc"], title=f"filter {index}")


def plot_full_combined_figure_v2(data):
    """Figs. 2-3 combined (26x20 in, spec §11 item 7): morphology, network schematic, full and zoomed trace,
    ROC with inset, spike-timing curve, voltage scatter and up to three first-layer filters.

    ``data`` holds 'morphology' (polylines, regions, soma_xy, limits), 'architecture' (filter_sizes,
    num_filters, window_size, num_input_channels, title), 'trace' (time_ms, soma_gt, spikes_gt, soma_pred,
    spikes_pred, zoom_fraction, spike_height_mv), 'roc' (fpr, tpr, auc, threshold_index, inset_xmax),
    'xcorr' (time_ms, curve), 'scatter' (gt, pred, label), 'filters' [(index, weights)], 'region_indices',
    'num_exc'.
    """
    fig = plt.figure(figsize=(26, 20))
    grid = fig.add_gridspec(5, 6, height_ratios=[0.9, 1.0, 1.0, 1.2, 1.5], hspace=0.35, wspace=0.4)
    filters = data["filters"][:3]
    cells = {"morphology": grid[0:3, 0], "schematic": grid[0, 1:6], "trace": grid[1, 1:], "zoom": grid[2, 1:],
             "roc": grid[3, 0:2], "xcorr": grid[3, 2:4], "scatter": grid[3, 4:6],
             "filters": [grid[4, 2 * k:2 * k + 2] for k in range(len(filters))]}
    _combined_panels(fig, cells, dict(data, filters=filters))
    return fig


def plot_full_combined_figure_v3(data):
    """The same content in a single row (35x15 in, spec §11 item 8), with one first-layer filter."""
    fig = plt.figure(figsize=(35, 15))
    grid = fig.add_gridspec(3, 5, width_ratios=[0.8, 3.0, 1.1, 1.5, 1.1], height_ratios=[0.7, 1, 1], hspace=0.3,
                            wspace=0.25)
    cells = {"morphology": grid[:, 0], "schematic": grid[0, 1], "trace": grid[1, 1], "zoom": grid[2, 1],
             "roc": grid[0:2, 2], "xcorr": grid[2, 2], "scatter": grid[:, 3], "filters": [grid[:, 4]]}
    _combined_panels(fig, cells, dict(data, filters=data["filters"][:1]))
    return fig
