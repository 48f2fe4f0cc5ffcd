"""Multi-panel figures drawn from finished run folders: the paper's Figure 5 and generic run × iteration grids.

Everything here reads saved arrays (``snapshots/iter_NNNNNN.npz``); nothing trains or needs
a model, so figures can be redrawn at will.
"""
import textwrap

import matplotlib.pyplot as plt

from mixgan.errors import UsageError
from mixgan.runs.reader import load_run
from mixgan.viz import plots

FIGURE5_DATA = ("grid", "ring")  # rows, top to bottom, as in the paper
FIGURE5_OBJECTIVES = ("standard", "mixup")  # blocks, left to right
PANEL_INCHES = 1.6
FIGURE5_MIN_WIDTH = 4.8  # inches: room for the key and the block titles when few iterations are shown
NOTE_CHAR_INCHES = 0.07  # width of one character of the 8-point note, generously, for wrapping it
NOTE_LINE_INCHES = 0.17
ROW_LABEL_CHAR_INCHES = 0.065  # width of one character of an 8-point row label, generously


def run_title(run):
    """A run's panel title: its data and objective block title, and which generator drew it when
    it is the weight average."""
    return f"{run.config['data']} · {objective_title(run.config)}" + (" · weight average" if run.ema else "")


def objective_title(config):
    """The paper's block titles: 'ERM GAN' and 'mixup GAN (α = 0.2)'."""
    if config["objective"] == "standard":
        return "ERM GAN"
    if config["objective"] == "mixup":
        return f"mixup GAN (α = {config.get('alpha', '?'):g})"
    return f"{config['objective']} GAN"


def shared_iterations(run_list, kind="snapshots"):
    """Iterations every run saved, sorted; UsageError when there are none."""
    common = None
    for run in run_list:
        its = set(run.iterations(kind))
        if not its:
            raise UsageError(f"{run.path} has no saved {kind} (iter_NNNNNN.npz)")
        common = its if common is None else common & its
    if not common:
        raise UsageError(f"the runs share no {kind} iteration; train them with the same --snapshots")
    return tuple(sorted(common))


def draw_arrays(ax, a, landscape=False, title=None, compact=False):
    """One panel from a snapshot's or frame's arrays: generated images as a grid for image runs;
    for 2D runs real and generated points, over D's landscape when asked and saved. Returns the
    landscape's heat map (for a colour bar), or None when none was drawn."""
    if a["fake"].ndim == 4:
        from mixgan.viz.image_plots import draw_image_grid
        draw_image_grid(ax, a["fake"], title)
        return None
    image = None
    if landscape and "landscape" in a:
        image = plots.draw_landscape(ax, a["landscape"], a["landscape_limits"])
    plots.draw_points(ax, a["real"], a["fake"], title=title, compact=compact)
    return image


def _panel(ax, run, iteration, landscape, points_only=False):
    a = run.arrays(iteration)
    if points_only and a["real"].ndim != 2:  # Figure 5 is a figure of 2D points
        raise UsageError(f"{run.path} has no 2D 'real' points at iteration {iteration}; Figure 5 needs 2D runs")
    return draw_arrays(ax, a, landscape, compact=True)


def save_both(fig, paths):
    """Save one figure to several files (e.g. PNG and PDF), then close it."""
    for path in paths[:-1]:
        plots.save_figure(fig, path, keep_open=True, bbox_inches="tight", pad_inches=0.1)
    plots.save_figure(fig, paths[-1], bbox_inches="tight", pad_inches=0.1)


# ------------------------------------------------------------------------- Figure 5
def figure5_runs(paths, allow_unfinished=False):
    """The four runs of Figure 5 as {(data, objective): Run}, from any order of run folders.

    Refuses anything else with one line: a dataset or objective outside the figure, a missing
    or repeated cell, or two mixup runs with different α.
    """
    cells = {}
    for p in paths:
        run = load_run(p, allow_unfinished)
        key = (run.config["data"], run.config["objective"])
        if key[0] not in FIGURE5_DATA or key[1] not in FIGURE5_OBJECTIVES:
            raise UsageError(f"{run.path} is a {key[0]}/{key[1]} run; Figure 5 needs data grid or ring "
                             f"with objective standard or mixup")
        if key in cells:
            raise UsageError(f"two {key[0]}/{key[1]} runs given: {cells[key].path} and {run.path}")
        cells[key] = run
    missing = [f"{d}/{o}" for d in FIGURE5_DATA for o in FIGURE5_OBJECTIVES if (d, o) not in cells]
    if missing:
        raise UsageError(f"Figure 5 needs four runs (grid and ring × standard and mixup); missing: {', '.join(missing)}")
    alphas = {cells[(d, "mixup")].config.get("alpha") for d in FIGURE5_DATA}
    if len(alphas) > 1:
        raise UsageError(f"the two mixup runs have different α ({', '.join(map(str, sorted(alphas)))})")
    return cells


