"""Spectral normalisation of a discriminator's layers (Miyato et al., ICLR 2018, eq. 8: W / σ(W))."""
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NORMALISED_LAYERS = (nn.Linear, nn.Conv2d)


def spectral_norm_layers(D, n_power_iterations=1):
    """Reparametrise every Linear and Conv2d layer of ``D`` in place as W / σ(W) and return ``D``.

    σ(W) is estimated by power iteration, one step per training-mode forward pass, as in the
    paper (its vectors persist between steps, so the estimate converges as training runs; in
    eval mode the stored estimate is used unchanged). A Conv2d kernel is treated as the
    matrix [out, in·kh·kw], the paper's approximation of the convolution's operator norm.
    The first power-iteration vectors are drawn from torch's global RNG: call this where the
    weights are initialised (mixgan's ``build_models`` forks and seeds that RNG there).
    """
    for module in list(D.modules()):
        if isinstance(module, NORMALISED_LAYERS):
            spectral_norm(module, n_power_iterations=n_power_iterations)
    return D
