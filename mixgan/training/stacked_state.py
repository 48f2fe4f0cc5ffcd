"""Checkpoints of runs trained in a batch: one per run, in the single-run format.

A run trained in a batch (``batched.py``) is checkpointed as the run it is: its own G and D,
its own Adam state (its slice of the stacked optimiser's moments, turned back into
``nn.Linear``'s layout), its own random streams, snapshot noise and loss sums, written with
``mixgan/runs/checkpoints.py`` into its own folder. So a stopped batch resumes as a batch
(``mixgan sweep --resume``), and any of its runs can also be resumed alone
(``mixgan train --resume RUN``); either way it goes on as it would have, within float rounding.

Layouts: a stacked MLP (``mixgan/nets/stacked.py``) has parameters ``weights[0..L-1]`` ([R, in, out])
then ``biases[0..L-1]`` ([R, 1, out]); the single module has ``weight`` ([out, in]) and ``bias``
([out]) per layer, in layer order.
"""
import torch

from mixgan.errors import UsageError
from mixgan.nets import unstack
from mixgan.runs import checkpoints


def _slots(stacked):
    """(stacked parameter index, single parameter index, run slice → single layout, single → run slice)."""
    L = len(stacked.weights)
    for i in range(L):
        yield i, 2 * i, (lambda t, r: t[r].t()), (lambda t: t.t())
        yield L + i, 2 * i + 1, (lambda t, r: t[r, 0]), (lambda t: t.unsqueeze(0))


def single_optimizer_state(opt, stacked, r):
    """Run ``r``'s part of the stacked optimiser ``opt`` as a single run's Adam state_dict."""
    stacked_state = opt.state_dict()
    state = {}
    for si, pi, to_single, _ in _slots(stacked):
        s = stacked_state["state"].get(si)
        if s is not None:
            # Contiguous copies: the moments must share their parameter's memory layout (fused
            # Adam walks them as flat arrays), and a transposed view would not.
            state[pi] = {"step": s["step"].clone(),
                         "exp_avg": to_single(s["exp_avg"], r).clone(memory_format=torch.contiguous_format),
                         "exp_avg_sq": to_single(s["exp_avg_sq"], r).clone(memory_format=torch.contiguous_format)}
    group = dict(stacked_state["param_groups"][0], params=list(range(2 * len(stacked.weights))))
    return {"state": state, "param_groups": [group]}


def load_stacked_optimizer(opt, stacked, states):
    """Load per-run single Adam state_dicts ``states`` (one per run, in run order) into ``opt``."""
    stacked_state = opt.state_dict()
    state = {}
    for si, pi, _, to_slice in _slots(stacked):
        per_run = [s["state"].get(pi) for s in states]
        if all(p is None for p in per_run):
            continue
        if any(p is None for p in per_run) or len({float(p["step"]) for p in per_run}) != 1:
            raise UsageError("the runs' checkpoints are at different optimiser steps; resume them alone "
                             "with mixgan train --resume RUN")
        state[si] = {"step": per_run[0]["step"].clone(),
                     "exp_avg": torch.stack([to_slice(p["exp_avg"]) for p in per_run]).contiguous(),
                     "exp_avg_sq": torch.stack([to_slice(p["exp_avg_sq"]) for p in per_run]).contiguous()}
    opt.load_state_dict({"state": state, "param_groups": stacked_state["param_groups"]})


class _Holds:
    """An object with ``state_dict()`` returning a given dict (for ``checkpoints.capture``)."""

    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return self.state


def capture_run(r, iteration, window, elapsed_s, config, G, D, opt_g, opt_d, like_G, like_D, gens, fixed_z,
                losses, G_ema=None):
    """Run ``r``'s checkpoint, exactly what ``train()`` would write for that run alone (``G_ema``:
    the stacked weight average of runs with ``ema``)."""
    return checkpoints.capture(
        iteration, window, elapsed_s, config, G=unstack(G, r, like_G), D=unstack(D, r, like_D),
        opt_g=_Holds(single_optimizer_state(opt_g, G, r)), opt_d=_Holds(single_optimizer_state(opt_d, D, r)),
        streams={name: gs[r] for name, gs in gens.items()}, fixed_z=fixed_z[r],
        sums={name: v[r] for name, v in losses.items()},
        G_ema=None if G_ema is None else unstack(G_ema, r, like_G))


def restore_runs(ckpts, gens, fixed_z, losses):
    """Put each run's random streams, snapshot noise and loss sums back (weights and optimisers
    are loaded where they are built); returns ``(iteration, window, elapsed_s)``."""
    for r, c in enumerate(ckpts):
        for name, gs in gens.items():
            gs[r].set_state(c["rng"]["streams"][name])
        fixed_z[r].copy_(c["fixed_z"].to(fixed_z[r].device))
        for name, v in losses.items():
            v[r] = c["sums"][name].to(v.device)
    return ckpts[0]["iteration"], ckpts[0]["window"], ckpts[0]["elapsed_s"]
