"""Continuous 2D toy shapes: spiral, swiss roll, moons, circles, checkerboard, pinwheel.

Each formula is written out in its class docstring; all randomness comes from the
generator passed to ``sample``.
"""
import math

import torch


def _uniform(n, generator):
    return torch.rand(n, generator=generator, device=generator.device)


def _normal(shape, generator):
    return torch.randn(shape, generator=generator, device=generator.device)


class Spiral:
    """One arm of an Archimedean spiral.

    u ~ U(0, 1), θ = 3π·√u (the square root spreads points evenly along the arm),
    r = θ / (3π) ∈ [0, 1], x = (r·cos θ, r·sin θ) + N(0, 0.02²) per axis.
    """

    name = "spiral"
    turns_radians = 3 * math.pi
    noise = 0.02

    def sample(self, n, generator):
        theta = self.turns_radians * _uniform(n, generator).sqrt()
        r = theta / self.turns_radians
        x = torch.stack([r * theta.cos(), r * theta.sin()], dim=1)
        return x + self.noise * _normal((n, 2), generator)


class SwissRoll:
    """scikit-learn's swiss roll seen from above, as in WGAN-GP's toy code.

    t = 1.5π(1 + 2u), u ~ U(0, 1); x = (t·cos t, t·sin t) + N(0, 0.25²) per axis; divided by 7.5.
    """

    name = "swissroll"

    def sample(self, n, generator):
        t = 1.5 * math.pi * (1 + 2 * _uniform(n, generator))
        x = torch.stack([t * t.cos(), t * t.sin()], dim=1) + 0.25 * _normal((n, 2), generator)
        return x / 7.5


class Moons:
    """Two interleaving half circles (scikit-learn's ``make_moons`` shape), centred.

    θ ~ U(0, π); upper moon (cos θ, sin θ), lower moon (1 − cos θ, 0.5 − sin θ), each with
    probability ½; shifted by (−0.5, −0.25) and noise N(0, 0.05²) per axis.
    """

    name = "moons"

    def sample(self, n, generator):
        theta = math.pi * _uniform(n, generator)
        lower = _uniform(n, generator) < 0.5
        x = torch.where(lower, 1 - theta.cos(), theta.cos())
        y = torch.where(lower, 0.5 - theta.sin(), theta.sin())
        pts = torch.stack([x - 0.5, y - 0.25], dim=1)
        return pts + 0.05 * _normal((n, 2), generator)


class Circles:
    """Two concentric circles of radius 1 and 0.5, each with probability ½, noise N(0, 0.02²) per axis."""

    name = "circles"

    def sample(self, n, generator):
        theta = 2 * math.pi * _uniform(n, generator)
        r = torch.where(_uniform(n, generator) < 0.5, 0.5, 1.0)
        pts = torch.stack([r * theta.cos(), r * theta.sin()], dim=1)
        return pts + 0.02 * _normal((n, 2), generator)


class Checkerboard:
    """Uniform on the 8 dark squares of a 4×4 checkerboard covering [−1, 1]² (squares of side 0.5).

    x ~ U(−1, 1); y is uniform on the two squares of x's column whose row parity differs
    from the column's parity.
    """

    name = "checkerboard"

    def sample(self, n, generator):
        x = 2 * _uniform(n, generator) - 1
        column = torch.floor((x + 1) / 0.5)  # 0..3
        pick = (_uniform(n, generator) < 0.5).float()  # which of the two dark squares
        row = 2 * pick + (column + 1) % 2  # rows whose parity differs from the column's
        y = -1 + 0.5 * (row + _uniform(n, generator))
        return torch.stack([x, y], dim=1)


class Pinwheel:
    """FFJORD's pinwheel: 5 arms with radial std 0.3, tangential std 0.1 and rate 0.25.

    f ~ N(0, diag(0.3², 0.1²)) + (1, 0); arm k ~ U{0..4}; angle a = 2πk/5 + 0.25·exp(f₀);
    x = 2·R(a)·f / 3 (rotation by a, scaled so the arms end near radius 1.5).
    """

    name = "pinwheel"
    arms = 5

    def __init__(self):
        self._std_on = {}  # per-device copy: a copy from the host inside a captured CUDA graph would fail

    def sample(self, n, generator):
        device = generator.device
        if device not in self._std_on:
            self._std_on[device] = torch.tensor([0.3, 0.1], device=device)
        f = _normal((n, 2), generator) * self._std_on[device]
        f[:, 0] += 1
        arm = torch.randint(self.arms, (n,), generator=generator, device=generator.device)
        a = 2 * math.pi * arm / self.arms + 0.25 * f[:, 0].exp()
        c, s = a.cos(), a.sin()
        x = c * f[:, 0] - s * f[:, 1]
        y = s * f[:, 0] + c * f[:, 1]
        return 2 * torch.stack([x, y], dim=1) / 3
