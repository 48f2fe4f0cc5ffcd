"""Gaussian mixtures with equal weights and one isotropic std: ring, grid and the classic 8/25 Gaussians."""
import math

import torch


class GaussianMixture:
    """Pick a mode uniformly, add N(0, std²) noise per axis.

    ``centers`` is a float32 CPU tensor [K, 2]; ``std`` is the per-axis noise std.
    """

    def __init__(self, name, centers, std):
        self.name = name
        self.centers = torch.as_tensor(centers, dtype=torch.float32)
        self.std = float(std)
        self._centers_on = {}  # per-device copy, so sampling on a GPU never copies from the host

    def __repr__(self):
        return f"GaussianMixture({self.name!r}, modes={len(self.centers)}, std={self.std})"

    def sample(self, n, generator):
        device = generator.device
        if device not in self._centers_on:
            self._centers_on[device] = self.centers.to(device)
        centers = self._centers_on[device]
        idx = torch.randint(len(centers), (n,), generator=generator, device=device)
        noise = torch.randn(n, 2, generator=generator, device=device)
        return centers[idx] + self.std * noise


def ring(modes=8, radius=1.0, std=0.01):
    """The mixup paper's ring: 8 modes at (sin t, cos t), t = 2πk/8, std 0.01."""
    t = [2 * math.pi * k / modes for k in range(modes)]
    return GaussianMixture("ring", [(radius * math.sin(a), radius * math.cos(a)) for a in t], std)


def grid(std=0.01):
    """The mixup paper's grid: 25 modes at {−1, −0.5, 0, 0.5, 1}², std 0.01."""
    axis = [-1.0, -0.5, 0.0, 0.5, 1.0]
    return GaussianMixture("grid", [(x, y) for x in axis for y in axis], std)


def eight_gaussians():
    """WGAN-GP's 8 Gaussians: unit-circle centres scaled by 2, std 0.02, all divided by 1.414."""
    s = 1 / math.sqrt(2)
    unit = [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
    return GaussianMixture("8gaussians", [(2 * x / 1.414, 2 * y / 1.414) for x, y in unit], 0.02 / 1.414)


def twenty_five_gaussians():
    """WGAN-GP's 25 Gaussians: centres 2·{−2,…,2}², std 0.05, all divided by 2.828."""
    axis = [2.0 * k for k in range(-2, 3)]
    return GaussianMixture("25gaussians", [(x / 2.828, y / 2.828) for x in axis for y in axis], 0.05 / 2.828)
