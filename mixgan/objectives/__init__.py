"""GAN objectives and penalties: small classes that take the discriminator itself.

``OBJECTIVES`` is the one registry (name -> builder from a TrainConfig); ``--objective`` choices
come from its keys. Adding an objective is one class with a builder in its module and one entry
here. Every builder is wrapped by :func:`with_options`, so the config's R1/R2 penalties and
``mixup_layer`` apply to whichever objective is chosen. ``BATCHED_OBJECTIVES`` holds the forms
the batched engine uses for R runs at once.
"""
from mixgan.objectives.baselines import ManifoldMixup, Penalised, hinge, lsgan, wgan_gp
from mixgan.objectives.batched import BATCHED_OBJECTIVES
from mixgan.objectives.core import (G_LOSS_MEANS, GENERATOR_LOSSES, LAMBDA_DISTRIBUTIONS, PAIRINGS, MixupObjective,
                                    StandardObjective, mixup, standard)


def with_options(build):
    """Wrap an objective builder so that the objective it returns gets the config's
    ``mixup_layer`` (manifold mixup; config.check allows it for ``mixup`` only) and its
    ``r1`` / ``r2`` penalties. With those options at 0 the builder's objective is returned as is."""
    def build_with_options(config):
        objective = build(config)
        if config.mixup_layer:
            objective = ManifoldMixup(objective, config.mixup_layer)
        if config.r1 or config.r2:
            objective = Penalised(objective, config.r1, config.r2)
        return objective
    build_with_options.__wrapped__ = build
    return build_with_options


# name -> builder from a TrainConfig.
OBJECTIVES = {name: with_options(build) for name, build in {
    "standard": standard, "mixup": mixup, "wgan-gp": wgan_gp, "hinge": hinge, "lsgan": lsgan}.items()}

__all__ = ["OBJECTIVES", "BATCHED_OBJECTIVES", "GENERATOR_LOSSES", "G_LOSS_MEANS", "LAMBDA_DISTRIBUTIONS", "PAIRINGS",
           "StandardObjective", "MixupObjective", "with_options"]
