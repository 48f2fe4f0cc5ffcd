"""R stacked MLPs' forward and backward as one autograd node (the batched engine's hot path).

Run layer by layer (``StackedMLP``'s plain path), autograd records three nodes per layer
(product, bias, ReLU), allocates a fresh [R, N, width] tensor for every ReLU gradient and
calls each node through its engine. This computes the same function with the same products,
as one node whose backward masks the ReLU gradients in place and computes only the gradients
autograd asks for. With 32 runs at width 64, where every activation is 2 MiB and the element-
wise passes are bound by memory traffic, the batched iteration went from 36.0 to 33.9 ms
(the mean of six interleaved timings each, on the 2-core CPU). A single run gains nothing
measurable from the same treatment (within ±3% at widths 64 and 512), so ``mixgan/nets/mlp.py``
keeps ``nn.Sequential``.

Shapes: x [R, N, in]; weights [R, in, out]; biases [R, 1, out]; every layer but the last is
followed by ReLU.

The backward is differentiable once. A caller that differentiates twice (gradient penalties
take D's gradient with respect to its input and back-propagate through it) needs the
graph-recording path: :func:`use_fused` picks that one whenever the input requires a gradient.
"""
import torch
from torch.autograd.function import once_differentiable


def use_fused(x):
    """Whether a forward pass on ``x`` may take the fused path: always without autograd, and
    with it unless ``x`` requires a gradient (the caller may then differentiate twice)."""
    return not (torch.is_grad_enabled() and x.requires_grad)


# Below this many output columns a batched product is computed as its transpose (see product).
THIN = 16


def product(a, b):
    """``torch.bmm(a, b)`` for a [R, m, k] and b [R, k, n], in the form the CPU's batched kernels
    run fastest. MKL's batched sgemm is slow when the result has a few columns (the layers into
    and out of 1 or 2 dimensions, and their weight gradients) or the sum runs over one term: on 2
    AMD EPYC cores (AVX2), 32 runs' [256, 64] @ [64, 1] took 0.80 ms as given and 0.22 ms as its
    transpose, and [256, 1] @ [1, 64] 1.36 ms against 0.09 ms as a multiplication
    (docs/BENCHMARKS.md). Each form is the same sum of the same products; in our checks the
    results were bitwise equal to ``torch.bmm``'s."""
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if k == 1:  # an outer product: one term per entry, exactly what the product gives
        return a * b
    if n < THIN <= m:  # (b^T a^T)^T: a few rows of length m instead of m short rows
        return torch.bmm(b.transpose(-2, -1), a.transpose(-2, -1)).transpose(-2, -1)
    return torch.bmm(a, b)


def forward_layers(x, params):
    """Every layer's input and the output: [x, relu(x W0 + b0), ..., output], for
    ``params`` = (w0, b0, w1, b1, ...)."""
    outs = [x]
    last = len(params) // 2 - 1
    for i in range(last + 1):
        # The product then add_: about 20% faster than baddbmm (which first copies the bias out) on
        # the Intel Xeon; on the AMD EPYC the two were within noise of each other in an iteration.
        # In place on our own product (nothing else holds it; neither backward needs it).
        h = product(outs[-1], params[2 * i]).add_(params[2 * i + 1])
        outs.append(h.relu_() if i < last else h)
    return outs


class StackedMLPFunction(torch.autograd.Function):
    """``StackedMLPFunction.apply(x, w0, b0, w1, b1, ...)``: the output as one autograd node."""

    @staticmethod
    def forward(ctx, x, *params):
        outs = forward_layers(x, params)
        ctx.save_for_backward(*outs[:-1], *params[0::2])  # each layer's input, and the weights
        return outs[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        saved = ctx.saved_tensors
        n = len(saved) // 2
        inputs, weights = saved[:n], saved[n:]
        needs = ctx.needs_input_grad  # (x, w0, b0, w1, b1, ...)
        # Layer i's input gradient is needed if anything below it wants a gradient.
        below = [needs[0] or any(needs[1:1 + 2 * i]) for i in range(n)]
        grads = [None] * (1 + 2 * n)
        g = grad.contiguous()
        for i in reversed(range(n)):
            if i < n - 1:  # g holds the gradient of layer i's ReLU output: mask it in place
                torch.ops.aten.threshold_backward.grad_input(g, inputs[i + 1], 0, grad_input=g)
            if needs[1 + 2 * i]:
                grads[1 + 2 * i] = product(inputs[i].transpose(1, 2), g)
            if needs[2 + 2 * i]:
                grads[2 + 2 * i] = g.sum(1, keepdim=True)
            if not below[i]:
                break
            g = product(g, weights[i].transpose(1, 2))  # a fresh tensor, so masking it in place is safe
        if needs[0]:
            grads[0] = g
        return tuple(grads)


def stacked_mlp(x, params):
    """The stacked MLPs' output for ``x``; call only where :func:`use_fused` is true."""
    if not torch.is_grad_enabled():
        return forward_layers(x, params)[-1]
    return StackedMLPFunction.apply(x, *params)
