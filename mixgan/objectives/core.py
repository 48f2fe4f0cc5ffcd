"""GAN objectives: each takes the discriminator itself and returns a scalar loss.

An objective never calls ``backward()`` or ``step()``; the training loop does. Inputs have
shape [*batch, *event] where ``D.event_ndim`` says how many trailing dimensions are one
example, so the same objective serves single runs ([N, 2]), images ([N, C, H, W]) and
stacked runs ([R, N, 2]). All randomness comes from the generator passed in.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


# Generator losses on D's logits at generated points.
def saturating(fake_logits):
    """Minimax generator loss E[log(1 − σ(D(G(z))))] (Goodfellow et al. 2014, eq. 1), = −softplus(d)."""
    return -F.softplus(fake_logits).mean()


def nonsaturating(fake_logits):
    """Non-saturating generator loss −E[log σ(D(G(z)))] = softplus(−d) (Goodfellow et al. 2014, §3)."""
    return F.softplus(-fake_logits).mean()


GENERATOR_LOSSES = {"saturating": saturating, "nonsaturating": nonsaturating}

# What the generator loss is averaged over. ``generated``: the generated points (the usual mean).
# ``batch``: the authors' demo code, whose generator step evaluates D's cross-entropy on a batch
# of B real and B generated points and averages over all 2B; the real half carries no gradient,
# so G's gradient is exactly half the ``generated`` one. Through Adam that factor only meets
# epsilon, yet it is the demo's exact update. (The demo's loss value also holds the real half's
# constant term, which mixgan does not evaluate: only the gradient is the same.)
G_LOSS_MEANS = {"generated": 1.0, "batch": 0.5}


def batch_shape(D, x):
    """The leading (example) dimensions of x for discriminator D."""
    return x.shape[: x.dim() - D.event_ndim]


def _broadcast(lam, x):
    """View per-example values [*batch] so they broadcast over x's event dimensions."""
    return lam.reshape(lam.shape + (1,) * (x.dim() - lam.dim()))


class StandardObjective:
    """The standard GAN objective (Goodfellow et al. 2014, eq. 1):
    ``min_d E ℓ(d(x), 1) + ℓ(d(g(z)), 0)``, ℓ binary cross-entropy on logits.

    The discriminator loss is the mean BCE over the concatenated real+fake batch, i.e.
    half the sum of the two expectations (the authors' demo code computes it this way;
    Adam is insensitive to the constant factor).
    """

    d_batches = 1  # real and fake batches consumed per discriminator step

    def __init__(self, g_loss="saturating", g_loss_mean="generated"):
        self.generator_loss = GENERATOR_LOSSES[g_loss]
        self.g_scale = G_LOSS_MEANS[g_loss_mean]

    def d_loss(self, D, real, fake, generator):
        dim = len(batch_shape(D, real)) - 1
        logits = D(torch.cat([real, fake], dim=dim))  # one pass over both halves
        target = torch.cat([torch.ones_like(logits.narrow(dim, 0, real.shape[dim])),
                            torch.zeros_like(logits.narrow(dim, 0, fake.shape[dim]))], dim=dim)
        return F.binary_cross_entropy_with_logits(logits, target)

    def g_loss(self, D, fake):
        loss = self.generator_loss(D(fake))
        return loss * self.g_scale if self.g_scale != 1.0 else loss


def sample_beta(shape, alpha, generator, device):
    """λ ~ Beta(α, α), drawn only from ``generator``.

    torch's Beta sampler uses the global RNG, so this draws X, Y ~ Gamma(α) itself:
    Gamma(α) = Gamma(α + 1)·U^(1/α), with Gamma(α + 1) by Marsaglia & Tsang (2000), whose
    acceptance rate is above 95% for shapes ≥ 1. Eight candidates are drawn per value in
    one vectorised step and the first accepted is kept, so there is no data-dependent loop
    or host synchronisation; if all eight are rejected (probability < 1e-10) the value
    d = α + 2/3 is used. λ = σ(log X − log Y) stays finite even for tiny α.
    """
    return beta_from_draws(beta_draws(tuple(shape), generator, device), alpha)


