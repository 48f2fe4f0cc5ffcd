"""Tests for mixgan.evaluation.toy_metrics: every expected value is derived by hand, not copied from a run."""
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import wasserstein_distance

import toy_data
from mixgan.evaluation import toy_metrics as M


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- mixture metrics
def test_all_points_on_one_mode():
    ring = toy_data.DATASETS["ring"]
    pts = ring.centers[3].repeat(100, 1)
    out = M.mixture_metrics(pts, ring.centers, ring.std)
    assert out["modes_covered"] == 1 and isinstance(out["modes_covered"], int)
    assert out["modes_total"] == 8
    assert out["high_quality_fraction"] == 1.0
    assert out["reverse_kl"] == pytest.approx(math.log(8))


def test_two_modes_half_each_numpy_input():
    grid = toy_data.DATASETS["grid"]
    c = grid.centers.numpy()
    pts = np.concatenate([np.repeat(c[:1], 30, 0), np.repeat(c[7:8], 30, 0)])
    out = M.mixture_metrics(pts, c, grid.std)
    assert out["modes_covered"] == 2
    # q = (1/2, 1/2, 0, ...): KL to uniform = log 25 − log 2
    assert out["reverse_kl"] == pytest.approx(math.log(25) - math.log(2))


@pytest.mark.parametrize("name, seed", [("ring", 1), ("grid", 2)])
def test_exact_mixture_samples(name, seed):
    dist = toy_data.DATASETS[name]
    n = 6000
    out = M.mixture_metrics(dist.sample(n, gen(seed)), dist.centers, dist.std)
    k = len(dist.centers)
    assert out["modes_covered"] == k == out["modes_total"]
    # P(|noise| <= 3σ) for an isotropic 2D Gaussian = 1 − exp(−9/2); binomial sd ≈ 0.0013
    assert out["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    # multinomial histogram: E[KL] ≈ (K − 1) / (2n), i.e. 0.0006 (ring) and 0.002 (grid)
    assert 0 <= out["reverse_kl"] < 0.02


def test_threshold_boundary():
    ring = toy_data.DATASETS["ring"]
    c = ring.centers[0]
    pts = torch.stack([c + torch.tensor([2 * ring.std, 0.0]), c + torch.tensor([0.0, 4 * ring.std])])
    out = M.mixture_metrics(pts, ring.centers, ring.std, threshold=3.0)
    assert out["high_quality_fraction"] == 0.5 and out["modes_covered"] == 1


def test_far_points_have_no_quality_and_nan_kl():
    ring = toy_data.DATASETS["ring"]
    pts = torch.full((50, 2), 100.0)
    out = M.mixture_metrics(pts, ring.centers, ring.std)
    assert out["high_quality_fraction"] == 0.0
    assert out["modes_covered"] == 0
    assert math.isnan(out["reverse_kl"])


@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 40), st.just(2)),
              elements=st.floats(-1.5, 1.5, width=32)))
def test_mixture_metric_ranges(pts):
    ring = toy_data.DATASETS["ring"]
    out = M.mixture_metrics(pts, ring.centers, 0.2)
    assert 0 <= out["high_quality_fraction"] <= 1
    assert 0 <= out["modes_covered"] <= 8
    kl = out["reverse_kl"]
    assert (out["modes_covered"] == 0) == math.isnan(kl)
    if out["modes_covered"]:
        assert -1e-9 <= kl <= math.log(8) + 1e-9


# ---------------------------------------------------------------- distances
def test_energy_distance_constructed():
    x = torch.zeros(2, 2)
    y = torch.tensor([[3.0, 4.0], [3.0, 4.0]])
    # within-set distances are 0, every cross distance is 5: 2·5 − 0 − 0
    assert M.energy_distance(x, y) == pytest.approx(10.0)
    assert M.energy_distance(y.numpy(), x.numpy()) == pytest.approx(10.0)


def test_energy_distance_with_itself():
    x = toy_data.DATASETS["moons"].sample(500, gen(3))
    d = torch.cdist(x.double(), x.double())
    n = len(x)
    mean_offdiag = float(d.sum() / (n * (n - 1)))
    # the cross term keeps the zero diagonal: 2·S/n² − 2·S/(n(n−1)) = −(2/n)·mean_offdiag
    assert M.energy_distance(x, x) == pytest.approx(-2 / n * mean_offdiag, rel=1e-4)
    assert abs(M.energy_distance(x, x)) < 0.01


