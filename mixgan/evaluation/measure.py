"""Snapshot metrics: the numbers a run records beside every snapshot picture.

At each snapshot iteration the training loop calls :func:`record_snapshot_metrics`, which
reads the snapshot's *saved* generated points back from ``snapshots/iter_NNNNNN.npz``
(so the numbers describe exactly what the picture shows), draws fresh real points, and
appends one record to ``metrics.jsonl``::

    {"kind": "snapshot", "iteration": 1000, "energy_distance": ..., "grad_norm_real": ..., ...}

For runs with ``ema`` the record also holds the sample metrics of the generator's weight average
(``fake_ema`` in the snapshot) under ``ema_``-prefixed keys (``ema_modes_covered``,
``ema_energy_distance``, ...), measured against the same fresh real points, so raw and averaged
differ only by the generator. D's diagnostics (they describe D) and the real-vs-real floors
(they describe the real sample) are not repeated.

Undefined values (the reverse KL when no sample is high quality) are written as ``null``.
``kind`` tells these records apart from the periodic training-loss records (which carry no
``kind``). The metric definitions live in :mod:`mixgan.evaluation.toy_metrics` and docs/METRICS.md.
"""
import time

import numpy as np
import torch

from mixgan.errors import UsageError
from mixgan.evaluation import toy_metrics as metrics
from mixgan.rng import metrics_generator
from mixgan.runs import folders, snapshots

SNAPSHOT_KIND = "snapshot"
EMA_PREFIX = "ema_"
# Keys of a record that describe the real sample or the bookkeeping, not the generated points.
_NOT_OF_THE_GENERATOR = {"kind", "iteration", "measure_s", "modes_total", "floor_energy_distance",
                         "floor_sliced_wasserstein"}


def is_2d(points):
    return points.ndim == 2 and points.shape[1] == 2


def sample_measures(dataset, fake, generator):
    """Sample-quality metrics of ``fake`` [N, 2] against N fresh real points, plus their noise floor.

    The floor keys ``floor_energy_distance`` and ``floor_sliced_wasserstein`` are the same
    distances between a second fresh real sample and the first one, i.e. what a perfect
    generator would score at this sample size (one draw per snapshot; averaged over seeds
    by ``compare``).
    """
    n = len(fake)
    real = dataset.sample(n, generator).cpu()
    out = metrics.snapshot_metrics(dataset, torch.as_tensor(fake), real, generator)
    other = dataset.sample(n, generator).cpu()
    out["floor_energy_distance"] = metrics.energy_distance(other, real)
    out["floor_sliced_wasserstein"] = metrics.sliced_wasserstein(other, real, generator)
    return out, real


def snapshot_record(dataset, fake, D, iteration, seed):
    """The full snapshot record for generated points ``fake`` (numpy [N, 2]); ``D`` may be None."""
    start = time.perf_counter()
    g = metrics_generator(seed, iteration)
    record = {"kind": SNAPSHOT_KIND, "iteration": int(iteration)}
    if not np.isfinite(fake).all():
        # A diverged generator: distances are meaningless, but "how many escaped" is exactly the story.
        record["nonfinite_fraction"] = float((~np.isfinite(fake).all(axis=1)).mean())
        fake = np.where(np.isfinite(fake), fake, np.float32(1e6))  # far outside, still finite when squared
    values, real = sample_measures(dataset, fake, g)
    record.update(values)
    if D is not None:
        # D's smoothness where it matters: at real points, at the generated points and between them.
        # Both point sets go to D's device and dtype (the generator g stays on the CPU).
        param = next(D.parameters(), None) if isinstance(D, torch.nn.Module) else None
        device, dtype = (param.device, param.dtype) if param is not None else ("cpu", torch.float32)
        fake_t = torch.as_tensor(fake).to(device, dtype)
        record.update(metrics.d_diagnostics(D, real.to(device, dtype), fake_t, g))
    record["measure_s"] = round(time.perf_counter() - start, 4)
    # NaN (reverse KL with no high-quality sample) is written as null, so the file stays strict JSON.
    return {k: None if isinstance(v, float) and v != v else v for k, v in record.items()}


def record_snapshot_metrics(run, iteration, D, dataset, config):
    """Measure the snapshot just written at ``iteration`` and append its record to ``metrics.jsonl``.

    Returns the record, or None for data that are not 2D points (the metrics are 2D-only).
    """
    with np.load(snapshots.path(run, "snapshots", iteration)) as z:
        fake = z["fake"]
        fake_ema = z["fake_ema"] if "fake_ema" in z.files else None
    if not is_2d(fake):
        return None
    record = snapshot_record(dataset, fake, D, iteration, config.seed)
    if fake_ema is not None:
        # The same seed gives the same fresh real points: raw and average are measured alike.
        averaged = snapshot_record(dataset, fake_ema, None, iteration, config.seed)
        record.update({EMA_PREFIX + k: v for k, v in averaged.items() if k not in _NOT_OF_THE_GENERATOR})
    folders.append_jsonl(run / "metrics.jsonl", record)
    return record


def snapshot_records(run):
    """The snapshot records of a run folder, by iteration (the last one wins if repeated)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return {}
    try:
        lines = folders.read_jsonl(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"corrupt {path}: {e}")
    return {r["iteration"]: r for r in lines if isinstance(r, dict) and r.get("kind") == SNAPSHOT_KIND}
