"""R MLPs of one shape as one module: weights stacked on a leading "runs" dimension.

Input [R, N, in] → output [R, N, out] with one batched matrix product per layer
(``torch.bmm``, in the form ``fused_mlp.product`` picks), so R small runs cost about as many
kernel launches as one. Adam is
elementwise, so one optimiser over the stacked weights is exactly R independent optimisers.
``stack`` builds it from R ordinary MLPs (``mixgan/nets/mlp.py``) and ``unstack`` gives one run
back as an ordinary module, for snapshots and saved weights that look like a single run's.
"""
import copy

import torch
from torch import nn

from mixgan.nets.fused_mlp import forward_layers, stacked_mlp, use_fused
from mixgan.nets.mlp import MLPDiscriminator


class StackedMLP(nn.Module):
    """``depth`` hidden ReLU layers and a linear output, for R runs at once.

    ``weights[i]`` is [R, in, out] (the transpose of ``nn.Linear.weight``, so the product is
    ``x @ W`` without a copy) and ``biases[i]`` is [R, 1, out] (broadcast over the N examples).
    """

    def __init__(self, weights, biases):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(w) for w in weights)
        self.biases = nn.ParameterList(nn.Parameter(b) for b in biases)

    @property
    def runs(self):
        return self.weights[0].shape[0]

    def forward(self, x):
        params = [p for wb in zip(self.weights, self.biases) for p in wb]
        if use_fused(x):  # the whole stack as one autograd node (mixgan/nets/fused_mlp.py)
            return stacked_mlp(x, params)
        return forward_layers(x, params)[-1]  # recorded op by op, for callers that differentiate twice


def _linears(module):
    return [m for m in module.net if isinstance(m, nn.Linear)]


def stack_layers(modules):
    """(weights, biases) of R modules with the same ``nn.Linear`` shapes, stacked run-first."""
    per_run = [_linears(m) for m in modules]
    weights = [torch.stack([layers[i].weight.detach().t() for layers in per_run]).contiguous()
               for i in range(len(per_run[0]))]
    biases = [torch.stack([layers[i].bias.detach()[None] for layers in per_run]).contiguous()
              for i in range(len(per_run[0]))]
    return weights, biases


class StackedGenerator(StackedMLP):
    """R generators: noise [R, N, z_dim] → points [R, N, out_dim]."""


class StackedDiscriminator(StackedMLP):
    """R discriminators: points [R, N, in_dim] → logits [R, N]."""

    event_ndim = 1

    def forward(self, x):
        return super().forward(x).squeeze(-1)


def stack(modules):
    """One stacked module from R ``MLPGenerator`` or R ``MLPDiscriminator`` of one shape."""
    kind = StackedDiscriminator if isinstance(modules[0], MLPDiscriminator) else StackedGenerator
    return kind(*stack_layers(modules))


def parameter_names(like):
    """The names a single module of the class and shape of ``like`` gives the stacked module's
    parameters, in the stacked order (every layer's weight, then every layer's bias)."""
    linears = [name for name, m in like.named_modules() if isinstance(m, nn.Linear)]
    return [f"{name}.weight" for name in linears] + [f"{name}.bias" for name in linears]


@torch.no_grad()
def unstack(stacked, run, like):
    """Run ``run`` of ``stacked`` as an ordinary module: a copy of ``like`` (a module of the
    single-run class and shape) holding that run's current weights, on the stacked weights' device."""
    module = copy.deepcopy(like).to(stacked.weights[0].device)
    for layer, w, b in zip(_linears(module), stacked.weights, stacked.biases):
        layer.weight.copy_(w[run].t())
        layer.bias.copy_(b[run, 0])
    return module

