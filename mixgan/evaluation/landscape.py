"""The discriminator's landscape: D's probability σ(D(x)) on a square grid over the snapshot frame.

Section 3.7 of Zhang et al. (ICLR 2018) argues that mixup makes the discriminator smoother
and so gives the generator a stable source of gradients; drawing σ(D(x)) under the points
lets a reader see that claim. The values are saved beside the points (``landscape`` and
``landscape_limits`` in a snapshot or frame ``.npz``) so pictures can be redrawn.

Layout of the saved array (documented in docs/FIGURES.md): with ``lo, hi`` the frame of
:func:`mixgan.evaluation.toy_metrics.frame_limits` and ``t = linspace(lo, hi, n)``, ``landscape[i, j] =
σ(D((t[j], t[i])))``: rows follow y upwards, columns follow x, shape [n, n], float32.
"""
import numpy as np
import torch

from mixgan.evaluation.toy_metrics import frame_limits

CHUNK = 1 << 14  # grid points per D pass: bounds the hidden activations (16k × width floats)


def grid_points(lo, hi, n):
    """The n × n grid as points [n, n, 2]: ``points[i, j] = (t[j], t[i])``."""
    t = torch.linspace(lo, hi, n)
    y, x = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([x, y], dim=-1)


@torch.no_grad()
def d_landscape(D, real, n):
    """D's probability on the n × n grid over the frame of the real points [N, 2].

    Returns ``{"landscape": float32 [n, n], "landscape_limits": float32 [2]}`` (numpy), ready
    to be saved beside the points. D's parameters (if any) decide the device.
    """
    lo, hi = frame_limits(np.asarray(real))
    param = next(D.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    points = grid_points(lo, hi, n).to(device)
    flat = points.reshape(-1, 2)
    probs = torch.cat([torch.sigmoid(D(chunk)) for chunk in flat.split(CHUNK)]).reshape(n, n)
    return {"landscape": probs.float().cpu().numpy(), "landscape_limits": np.array([lo, hi], dtype=np.float32)}
