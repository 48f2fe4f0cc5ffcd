import math

import pytest
import torch
from scipy import stats

import toy_data
from toy_data import DATASETS, GaussianMixture


@pytest.mark.parametrize("name", list(DATASETS))
def test_shape_dtype_and_determinism(name):
    dist = DATASETS[name]
    state = torch.get_rng_state()
    a = dist.sample(500, torch.Generator().manual_seed(5))
    b = dist.sample(500, torch.Generator().manual_seed(5))
    c = dist.sample(500, torch.Generator().manual_seed(6))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    assert torch.equal(state, torch.get_rng_state()), "sampler touched the global RNG"


def test_paper_mixtures_are_exactly_the_demo_ones():
    ring, grid = DATASETS["ring"], DATASETS["grid"]
    assert ring.std == grid.std == 0.01
    t = torch.arange(8) * 2 * math.pi / 8
    torch.testing.assert_close(ring.centers, torch.stack([t.sin(), t.cos()], 1))
    axis = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    expected = torch.cartesian_prod(axis, axis)
    assert sorted(map(tuple, grid.centers.tolist())) == sorted(map(tuple, expected.tolist()))


@pytest.mark.parametrize("name", ["ring", "grid", "8gaussians", "25gaussians"])
def test_mixture_mode_statistics(name):
    dist = DATASETS[name]
    assert isinstance(dist, GaussianMixture)
    x = dist.sample(20000, torch.Generator().manual_seed(0))
    d = torch.cdist(x, dist.centers)
    nearest = d.argmin(1)
    offset = x - dist.centers[nearest]
    # Noise per axis is N(0, std²): the offsets' std matches and the modes are equally likely.
    assert offset.std(0).tolist() == pytest.approx([dist.std, dist.std], rel=0.05)
    counts = torch.bincount(nearest, minlength=len(dist.centers)).numpy()
    assert stats.chisquare(counts).pvalue > 1e-3


def test_spiral_follows_its_formula():
    x = DATASETS["spiral"].sample(5000, torch.Generator().manual_seed(0))
    r = x.norm(dim=1)
    assert r.max() < 1.1
    # Radius grows with angle along the arm: r = θ/(3π), so unwrapping θ from r must
    # reproduce the point up to the 0.02 noise.
    theta = 3 * math.pi * r
    back = torch.stack([r * theta.cos(), r * theta.sin()], 1)
    assert (back - x).norm(dim=1).median() < 0.1


def test_checkerboard_uses_only_dark_squares():
    x = DATASETS["checkerboard"].sample(5000, torch.Generator().manual_seed(0))
    col, row = torch.floor((x[:, 0] + 1) / 0.5), torch.floor((x[:, 1] + 1) / 0.5)
    assert ((col + row) % 2 == 1).all()
    assert len(set(zip(col.tolist(), row.tolist()))) == 8


def test_samples_follow_the_generator_device():
    g = torch.Generator(device="cpu").manual_seed(0)
    assert DATASETS["ring"].sample(4, g).device.type == "cpu"


def test_package_knows_nothing_of_gans():
    import sys
    assert "mixgan" not in toy_data.__dict__
    for mod in [m for m in sys.modules if m.startswith("toy_data")]:
        src = open(sys.modules[mod].__file__).read()
        assert "mixgan" not in src