def test_energy_distance_shift_beats_noise_floor():
    dist = toy_data.DATASETS["ring"]
    g = gen(4)
    mean, std = M.noise_floor(dist, 400, g, "energy_distance", repeats=5)
    assert abs(mean) < 5 * std + 1e-3  # the estimator is unbiased
    shifted = M.energy_distance(dist.sample(400, g) + torch.tensor([0.3, 0.0]), dist.sample(400, g))
    assert shifted > mean + 10 * std


def test_sliced_wasserstein_of_a_shift():
    x = toy_data.DATASETS["spiral"].sample(300, gen(5))
    v = torch.tensor([0.3, -0.4])  # |v| = 0.5
    sw = M.sliced_wasserstein(x, x + v, gen(6), projections=4096)
    # each projection is shifted by <v, u>, so W1 = |<v, u>| exactly; E|<v, u>| = 2|v|/π.
    # sd of |cos θ| is 0.31, so the mean over 4096 directions has sd 0.005·|v|
    assert sw == pytest.approx(2 * 0.5 / math.pi, rel=0.03)


def test_sliced_wasserstein_unequal_sizes():
    x = torch.randn(200, 2, generator=gen(7))
    # the same empirical distribution, each point twice: distance exactly 0
    assert M.sliced_wasserstein(x, x.repeat(2, 1), gen(8)) == pytest.approx(0.0, abs=1e-5)
    # points on the x axis: every projection scales them by cos θ, so SW = E|cos θ|·W1 = (2/π)·W1
    a = np.random.default_rng(9).normal(size=150)
    b = np.random.default_rng(10).exponential(size=220)
    pa = np.stack([a, np.zeros_like(a)], 1)
    pb = np.stack([b, np.zeros_like(b)], 1)
    sw = M.sliced_wasserstein(pa, pb, gen(11), projections=4096)
    assert sw == pytest.approx(2 / math.pi * wasserstein_distance(a, b), rel=0.03)


def test_sliced_wasserstein_uses_only_the_generator():
    x, y = torch.randn(100, 2, generator=gen(12)), torch.randn(80, 2, generator=gen(13)) + 1
    assert M.sliced_wasserstein(x, y, gen(14)) == M.sliced_wasserstein(x, y, gen(14))


def test_noise_floor_sliced_wasserstein_and_callable():
    dist = toy_data.DATASETS["circles"]
    mean, std = M.noise_floor(dist, 200, gen(15), "sliced_wasserstein", repeats=3)
    assert mean > 0 and std >= 0
    assert M.noise_floor(dist, 50, gen(16), lambda a, b: 1.5, repeats=2) == (1.5, 0.0)


# ---------------------------------------------------------------- precision / recall
def test_knn_identical_sets():
    x = toy_data.DATASETS["pinwheel"].sample(300, gen(17))
    assert M.knn_precision_recall(x, x.clone()) == (1.0, 1.0)


def test_knn_collapsed_fake():
    real = toy_data.DATASETS["grid"].sample(200, gen(18))
    fake = real[5].repeat(100, 1)
    precision, recall = M.knn_precision_recall(real, fake)
    # every fake point sits on a real point; the fake balls have radius 0 and hold only real[5]
    assert precision == 1.0
    assert recall == pytest.approx(1 / 200)


def test_knn_far_fake():
    real = toy_data.DATASETS["ring"].sample(200, gen(19))
    assert M.knn_precision_recall(real, real + 50.0) == (0.0, 0.0)


def test_knn_on_a_line():
    real = torch.tensor([[float(i), 0.0] for i in range(10)])  # k = 1: every radius is 1
    fake = torch.tensor([[0.5, 0.0], [9.9, 0.0], [10.5, 0.0], [4.0, 1.0], [4.0, 1.01]])
    precision, _ = M.knn_precision_recall(real, fake, k=1)
    assert precision == pytest.approx(3 / 5)  # 0.5, 9.9 and (4, 1) on the edge are inside
    with pytest.raises(ValueError):
        M.knn_precision_recall(real[:3], fake, k=3)


# ---------------------------------------------------------------- frame
def test_frame():
    real = np.array([[0.0, 0.0], [1.0, 2.0]])
    assert M.frame_limits(real) == pytest.approx((-0.25, 2.25))
    # x = 2 is outside the real x-range but inside the shared square frame
    fake = torch.tensor([[2.0, 2.0], [2.3, 0.0], [0.0, -0.3], [-0.25, 2.25]])
    assert M.outside_frame_fraction(fake, real) == 0.5
    assert M.outside_frame_fraction(fake, real, margin=1.0) == 0.0


# ---------------------------------------------------------------- discriminator
class Linear(torch.nn.Module):
    def __init__(self, w, b=0.3):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([w]))
            self.lin.bias.fill_(b)

    def forward(self, x):
        return self.lin(x).squeeze(1)


