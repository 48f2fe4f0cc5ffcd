"""Gradient penalties against analytic discriminators: for D(x) = w·x the input gradient is w everywhere."""
import pytest
import torch

from mixgan.nets.conv import ConvDiscriminator
from mixgan.objectives.penalties import gradient_penalty, input_gradients, interpolates, r1, r2


class Linear(torch.nn.Module):
    """D(x) = w·x, so ∇ₓD = w and ‖∇ₓD‖ = ‖w‖ at every point."""

    event_ndim = 1

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return x @ self.w


class HalfSquaredNorm(torch.nn.Module):
    """D(x) = ½‖x‖², so ∇ₓD = x."""

    event_ndim = 1

    def forward(self, x):
        return 0.5 * x.pow(2).sum(-1)


@pytest.mark.parametrize("w", [[3.0, 4.0], [0.6, 0.0], [0.0, 0.0], [-1.0, 2.0]])
@pytest.mark.parametrize("shape", [(7,), (3, 5)])
def test_linear_discriminator_penalties(w, shape):
    D = Linear(w)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(shape + (2,), generator=g), torch.randn(shape + (2,), generator=g) + 2
    norm = torch.tensor(w).norm().item()
    assert gradient_penalty(D, real, fake, g).item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    assert r1(D, real, 2.5).item() == pytest.approx(0.5 * 2.5 * norm ** 2, rel=1e-6, abs=1e-12)
    assert r2(D, fake, 0.4).item() == pytest.approx(0.5 * 0.4 * norm ** 2, rel=1e-6, abs=1e-12)


def test_penalties_backpropagate_into_the_weights():
    w = torch.tensor([3.0, 4.0])
    x = torch.randn(6, 2)
    D = Linear(w.tolist())
    r1(D, x, 2.0).backward()  # d/dw (γ/2)‖w‖² = γ·w
    torch.testing.assert_close(D.w.grad, 2.0 * w)
    D.w.grad = None
    gradient_penalty(D, x, x.flip(0), torch.Generator().manual_seed(1)).backward()
    torch.testing.assert_close(D.w.grad, 2 * (5.0 - 1) * w / 5.0)  # d/dw (‖w‖ − 1)²


def test_flat_discriminator_gives_finite_gradient_penalty_gradients():
    D = Linear([0.0, 0.0])
    gradient_penalty(D, torch.randn(4, 2), torch.randn(4, 2), torch.Generator()).backward()
    assert torch.isfinite(D.w.grad).all()


def test_penalty_at_non_constant_gradient_by_hand():
    D = HalfSquaredNorm()
    real, fake = torch.tensor([[1.0, 2.0], [0.0, -3.0]]), torch.tensor([[0.0, 0.0], [4.0, 1.0]])
    assert r1(D, real, 1.0).item() == pytest.approx(0.5 * (5 + 9) / 2)
    assert r2(D, fake, 3.0).item() == pytest.approx(1.5 * (0 + 17) / 2)
    x_hat = interpolates(real, fake, 1, torch.Generator().manual_seed(4))
    expected = ((x_hat.norm(dim=-1) - 1) ** 2).mean()
    assert gradient_penalty(D, real, fake, torch.Generator().manual_seed(4)).item() == pytest.approx(
        expected.item(), rel=1e-5)


def test_interpolates_lie_on_the_real_fake_segments():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(500, 2), torch.randn(500, 2)
    x = interpolates(real, fake, 1, g)
    # x = fake + ε (real − fake) with one ε per example in [0, 1], spread over that range.
    eps = ((x - fake) * (real - fake)).sum(-1) / (real - fake).pow(2).sum(-1)
    torch.testing.assert_close(x, fake + eps[:, None] * (real - fake))
    assert eps.min() >= 0 and eps.max() <= 1 and eps.std() > 0.25


def test_penalties_leave_inputs_and_global_rng_alone():
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    state = torch.get_rng_state()
    D = HalfSquaredNorm()
    for value in (gradient_penalty(D, real, fake, torch.Generator()), r1(D, real, 1.0), r2(D, fake, 1.0)):
        assert value.requires_grad or value.grad_fn is not None
    assert not real.requires_grad and not fake.requires_grad and real.grad is None
    assert torch.equal(state, torch.get_rng_state())


def test_per_example_gradients_of_a_conv_discriminator():
    """Gradients of the summed logits are the per-image gradients (no BatchNorm in D)."""
    torch.manual_seed(0)
    D = ConvDiscriminator(channels=1, resolution=8, width=4)
    x = torch.randn(3, 1, 8, 8)
    grads = input_gradients(D, x)
    for i in range(3):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(D(xi).sum(), xi)
        torch.testing.assert_close(grads[i:i + 1], gi)
    expected = 0.5 * 2.0 * grads.pow(2).flatten(1).sum(1).mean()
    torch.testing.assert_close(r1(D, x, 2.0), expected)
    assert torch.isfinite(gradient_penalty(D, x, torch.randn(3, 1, 8, 8), torch.Generator()))
