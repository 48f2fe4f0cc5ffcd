"""Gradient penalties on the discriminator's input gradients, as small pure functions.

* :func:`gradient_penalty` — WGAN-GP (Gulrajani et al., 2017, eq. 3):
  ``E_x̂ (‖∇D(x̂)‖₂ − 1)²`` at random real–fake interpolates x̂ = εx + (1 − ε)x̃, ε ~ U(0, 1).
* :func:`r1` / :func:`r2` — Mescheder, Geiger & Nowozin (ICML 2018, eqs. 9 and 10):
  ``(γ/2) E ‖∇D(x)‖²`` on real points (R1) or on generated points (R2).

Each takes the discriminator itself and points [*batch, *event] (``D.event_ndim`` event
dimensions), makes a detached copy of the points that requires grad *inside* the function,
and differentiates with ``create_graph=True`` so the returned penalty can be
back-propagated into D's weights. The callers' tensors are never modified or marked.
Per-example gradients come from differentiating the *sum* of the logits: this is exact as
long as each logit depends on its own example only (true of mixgan's MLP and BatchNorm-free
convolutional discriminators).
"""
import torch


def input_gradients(D, x):
    """∇ₓ D(x) for every example of ``x``, as a tensor shaped like ``x``, kept differentiable."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return grad


def squared_norms(D, grad):
    """‖g‖² per example over D's event dimensions: [*batch, *event] -> [*batch]."""
    return grad.pow(2).flatten(start_dim=grad.dim() - D.event_ndim).sum(dim=-1)


def interpolates(real, fake, event_ndim, generator):
    """x̂ = εx + (1 − ε)x̃ with one ε ~ U(0, 1) per example, drawn only from ``generator``."""
    eps = torch.rand(real.shape[: real.dim() - event_ndim], generator=generator, device=real.device)
    eps = eps.reshape(eps.shape + (1,) * event_ndim).to(real.dtype)
    return torch.lerp(fake, real, eps)


def gradient_penalty(D, real, fake, generator):
    """WGAN-GP's two-sided penalty ``E (‖∇D(x̂)‖₂ − 1)²`` (Gulrajani et al. 2017, eq. 3), unweighted.

    ``real`` and ``fake`` must have the same shape; example i of one is paired with example
    i of the other. The norm is taken as sqrt(‖g‖² + 1e-12) so its gradient stays finite
    where D is flat (‖g‖ = 0).
    """
    grad = input_gradients(D, interpolates(real, fake, D.event_ndim, generator))
    norms = (squared_norms(D, grad) + 1e-12).sqrt()
    return (norms - 1).pow(2).mean()


def r1(D, real, gamma):
    """R1 (Mescheder et al. 2018, eq. 9): ``(γ/2) E_x ‖∇D(x)‖²`` on real points."""
    return 0.5 * gamma * squared_norms(D, input_gradients(D, real)).mean()


def r2(D, fake, gamma):
    """R2 (Mescheder et al. 2018, eq. 10): ``(γ/2) E_z ‖∇D(G(z))‖²`` on generated points."""
    return 0.5 * gamma * squared_norms(D, input_gradients(D, fake)).mean()
