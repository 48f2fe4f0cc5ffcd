"""MLP generator and discriminator for 2D data (the paper's: 3 hidden layers of 512 ReLU units)."""
from torch import nn

from mixgan.errors import UsageError


def mlp(in_dim, out_dim, width, depth):
    """``depth`` hidden layers of ``width`` ReLU units and a linear output."""
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU(inplace=True)]  # in place: Linear keeps its input, not its output
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

    # Feature layers, for mixup at a hidden layer (manifold mixup, Verma et al. 2019).
    # Layer k (1..depth) is the output of the k-th ReLU; layer 0 is the input itself, and
    # from_hidden(hidden(x, k), k) == forward(x) for every k.
    @property
    def hidden_layers(self):
        return (len(self.net) - 1) // 2

    def hidden(self, x, layer):
        """The representation of x after ``layer`` hidden layers: [*batch, width] (x itself for 0)."""
        return self.net[: 2 * _layer(layer, self.hidden_layers)](x)

    def from_hidden(self, h, layer):
        """Logits [*batch] from the representation ``h`` at hidden layer ``layer``."""
        return self.net[2 * _layer(layer, self.hidden_layers):](h).squeeze(-1)


def _layer(layer, hidden_layers):
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= hidden_layers:
        raise UsageError(f"mixup_layer must be in 0..{hidden_layers} (D's hidden layers), got {layer!r}")
    return layer
