"""Spectral normalisation brings each layer's largest singular value to about 1."""
import numpy as np
import pytest
import torch

from conftest import tiny_config
from mixgan.nets.conv import ConvDiscriminator
from mixgan.nets.mlp import MLPDiscriminator
from mixgan.nets.spectral import spectral_norm_layers
from mixgan.training import train


def sigma(weight):
    """Largest singular value of a weight as Miyato et al. normalise it: [out, everything else]."""
    return torch.linalg.matrix_norm(weight.detach().flatten(1), ord=2).item()


def warm_up(D, x, steps=30):
    """Training-mode forward passes: one power-iteration step each."""
    D.train()
    with torch.no_grad():
        for _ in range(steps):
            D(x)


@pytest.mark.parametrize("seed", range(3))
def test_mlp_layers_reach_unit_spectral_norm(seed):
    torch.manual_seed(seed)
    D = MLPDiscriminator(2, 32, 3)
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(5)  # start far from 1
    linears = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert max(sigma(m.weight) for m in linears) > 3
    spectral_norm_layers(D)
    warm_up(D, torch.randn(8, 2))
    for m in linears:
        assert sigma(m.weight) == pytest.approx(1.0, abs=1e-3)


def test_conv_layers_reach_unit_spectral_norm():
    torch.manual_seed(0)
    D = spectral_norm_layers(ConvDiscriminator(channels=3, resolution=16, width=8))
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 3 and all(hasattr(m, "parametrizations") for m in layers)
    warm_up(D, torch.randn(2, 3, 16, 16), steps=60)
    for m in layers:
        assert sigma(m.weight) == pytest.approx(1.0, abs=1e-2)


def test_spectral_norm_keeps_the_forward_and_feature_layers():
    torch.manual_seed(0)
    D = spectral_norm_layers(MLPDiscriminator(2, 16, 2))
    x = torch.randn(5, 2)
    D.eval()  # no power-iteration step: both paths see the same weights
    torch.testing.assert_close(D.from_hidden(D.hidden(x, 1), 1), D(x))


def test_spectral_norm_run_is_seeded_and_leaves_global_rng(tmp_path):
    state = torch.get_rng_state()
    runs = [train(tiny_config(out=str(tmp_path), spectral_norm=True, iterations=4, snapshots=(4,)), progress=False)
            for _ in range(2)]
    assert torch.equal(state, torch.get_rng_state())
    a, b = (np.load(r / "snapshots" / "iter_000004.npz")["fake"] for r in runs)
    assert np.array_equal(a, b)
    weights = torch.load(runs[0] / "discriminator.pt")
    assert any("parametrizations" in k for k in weights)
