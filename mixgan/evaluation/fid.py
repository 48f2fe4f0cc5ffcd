"""FID (Heusel et al. 2017) through torchmetrics, only where its Inception weights are already on this machine.

mixgan never downloads the weights and never reports a made-up value: when torchmetrics
(with torch-fidelity) or the weights file is missing, :func:`fid_unavailable` says which
and :func:`frechet_inception_distance` raises :class:`FIDUnavailable` with that one line.
The weights are torch-fidelity's port of the TF Inception used for published FIDs, read
from torch's hub cache (``$TORCH_HOME/hub/checkpoints``), where torch-fidelity keeps them.
"""
from pathlib import Path

import torch

from mixgan.errors import UsageError

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS}"


class FIDUnavailable(UsageError):
    """FID cannot be computed on this machine (library or weights missing)."""


def inception_weights_path():
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def fid_unavailable():
    """None when FID can be computed here, else a one-line reason saying what to install or fetch."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: F401
        import torch_fidelity  # noqa: F401
    except Exception as err:  # ImportError, or a build that does not match this torch
        return (f"FID needs torchmetrics and torch-fidelity (pip install 'torchmetrics[image]'); "
                f"importing them failed: {' '.join(str(err).split())}")
    path = inception_weights_path()
    if not path.is_file():
        return f"FID needs the Inception weights at {path} (download {INCEPTION_URL} there); mixgan fetches nothing"
    return None


@torch.no_grad()
def frechet_inception_distance(fake, real, device="cpu", batch=200):
    """FID between image batches [N, C, H, W] in [-1, 1] (grey images are repeated to RGB;
    torchmetrics resizes to 299x299). Raises FIDUnavailable when it cannot be computed.
    FID is biased upwards for small N: compare runs at the same N only."""
    reason = fid_unavailable()
    if reason:
        raise FIDUnavailable(reason)
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
    for images, is_real in ((real, True), (fake, False)):
        for part in torch.as_tensor(images, dtype=torch.float32).split(batch):
            part = ((part.clamp(-1, 1) + 1) / 2).to(device)
            if part.shape[1] == 1:
                part = part.expand(-1, 3, -1, -1)
            metric.update(part, real=is_real)
    return float(metric.compute())