def beta_draws(shape, generator, device):
    """The raw random numbers one :func:`sample_beta` call takes from ``generator``, in its order.

    Split from the transform so that the batched engine (``mixgan/training/batched.py``) can draw each
    run's numbers from that run's own generator and transform all runs at once."""
    draws = []
    for _ in range(2):  # X, then Y
        draws += [torch.randn(shape + (8,), generator=generator, device=device),
                  torch.rand(shape + (8,), generator=generator, device=device),
                  torch.rand(shape, generator=generator, device=device)]
    return draws


def beta_from_draws(draws, alpha):
    """λ ~ Beta(α, α) from :func:`beta_draws`. ``alpha`` is a number, or a tensor that broadcasts
    against the draws' shape (one α per run); its constants are computed in double precision
    and rounded once, exactly as a Python number is, so both give the same λ."""
    if torch.is_tensor(alpha):
        a64 = alpha.double()
        d64 = a64 + 1 - 1 / 3
        alpha, d, c = (t.to(draws[0].dtype) for t in (a64, d64, 1 / torch.sqrt(9 * d64)))
        d8, c8 = d.unsqueeze(-1), c.unsqueeze(-1)  # against the eight candidates
    else:
        d = alpha + 1 - 1 / 3
        c = 1 / math.sqrt(9 * d)
        d8, c8 = d, c

    def log_gamma_sample(x, u, boost):
        v = (1 + c8 * x) ** 3
        ok = (v > 0) & (u.log() < 0.5 * x * x + d8 - d8 * v + d8 * v.clamp_min(1e-30).log())
        first = ok.to(torch.uint8).argmax(dim=-1, keepdim=True)
        accepted = ok.gather(-1, first)
        fallback = torch.full_like(v[..., :1], d) if not torch.is_tensor(d) else d8.expand_as(v[..., :1])
        g = torch.where(accepted, d8 * v.gather(-1, first), fallback).squeeze(-1)
        return g.log() + boost.log() / alpha

    return torch.sigmoid(log_gamma_sample(*draws[:3]) - log_gamma_sample(*draws[3:]))


def sample_uniform(shape, alpha, generator, device):
    """λ ~ U(0, α), as in the authors' demo code for Figure 5."""
    return uniform_from_draws(uniform_draws(tuple(shape), generator, device), alpha)


def uniform_draws(shape, generator, device):
    return [torch.rand(shape, generator=generator, device=device)]


def uniform_from_draws(draws, alpha):
    if torch.is_tensor(alpha):
        alpha = alpha.double().to(draws[0].dtype)
    return alpha * draws[0]


LAMBDA_DISTRIBUTIONS = {"beta": sample_beta, "uniform": sample_uniform}

# The same distributions split into (raw draws from one generator, transform of stacked draws),
# for engines that give every run its own generator (mixgan/training/batched.py).
LAMBDA_DRAWS = {"beta": (beta_draws, beta_from_draws), "uniform": (uniform_draws, uniform_from_draws)}


def pair_real_fake(real, fake, dim, generator):
    """The paper's equation: each real point x is mixed with one generated point g(z).
    Returns (x1, y1, x2, y2): inputs and labels of the two sides of the mix."""
    ones = torch.ones(real.shape[: dim + 1], device=real.device)
    return real, ones, fake, torch.zeros_like(ones)


def pair_shuffled(real, fake, dim, generator):
    """The demo code: two real+fake batches (labels 1/0) mixed with each other after a
    shuffle, so pairs are real–real, real–fake and fake–fake. Takes 2B real and 2B fake
    points; only the second batch is permuted, which gives the same distribution of pairs
    as shuffling both."""
    half = (real.shape[dim] + 1) // 2  # the length of real.chunk(2)[0]
    keys = torch.rand(real.shape[:dim] + (2 * half,), generator=generator, device=real.device)
    return shuffle_pairs(real, fake, dim, keys)


