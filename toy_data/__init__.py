"""2D toy distributions for generative-model experiments.

Every distribution has ``sample(n, generator) -> Tensor[n, 2]`` and draws all of its
randomness from the ``torch.Generator`` it is given (the samples land on that
generator's device). Gaussian mixtures also expose ``centers`` and ``std``.
This package knows nothing of GANs.
"""
from toy_data.mixtures import GaussianMixture, grid, ring, eight_gaussians, twenty_five_gaussians
from toy_data.shapes import (
    Checkerboard, Circles, Moons, Pinwheel, Spiral, SwissRoll,
)

DATASETS = {
    "ring": ring(),
    "grid": grid(),
    "spiral": Spiral(),
    "8gaussians": eight_gaussians(),
    "25gaussians": twenty_five_gaussians(),
    "swissroll": SwissRoll(),
    "moons": Moons(),
    "circles": Circles(),
    "checkerboard": Checkerboard(),
    "pinwheel": Pinwheel(),
}

__all__ = ["DATASETS", "GaussianMixture"]
