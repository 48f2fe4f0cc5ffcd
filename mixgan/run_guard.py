"""RunGuard: what keeps a training run from losing work or passing off a broken result.

``train()`` makes one RunGuard and calls it at four places (start, after each iteration's
losses, at the end of each iteration, at the end of the run). It

- takes the run folder's lock and keeps ``status.json`` up to date (see ``mixgan.status``);
- on resume, restores every piece of state from the last good checkpoint and cuts
  ``metrics.jsonl`` back to that iteration, so no line is duplicated or missing;
- writes a checkpoint every ``checkpoint_every`` iterations, at every snapshot and at the end;
- turns Ctrl-C / SIGTERM into "finish this iteration, checkpoint, mark interrupted, exit";
- stops the run at the first NaN or Inf in a loss or in the weights.

Why NaN/Inf is watched the way it is: reading a GPU value on the host waits for all queued
work (a CPU-GPU sync), which per step would cost more than the check. So each iteration
only records, on the device, the first iteration whose D or G loss was not finite (a few
element-wise kernels, no sync); the host reads that record, and checks every weight, only
where it reads values anyway: at log lines, snapshots and checkpoints. A NaN is therefore
reported with its exact iteration, and no snapshot or checkpoint ever holds one. Only the
last discriminator step's loss of an iteration is watched: a NaN in an earlier step puts NaN
into D's weights, which makes the last step's loss NaN too.
"""
import contextvars
import functools
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch

from mixgan import checkpoints, runs, status
from mixgan.errors import RunFailed, RunInterrupted, UsageError  # noqa: F401 (re-exported)


EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + signal number, as shells report it
_ACTIVE = contextvars.ContextVar("mixgan_run_guard", default=None)


def records_failure(train_fn):
    """Decorator for the training function: whatever escapes a run that has started is
    recorded in its status.json, and the lock and signal handlers are always given back.
    A failed write (full disk, read-only folder) becomes a one-line UsageError."""
    @functools.wraps(train_fn)
    def wrapper(*args, **kwargs):
        token = _ACTIVE.set(None)
        try:
            return train_fn(*args, **kwargs)
        except BaseException as e:
            guard = _ACTIVE.get()
            replacement = guard.abort(e) if guard is not None else None
            if replacement is not None:
                raise replacement from e
            raise
        finally:
            guard = _ACTIVE.get()
            if guard is not None:
                guard.close()
            _ACTIVE.reset(token)
    return wrapper


class StopOnSignal:
    """Ctrl-C / SIGTERM set ``stop_signal`` (the loop then checkpoints and stops at the end of
    the iteration); a second one stops at once. Handlers are set only from the main thread
    (Python allows no other) and given back by ``restore_signals``."""

    stop_signal = None

    def catch_signals(self):
        self.saved_handlers = {}
        if threading.current_thread() is not threading.main_thread():
            return  # the caller handles signals
        for sig in EXIT_CODES:
            self.saved_handlers[sig] = signal.signal(sig, self.on_signal)

    def on_signal(self, signum, frame):
        if self.stop_signal is not None:
            raise KeyboardInterrupt  # asked twice: stop at once, the last checkpoint stays
        self.stop_signal = signal.Signals(signum)

    def restore_signals(self):
        for sig, handler in getattr(self, "saved_handlers", {}).items():
            signal.signal(sig, handler)
        self.saved_handlers = {}