def shuffle_pairs(real, fake, dim, keys):
    """:func:`pair_shuffled` with its random sort keys given (``keys``: one per mixed pair), so a
    batched engine can draw each run's keys from that run's generator."""
    real1, real2 = real.chunk(2, dim=dim)
    fake1, fake2 = fake.chunk(2, dim=dim)
    x1, x2 = torch.cat([real1, fake1], dim=dim), torch.cat([real2, fake2], dim=dim)
    ones = torch.ones(real1.shape[: dim + 1], device=real.device)
    y = torch.cat([ones, torch.zeros_like(ones)], dim=dim)
    perm = argsort_rows(keys)
    # gather with an expanded index: the same values as take_along_dim, which copies the
    # broadcast index out first (3x slower for 32 runs' [256, 2] batches).
    x2 = torch.gather(x2, dim, _broadcast(perm, x2).expand_as(x2))
    return x1, y, x2, torch.gather(y, dim, perm)


def argsort_rows(keys):
    """``keys.argsort(dim=-1)``. On the CPU numpy's argsort does it: it uses a vectorised sort
    where the processor has one (AVX-512 here: 41 µs for 32 rows of 256 against torch's 255,
    which the batched engine pays at every discriminator step). Each row is sorted on its own by
    the same function, so a run's permutation is the same alone and in a batch."""
    if keys.device.type == "cpu":
        return torch.from_numpy(np.argsort(keys.numpy(), axis=-1))
    return keys.argsort(dim=-1)


PAIRINGS = {"real-fake": pair_real_fake, "shuffled": pair_shuffled}


class MixupObjective:
    """The mixup GAN objective (Zhang et al., ICLR 2018, §3.7):
    ``max_g min_d E_{x,z,λ} ℓ(d(λx + (1 − λ)g(z)), λ)``, ℓ BCE against the soft target λ.

    ``lambda_dist``: ``beta`` (Beta(α, α), the paper's equation) or ``uniform`` (U(0, α),
    the demo code), one λ per example. ``pairing``: ``real-fake`` (the equation) or
    ``shuffled`` (the demo code: two real+fake batches mixed, target λ·y1 + (1 − λ)·y2).
    The generator is trained on unmixed generated points with ``g_loss``, as in the demo,
    averaged as ``g_loss_mean`` says (:data:`G_LOSS_MEANS`).
    """

    def __init__(self, alpha=0.2, lambda_dist="beta", pairing="real-fake", g_loss="saturating",
                 g_loss_mean="generated"):
        self.alpha = alpha
        self.lambda_sampler = LAMBDA_DISTRIBUTIONS[lambda_dist]
        self.pair = PAIRINGS[pairing]
        self.d_batches = 2 if pairing == "shuffled" else 1
        self.generator_loss = GENERATOR_LOSSES[g_loss]
        self.g_scale = G_LOSS_MEANS[g_loss_mean]

    def sample_lambda(self, shape, generator, device):
        return self.lambda_sampler(tuple(shape), self.alpha, generator, device)

    def d_loss(self, D, real, fake, generator):
        dim = len(batch_shape(D, real)) - 1
        x1, y1, x2, y2 = self.pair(real, fake, dim, generator)
        lam = self.sample_lambda(y1.shape, generator, real.device)
        mixed = torch.lerp(x2, x1, _broadcast(lam, x1))  # λ·x1 + (1 − λ)·x2
        target = torch.lerp(y2, y1, lam)
        return F.binary_cross_entropy_with_logits(D(mixed), target)

    def g_loss(self, D, fake):
        loss = self.generator_loss(D(fake))
        return loss * self.g_scale if self.g_scale != 1.0 else loss


def standard(config):
    return StandardObjective(g_loss=config.g_loss, g_loss_mean=config.g_loss_mean)


def mixup(config):
    return MixupObjective(config.alpha, config.lambda_dist, config.pairing, config.g_loss, config.g_loss_mean)
