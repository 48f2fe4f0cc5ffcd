"""Sample grids of images, drawn from saved arrays like :mod:`mixgan.viz.plots` draws points.

Images are float arrays [N, C, H, W] in [-1, 1] (what the generator's tanh gives and what
:mod:`mixgan.data.images` loads). Values outside are clipped for display only.
"""
import math

import numpy as np
import torch

from mixgan.runs import snapshots
from mixgan.viz.plots import plt, save_figure

GRID_IMAGES = 64  # images shown per grid (8 x 8), taken from the front of the fixed batch


def grid_tensor(images, nrow=None, pad=1, pad_value=1.0):
    """Images [N, C, H, W] in [-1, 1] tiled by ``torchvision.utils.make_grid`` into a float tensor
    [3, rows·(H+pad)+pad, cols·(W+pad)+pad] in [0, 1] (one channel is repeated to three), as
    TensorBoard's ``add_image`` takes it.

    ``nrow`` images per row (default: the ceiling of √N). Non-finite pixels become 0 (black)
    so they stand out rather than vanish; :func:`draw_image_grid` also counts them.
    """
    from torchvision.utils import make_grid
    images = torch.from_numpy(np.array(images, dtype=np.float32))  # a copy: saved arrays are read-only
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(images.shape)}")
    shown = ((images.clamp(-1.0, 1.0) + 1.0) / 2.0).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    return make_grid(shown, nrow=nrow or math.ceil(math.sqrt(len(images))), padding=pad, pad_value=pad_value)


def image_grid(images, nrow=None, pad=1, pad_value=1.0):
    """:func:`grid_tensor` as an array [rows·(H+pad)+pad, cols·(W+pad)+pad, C] in [0, 1] for matplotlib,
    with the image's own number of channels."""
    grid = grid_tensor(images, nrow, pad, pad_value)
    return grid[:np.shape(images)[1]].permute(1, 2, 0).numpy()


def nonfinite_count(images):
    """Images with at least one NaN or infinite pixel."""
    images = np.asarray(images)
    return int((~np.isfinite(images.reshape(len(images), -1))).any(axis=1).sum())


def draw_image_grid(ax, images, title=None, limit=GRID_IMAGES):
    """The first ``limit`` images [N, C, H, W] as a grid on ``ax`` (grey for one channel),
    with a note of how many shown images had non-finite pixels."""
    images = np.asarray(images)[:limit]
    grid = image_grid(images)
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    bad = nonfinite_count(images)
    if bad:
        ax.text(0.02, 0.02, f"{bad}/{len(images)} non-finite", transform=ax.transAxes, fontsize=7,
                bbox=dict(facecolor="white", alpha=0.7, linewidth=0))
    if title:
        ax.set_title(title, fontsize=9)


def image_snapshot_figure(real, fake, title=None, limit=GRID_IMAGES):
    """Real images left, generated right, each grid titled; constrained layout keeps the titles
    inside the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.5), dpi=100, layout="constrained")
    draw_image_grid(axes[0], real, "real (data)", limit)
    draw_image_grid(axes[1], fake, "generated", limit)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def draw_image_snapshot(npz_path, png_path, title=None, limit=GRID_IMAGES):
    """The picture of one image snapshot from its saved arrays (the real images from the run's
    ``real.npz``, or from the snapshot itself in older runs): real images left,
    generated right."""
    z = snapshots.read(npz_path)
    real, fake = z["real"], z["fake"]
    save_figure(image_snapshot_figure(real, fake, title, limit), png_path)
