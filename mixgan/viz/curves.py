"""Metric curves: every snapshot metric of a summary table against iteration, one line per label
with a band of ± 1 standard error over seeds (rows from ``mixgan/evaluation/tables.py``)."""
import math

from mixgan.viz.plots import plt, save_figure


def write_plots(folder, rows, columns=4):
    """``plot-<data>.png``: every metric against iteration, one line per label, a band of ± 1 s.e."""
    written = []
    for data in dict.fromkeys(r["data"] for r in rows):
        names = list(dict.fromkeys(r["metric"] for r in rows if r["data"] == data))  # table order
        labels = list(dict.fromkeys(r["label"] for r in rows if r["data"] == data))  # one colour each
        sub = [r for r in rows if r["data"] == data and r["n"] > 0]
        if not names:
            continue
        nrows = math.ceil(len(names) / columns)
        fig, axes = plt.subplots(nrows, columns, figsize=(3.2 * columns, 2.6 * nrows), dpi=100, squeeze=False)
        for ax, name in zip(axes.flat, names):
            for i, label in enumerate(labels):
                pts = sorted((r["iteration"], r["mean"], r["se"] or 0.0) for r in sub
                             if r["metric"] == name and r["label"] == label)
                if not pts:
                    continue
                x, m, s = (list(v) for v in zip(*pts))
                ax.plot(x, m, marker="o", markersize=3, label=label, color=f"C{i}")
                ax.fill_between(x, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)],
                                color=f"C{i}", alpha=0.25, linewidth=0)
            xs = [r["iteration"] for r in rows if r["data"] == data and r["metric"] == name]
            if min(xs) > 0 and max(xs) / min(xs) >= 100:
                ax.set_xscale("log")
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{data}: mean ± s.e. over seeds", fontsize=10)
        fig.tight_layout()
        save_figure(fig, folder / f"plot-{data}.png")
        written.append(folder / f"plot-{data}.png")
    return written
