"""Comparisons of the objectives themselves: does mixup make the discriminator smoother?

Section 3.7 of Zhang et al. (ICLR 2018) argues that mixup regularises D's gradients. These
tests check the measurable part of that claim at sizes CI can afford, asserting only what
held on every one of at least 20 seeds when measured (spreads in the docstrings; measured
on the 2-core CPU of the development machine, torch 2.13 CPU, one thread).
"""
import numpy as np
import pytest
import torch

import toy_data
from conftest import tiny_config
from mixgan.evaluation import measure
from mixgan.evaluation import toy_metrics as metrics
from mixgan.nets.mlp import MLPDiscriminator
from mixgan.objectives.core import MixupObjective, StandardObjective
from mixgan.training import train


def train_discriminator(objective, seed, steps=150, width=32, batch=64):
    """D (2 hidden layers of ``width``) trained ``steps`` Adam steps against a *fixed* generator:
    2,048 points of 0.3·N(0, I) (a blob near the origin, where an early generator's points lie),
    real points from the ring. Returns D's diagnostics at 256 fresh real/fake pairs."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        D = MLPDiscriminator(2, width, 2)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    ring = toy_data.DATASETS["ring"]
    fixed_fake = 0.3 * torch.randn(2048, 2, generator=g)
    n = batch * objective.d_batches
    for _ in range(steps):
        real = ring.sample(n, g)
        fake = fixed_fake[torch.randint(len(fixed_fake), (n,), generator=g)]
        loss = objective.d_loss(D, real, fake, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    real, fake = ring.sample(256, g), fixed_fake[torch.randint(len(fixed_fake), (256,), generator=g)]
    return metrics.d_diagnostics(D, real, fake, g)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the measured numbers were taken with one thread
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("seed", range(1000, 1005))
def test_mixup_discriminator_is_smoother_against_fixed_samples(seed, one_thread):
    """The paper's mixup D (λ ~ Beta(0.2, 0.2), real–fake pairs) against the standard D.

    Measured over seeds 1000–1019 (20 seeds; these settings), ratio mixup / standard:
    interpolated-point gradient norm 0.62–0.82 (median 0.69; means 2.64 vs 3.80);
    nonlinearity along real→fake paths 0.62–0.81 (median 0.74; means 0.072 vs 0.099);
    gradient norm at real points 0.61–0.74, at fake points 0.57–0.79. The test asserts
    each ratio < 0.9 on five of those seeds.

    The demo code's variant (λ ~ U(0, 0.2), shuffled real+fake batches) showed *no*
    reliable difference in the same measurement (interpolated gradient ratio 0.94–1.11,
    median 1.01; nonlinearity 0.78–1.08, median 0.93), so it is not asserted: with λ ≤ 0.2
    every mixed point lies within 20% of one endpoint, close to standard training.
    """
    standard = train_discriminator(StandardObjective(), seed)
    mixup = train_discriminator(MixupObjective(alpha=0.2, lambda_dist="beta", pairing="real-fake"), seed)
    for key in ("grad_norm_interp", "d_nonlinearity", "grad_norm_real", "grad_norm_fake"):
        assert mixup[key] < 0.9 * standard[key], key


def test_short_training_mixup_discriminator_is_smoother(tmp_path, one_thread):
    """Short multi-seed training on the ring (80 iterations, width 32, depth 2, batch 64, 256 snapshot
    points; standard vs mixup with the paper's Beta(0.2, 0.2) real–fake mixing, saturating G loss).

    Measured over seeds 0–19 at iteration 80: D's nonlinearity along real→fake paths was
    lower for mixup on 20 of 20 seeds (ratio 0.31–0.98; means 0.061 vs 0.094); the gradient
    norm at interpolated points on 19 of 20 (means 2.49 vs 4.14). The sample metrics did not
    separate the objectives this early (energy distance lower for mixup on 6/20 seeds,
    frame escapes on 9/20), so they are not asserted. Asserted on seeds 0–2: the
    nonlinearity per seed and the mean interpolated gradient norm.
    """
    values = {"standard": [], "mixup": []}
    for seed in range(3):
        for objective in values:
            config = tiny_config(out=str(tmp_path), data="ring", objective=objective, iterations=80, width=32,
                                 depth=2, batch_size=64, snapshot_size=256, snapshots=(80,), log_every=80,
                                 seed=seed)
            values[objective].append(measure.snapshot_records(train(config, progress=False))[80])
    for s, m in zip(values["standard"], values["mixup"]):
        assert m["d_nonlinearity"] < s["d_nonlinearity"]
    mean = lambda obj, key: np.mean([r[key] for r in values[obj]])
    assert mean("mixup", "grad_norm_interp") < mean("standard", "grad_norm_interp")
