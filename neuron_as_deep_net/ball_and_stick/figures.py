"""Ball-and-stick figures (ball_and_stick.md §6): test AUC of configs A-E per cell, first-layer weights."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D


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


def plot_learning_curves(curves, plateaus=None, title="validation spike loss during training"):
    """Validation spike BCE against optimizer steps, one panel per cell and one line per config.

    ``curves`` {cell: {config: (steps, losses)}}; ``plateaus`` {cell: loss} draws the constant-output level (the
    BCE of predicting the mean spike rate everywhere) as a dotted line: a twin that never goes below it has not
    trained."""
    cells = list(curves)
    fig, axes = plt.subplots(1, max(len(cells), 1), figsize=(5.2 * max(len(cells), 1), 3.8), squeeze=False)
    for ax, cell in zip(axes[0], cells):
        for k, (config, (steps, losses)) in enumerate(sorted(curves[cell].items())):
            ax.plot(steps, losses, color=f"C{k}", lw=1.3, label=config)
        level = (plateaus or {}).get(cell)
        if level is not None:
            ax.axhline(level, color="0.3", lw=1.0, ls=":", label="constant output")
        ax.set_yscale("log")
        ax.set_xlabel("optimizer steps")
        ax.set_ylabel("validation spike loss (BCE)")
        ax.set_title(cell, color=BALL_AND_STICK_CELL_COLORS.get(cell, "k"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, title="config", title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
