"""Metric curves: every snapshot metric of a summary table against iteration, one line per label
with a band of ± 1 standard error over seeds (rows from ``mixgan/evaluation/tables.py``)."""
import math

import numpy as np

from mixgan.viz.plots import plt, save_figure

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")
LEGEND_CHAR_INCHES = 0.07  # width of one character of the legend's 8-point text, generously


def line_style(i, n):
    """Colour, marker and line style of the ``i``-th of ``n`` labels. Curves drawn later are thinner
    with smaller markers, so where two curves coincide the later one shows inside the earlier one
    (a thin dashed line along a thick solid one, a small square inside a large circle)."""
    later = i / max(n - 1, 1)
    return dict(color=f"C{i % 10}", marker=MARKERS[i % len(MARKERS)], linestyle=LINESTYLES[i % len(LINESTYLES)],
                linewidth=2.4 - 1.4 * later, markersize=7.0 - 3.0 * later, markeredgewidth=0)


def label_points(rows, name, label):
    """(iterations, means, standard errors) of one label's curve, sorted by iteration; a standard
    error is NaN where it is undefined (one seed), which leaves a gap in the band."""
    pts = sorted((r["iteration"], r["mean"], np.nan if r["se"] is None else r["se"]) for r in rows
                 if r["metric"] == name and r["label"] == label and r["n"] > 0)
    return tuple(np.array(v, dtype=float) for v in zip(*pts)) if pts else None


def draw_curves(ax, rows, name, labels):
    """One metric against iteration on ``ax``: a line per label, its band of ± 1 s.e., and the
    axis labels; the x axis is logarithmic when the iterations span two decades or more."""
    handles = {}
    for i, label in enumerate(labels):
        pts = label_points(rows, name, label)
        if pts is None:
            continue
        x, m, s = pts
        style = line_style(i, len(labels))
        (handles[label],) = ax.plot(x, m, label=label, zorder=2 + i, **style)
        if np.isfinite(s).any():
            ax.fill_between(x, m - s, m + s, color=style["color"], alpha=0.18, linewidth=0, zorder=1)
    xs = [r["iteration"] for r in rows if r["metric"] == name]
    log = min(xs) > 0 and max(xs) / min(xs) >= 100
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(f"iteration ({'log' if log else 'linear'} scale)", fontsize=8)
    ax.set_ylabel(name, fontsize=8)
    ax.tick_params(labelsize=7)
    return handles


def curves_figure(rows, data, columns=4):
    """Every metric of ``data`` against iteration, one panel each in table order, with one legend
    for the figure under the panels. None when ``data`` has no metric."""
    rows = [r for r in rows if r["data"] == data]
    names = list(dict.fromkeys(r["metric"] for r in rows))  # table order
    labels = list(dict.fromkeys(r["label"] for r in rows))  # one style each
    if not names:
        return None
    columns = min(columns, len(names))
    nrows = math.ceil(len(names) / columns)
    # Constrained layout keeps the axis labels, the legend and the title inside the figure.
    width = max(3.2 * columns, 4.0)
    fig, axes = plt.subplots(nrows, columns, figsize=(width, 2.6 * nrows + 0.7), dpi=100, squeeze=False,
                             layout="constrained")
    handles = {}
    for ax, name in zip(axes.flat, names):
        handles = draw_curves(ax, rows, name, labels) | handles
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    # As many legend columns as fit across the figure, so a long label list wraps instead of running off.
    entry = 0.6 + LEGEND_CHAR_INCHES * max(len(label) for label in labels)
    ncols = max(1, min(len(labels), int((width - 0.2) // entry)))
    fig.legend(handles=[handles[label] for label in labels if label in handles], loc="outside lower center",
               ncols=ncols, fontsize=8, frameon=False)
    fig.suptitle(f"{data}: mean ± s.e. over seeds", fontsize=10)
    return fig


def write_plots(folder, rows, columns=4):
    """``plot-<data>.png``: every metric against iteration, one line per label, a band of ± 1 s.e."""
    written = []
    for data in dict.fromkeys(r["data"] for r in rows):
        fig = curves_figure(rows, data, columns)
        if fig is None:
            continue
        save_figure(fig, folder / f"plot-{data}.png")
        written.append(folder / f"plot-{data}.png")
    return written
