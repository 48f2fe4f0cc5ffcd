"""What the engine saves at a snapshot or frame iteration: the arrays (``mixgan/runs/snapshots.py``
writes them), the snapshot's picture (drawn by ``mixgan/viz`` from the saved file) and its metrics
record (``mixgan/evaluation/measure.py``, measured from the saved points)."""
import torch

from mixgan.evaluation.landscape import d_landscape
from mixgan.evaluation.measure import record_snapshot_metrics
from mixgan.runs import snapshots
from mixgan.viz.plots import draw_snapshot

GENERATE_CHUNK = 500  # fixed noise vectors per forward pass for images, to bound activation memory at 64x64


@torch.no_grad()
def generate_images(G, z, chunk=GENERATE_CHUNK):
    """G(z) in chunks, moved to the host once at the end.

    G stays in training mode, as during training: its BatchNorm layers normalise with the
    statistics of each chunk of fixed noise (the chunks are fixed too, so snapshots stay
    comparable). The running averages it updates are never used by training.
    """
    return torch.cat([G(part) for part in z.split(chunk)]).cpu().numpy()


@torch.no_grad()
def sample_arrays(G, D, fixed_z, fixed_real, config, iteration):
    """The arrays of one snapshot or frame: the fixed real points or images, G's output on the
    fixed noise, the iteration and, for 2D runs with ``landscape``, D's probability map."""
    if fixed_real.ndim == 4:
        return {"real": fixed_real, "fake": generate_images(G, fixed_z), "iteration": iteration}
    arrays = {"real": fixed_real, "fake": G(fixed_z).cpu().numpy(), "iteration": iteration}
    if config.landscape:
        arrays.update(d_landscape(D, fixed_real, config.landscape))
    return arrays


def save_snapshot(run, iteration, G, D, fixed_z, fixed_real, config, data):
    """Save the snapshot's arrays, draw its picture from them and append its metrics record."""
    npz = snapshots.save(run, "snapshots", iteration, sample_arrays(G, D, fixed_z, fixed_real, config, iteration))
    draw_snapshot(npz, snapshots.path(run, "snapshots", iteration, ".png"),
                  title=f"{config.objective} · {config.data} · iteration {iteration}")
    record_snapshot_metrics(run, iteration, D, data, config)


def save_frame(run, iteration, G, D, fixed_z, fixed_real, config):
    """Save one animation frame's arrays (no picture: ``mixgan animate`` draws frames)."""
    snapshots.save(run, "frames", iteration, sample_arrays(G, D, fixed_z, fixed_real, config, iteration))
