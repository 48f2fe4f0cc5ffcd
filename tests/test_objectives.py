import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from mixgan.nets.mlp import MLPDiscriminator
from mixgan.objectives.core import (LAMBDA_DISTRIBUTIONS, MixupObjective, StandardObjective, nonsaturating,
                               pair_shuffled, sample_beta, saturating)


def points(logits):
    """Points whose first coordinate is the given logit."""
    x = torch.tensor(logits, dtype=torch.float32)
    return torch.stack([x, torch.zeros_like(x)], dim=-1)


def softplus(v):
    return math.log1p(math.exp(v))


def test_standard_d_loss_by_hand(first_coordinate):
    real, fake = points([0.0, 2.0]), points([-1.0, 3.0])
    loss = StandardObjective().d_loss(first_coordinate, real, fake, None)
    # BCE(l, 1) = softplus(−l), BCE(l, 0) = softplus(l); mean over the 4 points.
    expected = (softplus(0.0) + softplus(-2.0) + softplus(-1.0) + softplus(3.0)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_generator_losses_by_hand():
    logits = torch.tensor([0.0, 1.5])
    assert saturating(logits).item() == pytest.approx(-(softplus(0.0) + softplus(1.5)) / 2, rel=1e-6)
    assert nonsaturating(logits).item() == pytest.approx((softplus(0.0) + softplus(-1.5)) / 2, rel=1e-6)
    # Both push D(G(z)) up: their gradients w.r.t. the logit are negative.
    for loss in (saturating, nonsaturating):
        x = logits.clone().requires_grad_()
        loss(x).backward()
        assert (x.grad < 0).all()


def constant_lambda(value):
    return lambda shape, generator, device: torch.full(tuple(shape), value, device=device)


def test_mixup_soft_target_bce_by_hand(first_coordinate):
    obj = MixupObjective(alpha=0.2, pairing="real-fake")
    obj.sample_lambda = constant_lambda(0.3)
    real, fake = points([2.0, -1.0]), points([0.0, 4.0])
    loss = obj.d_loss(first_coordinate, real, fake, torch.Generator())
    total = 0.0
    for r, f in [(2.0, 0.0), (-1.0, 4.0)]:
        m = 0.3 * r + 0.7 * f
        p = 1 / (1 + math.exp(-m))
        total += -(0.3 * math.log(p) + 0.7 * math.log(1 - p))
    assert loss.item() == pytest.approx(total / 2, rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_mixup_lambda_one_real_fake_is_the_real_half(seed):
    torch.manual_seed(seed)
    D = MLPDiscriminator(2, 16, 2)
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 3
    obj = MixupObjective(pairing="real-fake")
    obj.sample_lambda = constant_lambda(1.0)
    expected = F.binary_cross_entropy_with_logits(D(real), torch.ones(64))
    torch.testing.assert_close(obj.d_loss(D, real, fake, torch.Generator()), expected)


@pytest.mark.parametrize("seed", range(3))
def test_mixup_lambda_one_shuffled_is_the_standard_loss_on_the_first_batch(seed):
    torch.manual_seed(seed)
    D = MLPDiscriminator(2, 16, 2)
    real, fake = torch.randn(128, 2), torch.randn(128, 2) + 3
    obj = MixupObjective(pairing="shuffled", lambda_dist="uniform")
    obj.sample_lambda = constant_lambda(1.0)
    expected = StandardObjective().d_loss(D, real[:64], fake[:64], None)
    torch.testing.assert_close(obj.d_loss(D, real, fake, torch.Generator().manual_seed(seed)), expected)


def test_shuffled_pairing_keeps_labels_with_points():
    real = torch.rand(50, 2) + 1  # first coordinate > 0 marks real points
    fake = -torch.rand(50, 2) - 1
    x1, y1, x2, y2 = pair_shuffled(real, fake, 0, torch.Generator().manual_seed(0))
    assert x1.shape == x2.shape == (50, 2) and y1.shape == y2.shape == (50,)
    assert torch.equal((x1[:, 0] > 0).float(), y1)
    assert torch.equal((x2[:, 0] > 0).float(), y2)
    assert not torch.equal(y1, y2)  # the second batch was shuffled
    assert y2.sum() == 25


def test_objectives_accept_leading_run_dimension():
    torch.manual_seed(0)
    D = MLPDiscriminator(2, 8, 1)
    real, fake = torch.randn(3, 10, 2), torch.randn(3, 10, 2)
    stacked = StandardObjective().d_loss(D, real, fake, None)
    per_run = torch.stack([StandardObjective().d_loss(D, real[r], fake[r], None) for r in range(3)])
    torch.testing.assert_close(stacked, per_run.mean())
    for pairing in ("real-fake", "shuffled"):
        loss = MixupObjective(pairing=pairing).d_loss(D, torch.randn(3, 20, 2), torch.randn(3, 20, 2),
                                                       torch.Generator().manual_seed(1))
        assert loss.dim() == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("alpha", [0.05, 0.2, 1.0, 2.0, 10.0])
def test_beta_sampler_matches_beta_distribution(alpha):
    lam = sample_beta((20000,), alpha, torch.Generator().manual_seed(7), "cpu").double().numpy()
    assert np.isfinite(lam).all() and (lam >= 0).all() and (lam <= 1).all()
    # Empirical CDF against the true one at interior points (float32 rounds the extreme
    # tails of small α to exactly 0 or 1, so a plain KS test at the ends would mislead).
    # With n = 20000 the standard error of an empirical CDF value is at most 0.0036.
    t = np.linspace(0.01, 0.99, 50)
    ecdf = (lam[None, :] <= t[:, None]).mean(axis=1)
    assert np.abs(ecdf - stats.beta(alpha, alpha).cdf(t)).max() < 0.015
    assert lam.var() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.05)


def test_lambda_samplers_use_only_their_generator():
    state = torch.get_rng_state()
    for name, sampler in LAMBDA_DISTRIBUTIONS.items():
        a = sampler((100,), 0.2, torch.Generator().manual_seed(1), "cpu")
        b = sampler((100,), 0.2, torch.Generator().manual_seed(1), "cpu")
        assert torch.equal(a, b), name
    assert torch.equal(state, torch.get_rng_state())


def test_uniform_lambda_stays_below_alpha():
    lam = LAMBDA_DISTRIBUTIONS["uniform"]((5000,), 0.2, torch.Generator().manual_seed(0), "cpu")
    assert lam.min() >= 0 and lam.max() <= 0.2 and lam.max() > 0.19


@pytest.mark.parametrize("make", [lambda **kw: StandardObjective(**kw), lambda **kw: MixupObjective(0.2, **kw)])
def test_generator_loss_means_by_hand(first_coordinate, make):
    fake = points([0.0, 1.5, -2.0])
    generated = make(g_loss_mean="generated").g_loss(first_coordinate, fake).item()
    batch = make(g_loss_mean="batch").g_loss(first_coordinate, fake).item()
    # generated: the mean of log(1 − σ(d)) = −softplus(d) over the three generated points;
    # batch: the same sum over the demo's real+generated batch of 3 + 3 points.
    total = -(softplus(0.0) + softplus(1.5) + softplus(-2.0))
    assert generated == pytest.approx(total / 3, rel=1e-6)
    assert batch == pytest.approx(total / 6, rel=1e-6)


def test_batch_mean_is_the_demo_generator_step():
    """The demo's generator step: D's BCE on B real (label 1) and B generated (label 0) points,
    averaged over all 2B, negated. Its gradient with respect to G's weights equals mixgan's
    ``batch`` mean; the ``generated`` mean gives exactly twice that gradient."""
    torch.manual_seed(0)
    D = MLPDiscriminator(2, 16, 2)
    G = torch.nn.Linear(2, 2)
    real, z = torch.randn(8, 2), torch.randn(8, 2)

    def grads(loss):
        G.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in G.parameters()]

    fake = G(z)
    logits = D(torch.cat([real, fake]))
    labels = torch.cat([torch.ones(8, 1), torch.zeros(8, 1)]).reshape(logits.shape)
    demo = grads(-F.binary_cross_entropy_with_logits(logits, labels))
    batch = grads(StandardObjective(g_loss_mean="batch").g_loss(D, G(z)))
    generated = grads(StandardObjective(g_loss_mean="generated").g_loss(D, G(z)))
    for d, b, g in zip(demo, batch, generated):
        torch.testing.assert_close(b, d, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(g, 2 * b, rtol=0, atol=0)


def test_presets_name_their_generator_loss_mean():
    from mixgan.config import TrainConfig
    assert TrainConfig(preset="figure5").g_loss_mean == "batch"
    assert TrainConfig(preset="paper").g_loss_mean == "generated"
    assert TrainConfig().g_loss_mean == "generated"
    assert TrainConfig(preset="figure5", g_loss_mean="generated").g_loss_mean == "generated"
