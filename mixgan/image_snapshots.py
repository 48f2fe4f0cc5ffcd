"""What an image run records at a snapshot iteration: the raw tensors, then a sample grid drawn from them.

``snapshots/iter_NNNNNN.npz`` holds ``real`` and ``fake`` (float32 [N, C, H, W] in [-1, 1],
N = ``snapshot_size``; the fake images come from the run's fixed noise, so every snapshot
shows the same latent points) and ``iteration``; ``iter_NNNNNN.png`` shows the first 64 of
each as grids. The same layout as 2D runs, with images in place of points.
"""
import torch

from mixgan import runs
from mixgan.image_plots import draw_image_snapshot

GENERATE_CHUNK = 500  # fixed noise vectors per forward pass, to bound activation memory at 64x64


@torch.no_grad()
def generate(G, z, chunk=GENERATE_CHUNK):
    """G(z) in chunks, moved to the host once at the end.

    G stays in training mode, as during training: its BatchNorm layers normalise with the
    statistics of each chunk of fixed noise (the chunks are fixed too, so snapshots stay
    comparable). The running averages it updates are never used by training.
    """
    return torch.cat([G(part) for part in z.split(chunk)]).cpu().numpy()


def write_image_snapshot(run, iteration, G, fixed_z, fixed_real, config):
    """Save ``iter_NNNNNN.npz`` (``real``, ``fake``, ``iteration``) and draw ``iter_NNNNNN.png``; return the arrays."""
    arrays = {"real": fixed_real, "fake": generate(G, fixed_z), "iteration": iteration}
    npz = runs.snapshot_path(run, iteration, ".npz")
    runs.atomic_save_npz(npz, **arrays)
    draw_image_snapshot(npz, runs.snapshot_path(run, iteration, ".png"),
                        title=f"{config.objective} · {config.data} · iteration {iteration}")
    return arrays
