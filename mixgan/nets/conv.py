"""DCGAN-style convolutional generator and discriminator for mixgan's image experiments.

Both networks work at resolutions 8, 16, 28, 32 and 64 with any number of image channels
(1 for grey, 3 for RGB). A resolution is reached from a 4x4 feature map (7x7 for 28) by
stride-2 steps: 8 -> 1 step, 16 and 28 -> 2, 32 -> 3, 64 -> 4.

* :class:`ConvGenerator` maps noise [N, z_dim] to images [N, C, R, R] in [-1, 1]: a linear
  layer to the base feature map (BatchNorm + ReLU), then ConvTranspose2d(4, stride 2,
  pad 1) + BatchNorm + ReLU up-blocks halving the channels, the last one producing the
  image channels with a tanh.
* :class:`ConvDiscriminator` maps images [N, C, R, R] to logits [N]: Conv2d(4, stride 2,
  pad 1) + LeakyReLU(0.2) down-blocks doubling the channels, then a linear layer to one
  logit. It has no BatchNorm, so each logit depends on its own example only, as mixup of
  single examples and per-example gradient penalties require.

``width`` is the channel count next to the image (DCGAN's 64); the deepest feature map
has ``width * 2 ** (steps - 1)`` channels. Weights start from DCGAN's initialisation:
N(0, 0.02) for conv and linear weights, N(1, 0.02) for BatchNorm scales, zero biases.
"""
import torch
from torch import nn

from mixgan.errors import UsageError

SUPPORTED_RESOLUTIONS = (8, 16, 28, 32, 64)


def _plan(resolution):
    """(base size, number of stride-2 steps) for a supported resolution."""
    if isinstance(resolution, bool) or resolution not in SUPPORTED_RESOLUTIONS:
        raise UsageError(f"convolutional models support resolutions "
                         f"{', '.join(map(str, SUPPORTED_RESOLUTIONS))}, got {resolution!r}")
    base = 7 if resolution == 28 else 4
    return base, (resolution // base).bit_length() - 1


def _positive(what, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return value


def _dcgan_init(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ConvGenerator(nn.Module):
    """Noise [N, z_dim] -> images [N, channels, resolution, resolution] in [-1, 1]."""

    def __init__(self, z_dim, channels, resolution, width=64):
        super().__init__()
        base, steps = _plan(resolution)
        self.z_dim = _positive("z_dim", z_dim)
        self.event_shape = torch.Size((_positive("channels", channels), resolution, resolution))
        c = _positive("width", width) * 2 ** (steps - 1)
        self._base_shape = (c, base, base)
        self.project = nn.Linear(z_dim, c * base * base, bias=False)  # BatchNorm follows
        layers = [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        for _ in range(steps - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z):
        return self.net(self.project(z).view(-1, *self._base_shape))


class ConvDiscriminator(nn.Module):
    """Images [N, channels, resolution, resolution] -> logits [N]; no BatchNorm."""

    event_ndim = 3

    def __init__(self, channels, resolution, width=64):
        super().__init__()
        base, steps = _plan(resolution)
        self.event_shape = torch.Size((_positive("channels", channels), resolution, resolution))
        c_in, c = channels, _positive("width", width)
        layers = []
        for _ in range(steps):
            # not in-place: gradient penalties differentiate through these twice
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in, c = c, c * 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * base * base, 1)
        _dcgan_init(self)

    def forward(self, x):
        return self.head(self.features(x).flatten(1)).squeeze(1)

    # Feature layers, for mixup at a hidden layer (manifold mixup, Verma et al. 2019).
    # Layer k (1..number of down-blocks) is the output of the k-th LeakyReLU; layer 0 is the
    # image itself, and from_hidden(hidden(x, k), k) == forward(x) for every k.
    @property
    def hidden_layers(self):
        return len(self.features) // 2

    def hidden(self, x, layer):
        """Feature maps [N, C_k, H_k, W_k] after ``layer`` down-blocks (x itself for 0)."""
        return self.features[: 2 * _layer(layer, self.hidden_layers)](x)

    def from_hidden(self, h, layer):
        """Logits [N] from the feature maps ``h`` at hidden layer ``layer``."""
        return self.head(self.features[2 * _layer(layer, self.hidden_layers):](h).flatten(1)).squeeze(1)


def _layer(layer, hidden_layers):
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= hidden_layers:
        raise UsageError(f"mixup_layer must be in 0..{hidden_layers} (D's down-blocks), got {layer!r}")
    return layer
