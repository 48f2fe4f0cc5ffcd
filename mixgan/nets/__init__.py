"""Generator and discriminator networks: the paper's MLPs for 2D points, DCGAN-style conv nets for
images, R MLPs stacked into one module for the batched engine, and spectral normalisation.

``make_networks(event_shape, config)`` picks the pair from the shape of one example
(``registry.NETWORKS``); nets know nothing of objectives or the training loop.
"""
from mixgan.nets.conv import SUPPORTED_RESOLUTIONS, ConvDiscriminator, ConvGenerator
from mixgan.nets.mlp import MLPDiscriminator, MLPGenerator
from mixgan.nets.registry import NETWORKS, make_networks
from mixgan.nets.spectral import spectral_norm_layers
from mixgan.nets.stacked import stack, unstack

__all__ = ["make_networks", "NETWORKS", "MLPGenerator", "MLPDiscriminator", "ConvGenerator", "ConvDiscriminator",
           "SUPPORTED_RESOLUTIONS", "spectral_norm_layers", "stack", "unstack"]
