"""Objectives for R runs trained as one stacked model (the batched engine, ``mixgan/training/batched.py``).

Each takes stacked inputs [R, N, 2] and per-run generators and returns per-run losses [R]. A run
draws exactly the numbers it draws alone (``core.py``), from its own generator, in the same order;
only the transforms (Marsaglia–Tsang for Beta, the shuffle, the mix) run once on the whole stack.
"""
import torch
import torch.nn.functional as F

from mixgan.objectives.core import G_LOSS_MEANS, GENERATOR_LOSSES, LAMBDA_DRAWS, shuffle_pairs


def _per_run_bce(logits, target):
    """Each run's mean BCE-with-logits [R], as ``F.binary_cross_entropy_with_logits`` gives it alone."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


class BatchedStandard:
    """:class:`mixgan.objectives.StandardObjective` for R runs; returns per-run losses [R]."""

    d_batches = 1

    def __init__(self, configs, device):
        self.generator_loss = torch.vmap(GENERATOR_LOSSES[configs[0].g_loss])
        self.g_scale = G_LOSS_MEANS[configs[0].g_loss_mean]

    def d_loss(self, D, real, fake, generators):
        logits = D(torch.cat([real, fake], dim=1))
        target = torch.cat([torch.ones(real.shape[:2], device=real.device),
                            torch.zeros(fake.shape[:2], device=fake.device)], dim=1)
        return _per_run_bce(logits, target)

    def g_loss(self, D, fake):
        loss = self.generator_loss(D(fake))
        return loss * self.g_scale if self.g_scale != 1.0 else loss


class BatchedMixup(BatchedStandard):
    """:class:`mixgan.objectives.MixupObjective` for R runs with per-run α and λ distribution.

    A single run draws, per discriminator step, the pairing's shuffle keys and then λ from its
    ``objective`` stream; here each run draws exactly those numbers from its own stream, and
    the transforms (Marsaglia–Tsang for Beta, the shuffle, the mix) run once on the stack.
    """

    def __init__(self, configs, device):
        super().__init__(configs, device)
        self.shuffled = configs[0].pairing == "shuffled"
        self.d_batches = 2 if self.shuffled else 1
        self.dists = [c.lambda_dist for c in configs]
        # Runs grouped by λ distribution: (name, run indices, the same on the device, α per run [n, 1] in float64).
        self.groups = []
        for name in dict.fromkeys(self.dists):
            idx = [r for r, d in enumerate(self.dists) if d == name]
            alpha = torch.tensor([[configs[r].alpha] for r in idx], dtype=torch.float64, device=device)
            self.groups.append((name, idx, torch.tensor(idx, device=device), alpha))

    def d_loss(self, D, real, fake, generators):
        n_real = real.shape[1]
        # Per mixed pair: real-fake mixes B reals with B fakes; shuffled mixes two halves of 2B reals+fakes.
        pairs = 2 * ((n_real + 1) // 2) if self.shuffled else n_real

        def draw(r, g):
            keys = [torch.rand((pairs,), generator=g, device=real.device)] if self.shuffled else []
            return keys + LAMBDA_DRAWS[self.dists[r]][0]((pairs,), g, real.device)

        per_run = [draw(r, g) for r, g in enumerate(generators)]
        if self.shuffled:
            keys = torch.stack([d[0] for d in per_run])
            x1, y1, x2, y2 = shuffle_pairs(real, fake, 1, keys)
            per_run = [d[1:] for d in per_run]
        else:
            y1 = torch.ones(real.shape[:2], device=real.device)
            x1, x2, y2 = real, fake, torch.zeros_like(y1)
        lam = self._lambda(per_run, y1.shape, real.device)
        mixed = torch.lerp(x2, x1, lam.unsqueeze(-1))
        target = torch.lerp(y2, y1, lam)
        return _per_run_bce(D(mixed), target)

    def _lambda(self, per_run, shape, device):
        if len(self.groups) == 1:  # the common case: one distribution, no scatter
            name, _, _, alpha = self.groups[0]
            draws = [torch.stack(parts) for parts in zip(*per_run)]
            return LAMBDA_DRAWS[name][1](draws, alpha)
        lam = torch.empty(shape, device=device)
        for name, idx, idx_on_device, alpha in self.groups:
            draws = [torch.stack(parts) for parts in zip(*(per_run[r] for r in idx))]
            lam[idx_on_device] = LAMBDA_DRAWS[name][1](draws, alpha)
        return lam


# objective name -> batched form (per-run losses [R] from stacked inputs [R, N, 2]).
BATCHED_OBJECTIVES = {"standard": BatchedStandard, "mixup": BatchedMixup}
