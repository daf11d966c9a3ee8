"""Model-selection figures (spec §9) and Fig. S5 (spec §10): results scatters and accuracy-vs-complexity curves."""

import matplotlib.pyplot as plt


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


# ----------------------------------------------------------------------------------------------------------
# The depth sweep and its learning curve (l5pc_depth_sweep.py)
# ----------------------------------------------------------------------------------------------------------
SYNAPSE_COLORS = {"NMDA": "b", "AMPA": "m", "AMPA_SK": "orange"}
DEPTH_PANELS = (("AUC", "AUC_subsets_std", "test spike AUC"),
                ("soma_explained_variance_percent", "soma_explained_variance_subsets_std",
                 "test soma explained variance (%)"))


def plot_depth_sweep(rows, synapse_types, title="accuracy against depth (test files, [0,24] spikes, from 500 ms)"):
    """Test AUC and soma explained variance of every network against its depth, one curve per synapse type.

    ``rows`` are depth_sweep.csv rows; error bars are the std over the random test subsets. Each point is its
    own network (not the cumulative best of Fig. S5).
    """
    fig, axes = plt.subplots(1, len(DEPTH_PANELS), figsize=(6.0 * len(DEPTH_PANELS), 4.6), squeeze=False)
    for ax, (key, std_key, label) in zip(axes[0], DEPTH_PANELS):
        for synapse_type in synapse_types:
            chosen = sorted((row for row in rows if row["synapse_type"] == synapse_type), key=lambda r: r["depth"])
            if not chosen:
                continue
            ax.errorbar([row["depth"] for row in chosen], [row[key] for row in chosen],
                        yerr=[row.get(std_key) or 0.0 for row in chosen], marker="o", ms=5, lw=2, capsize=4,
                        color=SYNAPSE_COLORS.get(synapse_type), label=f"{synapse_type} synapses")
        ax.set_xlabel("network depth (conv layers; 1 = one hidden layer)")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({row["depth"] for row in rows}))
        ax.legend(loc="lower right", fontsize=9)
    _tight_layout_below_title(fig, title, fontsize=13)
    return fig


def plot_learning_curve(points, fit, published_sim_sec, title=""):
    """Test AUC against simulated seconds of training data (log x), the power-law fit and its projection."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    x = np.array([row["train_sim_sec"] for row in points], dtype=float)
    ax.errorbar(x, [row["AUC"] for row in points], yerr=[row.get("AUC_subsets_std") or 0.0 for row in points],
                marker="o", ms=6, lw=2, capsize=4, color="b", label="measured (test files)")
    if fit and len(x):
        grid = np.geomspace(x.min(), max(published_sim_sec, x.max()), 100)
        ax.plot(grid, 1.0 - fit["a"] * grid ** -fit["b"], "b--", lw=1,
                label=f"fit: 1 - AUC = {fit['a']:.3g} n^-{fit['b']:.2f}")
        projected = 1.0 - fit["a"] * published_sim_sec ** -fit["b"]
        ax.plot([published_sim_sec], [projected], "s", color="gray",
                label=f"projection at the published size: {projected:.4f}")
    ax.axvline(published_sim_sec, color="gray", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("simulated seconds of training data")
    ax.set_ylabel("test spike AUC")
    ax.legend(loc="lower right", fontsize=9)
    _tight_layout_below_title(fig, title)
    return fig
