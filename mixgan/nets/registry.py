"""Which G and D a run gets: the paper's MLPs for 2D points, DCGAN-style conv nets for images.

The choice follows the shape of one example of the data ([d] for points, [C, H, W] for
images), so objectives and the training loop never need to know which one they hold.
"""
import torch

from mixgan.nets.conv import ConvDiscriminator, ConvGenerator
from mixgan.errors import UsageError
from mixgan.nets.mlp import MLPDiscriminator, MLPGenerator


def mlp_networks(event_shape, config):
    (dim,) = event_shape
    return (MLPGenerator(config.z_dim, dim, config.width, config.depth),
            MLPDiscriminator(dim, config.width, config.depth))


def conv_networks(event_shape, config):
    """DCGAN-style nets sized from the images: channels, and resolution (square images only).
    ``depth`` does not apply: the number of up/down-sampling blocks follows the resolution."""
    channels, height, width = event_shape
    if height != width:
        raise UsageError(f"convolutional models need square images, got {height}x{width}")
    return (ConvGenerator(config.z_dim, channels, height, config.width),
            ConvDiscriminator(channels, height, config.width))


# number of event dimensions -> builder(event_shape, config) -> (G, D)
NETWORKS = {1: mlp_networks, 3: conv_networks}


def make_networks(event_shape, config):
    """(G, D) for examples of ``event_shape`` (an int d means points in d dimensions)."""
    shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
    if len(shape) not in NETWORKS:
        raise UsageError(f"no generator/discriminator for examples of shape {shape}")
    return NETWORKS[len(shape)](torch.Size(shape), config)
