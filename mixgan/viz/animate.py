"""``mixgan animate``: PNG frames and a GIF or MP4 of one or more runs, drawn from saved arrays.

Several runs play side by side in sync (for example ERM against mixup at one seed): every
frame shows each run at the same iteration, each panel titled with its run, and the
iteration above them. The frames come from ``frames/`` (``mixgan train --frames N``) when
every run has them, otherwise from ``snapshots/``. Output goes to a new numbered folder:

    outputs/NNNNN-animate/frames/frame_0000.png ..., animation.gif (or .mp4), animation.json
"""
import io
import shutil

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np

from mixgan.runs import folders
from mixgan.errors import UsageError
from mixgan.runs.reader import load_run
from mixgan.viz import plots
from mixgan.viz.figures import draw_arrays, run_title, shared_iterations

FORMATS = ("gif", "mp4")
PANEL_PX, TITLE_PX, DPI = 320, 32, 100  # multiples of 16: the H.264 encoder needs no rescaling
LEGEND_PX, LANDSCAPE_KEY_PX = 96, 176  # the column right of the panels: the legend, and the colour bar
MAX_FPS = 240


def frame_source(run_list):
    """``frames`` when every run saved animation frames, else ``snapshots``."""
    return "frames" if all(r.iterations("frames") for r in run_list) else "snapshots"


def frame_figure(run_list, iteration, kind, landscape):
    """One frame's figure: the runs side by side at ``iteration``, and for 2D runs a column on the
    right with the legend and, over landscapes, the colour bar. Its size depends only on the runs
    and ``landscape``, so every frame of an animation has the same size."""
    n = len(run_list)
    arrays = [run.arrays(iteration, kind) for run in run_list]
    points = any(a["fake"].ndim == 2 for a in arrays)
    side = (LANDSCAPE_KEY_PX if landscape else LEGEND_PX) if points else 0
    fig, axes = plt.subplots(1, n, squeeze=False, dpi=DPI, layout="constrained",
                             figsize=((n * PANEL_PX + side) / DPI, (PANEL_PX + TITLE_PX) / DPI))
    fig.get_layout_engine().set(w_pad=0.03, h_pad=0.03, wspace=0.02)
    image = None
    for ax, run, a in zip(axes[0], run_list, arrays):
        image = draw_arrays(ax, a, landscape, title=run_title(run)) or image
    fig.suptitle(f"iteration {iteration}" if points else f"generated images · iteration {iteration}", fontsize=11)
    if points:  # beside the panels, so it covers no points
        plots.points_legend(fig, loc="outside right upper", ncols=1)
    if image is not None:
        plots.landscape_colorbar(fig, image, ax=axes, location="right", shrink=0.7)
    return fig


def render_frame(run_list, iteration, kind, landscape):
    """One frame as (PNG bytes, RGB array [H, W, 3]): the runs side by side at ``iteration``."""
    fig = frame_figure(run_list, iteration, kind, landscape)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    fig.set_layout_engine("none")  # laid out by the draw above; saving need not lay it out again
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue(), rgb


def encode(frames, fmt, fps):
    """The movie file's bytes: GIF (Pillow, looping) or MP4 (H.264 through imageio-ffmpeg's ffmpeg)."""
    stack = np.stack(frames)
    if fmt == "gif":
        return iio.imwrite("<bytes>", stack, extension=".gif", duration=1000 / fps, loop=0)
    return iio.imwrite("<bytes>", stack, extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264",
                       quality=8, macro_block_size=16, pixelformat="yuv420p")


def animate(paths, out="outputs", fmt="gif", fps=10.0, landscape=False, log=print, allow_unfinished=False,
            ema=False):
    """Write the PNG frames and ``animation.<fmt>`` into a new folder under ``out``; return that folder.
    ``ema``: draw the samples of each run's generator weight average (runs trained with ``ema``)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")
    if not 0 < fps <= MAX_FPS:
        raise UsageError(f"fps must be in (0, {MAX_FPS}], got {fps}")
    run_list = [load_run(p, allow_unfinished, ema) for p in paths]
    kind = frame_source(run_list)
    iterations = shared_iterations(run_list, kind)
    if kind == "snapshots":
        log(f"no frames/ in every run (train with --frames N); animating the {len(iterations)} snapshots")
    # Everything is drawn and encoded in memory first, so an unreadable run leaves no folder behind.
    pngs, movie = zip(*(render_frame(run_list, it, kind, landscape) for it in iterations))
    encoded = encode(movie, fmt, fps)
    folder = folders.create_run_folder(out, "animate")
    try:
        (folder / "frames").mkdir()
        for i, png in enumerate(pngs):
            folders.atomic_write_bytes(folder / "frames" / f"frame_{i:04d}.png", png)
        folders.atomic_write_bytes(folder / f"animation.{fmt}", encoded)
        folders.atomic_write_json(folder / "animation.json", {
            "runs": [str(r.path) for r in run_list], "source": kind, "iterations": list(iterations),
            "format": fmt, "fps": fps, "landscape": bool(landscape), "ema": bool(ema)})
    except OSError as e:  # a full disk: no half-written animation folder is left behind
        shutil.rmtree(folder, ignore_errors=True)
        raise UsageError(f"cannot write the animation into {folder.parent}: {e.strerror or e}")
    return folder
