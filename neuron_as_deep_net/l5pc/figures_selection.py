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
