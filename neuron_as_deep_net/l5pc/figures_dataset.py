"""L5PC dataset figures (spec §4, dataset_exploration.py) and the morphology and colour helpers the L5PC figures
share. Each function takes data and returns a matplotlib figure; scripts save them.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from ..core.plotting import draw_scale_bars
from .morphology import REGIONS


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
