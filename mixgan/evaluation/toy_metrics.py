"""Sample-quality metrics and discriminator diagnostics for mixgan's 2D experiments.

Two families of measurement, both pure functions with no global RNG (randomness comes
from a ``torch.Generator`` argument) that accept numpy arrays or torch tensors of shape
[N, 2]:

* **How good are the generated points?** Mode metrics for Gaussian mixtures (the VEEGAN /
  PacGAN protocol), energy distance and sliced Wasserstein distance to real samples
  (every dataset), kNN precision and recall (Kynkäänniemi et al., 2019) and the share of
  points that escape the plotting frame.
* **How smooth is the discriminator?** Section 3.7 of the mixup paper (Zhang et al.,
  ICLR 2018) argues that mixup makes D smoother; :func:`d_gradient_norms` and
  :func:`d_interpolation_nonlinearity` measure that directly.

:func:`snapshot_metrics` and :func:`d_diagnostics` gather everything into flat dicts of
plain Python numbers, for training snapshots and the compare command. Distances are
exact (``torch.cdist`` without the matrix-multiply shortcut) and computed in row chunks,
so memory stays bounded for large N; N = 2500 runs in well under a second on a CPU.
"""
import math

import numpy as np
import torch

_CHUNK_ELEMENTS = 1 << 22  # distance-matrix entries per chunk (16 MiB of float32)


def _points(a, device=None):
    """``a`` (numpy array, tensor or nested list) as a detached floating tensor [N, d], N ≥ 1."""
    t = torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a).detach()
    if not t.is_floating_point():
        t = t.float()
    if device is not None and not torch.is_tensor(a):
        t = t.to(device)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"expected a non-empty array of points [N, d], got shape {tuple(t.shape)}")
    return t


def _pair(x, y):
    """Both point sets as tensors of one dtype on ``x``'s device."""
    x, y = _points(x), _points(y)
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.to(dtype), y.to(x.device, dtype)


