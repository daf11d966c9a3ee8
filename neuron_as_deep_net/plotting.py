"""Figure panels of the paper. Each function takes data and returns a matplotlib figure; scripts save them.

Headless (Agg). Figure 1 (integrate-and-fire, spec §5 "Evaluation and figures") comes first; then the L5PC
figures: the dataset exploration of spec §4 (``plot_dvt_figure``, ``plot_input_output``, ``plot_soma_traces``,
``plot_inst_rates``, ``plot_inout_rate_*``) and Figs. 2-3 of spec §11 (``plot_morphology_regions``,
``plot_model_evaluation``, ``plot_prediction_trace``, ``plot_multiple_prediction_traces``,
``plot_first_layer_filter``, ``plot_full_combined_figure_v2`` / ``_v3``); last, the model-selection figures of
spec §9 and Fig. S5 of spec §10 (``plot_results_scatters``, ``plot_curve_grid``).
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

from .morphology import REGIONS  # noqa: E402

FIGURE_FORMATS = ("png",)


def save_figure(fig, output_dir, name, formats=FIGURE_FORMATS, dpi=110):
    """Save ``fig`` as ``output_dir/name.png`` (and ``pdf/``, ``svg/`` copies if asked), then close it."""
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for fmt in formats:
        folder = output_dir if fmt == "png" else os.path.join(output_dir, fmt)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.{fmt}")
        temp_path = os.path.join(folder, f".{name}.tmp.{fmt}")
        fig.savefig(temp_path, dpi=dpi, bbox_inches="tight", format=fmt)
        os.replace(temp_path, path)
        paths.append(path)
    plt.close(fig)
    return paths


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


def draw_roc(ax, fpr, tpr, auc_value, threshold_index=None, inset_xlim=None):
    """ROC curve with its AUC; optional inset zoomed at low FPR with a red dot at tpr[index + 1] (§12 quirk)."""
    ax.plot(fpr, tpr, color="k", lw=2)
    ax.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1)
    ax.set_xlabel("False alarm rate")
    ax.set_ylabel("Hit rate")
    ax.set_title(f"AUC = {auc_value:.4f}")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    if inset_xlim is not None:
        inset = ax.inset_axes([0.45, 0.12, 0.5, 0.5])
        inset.plot(fpr, tpr, color="k", lw=2)
        if threshold_index is not None and threshold_index + 1 < len(tpr):
            inset.scatter(fpr[threshold_index + 1], tpr[threshold_index + 1], color="r", s=40, zorder=3)
        inset.set_xlim(*inset_xlim)
        inset.set_ylim(-0.01, 1.01)
        inset.tick_params(labelsize=7)
    return ax


def draw_recall_curve(ax, time_axis_ms, curve, scale=1.0, ylabel="fraction of predicted spikes"):
    """The spike-timing recall (cross-correlation) curve around ground-truth spikes."""
    within_10ms = curve[np.abs(time_axis_ms) <= 10].sum()
    ax.plot(time_axis_ms, scale * curve, color="k", lw=2, label=f"{100 * within_10ms:.1f}% within +-10 ms")
    ax.set_xlabel("$\\Delta$t (ms)")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper right", fontsize=8)


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


def voltage_scatter_ticks(low, high, anchor, step):
    """Ticks every ``step`` mV anchored at ``anchor``, covering [low, high]."""
    start = anchor - step * np.ceil((anchor - low) / step)
    return np.arange(start, high + step / 2, step)


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


def draw_scale_bars(ax, x0, y0, time_ms, voltage_mv, label_time="", label_voltage=""):
    """An L-shaped scale bar at (x0, y0): horizontal ``time_ms``, vertical ``voltage_mv``."""
    ax.plot([x0, x0 + time_ms], [y0, y0], color="k", lw=2)
    ax.plot([x0, x0], [y0, y0 + voltage_mv], color="k", lw=2)
    ax.text(x0 + time_ms / 2, y0 - 0.04 * abs(voltage_mv) * 5, label_time or f"{time_ms:g} ms",
            ha="center", va="top", fontsize=8)
    ax.text(x0, y0 + voltage_mv / 2, (label_voltage or f"{voltage_mv:g} mV") + " ", ha="right", va="center",
            fontsize=8)


def traces_with_spikes(soma, spikes, spike_height_mv=40.0):
    """A soma trace with output spikes drawn up to ``spike_height_mv``."""
    trace = np.array(soma, dtype=float)
    trace[np.asarray(spikes, dtype=bool)] = spike_height_mv
    return trace


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


# ==============================================================================================================
# L5PC figures: dataset exploration (spec §4) and Figures 2-3 (spec §11)
# ==============================================================================================================

REGION_ORDER = REGIONS
REGION_COLORS = {"basal": "m", "oblique": "orange", "tuft": "g"}
GROUND_TRUTH_COLOR = "c"
PREDICTION_COLOR = "m"


def nice_length(value):
    """The largest 1/2/5 x 10^k not above ``value`` (scale-bar lengths)."""
    if value <= 0:
        return 1.0
    exponent = np.floor(np.log10(value))
    for mantissa in (5.0, 2.0, 1.0):
        if mantissa * 10 ** exponent <= value:
            return float(mantissa * 10 ** exponent)
    return float(10 ** exponent)


def scaled_time_bar(duration_ms, bar_ms_at_6s):
    """A scale bar of ``bar_ms_at_6s`` for 6-s traces, scaled to the trace length (600 ms stays 600 ms at 6 s)."""
    return bar_ms_at_6s if duration_ms >= 6000 else nice_length(bar_ms_at_6s * duration_ms / 6000.0)


def box_smooth(values, width):
    """Moving average over ``width`` samples ('same', zero-padded), along the last axis."""
    kernel = np.ones(int(width)) / float(width)
    values = np.atleast_2d(np.asarray(values, dtype=float))
    smoothed = np.array([np.convolve(row, kernel, mode="same") for row in values])
    return smoothed


def draw_morphology(ax, polylines, colors, soma_xy, limits, linewidth_scale=1.2, soma_size=180, order=None,
                    alpha=1.0):
    """The dendrites as one line per segment (width = scale x mean diameter) with a black soma dot."""
    order = np.arange(len(polylines)) if order is None else np.asarray(order)
    segments = [np.column_stack(polylines[k][:2]) for k in order]
    widths = [linewidth_scale * polylines[k][2] for k in order]
    colors = [colors[k] for k in order] if not isinstance(colors, str) else colors
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=widths, capstyle="round", alpha=alpha))
    ax.scatter([soma_xy[0]], [soma_xy[1]], s=soma_size, color="k", zorder=3)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def region_colors(regions):
    """The colour of every segment from its region (basal magenta, oblique orange, tuft green)."""
    return [REGION_COLORS[region] for region in regions]


def plot_morphology_regions(polylines, regions, soma_xy, limits):
    """Fig. 2 morphology panel: basal magenta, oblique orange, tuft green, black soma (spec §11 item 1)."""
    fig, ax = plt.subplots(figsize=(6, 14))
    draw_morphology(ax, polylines, region_colors(regions), soma_xy, limits)
    handles = [Line2D([], [], color=REGION_COLORS[r], lw=3, label=r) for r in REGION_ORDER]
    ax.legend(handles=handles, loc="lower right", frameon=False)
    return fig


def plot_dvt_figure(polylines, color_values, soma_xy, limits, time_ms, dvts, high_res_time_ms, soma_high,
                    nexus_high, window_ms, soma_scale=2.3, base_offset=150.0, offset_span=700.0, alpha=0.55):
    """DVTs on the morphology (spec §4 figure 1): segments coloured jet(colour key) on the left; on the right
    every segment's voltage in the window, segment k shifted up by base + k * span / num_segments and drawn in
    colour order, with the soma (black) and nexus (red) high-res traces scaled by ``soma_scale``."""
    values = np.asarray(color_values, dtype=float)
    span = values.max() - values.min()
    normalized = (values - values.min()) / (span if span > 0 else 1.0)
    colors = plt.cm.jet(normalized)
    order = np.argsort(normalized, kind="stable")

    fig = plt.figure(figsize=(22, 14))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.0, 2.4], wspace=0.02)
    draw_morphology(fig.add_subplot(grid[0, 0]), polylines, colors, soma_xy, limits, order=order)

    ax = fig.add_subplot(grid[0, 1])
    start, end = window_ms
    low_res = (time_ms >= start) & (time_ms < end)
    num_segments = dvts.shape[0]
    offsets = base_offset + np.arange(num_segments) * offset_span / num_segments
    lines = [np.column_stack((time_ms[low_res], dvts[k, low_res].astype(float) + offsets[k])) for k in order]
    ax.add_collection(LineCollection(lines, colors=colors[order], linewidths=0.8, alpha=alpha))
    high_res = (high_res_time_ms >= start) & (high_res_time_ms < end)
    ax.plot(high_res_time_ms[high_res], soma_scale * np.asarray(soma_high, dtype=float)[high_res], color="k", lw=1.2,
            label="soma")
    ax.plot(high_res_time_ms[high_res], soma_scale * np.asarray(nexus_high, dtype=float)[high_res], color="r",
            lw=1.2, label="nexus")
    ax.set_xlim(start, end)
    y_low = soma_scale * min(np.min(soma_high[high_res]), np.min(nexus_high[high_res])) - 10
    y_high = offsets[-1] + float(np.max(dvts[:, low_res])) + 10
    ax.set_ylim(y_low, y_high)
    bar = nice_length(0.1 * (end - start))
    draw_scale_bars(ax, start + 0.02 * (end - start), y_low + 5, bar, 50 * soma_scale, label_voltage="50 mV (soma)")
    ax.axis("off")
    ax.legend(loc="upper right", frameon=False)
    ax.set_title(f"dendritic voltage traces, {start:g}-{end:g} ms")
    return fig


def plot_input_output(exc_spikes, inh_spikes, soma_trace, box_ms=18, spike_clip_mv=-30.0, spike_height_mv=30.0):
    """Input raster (excitatory red, inhibitory blue), smoothed per-ms input counts and the soma (spec §4 fig. 2).

    The smoothed counts are drawn from ``box_ms`` on: the original meant to drop the zero-padded start with
    ``plt.plot(...)[tau:]`` but sliced the returned list instead (spec §12), so nothing was dropped.
    """
    num_exc, duration = exc_spikes.shape
    time_s = np.arange(duration) / 1000.0
    fig, axes = plt.subplots(3, 1, figsize=(18, 13), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1.2]})
    for spikes, row_offset, color in ((exc_spikes, 0, "r"), (inh_spikes, num_exc, "b")):
        rows, times = np.nonzero(spikes)
        axes[0].scatter(times / 1000.0, rows + row_offset, s=0.5, color=color, marker=".", linewidths=0)
    axes[0].set_ylim(-1, 2 * num_exc + 1)
    axes[0].set_ylabel("synapse (exc. below, inh. above)")
    axes[0].set_title("input spikes (red: excitatory, blue: inhibitory)")
    for spikes, color, label in ((exc_spikes, "r", "excitatory"), (inh_spikes, "b", "inhibitory")):
        smoothed = box_smooth(spikes.sum(axis=0), box_ms)[0]
        axes[1].plot(time_s[box_ms:], smoothed[box_ms:], color=color, label=label)
    axes[1].set_ylabel(f"input spikes per ms\n({box_ms}-ms box)")
    axes[1].legend(loc="upper right", fontsize=8)
    soma = np.array(soma_trace, dtype=float)
    soma[soma > spike_clip_mv] = spike_height_mv
    axes[2].plot(time_s, soma, color="k", lw=1)
    axes[2].set_ylabel("soma (mV)")
    axes[2].set_xlabel("time (s)")
    axes[2].set_xlim(0, duration / 1000.0)
    return fig


def plot_soma_traces(time_ms, soma_traces, sim_labels):
    """Several soma traces, one per row; the x label on the last row (the original's ``k == num_plots`` never
    held, so it labelled none, spec §12)."""
    num_plots = len(soma_traces)
    fig, axes = plt.subplots(num_plots, 1, figsize=(18, 2.4 * num_plots), sharex=True, squeeze=False)
    for k, (trace, label) in enumerate(zip(soma_traces, sim_labels)):
        ax = axes[k, 0]
        ax.plot(time_ms / 1000.0, trace, color="k", lw=1)
        ax.set_ylabel("soma (mV)")
        ax.set_title(label, fontsize=9, loc="left")
        if k == num_plots - 1:
            ax.set_xlabel("time (s)")
    return fig


def plot_inst_rates(time_ms, group_rates, group_labels, sim_labels, box_ms=18):
    """Input spikes per ms summed over each (type, region) group and box-smoothed, one sim per row (spec §4)."""
    num_plots = len(group_rates)
    fig, axes = plt.subplots(num_plots, 1, figsize=(18, 2.8 * num_plots), sharex=True, squeeze=False)
    styles = {"exc": "-", "inh": "--"}
    for k, (rates, label) in enumerate(zip(group_rates, sim_labels)):
        ax = axes[k, 0]
        smoothed = box_smooth(rates, box_ms)
        for row, (kind, region) in enumerate(group_labels):
            ax.plot(time_ms[box_ms:] / 1000.0, smoothed[row, box_ms:], color=REGION_COLORS[region],
                    ls=styles[kind], lw=1.2, label=f"{kind} {region}")
        ax.set_ylabel("spikes per ms")
        ax.set_title(label, fontsize=9, loc="left")
        if k == 0:
            ax.legend(loc="upper right", ncol=2, fontsize=8)
        if k == num_plots - 1:
            ax.set_xlabel("time (s)")
    return fig


def output_count_bins(window_ms):
    """Output-spike histogram bins of spec §4: 0.5..5.5 for windows under 300 ms, else 0.5..12.5."""
    top = 5.5 if window_ms < 300 else 12.5
    return np.arange(0.5, top + 0.5, 1.0)


def plot_inout_rate_histograms(exc_counts, inh_counts, output_counts, window_ms, num_bins=100):
    """Histograms of excitatory, inhibitory and output spike counts per ``window_ms`` window (spec §4)."""
    fig, axes = plt.subplots(1, 3, figsize=(20, 5.5))
    axes[0].hist(exc_counts, bins=num_bins, color="r")
    axes[0].set_xlabel(f"excitatory input spikes per {window_ms} ms")
    axes[1].hist(inh_counts, bins=num_bins, color="b")
    axes[1].set_xlabel(f"inhibitory input spikes per {window_ms} ms")
    axes[2].hist(output_counts, bins=output_count_bins(window_ms), color="k", rwidth=0.8)
    axes[2].set_xlabel(f"output spikes per {window_ms} ms")
    for ax in axes:
        ax.set_ylabel("count")
    fig.suptitle(f"{window_ms}-ms windows ({len(exc_counts)} samples)")
    return fig


def plot_inout_rate_scatter(exc_counts, inh_counts, output_counts, window_ms):
    """Excitatory vs inhibitory input counts per window, coloured by the output count (0..3) (spec §4)."""
    fig, ax = plt.subplots(figsize=(11, 9))
    order = np.argsort(output_counts, kind="stable")
    points = ax.scatter(np.asarray(inh_counts)[order], np.asarray(exc_counts)[order],
                        c=np.asarray(output_counts)[order], cmap="jet", vmin=0, vmax=3, s=6, alpha=0.7)
    fig.colorbar(points, ax=ax, label=f"output spikes per {window_ms} ms")
    ax.set_xlabel(f"inhibitory input spikes per {window_ms} ms")
    ax.set_ylabel(f"excitatory input spikes per {window_ms} ms")
    return fig


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


# =========================================================================================================
# Ball-and-stick experiment (ball_and_stick.md §6): AUC of configs A-E per cell, first-layer weights
# =========================================================================================================

BALL_AND_STICK_CELL_COLORS = {"AMPA_point": "tab:blue", "NMDA_cable": "tab:orange"}


def plot_auc_bars(auc_by_cell, configs, reference=None, title="test spike AUC of the TCN twins"):
    """Side-by-side bars: x = config, one coloured bar per cell; ``reference`` {cell: {config: AUC}} as marks."""
    cells = list(auc_by_cell)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    width = 0.8 / max(len(cells), 1)
    positions = np.arange(len(configs))
    all_values = []
    for k, cell in enumerate(cells):
        values = np.array([auc_by_cell[cell].get(c, np.nan) for c in configs], dtype=float)
        all_values.extend(values[np.isfinite(values)])
        x = positions + (k - (len(cells) - 1) / 2) * width
        ax.bar(x, values, width * 0.95, color=BALL_AND_STICK_CELL_COLORS.get(cell, f"C{k}"), label=cell)
        for xi, value in zip(x, values):
            if np.isfinite(value):
                ax.text(xi, value, f"{value:.4f}", ha="center", va="bottom", fontsize=7, rotation=90)
        for config, value in (reference or {}).get(cell, {}).items():
            if config in configs:
                xi = positions[configs.index(config)] + (k - (len(cells) - 1) / 2) * width
                ax.plot([xi - width / 2, xi + width / 2], [value, value], color="k", lw=1.5)
                all_values.append(value)
    low = min(all_values) if all_values else 0.5
    # chance (0.5) stays in view and a bar below it is still drawn; the top leaves room for the value labels
    bottom = min(0.45, np.floor(low * 20) / 20 - 0.05) if low < 0.55 else max(0.5, low - 0.3 * (1.0 - low) - 0.005)
    ax.set_ylim(bottom, 1.0 + 0.3 * (1.0 - bottom) + 0.002)
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(positions)
    ax.set_xticklabels(configs)
    ax.set_xlabel("TCN config")
    ax.set_ylabel("test spike AUC")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if reference:
        handles.append(Line2D([], [], color="k", lw=1.5))
        labels.append("tutorial (config C)")
    ax.legend(handles, labels, loc="upper right", fontsize=8, ncol=len(handles))
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_first_layer_heatmaps(kernels, num_segments=8):
    """Spatio-temporal first-layer weights: one row per (cell, config), one column per filter (up to 8).

    ``kernels`` maps a row title to a Keras Conv1D kernel (time, 2*segments, filters); each panel shows
    segments (exc on top, inh below) x time before the prediction, with a symmetric colour scale per row.
    """
    rows = list(kernels)
    num_columns = min(8, max(k.shape[-1] for k in kernels.values()))
    fig, axes = plt.subplots(len(rows), num_columns, figsize=(1.9 * num_columns, 1.9 * len(rows)), squeeze=False)
    for r, title in enumerate(rows):
        kernel = np.asarray(kernels[title])
        limit = np.percentile(np.abs(kernel), 99.5) or 1.0
        for c in range(num_columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= kernel.shape[-1]:
                ax.axis("off")
                continue
            weights = kernel[::-1, :, c].T  # (2*segments, lag): lag 0 = the current ms, first column
            image = ax.imshow(weights, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                              extent=(0, kernel.shape[0], 2 * num_segments - 0.5, -0.5))
            ax.axhline(num_segments - 0.5, color="k", lw=0.6)
            if c == 0:
                ax.set_ylabel(f"{title}\nexc (top) / inh", fontsize=7)
                ax.set_yticks([0, num_segments - 1, num_segments, 2 * num_segments - 1])
                ax.set_yticklabels(["prox", "dist", "prox", "dist"], fontsize=6)
            if r == len(rows) - 1:
                ax.set_xticks([0, kernel.shape[0]])
                ax.tick_params(labelsize=6)
                ax.set_xlabel("ms before prediction", fontsize=6)
            ax.set_title(f"filter {c}", fontsize=7)
        fig.colorbar(image, ax=axes[r, :].tolist(), fraction=0.015, pad=0.01)
    return fig


# ----------------------------------------------------------------------------------------------------------
# Model selection: results scatters and accuracy vs complexity (spec §9, §10 / Fig. S5)
# ----------------------------------------------------------------------------------------------------------

def plot_results_scatters(panels, colors, num_rows=3, num_columns=2, title="", panel_size=(7.0, 4.3)):
    """Scatters in a grid, one colour per point (§9 results figures).

    ``panels`` is a row-major list of dicts: 'x', 'y', 'x_label', 'y_label' and optional 'log_x'.
    """
    fig, axes = plt.subplots(num_rows, num_columns, figsize=(panel_size[0] * num_columns, panel_size[1] * num_rows),
                             squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        ax.scatter(panel["x"], panel["y"], c=colors, s=18, alpha=0.8)
        ax.set_xlabel(panel["x_label"])
        ax.set_ylabel(panel["y_label"])
        if panel.get("log_x"):
            ax.set_xscale("log")
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    _tight_layout_below_title(fig, title)
    return fig


def _tight_layout_below_title(fig, title, fontsize=None):
    """tight_layout that leaves about 0.45 inch at the top for a figure title."""
    if title:
        fig.suptitle(title, fontsize=fontsize)
    top = 1.0 - 0.45 / fig.get_figheight() if title else 1.0
    fig.tight_layout(rect=(0, 0, 1, top))


def plot_curve_grid(panels, num_rows, num_columns, title="", panel_size=(5.5, 4.5)):
    """Curves with optional error bars in a grid (§9 curves, Fig. S5).

    ``panels`` is a row-major list of dicts: 'x_label', 'y_label', optional 'ylim' and 'log_x', and 'lines', a
    list of dicts with 'x', 'y', optional 'yerr', 'label', 'color'.
    """
    fig, axes = plt.subplots(num_rows, num_columns, figsize=(panel_size[0] * num_columns, panel_size[1] * num_rows),
                             squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        for line in panel["lines"]:
            ax.errorbar(line["x"], line["y"], yerr=line.get("yerr"), label=line.get("label"), color=line.get("color"),
                        marker="o", ms=5, lw=2, capsize=4)
        ax.set_xlabel(panel["x_label"])
        ax.set_ylabel(panel["y_label"])
        if panel.get("ylim"):
            ax.set_ylim(panel["ylim"])
        if panel.get("log_x"):
            ax.set_xscale("log")
        if any(line.get("label") for line in panel["lines"]):
            ax.legend(loc="lower right", fontsize=9)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    _tight_layout_below_title(fig, title, fontsize=15)
    return fig