def test_gradient_norms_linear_d():
    D = Linear([3.0, -4.0])
    D.train()
    real = toy_data.DATASETS["ring"].sample(100, gen(20))
    fake = torch.randn(80, 2, generator=gen(21))
    out = M.d_gradient_norms(D, real, fake, gen(22))
    assert set(out) == {"grad_norm_real", "grad_norm_fake", "grad_norm_interp"}
    for v in out.values():
        assert v == pytest.approx(5.0)
    assert all(p.grad is None for p in D.parameters())
    assert D.training


def test_gradient_norms_quadratic_callable_under_no_grad():
    D = lambda x: 0.5 * (x ** 2).sum(1)  # ∇ = x, so the norm is |x|
    real = np.array([[3.0, 4.0], [0.0, 1.0]], dtype=np.float32)
    fake = torch.tensor([[0.0, 2.0], [6.0, 8.0]])
    with torch.no_grad():
        out = M.d_gradient_norms(D, real, fake, gen(23))
    assert out["grad_norm_real"] == pytest.approx(3.0)
    assert out["grad_norm_fake"] == pytest.approx(6.0)
    # both paths point away from the origin along a ray: |r + λ(f − r)| = (1 + λ)|r|, in [|r|, |f|]
    assert 3.0 <= out["grad_norm_interp"] <= 6.0


def test_nonlinearity():
    real = torch.tensor([[-1.0, 0.0], [-1.0, 0.5]])
    fake = torch.tensor([[1.0, 0.0], [1.0, -0.5]])
    constant = lambda x: torch.zeros(len(x))
    assert M.d_interpolation_nonlinearity(constant, real, fake) == 0.0
    affine_prob = lambda x: torch.logit(0.5 + 0.2 * x[:, 0])  # σ(D) is affine in x
    assert M.d_interpolation_nonlinearity(affine_prob, real, fake) == pytest.approx(0.0, abs=1e-6)
    # σ(100 x₀) is a step at t = 1/2; against the chord t at t = k/10 the deviations are
    # 0, .1, .2, .3, .4, 0, .4, .3, .2, .1, 0, summing to 2
    D = Linear([100.0, 0.0], b=0.0).eval()
    assert M.d_interpolation_nonlinearity(D, real, fake, steps=11) == pytest.approx(2 / 11, abs=1e-6)
    assert not D.training


def test_d_diagnostics_keeps_mode_and_grads_clean():
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                            torch.nn.Dropout(0.5), torch.nn.Linear(16, 1), torch.nn.Flatten(0))
    D.train()
    real = toy_data.DATASETS["grid"].sample(64, gen(24))
    fake = torch.randn(64, 2, generator=gen(25), requires_grad=True)
    out = M.d_diagnostics(D, real, fake, gen(26))
    assert set(out) == {"grad_norm_real", "grad_norm_fake", "grad_norm_interp", "d_nonlinearity"}
    assert all(math.isfinite(v) for v in out.values())
    assert D.training and all(m.training for m in D.modules())
    assert all(p.grad is None for p in D.parameters()) and fake.grad is None


# ---------------------------------------------------------------- snapshots
@pytest.mark.parametrize("name, mixture", [("25gaussians", True), ("swissroll", False)])
def test_snapshot_metrics(name, mixture):
    dist = toy_data.DATASETS[name]
    g = gen(27)
    real, fake = dist.sample(1000, g), dist.sample(1000, g)
    out = M.snapshot_metrics(name if mixture else dist, fake, real, g)
    base = {"energy_distance", "sliced_wasserstein", "knn_precision", "knn_recall", "outside_frame_fraction"}
    extra = {"high_quality_fraction", "modes_covered", "modes_total", "reverse_kl"}
    assert set(out) == (base | extra if mixture else base)
    assert all(type(v) in (int, float) for v in out.values())
    json.dumps(out)
    assert out["outside_frame_fraction"] < 0.01
    assert out["knn_precision"] > 0.8 and out["knn_recall"] > 0.8  # same distribution
    if mixture:
        assert out["modes_covered"] == 25


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_and_cpu_generator():
    dist = toy_data.DATASETS["ring"]
    real = dist.sample(500, torch.Generator("cuda").manual_seed(0))
    fake = dist.sample(500, torch.Generator("cuda").manual_seed(1))
    out = M.snapshot_metrics(dist, fake, real, gen(28))
    assert out["modes_covered"] == 8
    D = Linear([3.0, -4.0]).cuda()
    diag = M.d_diagnostics(D, real, fake, torch.Generator("cuda").manual_seed(2))
    assert diag["grad_norm_interp"] == pytest.approx(5.0)