def _dist_chunks(x, y):
    """Yield ``(start, block)``: exact Euclidean distances from rows ``x[start:start+len(block)]`` to all of ``y``."""
    rows = max(1, _CHUNK_ELEMENTS // max(1, len(y)))
    for start in range(0, len(x), rows):
        yield start, torch.cdist(x[start:start + rows], y, compute_mode="donot_use_mm_for_euclid_dist")


def _uniform(shape, generator, device):
    """U(0, 1) numbers drawn on the generator's device, then moved to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


# ---------------------------------------------------------------------------- mixtures
def mixture_metrics(samples, centers, std, threshold=3.0):
    """Mode coverage of ``samples`` [N, 2] for a Gaussian mixture with ``centers`` [K, 2] and per-axis ``std``.

    Each sample is assigned to its nearest centre; it is *high quality* when that
    Euclidean distance is at most ``threshold * std`` (for exact samples of a 2D mixture and
    threshold 3, a share 1 − exp(−4.5) ≈ 0.989).

    Returns a dict:

    * ``high_quality_fraction``: share of high-quality samples, in [0, 1];
    * ``modes_covered``: number of modes that are the nearest centre of at least one
      high-quality sample (int);
    * ``modes_total``: K (int);
    * ``reverse_kl``: KL(q ‖ uniform) = log K − H(q), where q is the histogram over modes of
      the high-quality samples (0·log 0 = 0); 0 for perfectly balanced modes, log K when all
      land on one mode. **NaN when no sample is high quality** (q is then undefined).
    """
    samples = _points(samples)
    centers = _points(centers).to(samples.device, samples.dtype)
    nearest_dist, nearest = torch.cdist(samples, centers, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)
    good = nearest_dist <= threshold * float(std)
    k = len(centers)
    counts = torch.bincount(nearest[good], minlength=k).double()
    total = counts.sum()
    if total > 0:
        q = counts[counts > 0] / total
        reverse_kl = float((q * (q * k).log()).sum())
    else:
        reverse_kl = float("nan")
    return {
        "high_quality_fraction": float(good.double().mean()),
        "modes_covered": int((counts > 0).sum()),
        "modes_total": int(k),
        "reverse_kl": reverse_kl,
    }


# ------------------------------------------------------------- distances to the truth
def energy_distance(x, y):
    """Squared energy distance 2E|X−Y| − E|X−X'| − E|Y−Y'| between point sets x [N, d] and y [M, d].

    The within-sample terms average over distinct pairs only (i ≠ j) and the cross term over
    all N·M pairs, so the estimate is unbiased: its expectation is exactly 0 when x and y are
    independent samples of one distribution, and it can come out slightly negative. (Passing
    the same set twice gives −(2/N)·mean distance between distinct points, not 0.) Needs
    N, M ≥ 2.
    """
    x, y = _pair(x, y)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("energy_distance needs at least two points in each set")

    def mean_dist(a, b, distinct):
        s = sum(block.sum(dtype=torch.float64) for _, block in _dist_chunks(a, b))
        pairs = len(a) * (len(a) - 1) if distinct else len(a) * len(b)
        return s / pairs  # the diagonal of a self-distance matrix is exactly 0

    return float(2 * mean_dist(x, y, False) - mean_dist(x, x, True) - mean_dist(y, y, True))


def sliced_wasserstein(x, y, generator, projections=256):
    """Sliced 1-Wasserstein distance: mean over random unit directions u of W1(⟨x, u⟩, ⟨y, u⟩).

    Directions are uniform on the circle, drawn from ``generator``. Each 1-D W1 is exact for
    the two empirical distributions, also when N ≠ M: W1 = ∫ |F(t) − G(t)| dt, integrated
    piecewise over the merged sorted projections (equivalent to comparing quantile
    functions). Shifting a set by a vector v gives exactly mean |⟨v, u⟩| → 2|v|/π.
    Points must be 2D.
    """
    x, y = _pair(x, y)
    if x.shape[1] != 2 or y.shape[1] != 2:
        raise ValueError("sliced_wasserstein draws directions on the circle: points must be [N, 2]")
    theta = 2 * math.pi * _uniform(projections, generator, x.device).to(x.dtype)
    u = torch.stack([theta.cos(), theta.sin()], dim=0)  # [2, P]
    px = (u.T @ x.T).sort(dim=1).values.contiguous()  # [P, N]
    py = (u.T @ y.T).sort(dim=1).values.contiguous()  # [P, M]
    merged = torch.cat([px, py], dim=1).sort(dim=1).values
    left = merged[:, :-1].contiguous()
    f = torch.searchsorted(px, left, right=True).to(x.dtype) / px.shape[1]
    g = torch.searchsorted(py, left, right=True).to(x.dtype) / py.shape[1]
    w1 = ((f - g).abs() * merged.diff(dim=1)).sum(dim=1, dtype=torch.float64)
    return float(w1.mean())


def noise_floor(dist, n, generator, metric="energy_distance", repeats=5, m=None):
    """The value ``metric`` takes on two independent real samples, so a result can be read against it.

    ``dist`` has ``sample(n, generator)``; each repeat draws n and m (default n) fresh real
    points. ``metric`` is ``"energy_distance"``, ``"sliced_wasserstein"`` (directions from
    ``generator``) or any callable ``(x, y) -> float``. Returns ``(mean, std)`` over the
    repeats (std is 0 for one repeat). The energy distance's floor has mean ≈ 0 (it is
    unbiased), so its std is the useful scale there; a value well above mean + 3·std is
    a real difference. Use the same n as the measurement: the floor shrinks as n grows.
    """
    funcs = {
        "energy_distance": energy_distance,
        "sliced_wasserstein": lambda a, b: sliced_wasserstein(a, b, generator),
    }
    fn = funcs[metric] if isinstance(metric, str) else metric
    values = [float(fn(dist.sample(n, generator), dist.sample(m or n, generator))) for _ in range(repeats)]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if repeats > 1 else 0.0


# ------------------------------------------------------------- precision and recall
def _knn_radii(points, k):
    """Distance from each point to its k-th nearest neighbour in the same set, itself excluded."""
    if len(points) <= k:
        raise ValueError(f"kNN radii with k={k} need more than {k} points, got {len(points)}")
    radii = torch.empty(len(points), dtype=points.dtype, device=points.device)
    for start, block in _dist_chunks(points, points):
        # the k+1 smallest include the point itself at distance 0; a duplicate also counts as 0
        radii[start:start + len(block)] = block.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def _coverage(queries, support, radii):
    """Share of ``queries`` lying in at least one closed ball (support_j, radii_j)."""
    inside = torch.zeros(len(queries), dtype=torch.bool, device=queries.device)
    for start, block in _dist_chunks(queries, support):
        inside[start:start + len(block)] = (block <= radii).any(dim=1)
    return float(inside.double().mean())


def knn_precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) with k nearest neighbours.

    Each real point gets a ball whose radius is the distance to its k-th nearest *other*
    real point; precision is the share of fake points inside at least one real ball (closed
    balls, so a fake point exactly on a real one counts). Recall is symmetric: the share of
    real points inside at least one fake ball. Returns ``(precision, recall)`` as floats.
    Both sets need more than k points.
    """
    real, fake = _pair(real, fake)
    precision = _coverage(fake, real, _knn_radii(real, k))
    recall = _coverage(real, fake, _knn_radii(fake, k))
    return precision, recall


