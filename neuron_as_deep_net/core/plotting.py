"""Figure helpers shared by the experiments: saving, ROC and recall-curve panels, scale bars, voltage ticks.

Headless (Agg). Each experiment's own panels live in its ``figures*.py`` modules.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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


def voltage_scatter_ticks(low, high, anchor, step):
    """Ticks every ``step`` mV anchored at ``anchor``, covering [low, high]."""
    start = anchor - step * np.ceil((anchor - low) / step)
    return np.arange(start, high + step / 2, step)


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
