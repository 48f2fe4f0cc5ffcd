import pytest
import torch
from hypothesis import settings

# Property tests draw their examples from a fixed seed, so a run of the suite is repeatable.
settings.register_profile("mixgan", derandomize=True)
settings.load_profile("mixgan")


class FirstCoordinate(torch.nn.Module):
    """A hand-checkable discriminator: the logit is the first coordinate of the point."""

    event_ndim = 1

    def forward(self, x):
        return x[..., 0]


@pytest.fixture
def first_coordinate():
    return FirstCoordinate()


def tiny_config(**overrides):
    from mixgan import TrainConfig
    base = dict(iterations=12, width=16, depth=2, batch_size=32, snapshot_size=64, log_every=4, seed=3)
    base.update(overrides)
    return TrainConfig(**base)
