"""Pictures drawn from what a run folder holds (raw arrays), never from a model."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from mixgan.evaluation.toy_metrics import frame_limits  # noqa: E402
from mixgan.runs import folders, snapshots  # noqa: E402

REAL_COLOR = "tab:blue"
FAKE_COLOR = "tab:orange"
REAL_LABEL = "real (data)"
FAKE_LABEL = "generated"
LANDSCAPE_LABEL = "D's probability of real"


def outside_count(fake, lo, hi):
    finite = np.isfinite(fake).all(axis=1)
    inside = finite & (fake >= lo).all(axis=1) & (fake <= hi).all(axis=1)
    return int((~inside).sum())


def draw_points(ax, real, fake, title=None, compact=False):
    """Real points blue, generated orange, frame fixed by the real points, and a note of
    how many generated points fell outside it (shorter with ``compact``, for small panels)."""
    lo, hi = frame_limits(real)
    ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL_COLOR, alpha=0.6, linewidths=0, label=REAL_LABEL)
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c=FAKE_COLOR, alpha=0.6, linewidths=0, label=FAKE_LABEL)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    outside = outside_count(fake, lo, hi)
    if outside:
        ax.text(0.02, 0.02, f"{outside}/{len(fake)} " + ("out" if compact else "generated outside"),
                transform=ax.transAxes, fontsize=6 if compact else 7, color="black",
                bbox=dict(facecolor="white", alpha=0.7, linewidth=0))
    if title:
        ax.set_title(title, fontsize=9)


def points_legend(fig, **kwargs):
    """One legend for a figure of point panels, naming the two colours. The points are drawn tiny,
    so the legend shows them as larger markers of the same colours."""
    handles = [Line2D([], [], linestyle="", marker="o", markersize=5, color=c, label=label)
               for c, label in ((REAL_COLOR, REAL_LABEL), (FAKE_COLOR, FAKE_LABEL))]
    kwargs = dict(ncols=2, fontsize=8, frameon=False, handletextpad=0.2, columnspacing=1.0) | kwargs
    return fig.legend(handles=handles, **kwargs)


LANDSCAPE_CMAP = "Greys"  # light where D says "generated", dark where it says "real"; the points stay visible


def draw_landscape(ax, landscape, limits):
    """D's probability (see mixgan/evaluation/landscape.py for the grid) as a heat map under the points.
    Grid values sit at pixel centres, so the image extends half a cell beyond the grid."""
    n = landscape.shape[0]
    lo, hi = (float(v) for v in limits)
    half = (hi - lo) / (2 * (n - 1))
    return ax.imshow(landscape, origin="lower", extent=(lo - half, hi + half, lo - half, hi + half),
                     cmap=LANDSCAPE_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest", zorder=0, alpha=0.5)


def landscape_colorbar(fig, image, **kwargs):
    """The scale of a landscape heat map: D's probability from 0 to 1, in the shades the map is
    drawn with (the colour bar takes the map's transparency, so a shade reads the same on both)."""
    bar = fig.colorbar(image, ticks=[0.0, 0.5, 1.0], **kwargs)
    bar.ax.tick_params(labelsize=7)
    bar.set_label(LANDSCAPE_LABEL, fontsize=8)
    return bar


def save_figure(fig, path, keep_open=False, overwrite=True, **kwargs):
    buf = io.BytesIO()
    fig.savefig(buf, format=str(path).rsplit(".", 1)[-1], **kwargs)
    if not keep_open:  # keep_open: the same figure is saved again in another format
        plt.close(fig)
    if overwrite:
        folders.atomic_write_bytes(path, buf.getvalue())
    else:
        folders.atomic_write_bytes(path, buf.getvalue(), overwrite=False)


def points_figure(real, fake, title=None, landscape=None, size=3.2, dpi=120):
    """One panel of points (over D's landscape when given as ``(landscape, limits)``), with the
    legend below it and, over a landscape, the colour bar on its right."""
    # Constrained layout makes room for the title, the legend and the colour bar inside the figure.
    fig, ax = plt.subplots(figsize=(size + (0.7 if landscape is not None else 0.0), size + 0.3), dpi=dpi,
                           layout="constrained")
    image = draw_landscape(ax, *landscape) if landscape is not None else None
    draw_points(ax, real, fake, title)
    points_legend(fig, loc="outside lower center")
    if image is not None:
        landscape_colorbar(fig, image, ax=ax, shrink=0.8, pad=0.02)
    return fig


def snapshot_figure(npz_path, title=None):
    """The picture of one snapshot from its saved arrays: a scatter plot of points (over D's
    landscape when saved), or real and generated image grids side by side."""
    z = snapshots.read(npz_path)  # an image run's real images come from its real.npz
    real, fake = z["real"], z["fake"]
    landscape = (z["landscape"], z["landscape_limits"]) if "landscape" in z else None
    if real.ndim == 4:
        from mixgan.viz.image_plots import image_snapshot_figure  # it imports this module
        return image_snapshot_figure(real, fake, title)
    return points_figure(real, fake, title, landscape)


def draw_snapshot(npz_path, png_path, title=None):
    """Draw :func:`snapshot_figure` and save it to ``png_path``."""
    save_figure(snapshot_figure(npz_path, title), png_path)


def samples_figure(fake, real, title=None):
    """Samples drawn from a trained generator: points over the frame of the run's real points,
    or a grid of the first images."""
    if fake.ndim != 4:
        return points_figure(real, fake, title, size=3.6)
    from mixgan.viz.image_plots import draw_image_grid  # it imports this module
    fig, ax = plt.subplots(figsize=(3.6, 3.6), dpi=120, layout="constrained")
    draw_image_grid(ax, fake, title)
    return fig


def draw_samples(fake, real, path, title=None, overwrite=True):
    """A picture of samples drawn from a trained generator: points over the frame of the run's real
    points (blue), or a grid of the first images."""
    save_figure(samples_figure(fake, real, title), path, overwrite=overwrite)
