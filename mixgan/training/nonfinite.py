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


class RunsLossWatch:
    """:class:`LossWatch` for the R runs of a batch (``mixgan/training/batched.py``).

    It may be recorded into a CUDA graph (``cuda_graph.py``), whose replays re-run the captured
    kernels on the captured tensors: so it updates its tensors in place only, and counts the
    iterations itself on the device (a Python iteration number would be frozen into the graph at
    its capture)."""

    def __init__(self, runs, device, done=0):
        self.iteration = torch.full((), done, dtype=torch.int64, device=device)
        self.first_bad = torch.zeros(2, runs, dtype=torch.int64, device=device)
        self.bad_value = torch.zeros(2, runs, device=device)

    def watch(self, d_loss, g_loss):
        """Record one iteration's per-run losses [R] (the last D step's and the G step's)."""
        self.iteration += 1
        losses = torch.stack([d_loss.detach(), g_loss.detach()]).float()
        new = ~torch.isfinite(losses) & (self.first_bad == 0)
        self.first_bad.copy_(torch.where(new, self.iteration, self.first_bad))
        self.bad_value.copy_(torch.where(new, losses, self.bad_value))

    def problems(self, it, G, D, names_G, names_D):
        """``{run: why it cannot go on}`` for the runs of a stacked G and D whose losses or weights
        are no longer finite, in the words :meth:`LossWatch.problem` uses for a run alone.
        ``names_G``/``names_D``: a single run's parameter names, in the stacked parameters' order."""
        first, value = self.first_bad.tolist(), self.bad_value.tolist()
        nets = (("generator", G, names_G), ("discriminator", D, names_D))
        # Per run and parameter: all finite? One [R, parameters] table per net, read once.
        finite = [torch.stack([torch.isfinite(p.detach()).flatten(1).all(1) for p in net.parameters()], 1).tolist()
                  for _, net, _ in nets]
        found = {}
        for r in range(len(first[0])):
            bad = [(first[i][r], name, value[i][r]) for i, name in enumerate(("d_loss", "g_loss")) if first[i][r]]
            if bad:
                at, name, v = min(bad)  # the earliest: later ones follow from it
                found[r] = f"{name} became {v} at iteration {at}"
                continue
            for (label, _, names), table in zip(nets, finite):
                if not all(table[r]):
                    found[r] = f"{label} weight {names[table[r].index(False)]} holds NaN/Inf at iteration {it}"
                    break
        return found