# ------------------------------------------------------------------------ the frame
def frame_limits(real, margin=0.25):
    """The square plotting frame ``(lo, hi)``: min and max of ``real`` over both axes together, ± ``margin``."""
    real = _points(real)
    return float(real.min()) - margin, float(real.max()) + margin


def outside_frame_fraction(fake, real, margin=0.25):
    """Share of ``fake`` points with any coordinate outside the square frame of :func:`frame_limits` (edges count as inside)."""
    lo, hi = frame_limits(real, margin)
    fake = _points(fake)
    return float(((fake < lo) | (fake > hi)).any(dim=1).double().mean())


# ------------------------------------------------------ discriminator diagnostics
class _EvalMode:
    """Context: put an ``nn.Module`` discriminator in eval mode and restore its mode afterwards."""

    def __init__(self, D):
        self.module = D if isinstance(D, torch.nn.Module) else None

    def __enter__(self):
        if self.module is not None:
            self.was_training = self.module.training
            self.module.eval()

    def __exit__(self, *exc):
        if self.module is not None:
            self.module.train(self.was_training)


def _d_inputs(D, real, fake):
    """real and fake as tensors for D: numpy inputs go to D's device and dtype, tensors stay on their device."""
    param = next(D.parameters(), None) if isinstance(D, torch.nn.Module) else None
    device = param.device if param is not None else None
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    real, fake = _points(real, device), _points(fake, device)
    return real.to(dtype), fake.to(real.device, dtype)


def d_gradient_norms(D, real, fake, generator):
    """Mean input-gradient norm ‖∇ₓ D(x)‖₂ of the discriminator's logit at three kinds of point.

    Keys ``grad_norm_real`` (at ``real``), ``grad_norm_fake`` (at ``fake``) and
    ``grad_norm_interp`` (at x = r_i + λ_i (f_i − r_i) with λ_i ~ U(0, 1) from ``generator``,
    pairing the first min(N, M) points). D runs in eval mode (so samples do not interact
    through batch statistics and each gradient is per-point) and its mode is restored.
    Gradients are taken with ``torch.autograd.grad`` w.r.t. the inputs only, so nothing is
    accumulated in D's parameters' ``.grad``.
    """
    real, fake = _d_inputs(D, real, fake)
    n = min(len(real), len(fake))
    lam = _uniform((n, 1), generator, real.device).to(real.dtype)
    interp = real[:n] + lam * (fake[:n] - real[:n])
    out = {}
    with _EvalMode(D), torch.enable_grad():
        for key, pts in (("grad_norm_real", real), ("grad_norm_fake", fake), ("grad_norm_interp", interp)):
            pts = pts.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(D(pts).reshape(-1).sum(), pts)
            out[key] = float(grad.norm(dim=1).double().mean())
    return out


