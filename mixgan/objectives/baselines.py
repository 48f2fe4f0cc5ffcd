"""Baseline stabilisers to compare mixup against, behind the same interface as ``standard`` and ``mixup``.

Objectives (``d_loss(D, real, fake, generator)``, ``g_loss(D, fake)``, ``d_batches``):

* :class:`WGANGPObjective` — Wasserstein critic with gradient penalty (Gulrajani et al. 2017).
* :class:`HingeObjective` — hinge loss (Lim & Ye 2017; Miyato et al. 2018).
* :class:`LSGANObjective` — least squares (Mao et al. 2017).

Wrappers that add an option to whatever objective a builder returns:

* :class:`Penalised` — R1 / R2 gradient penalties (Mescheder et al. 2018), any objective.
* :class:`ManifoldMixup` — mixup at a hidden layer of D (Verma et al. 2019), ``mixup`` only.

``mixgan/objectives/__init__.py`` registers them. Like the core objectives, everything here accepts any number of
leading batch dimensions and draws its randomness only from the generator passed in.
"""
import torch

from mixgan.objectives.penalties import gradient_penalty, r1, r2


class WGANGPObjective:
    """WGAN-GP (Gulrajani et al., NeurIPS 2017, eq. 3 and Algorithm 1). The critic minimises

    ``E_x̃ D(x̃) − E_x D(x) + λ E_x̂ (‖∇D(x̂)‖₂ − 1)²``,  x̂ = εx + (1 − ε)x̃, ε ~ U(0, 1),

    and the generator minimises ``−E_z D(G(z))``. D's output is an unbounded critic value,
    not a logit. The paper's usual settings: λ = 10, 5 critic steps, Adam lr 1e-4,
    β = (0.5, 0.9); their toy-data code uses λ = 0.1 (preset ``wgan-gp-toy``).
    """

    d_batches = 1

    def __init__(self, gp_weight=10.0):
        self.gp_weight = gp_weight

    def d_loss(self, D, real, fake, generator):
        loss = D(fake).mean() - D(real).mean()
        if self.gp_weight:
            loss = loss + self.gp_weight * gradient_penalty(D, real, fake, generator)
        return loss

    def g_loss(self, D, fake):
        return -D(fake).mean()


class HingeObjective:
    """Hinge GAN (Lim & Ye 2017, "Geometric GAN"; Miyato et al., ICLR 2018, eqs. 16–17):

    ``L_D = E_x max(0, 1 − D(x)) + E_z max(0, 1 + D(G(z)))``,  ``L_G = −E_z D(G(z))``.
    """

    d_batches = 1

    def d_loss(self, D, real, fake, generator):
        return torch.relu(1 - D(real)).mean() + torch.relu(1 + D(fake)).mean()

    def g_loss(self, D, fake):
        return -D(fake).mean()


class LSGANObjective:
    """Least-squares GAN (Mao et al., ICCV 2017, eq. 2 with the 0-1 coding a = 0, b = c = 1):

    ``L_D = ½ E_x (D(x) − 1)² + ½ E_z D(G(z))²``,  ``L_G = ½ E_z (D(G(z)) − 1)²``.
    """

    d_batches = 1

    def d_loss(self, D, real, fake, generator):
        return 0.5 * (D(real) - 1).pow(2).mean() + 0.5 * D(fake).pow(2).mean()

    def g_loss(self, D, fake):
        return 0.5 * (D(fake) - 1).pow(2).mean()


class Penalised:
    """Adds R1 (γ₁/2 · E‖∇D(x)‖² on reals) and R2 (γ₂/2 · E‖∇D(G(z))‖² on fakes) to any
    objective's discriminator loss (Mescheder, Geiger & Nowozin, ICML 2018, eqs. 9–10).

    The penalties use every real and generated point of the step (2B of each for the
    shuffled mixup pairing); the generator loss is the inner objective's, unchanged.
    """

    def __init__(self, inner, r1_gamma=0.0, r2_gamma=0.0):
        self.inner, self.r1_gamma, self.r2_gamma = inner, r1_gamma, r2_gamma
        self.d_batches = inner.d_batches

    def d_loss(self, D, real, fake, generator):
        loss = self.inner.d_loss(D, real, fake, generator)
        if self.r1_gamma:
            loss = loss + r1(D, real, self.r1_gamma)
        if self.r2_gamma:
            loss = loss + r2(D, fake, self.r2_gamma)
        return loss

    def g_loss(self, D, fake):
        return self.inner.g_loss(D, fake)


class ManifoldMixup:
    """Mixup at hidden layer k of D (manifold mixup, Verma et al., ICML 2019, applied to the
    discriminator as in their GAN experiments), keeping the mixup paper's soft-target loss:

    ``min_d E ℓ(d_{>k}(λ·d_{≤k}(x₁) + (1 − λ)·d_{≤k}(x₂)), λ·y₁ + (1 − λ)·y₂)``,

    where ``d_{≤k}`` is D up to its k-th hidden layer (``D.hidden(x, k)``) and ``d_{>k}`` the
    rest (``D.from_hidden(h, k)``). Pairing and λ come from the wrapped
    :class:`~mixgan.objectives.MixupObjective`; k = 0 mixes inputs and equals it exactly.
    Verma et al. instead label every mix as fake with λ := min(λ, 1 − λ); that variant is
    not implemented here.
    """

    def __init__(self, inner, layer):
        self.inner, self.layer = inner, layer
        self.d_batches = inner.d_batches

    def d_loss(self, D, real, fake, generator):
        dim = real.dim() - D.event_ndim - 1  # the examples' dimension
        x1, y1, x2, y2 = self.inner.pair(real, fake, dim, generator)
        lam = self.inner.sample_lambda(y1.shape, generator, real.device)
        h1, h2 = D.hidden(x1, self.layer), D.hidden(x2, self.layer)
        mixed = torch.lerp(h2, h1, lam.reshape(lam.shape + (1,) * (h1.dim() - lam.dim())))
        target = torch.lerp(y2, y1, lam)
        return torch.nn.functional.binary_cross_entropy_with_logits(D.from_hidden(mixed, self.layer), target)

    def g_loss(self, D, fake):
        return self.inner.g_loss(D, fake)


def wgan_gp(config):
    return WGANGPObjective(config.gp_weight)


def hinge(config):
    return HingeObjective()


def lsgan(config):
    return LSGANObjective()
