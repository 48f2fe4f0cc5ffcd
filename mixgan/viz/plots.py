"""Pictures drawn from what a run folder holds (raw arrays), never from a model."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mixgan.evaluation.toy_metrics import frame_limits  # noqa: E402
from mixgan.runs import folders  # noqa: E402

REAL_COLOR = "tab:blue"
FAKE_COLOR = "tab:orange"


def outside_count(fake, lo, hi):
    finite = np.isfinite(fake).all(axis=1)
    inside = finite & (fake >= lo).all(axis=1) & (fake <= hi).all(axis=1)
    return int((~inside).sum())


def draw_points(ax, real, fake, title=None, compact=False):
    """Real points blue, generated orange, frame fixed by the real points, and a note of
    how many generated points fell outside it (shorter with ``compact``, for small panels)."""
    lo, hi = frame_limits(real)
    ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL_COLOR, alpha=0.6, linewidths=0)
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c=FAKE_COLOR, alpha=0.6, linewidths=0)
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


LANDSCAPE_CMAP = "Greys"  # light where D says "generated", dark where it says "real"; the points stay visible


def draw_landscape(ax, landscape, limits):
    """D's probability (see mixgan/evaluation/landscape.py for the grid) as a heat map under the points.
    Grid values sit at pixel centres, so the image extends half a cell beyond the grid."""
    n = landscape.shape[0]
    lo, hi = (float(v) for v in limits)
    half = (hi - lo) / (2 * (n - 1))
    return ax.imshow(landscape, origin="lower", extent=(lo - half, hi + half, lo - half, hi + half),
                     cmap=LANDSCAPE_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest", zorder=0, alpha=0.5)


def save_figure(fig, path, keep_open=False, overwrite=True, **kwargs):
    buf = io.BytesIO()
    fig.savefig(buf, format=str(path).rsplit(".", 1)[-1], **kwargs)
    if not keep_open:  # keep_open: the same figure is saved again in another format
        plt.close(fig)
    if overwrite:
        folders.atomic_write_bytes(path, buf.getvalue())
    else:
        folders.atomic_write_bytes(path, buf.getvalue(), overwrite=False)


def draw_snapshot(npz_path, png_path, title=None):
    """The picture of one snapshot, from its saved arrays: a scatter plot of points (over D's
    landscape when saved), or real and generated image grids side by side."""
    with np.load(npz_path) as z:
        real, fake = z["real"], z["fake"]
        landscape = (z["landscape"], z["landscape_limits"]) if "landscape" in z else None
    if real.ndim == 4:
        from mixgan.viz.image_plots import draw_image_snapshot  # it imports this module
        return draw_image_snapshot(npz_path, png_path, title)
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=120)
    if landscape is not None:  # saved with --landscape
        draw_landscape(ax, *landscape)
    draw_points(ax, real, fake, title)
    fig.tight_layout()
    save_figure(fig, png_path)


def draw_samples(fake, real, path, title=None, overwrite=True):
    """A picture of samples drawn from a trained generator: points over the frame of the run's real
    points (blue), or a grid of the first images."""
    fig, ax = plt.subplots(figsize=(3.6, 3.6), dpi=120)
    if fake.ndim == 4:
        from mixgan.viz.image_plots import draw_image_grid  # it imports this module
        draw_image_grid(ax, fake, title)
    else:
        draw_points(ax, real, fake, title)
    fig.tight_layout()
    save_figure(fig, path, overwrite=overwrite)
