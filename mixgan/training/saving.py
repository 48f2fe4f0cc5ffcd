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


def keep_real(run, fixed_real):
    """Where a run's fixed real batch lives: an image run's images are written once to
    ``RUN/real.npz`` (unless already there, as when it resumes) and None is returned, so its
    snapshots and frames hold generated images only; 2D points are returned, to be kept in every
    snapshot (they are small, and the landscape is drawn around them)."""
    if fixed_real.ndim != 4:
        return fixed_real
    if not (run / snapshots.REAL_FILE).is_file():
        snapshots.save_real(run, fixed_real)
    return None


@torch.no_grad()
def sample_arrays(G, D, fixed_z, fixed_real, config, iteration, G_ema=None):
    """The arrays of one snapshot or frame: G's output on the fixed noise, the iteration, with
    ``fixed_real`` (2D points; None for image runs, see :func:`keep_real`) the real points and,
    with ``landscape``, D's probability map around them, and with ``G_ema`` (the weight average,
    ``--ema``) its output on the same noise as ``fake_ema``."""
    generate = generate_images if fixed_real is None else (lambda g, z: g(z).cpu().numpy())
    arrays = {} if fixed_real is None else {"real": fixed_real}
    arrays.update(fake=generate(G, fixed_z), iteration=iteration)
    if G_ema is not None:
        arrays["fake_ema"] = generate(G_ema, fixed_z)
    if config.landscape and fixed_real is not None:
        arrays.update(d_landscape(D, fixed_real, config.landscape))
    return arrays


def save_snapshot(run, iteration, G, D, fixed_z, fixed_real, config, data, G_ema=None):
    """Save the snapshot's arrays, draw its picture from them (G's own samples) and append its
    metrics record (with ``G_ema``, also the average's metrics)."""
    arrays = sample_arrays(G, D, fixed_z, fixed_real, config, iteration, G_ema)
    npz = snapshots.save(run, "snapshots", iteration, arrays)
    draw_snapshot(npz, snapshots.path(run, "snapshots", iteration, ".png"),
                  title=f"{config.objective} · {config.data} · iteration {iteration}")
    record_snapshot_metrics(run, iteration, D, data, config)


def save_frame(run, iteration, G, D, fixed_z, fixed_real, config, G_ema=None):
    """Save one animation frame's arrays (no picture: ``mixgan animate`` draws frames), with
    ``G_ema`` the weight average's samples too, as in a snapshot."""
    snapshots.save(run, "frames", iteration, sample_arrays(G, D, fixed_z, fixed_real, config, iteration, G_ema))
