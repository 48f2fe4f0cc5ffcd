"""MLP generator and discriminator for 2D data (the paper's: 3 hidden layers of 512 ReLU units)."""
from torch import nn


def mlp(in_dim, out_dim, width, depth):
    """``depth`` hidden layers of ``width`` ReLU units and a linear output."""
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Maps noise [*batch, z_dim] to points [*batch, out_dim]."""

    def __init__(self, z_dim=2, out_dim=2, width=512, depth=3):
        super().__init__()
        self.z_dim = z_dim
        self.net = mlp(z_dim, out_dim, width, depth)

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """Maps points [*batch, in_dim] to logits [*batch]."""

    event_ndim = 1  # trailing dimensions that make one example

    def __init__(self, in_dim=2, width=512, depth=3):
        super().__init__()
        self.net = mlp(in_dim, 1, width, depth)

    def forward(self, x):
        return self.net(x).squeeze(-1)
