"""What a run records at a snapshot iteration: raw arrays first, then the picture drawn from them."""
import torch

from mixgan import plots, runs
from mixgan.frames import landscape_arrays


@torch.no_grad()
def write_snapshot(run, iteration, G, D, fixed_z, fixed_real, config):
    """Generate from the fixed noise, save ``snapshots/iter_NNNNNN.npz`` (``real``, ``fake``)
    and draw ``iter_NNNNNN.png`` from it. Returns the saved arrays as a dict."""
    if fixed_real.ndim == 4:  # image data (issue 5): a sample grid instead of a scatter plot
        from mixgan.image_snapshots import write_image_snapshot
        return write_image_snapshot(run, iteration, G, fixed_z, fixed_real, config)
    arrays = {"real": fixed_real, "fake": G(fixed_z).cpu().numpy(), "iteration": iteration}
    arrays.update(landscape_arrays(D, fixed_real, config))  # D's probability map when --landscape (issue 3)
    npz = runs.snapshot_path(run, iteration, ".npz")
    runs.atomic_save_npz(npz, **arrays)
    plots.draw_snapshot(npz, runs.snapshot_path(run, iteration, ".png"),
                        title=f"{config.objective} · {config.data} · iteration {iteration}")
    return arrays