class RunGuard(StopOnSignal):
    def __init__(self, run, config, **parts):
        """``parts``: G, D, opt_g, opt_d, streams, fixed_z, fixed_real, sums, as the loop holds them."""
        self.run, self.config, self.parts = Path(run), config, parts
        self.snapshot_at = set(config.snapshot_iterations)
        self.lock = status.RunLock(run)
        self.checkpoint_iteration = 0
        self.iteration = 0
        self.started = False  # from here on, an escaping exception is recorded in status.json
        device = parts["fixed_z"].device
        self.first_bad = torch.zeros(2, dtype=torch.int64, device=device)
        self.bad_value = torch.zeros(2, device=device)
        _ACTIVE.set(self)

    # --- start ---------------------------------------------------------------------------
    def begin(self, resumed, start):
        """Lock the run, restore the checkpoint when resuming, mark the run running and catch
        signals. Returns ``(first iteration to run, window, start time)``."""
        self.lock.acquire()
        window = 0
        if resumed:
            remove_temporary_files(self.run)
            ckpt, path = checkpoints.load_latest(self.run, warn=lambda m: print(f"mixgan: warning: {m}",
                                                                                 file=sys.stderr))
            if ckpt is not None:
                if ckpt["config"] != self.config.to_dict():
                    raise UsageError(f"checkpoint {path} was made with other options than {self.run / 'config.json'}")
                self.checkpoint_iteration, window, elapsed = checkpoints.restore(ckpt, **self.parts)
                start = time.perf_counter() - elapsed
            trim_metrics(self.run, self.checkpoint_iteration)
        status.write_status(self.run, "running", f"resumed from iteration {self.checkpoint_iteration}"
                            if resumed else "started", self.checkpoint_iteration)
        self.started = True
        self.catch_signals()
        return self.checkpoint_iteration + 1, window, start

    # --- every iteration -----------------------------------------------------------------
    def watch(self, it, d_loss, g_loss):
        """Record on the device the first iteration whose losses were not finite; read the
        record on the host only where a log line or snapshot is due anyway."""
        self.iteration = it
        losses = torch.stack([d_loss.detach(), g_loss.detach()]).float()
        new = ~torch.isfinite(losses) & (self.first_bad == 0)
        self.first_bad = torch.where(new, it, self.first_bad)
        self.bad_value = torch.where(new, losses, self.bad_value)
        if it in self.snapshot_at or it % self.config.log_every == 0 or it == self.config.iterations:
            self.check(it)

    def end_of_iteration(self, it, window, start):
        """Checkpoint when one is due; after Ctrl-C/SIGTERM, checkpoint and stop here."""
        c = self.config
        if self.stop_signal is not None or it % c.checkpoint_every == 0 or it in self.snapshot_at \
                or it == c.iterations:
            self.checkpoint(it, window, time.perf_counter() - start)
        if self.stop_signal is not None:
            name = self.stop_signal.name
            status.write_status(self.run, "interrupted", f"{name} at iteration {it}", it)
            self.started = False
            raise RunInterrupted(f"interrupted by {name} at iteration {it} (checkpoint written); resume with: "
                                 f"mixgan train --resume {status._quote(self.run)}", EXIT_CODES[self.stop_signal])

    def check(self, it):
        """Stop the run if a loss went NaN/Inf or a weight is not finite (one host sync)."""
        bad = [(first, name, value) for name, first, value in
               zip(("d_loss", "g_loss"), self.first_bad.tolist(), self.bad_value.tolist()) if first]
        if bad:
            first, name, value = min(bad)  # the earliest: later ones follow from it
            self.fail(f"{name} became {value} at iteration {first}")
        for label in ("G", "D"):
            params = dict(self.parts[label].named_parameters())
            if not torch.stack([torch.isfinite(p).all() for p in params.values()]).all().item():
                bad = next(n for n, p in params.items() if not torch.isfinite(p).all())
                self.fail(f"{'generator' if label == 'G' else 'discriminator'} weight {bad} holds NaN/Inf "
                          f"at iteration {it}")

    def checkpoint(self, it, window, elapsed):
        self.check(it)  # a checkpoint never holds a NaN
        fsync_file(self.run / "metrics.jsonl")  # the lines it vouches for are on disk before it is
        ckpt = checkpoints.capture(it, window, elapsed, self.config, **self.parts)
        checkpoints.save(self.run, ckpt)
        self.checkpoint_iteration = it
        status.write_status(self.run, "running", f"checkpoint at iteration {it}", it)

    def fail(self, reason):
        kept = (f"the last good checkpoint (iteration {self.checkpoint_iteration}) is kept"
                if self.checkpoint_iteration else "no checkpoint had been written yet")
        status.write_status(self.run, "failed", reason, self.checkpoint_iteration, resumable=False)
        self.started = False
        raise RunFailed(f"run failed: {reason}; {kept}; {self.run} is marked failed")

    # --- the end ---------------------------------------------------------------------------
    def finish(self):
        status.write_status(self.run, "finished", f"all {self.config.iterations} iterations",
                            self.checkpoint_iteration)
        self.started = False

    def abort(self, e):
        """Record an exception that escaped the loop; return the exception to raise instead, if any."""
        if not self.started:
            return None
        self.started = False
        where = f"at iteration {self.iteration}, last checkpoint at iteration {self.checkpoint_iteration}"
        resume = f"mixgan train --resume {status._quote(self.run)}"
        if isinstance(e, KeyboardInterrupt):
            reason, state = f"stopped at once by an interrupt {where}", "interrupted"
        elif isinstance(e, OSError):
            reason, state = f"cannot write to the run folder: {e.strerror or e} ({where})", "failed"
        else:
            reason, state = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} ({where})", "failed"
        try:
            status.write_status(self.run, state, reason, self.checkpoint_iteration)
        except OSError:
            pass  # the disk that refused the run's files may refuse this one too; the lock tells the rest
        if isinstance(e, KeyboardInterrupt):
            return RunInterrupted(f"{reason}; resume with: {resume}", 130)
        if isinstance(e, OSError):
            return UsageError(f"run {self.run} stopped: {reason}; free space or fix permissions, then: {resume}")
        return None

    def close(self):
        self.restore_signals()
        self.lock.release()


def fsync_file(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def trim_metrics(run, iteration):
    """Keep the lines of metrics.jsonl up to ``iteration`` (the checkpoint a resume starts
    from): later lines are written again by the resumed run, and a last line cut short by a
    kill is dropped. A damaged line before the end is an error, not something to skip."""
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = []
    for n, line in enumerate(lines):
        try:
            record = json.loads(line)
            if not line.endswith("\n"):
                raise ValueError("cut short")
        except ValueError:
            if n == len(lines) - 1:
                break
            raise UsageError(f"{path} line {n + 1} is damaged; the run's metrics cannot be continued")
        if record.get("iteration", 0) <= iteration:
            kept.append(line)
    if len(kept) != len(lines):
        runs.atomic_write_text(path, "".join(kept))


def remove_temporary_files(run):
    """Half-written temporary files (``.NAME.XXXX.tmp``) left by a process killed mid-write."""
    for sub in (Path(run), Path(run) / "snapshots", checkpoints.folder(run)):
        if sub.is_dir():
            for p in sub.glob(".*.tmp"):
                p.unlink(missing_ok=True)
