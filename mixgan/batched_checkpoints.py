"""Checkpoints of runs trained in a batch: one per run, in the single-run format.

A run trained in a batch (``mixgan/batched.py``) is checkpointed as the run it is: its own G
and D, its own Adam state (its slice of the stacked optimiser's moments, turned back into
``nn.Linear``'s layout), its own random streams, snapshot noise and loss sums, written with
``mixgan/checkpoints.py`` into its own folder. So a stopped batch resumes as a batch
(``mixgan sweep --resume``), and any of its runs can also be resumed alone
(``mixgan train --resume RUN``); either way it goes on as it would have, within float rounding.

Layouts: a stacked MLP (``mixgan/stacked.py``) has parameters ``weights[0..L-1]`` ([R, in, out])
then ``biases[0..L-1]`` ([R, 1, out]); the single module has ``weight`` ([out, in]) and ``bias``
([out]) per layer, in layer order.
"""
from pathlib import Path

import torch

from mixgan import checkpoints, status
from mixgan.errors import RunInterrupted, UsageError
from mixgan.run_guard import EXIT_CODES, StopOnSignal, remove_temporary_files, trim_metrics


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
                fixed_real, losses):
    """Run ``r``'s checkpoint, exactly what ``train()`` would write for that run alone."""
    from mixgan.stacked import unstack
    return checkpoints.capture(
        iteration, window, elapsed_s, config, G=unstack(G, r, like_G), D=unstack(D, r, like_D),
        opt_g=_Holds(single_optimizer_state(opt_g, G, r)), opt_d=_Holds(single_optimizer_state(opt_d, D, r)),
        streams={name: gs[r] for name, gs in gens.items()}, fixed_z=fixed_z[r], fixed_real=fixed_real[r],
        sums={name: v[r] for name, v in losses.items()})


def load_batch(folders, configs, device):
    """The newest readable checkpoint of every run in ``folders``, or None where none has any;
    UsageError unless they all stand at one iteration (a batch resumes together) and match
    their configs and device."""
    found = [checkpoints.load_latest(run)[0] for run in folders]
    if all(c is None for c in found):
        return None
    if any(c is None for c in found) or len({c["iteration"] for c in found}) != 1:
        seen = ", ".join(f"{run.name}: {c['iteration'] if c else 'none'}" for run, c in zip(folders, found))
        raise UsageError(f"the runs of this batch have checkpoints at different iterations ({seen}); "
                         f"resume them alone with mixgan train --resume RUN")
    for run, config, c in zip(folders, configs, found):
        if c["config"] != config.to_dict():
            raise UsageError(f"checkpoint of {run} was made with other options than its config.json")
        if c["device"] != device.type:
            raise UsageError(f"the checkpoints of {run} were written on {c['device']}; resume on {c['device']} too")
    return found


def restore_runs(ckpts, gens, fixed_z, fixed_real, losses):
    """Put each run's random streams, snapshot noise and loss sums back (weights and optimisers
    are loaded where they are built); returns ``(iteration, window, elapsed_s)``."""
    for r, c in enumerate(ckpts):
        for name, gs in gens.items():
            gs[r].set_state(c["rng"]["streams"][name])
        fixed_z[r].copy_(c["fixed_z"].to(fixed_z[r].device))
        fixed_real[r][...] = c["fixed_real"].numpy()
        for name, v in losses.items():
            v[r] = c["sums"][name].to(v.device)
    return ckpts[0]["iteration"], ckpts[0]["window"], ckpts[0]["elapsed_s"]


class BatchGuard(StopOnSignal):
    """What ``RunGuard`` (``mixgan/run_guard.py``) does for one run, for the runs of a batch:
    holds every run's lock, keeps every ``status.json`` current, and turns Ctrl-C / SIGTERM into
    "finish this iteration, checkpoint every run, mark them interrupted, stop". Used as a
    context manager around the training; an exception that escapes is recorded in every run's
    status and the locks and signal handlers are always given back."""

    def __init__(self, folders, configs):
        self.folders, self.configs = [Path(f) for f in folders], configs
        self.locks = [status.RunLock(run) for run in self.folders]
        self.iteration = self.checkpoint_iteration = 0
        self.started = False
        self.failed = {}  # run index -> reason, for runs whose numbers went NaN/Inf

    def __enter__(self):
        try:
            for lock in self.locks:
                lock.acquire()
        except BaseException:
            self._release()
            raise
        return self

    def begin(self, done, resuming):
        """Training starts after iteration ``done`` (0, or the checkpoint a resume starts from)."""
        self.iteration = self.checkpoint_iteration = done
        for run in self.folders:
            if resuming:
                remove_temporary_files(run)
                trim_metrics(run, done)
            status.write_status(run, "running", f"resumed in a batch from iteration {done}" if resuming
                                else "started in a batch", done)
        self.started = True
        self.catch_signals()

    def _live(self):
        return [run for r, run in enumerate(self.folders) if r not in self.failed]

    def fail(self, r, reason):
        """Mark run ``r`` failed (not resumable: seeded, it would fail again in the same place)."""
        if r not in self.failed:
            self.failed[r] = reason
            status.write_status(self.folders[r], "failed", reason, self.checkpoint_iteration, resumable=False)

    def checkpointed(self, it):
        self.checkpoint_iteration = it
        for run in self._live():
            status.write_status(run, "running", f"checkpoint at iteration {it} (in a batch)", it)

    def stop_here(self, it):
        """After Ctrl-C/SIGTERM (every run checkpointed at ``it``): mark the runs and stop."""
        self.iteration = it
        if self.stop_signal is None:
            return
        name = self.stop_signal.name
        for run in self._live():
            status.write_status(run, "interrupted", f"{name} at iteration {it} (in a batch)", it)
        self.started = False
        raise RunInterrupted(f"interrupted by {name} at iteration {it} ({len(self.folders)} runs checkpointed); "
                             f"resume the batch with mixgan sweep --resume on its sweep folder, or one run with "
                             f"mixgan train --resume RUN", EXIT_CODES[self.stop_signal])

    def finish(self, iterations):
        for run in self._live():
            status.write_status(run, "finished", f"all {iterations} iterations (in a batch)", iterations)
        self.started = False

    def __exit__(self, kind, error, tb):
        try:
            if self.started and error is not None:
                where = f"at iteration {self.iteration}, last checkpoint at iteration {self.checkpoint_iteration}"
                if isinstance(error, KeyboardInterrupt):
                    state, reason = "interrupted", f"stopped at once by an interrupt {where}"
                else:
                    state, reason = "failed", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} ({where})"
                for run in self._live():
                    try:
                        status.write_status(run, state, reason, self.checkpoint_iteration)
                    except OSError:
                        pass  # the disk that refused the run's files may refuse this too; the lock tells the rest
        finally:
            self.restore_signals()
            self._release()
        return False

    def _release(self):
        for lock in self.locks:
            lock.release()
