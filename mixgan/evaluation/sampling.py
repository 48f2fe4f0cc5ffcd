"""New samples from a trained run's generator."""
import torch

from mixgan.rng import derive_seed
from mixgan.runs.reader import load_run

SAMPLING_STREAM = 2001  # a stream number of its own: sampling draws nothing a run trains with


@torch.no_grad()
def sample(run, n=1000, seed=0, iteration=None, device="cpu", ema=False):
    """``n`` points (numpy [n, 2]) or images ([n, C, H, W] in [-1, 1]) from the generator of the
    finished run folder ``run`` (its final weights, or a kept checkpoint's at ``iteration``),
    from noise seeded by ``seed``: the same call gives the same samples. ``ema``: from the
    generator's weight average instead, for runs trained with ``ema`` (the same noise as without).

    >>> from mixgan import sample
    >>> points = sample("outputs/00000-ring-mixup-s0", n=2500)  # doctest: +SKIP
    """
    opened = load_run(run) if not hasattr(run, "generator") else run
    G = opened.generator(iteration, device, ema=ema)
    z_dim = opened.training_config().z_dim
    g = torch.Generator().manual_seed(derive_seed(seed, SAMPLING_STREAM))
    z = torch.randn(n, z_dim, generator=g).to(device)
    return torch.cat([G(part) for part in z.split(1000)]).cpu().numpy()
