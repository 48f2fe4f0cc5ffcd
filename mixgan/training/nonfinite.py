"""Watching a run's numbers for NaN and Inf without stalling the device.

Reading a GPU value on the host waits for all queued work (a CPU-GPU sync), which per step
would cost more than the check. So each iteration only records, on the device, the first
iteration whose D or G loss was not finite (a few element-wise kernels, no sync); the host
reads that record, and checks every weight, only where it reads values anyway: at log lines,
snapshots and checkpoints. A NaN is therefore reported with its exact iteration, and no
snapshot or checkpoint ever holds one. Only the last discriminator step's loss of an iteration
is watched: a NaN in an earlier step puts NaN into D's weights, which makes the last step's
loss NaN too.
"""
import torch


class LossWatch:
    """The first non-finite D and G loss of a single run, recorded on the device."""

    def __init__(self, device):
        self.first_bad = torch.zeros(2, dtype=torch.int64, device=device)
        self.bad_value = torch.zeros(2, device=device)

    def watch(self, it, d_loss, g_loss):
        losses = torch.stack([d_loss.detach(), g_loss.detach()]).float()
        new = ~torch.isfinite(losses) & (self.first_bad == 0)
        self.first_bad = torch.where(new, it, self.first_bad)
        self.bad_value = torch.where(new, losses, self.bad_value)

    def problem(self, it, G, D):
        """Why the run cannot go on (one host sync), or None when its losses and weights are finite."""
        bad = [(first, name, value) for name, first, value in
               zip(("d_loss", "g_loss"), self.first_bad.tolist(), self.bad_value.tolist()) if first]
        if bad:
            first, name, value = min(bad)  # the earliest: later ones follow from it
            return f"{name} became {value} at iteration {first}"
        for label, net in (("generator", G), ("discriminator", D)):
            params = dict(net.named_parameters())
            if not torch.stack([torch.isfinite(p).all() for p in params.values()]).all().item():
                name = next(n for n, p in params.items() if not torch.isfinite(p).all())
                return f"{label} weight {name} holds NaN/Inf at iteration {it}"
        return None


def nonfinite_runs(losses, G, D):
    """Indices of the runs of a stacked G and D (``mixgan/nets/stacked.py``) whose summed
    losses [R] or weights are no longer finite (one host sync for the whole batch)."""
    bad = torch.zeros_like(losses[0], dtype=torch.bool)
    for loss in losses:
        bad |= ~torch.isfinite(loss)
    for p in (*G.parameters(), *D.parameters()):
        bad |= ~torch.isfinite(p.detach()).flatten(1).all(1)
    return bad.nonzero().flatten().tolist()