def figure5_figure(cells, note=None, landscape=False):
    """Figure 5's layout: 'ERM GAN' block left, 'mixup GAN (α)' block right, grid row over ring row,
    one column per shared snapshot iteration, and under them one legend for the points (and the
    landscape's colour bar) and the note. Returns (figure, iterations)."""
    iterations = shared_iterations(cells.values())
    ncol, nrow = len(iterations), len(FIGURE5_DATA)
    # Sizes in inches, so that panels stay square and fill each block: a margin for the row
    # labels on the left, the block title and column titles on top, the key and the note at the
    # bottom. A figure of one or two columns is widened so the key and the note still fit.
    P, left, top = PANEL_INCHES, 0.35, 0.75
    width = max(2 * (ncol * P + left + 0.1) + 0.3, FIGURE5_MIN_WIDTH)
    note_lines = textwrap.wrap(note, int((width - 0.4) / NOTE_CHAR_INCHES)) if note else []
    note_h = 0.1 + NOTE_LINE_INCHES * len(note_lines)
    key_h = 0.65 if landscape else 0.35
    bottom = note_h + key_h
    height = nrow * P + top + bottom
    fig = plt.figure(figsize=(width, height), dpi=100)
    blocks = fig.subfigures(1, 2, wspace=0.0)
    block_w = width / 2
    image = None
    for block, objective in zip(blocks, FIGURE5_OBJECTIVES):
        block.suptitle(objective_title(cells[(FIGURE5_DATA[0], objective)].config), fontsize=13, y=0.98)
        axes = block.subplots(nrow, ncol, squeeze=False)
        block.subplots_adjust(left=left / block_w, right=1 - 0.1 / block_w, top=1 - top / height,
                              bottom=bottom / height, wspace=0.06, hspace=0.06)
        for r, data in enumerate(FIGURE5_DATA):
            for c, it in enumerate(iterations):
                ax = axes[r, c]
                image = _panel(ax, cells[(data, objective)], it, landscape, points_only=True) or image
                if r == 0:
                    ax.set_title(f"{it}", fontsize=10)
                if c == 0:
                    ax.set_ylabel(data, fontsize=11)
    # The key sits under the panels, so it covers no points: the legend left of the centre, the
    # colour bar (its label above it, its scale below) right of it.
    key_y = (note_h + key_h / 2) / height
    if image is None:
        plots.points_legend(fig, loc="center", bbox_to_anchor=(0.5, key_y))
    else:
        plots.points_legend(fig, loc="center right", bbox_to_anchor=(0.5 - 0.15 / width, key_y))
        bar_w, bar_h = 1.8, 0.1
        cax = fig.add_axes(((0.5 * width + 0.15) / width, key_y - bar_h / 2 / height, bar_w / width, bar_h / height))
        plots.landscape_colorbar(fig, image, cax=cax, orientation="horizontal")
        cax.xaxis.set_label_position("top")
    if note_lines:
        fig.text(0.5, 0.05 / height, "\n".join(note_lines), ha="center", va="bottom", fontsize=8, color="0.3",
                 linespacing=1.3)
    return fig, iterations


# ------------------------------------------------------------------- generic grid
def draw_run_grid(run_list, path, iterations=None, landscape=False, title=None):
    """Draw :func:`run_grid_figure` and save it to ``path``; return the iterations shown."""
    fig, shown = run_grid_figure(run_list, iterations, landscape, title)
    save_both(fig, [path])
    return shown


def run_grid_figure(run_list, iterations=None, landscape=False, title=None):
    """Any runs (rows) at their shared snapshot iterations (columns), each row labelled with
    the run's data, objective and folder name, one legend under the panels when they hold points
    (else a line saying the images are generated ones) and a colour bar beside them when they show
    D's landscape. Returns (figure, iterations)."""
    shared = shared_iterations(run_list)
    if iterations:
        missing = sorted(set(iterations) - set(shared))
        if missing:
            raise UsageError(f"iteration {missing[0]} is not a snapshot every run saved; shared: "
                             f"{', '.join(map(str, shared))}")
        shared = tuple(sorted(set(iterations)))
    nrow, ncol = len(run_list), len(shared)
    labels = [f"{run_title(run)}\n{run.path.name}" for run in run_list]
    # Row labels are written across, left of their row, so a long one cannot run into the next
    # row; constrained layout fits them, the titles, the legend and the colour bar inside the figure.
    label_w = 0.2 + ROW_LABEL_CHAR_INCHES * max(len(line) for text in labels for line in text.splitlines())
    width = ncol * PANEL_INCHES + label_w + (0.9 if landscape else 0.2)
    height = nrow * PANEL_INCHES + 0.8 + (0.4 if title else 0.0)
    fig, axes = plt.subplots(nrow, ncol, squeeze=False, dpi=100, figsize=(width, height), layout="constrained")
    fig.get_layout_engine().set(wspace=0.02, hspace=0.02)
    image, points = None, False
    for r, run in enumerate(run_list):
        for c, it in enumerate(shared):
            image = _panel(axes[r, c], run, it, landscape) or image
            points = points or bool(axes[r, c].collections)
            if r == 0:
                axes[r, c].set_title(f"iteration {it}", fontsize=9)
        axes[r, 0].set_ylabel(labels[r], fontsize=8, rotation=0, ha="right", va="center")
    if points:  # image runs show generated images only
        plots.points_legend(fig, loc="outside lower center")
    else:
        fig.supxlabel("generated images", fontsize=9)
    if image is not None:
        plots.landscape_colorbar(fig, image, ax=axes[:, -1], location="right",
                                 shrink=min(1.0, 2.4 / (nrow * PANEL_INCHES)))
    if title:
        fig.suptitle(title, fontsize=11)
    return fig, shared