def d_interpolation_nonlinearity(D, real, fake, steps=11):
    """How far σ(D) bends along straight real→fake paths: 0 when the probability is linear on them.

    For each pair (r_i, f_i) (the first min(N, M) points), evaluate p(t) = σ(D(r_i + t (f_i − r_i)))
    at ``steps`` evenly spaced t in [0, 1] and compare it with the chord
    p(0) + t (p(1) − p(0)). Returns the mean absolute deviation over all pairs and steps, in
    [0, 1). A constant D or one whose probability is affine along the paths gives 0; a D
    that jumps from 0 to 1 at the midpoint gives about 1/4 (2/11 for 11 steps). D runs in
    eval mode under ``torch.no_grad`` and its mode is restored.
    """
    real, fake = _d_inputs(D, real, fake)
    n = min(len(real), len(fake))
    t = torch.linspace(0, 1, steps, device=real.device, dtype=real.dtype)
    path = real[:n, None] + t[None, :, None] * (fake[:n] - real[:n])[:, None]  # [n, steps, 2]
    with _EvalMode(D), torch.no_grad():
        p = torch.sigmoid(D(path.reshape(n * steps, -1)).reshape(n, steps).double())
    chord = p[:, :1] + t.double()[None] * (p[:, -1:] - p[:, :1])
    return float((p - chord).abs().mean())


# ------------------------------------------------------------------------ snapshots
def snapshot_metrics(dataset, fake, real, generator):
    """Every sample metric that applies to ``dataset``, for generated ``fake`` [N, 2] against fresh ``real`` [M, 2].

    ``dataset`` is a toy distribution (or its name in ``toy_data.DATASETS``). Always:
    ``energy_distance``, ``sliced_wasserstein`` (directions from ``generator``),
    ``knn_precision``, ``knn_recall`` (k = 3), ``outside_frame_fraction`` (margin 0.25).
    For Gaussian mixtures (objects with ``centers`` and ``std``) also the keys of
    :func:`mixture_metrics` (threshold 3σ): ``high_quality_fraction``, ``modes_covered``,
    ``modes_total``, ``reverse_kl`` (NaN when no sample is high quality). Values are plain
    Python floats and ints.

    >>> import torch, toy_data
    >>> from mixgan import snapshot_metrics
    >>> g = torch.Generator().manual_seed(0)
    >>> real, fake = toy_data.DATASETS["ring"].sample(500, g), toy_data.DATASETS["ring"].sample(500, g)
    >>> snapshot_metrics("ring", fake, real, g)["modes_covered"]
    8
    """
    if isinstance(dataset, str):
        import toy_data
        dataset = toy_data.DATASETS[dataset]
    real, fake = _pair(real, fake)
    precision, recall = knn_precision_recall(real, fake)
    out = {
        "energy_distance": energy_distance(fake, real),
        "sliced_wasserstein": sliced_wasserstein(fake, real, generator),
        "knn_precision": precision,
        "knn_recall": recall,
        "outside_frame_fraction": outside_frame_fraction(fake, real),
    }
    if hasattr(dataset, "centers") and hasattr(dataset, "std"):
        out.update(mixture_metrics(fake, dataset.centers, dataset.std))
    return out


def d_diagnostics(D, real, fake, generator):
    """Discriminator smoothness at one snapshot: the keys of :func:`d_gradient_norms` plus ``d_nonlinearity`` (11 steps)."""
    out = d_gradient_norms(D, real, fake, generator)
    out["d_nonlinearity"] = d_interpolation_nonlinearity(D, real, fake)
    return out
