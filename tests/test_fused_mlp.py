"""The fused stacked MLP (mixgan/nets/fused_mlp.py) computes what the layer-by-layer path computes."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from mixgan.nets.fused_mlp import THIN, StackedMLPFunction, product, stacked_mlp, use_fused
from mixgan.nets.mlp import MLPDiscriminator, MLPGenerator
from mixgan.nets.stacked import StackedMLP, stack


def layered(x, params):
    """The plain path, written out: product, bias, ReLU, per layer."""
    last = len(params) // 2 - 1
    for i in range(last + 1):
        x = torch.bmm(x, params[2 * i]) + params[2 * i + 1]
        if i < last:
            x = torch.relu(x)
    return x


def random_params(R, dims, generator):
    return [t for i, o in zip(dims, dims[1:])
            for t in (torch.randn(R, i, o, generator=generator) / i ** 0.5, torch.randn(R, 1, o, generator=generator))]


@settings(max_examples=30, deadline=None)
@given(R=st.integers(1, 4), N=st.integers(1, 40), depth=st.integers(0, 3), width=st.integers(1, 20),
       wants=st.lists(st.booleans(), min_size=9, max_size=9), seed=st.integers(0, 2**31 - 1))
def test_output_and_every_requested_gradient_match_the_layered_path(R, N, depth, width, wants, seed):
    g = torch.Generator().manual_seed(seed)
    dims = [2] + [width] * depth + [3]
    params = random_params(R, dims, g)
    x = torch.randn(R, N, 2, generator=g)
    wants = wants[: 1 + len(params)]  # which of (x, w0, b0, ...) require a gradient
    leaves_a = [t.clone().requires_grad_(w) for t, w in zip([x] + params, wants)]
    leaves_b = [t.clone().requires_grad_(w) for t, w in zip([x] + params, wants)]
    out_a = StackedMLPFunction.apply(*leaves_a)
    out_b = layered(leaves_b[0], leaves_b[1:])
    torch.testing.assert_close(out_a, out_b)
    if not any(wants):
        assert not out_a.requires_grad
        return
    weight = torch.randn(out_a.shape, generator=g)  # a loss that weighs every output differently
    (out_a * weight).sum().backward()
    (out_b * weight).sum().backward()
    for a, b, w in zip(leaves_a, leaves_b, wants):
        if w:
            torch.testing.assert_close(a.grad, b.grad)
        else:
            assert a.grad is None


@pytest.mark.parametrize("m, k, n", [(40, 8, 1), (40, 8, 2), (THIN, 8, THIN - 1), (40, 1, 8), (40, 1, 1),
                                     (40, 8, THIN), (3, 8, 1), (40, 20, 3)])
def test_every_form_of_the_batched_product_gives_what_bmm_gives(m, k, n):
    """The outer product, the transposed form and plain bmm, on operands laid out either way."""
    g = torch.Generator().manual_seed(100 * m + 10 * k + n)
    a, b = torch.randn(3, m, k, generator=g), torch.randn(3, k, n, generator=g)
    flipped = lambda t: t.transpose(1, 2).contiguous().transpose(1, 2)  # noqa: E731  same values, other strides
    for x, y in ((a, b), (flipped(a), b), (a, flipped(b)), (flipped(a), flipped(b))):
        torch.testing.assert_close(product(x, y), torch.bmm(a, b))


def test_frozen_weights_get_no_gradient_and_the_input_does():
    g = torch.Generator().manual_seed(0)
    params = random_params(2, [2, 8, 8, 1], g)
    x = torch.randn(2, 5, 2, generator=g, requires_grad=True)
    StackedMLPFunction.apply(x, *params).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    layered(x2, params).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    assert all(p.grad is None for p in params)


def test_routing_keeps_the_recording_path_where_a_second_derivative_may_be_taken():
    x = torch.zeros(1, 2, 2)
    assert use_fused(x)
    assert not use_fused(x.clone().requires_grad_(True))
    with torch.no_grad():
        assert use_fused(x.clone().requires_grad_(True))
    # A gradient penalty differentiates D's input gradient: through StackedMLP this must work.
    torch.manual_seed(0)
    D = stack([MLPDiscriminator(2, 8, 2) for _ in range(2)])
    pts = torch.randn(2, 4, 2, requires_grad=True)
    (grad,) = torch.autograd.grad(D(pts).sum(), pts, create_graph=True)
    grad.pow(2).sum().backward()
    assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in D.weights)


def test_the_fused_node_refuses_a_second_derivative():
    params = [p.requires_grad_(True) for p in random_params(1, [2, 4, 1], torch.Generator().manual_seed(1))]
    out = StackedMLPFunction.apply(torch.randn(1, 3, 2), *params)
    (gw,) = torch.autograd.grad(out.sum(), params[0], create_graph=True)
    with pytest.raises(RuntimeError):
        gw.sum().backward()


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_stacked_modules_give_what_their_single_runs_give(grad_enabled):
    torch.manual_seed(3)
    singles = [MLPGenerator(2, 2, 16, 3) for _ in range(3)]
    G = stack(singles)
    z = torch.randn(3, 7, 2)
    with torch.set_grad_enabled(grad_enabled):
        out = G(z)
    for r, single in enumerate(singles):
        torch.testing.assert_close(out[r], single(z[r]).detach() if grad_enabled else single(z[r]))
    assert isinstance(G, StackedMLP)
    assert out.requires_grad == grad_enabled
    with torch.no_grad():
        torch.testing.assert_close(stacked_mlp(z, [p for wb in zip(G.weights, G.biases) for p in wb]), out.detach())
