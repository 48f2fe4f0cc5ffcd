"""The exponential moving average of the generator's weights (``--ema``).

After every generator step the average moves towards G: ``avg ← ema·avg + (1 − ema)·G`` for
every parameter, while buffers (BatchNorm's running statistics) are copied, since averaging a
step counter or a running statistic means nothing. The average starts as a copy of G before its
first step. It never takes part in training: it only generates, in snapshots and from the
finished run (``generator_ema.pt``, ``mixgan sample --ema``).

A stacked G (``mixgan/nets/stacked.py``) is averaged the same way: the update is elementwise, so
each run's slice of the stacked average is the average that run keeps alone.
"""
import copy

import torch


def start_average(G):
    """A frozen copy of ``G``: the average before any generator step."""
    return copy.deepcopy(G).requires_grad_(False)


@torch.no_grad()
def update_average(average, G, ema):
    """``average ← ema·average + (1 − ema)·G`` in place, buffers copied from ``G``.

    One fused elementwise kernel per parameter group and no value read back to the host, so it
    costs little beside the Adam step and can be captured in a CUDA graph.
    """
    torch._foreach_lerp_(list(average.parameters()), list(G.parameters()), 1.0 - ema)
    for mine, theirs in zip(average.buffers(), G.buffers()):
        mine.copy_(theirs)
