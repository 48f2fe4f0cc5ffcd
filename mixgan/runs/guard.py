"""RunGuard: the lifecycle of a training job, one run or a batch of runs trained together.

The engine (``mixgan/training``) opens one RunGuard around its iterations. The guard

- holds every run's lock for the life of the job and keeps each ``status.json`` current
  (``running``, ``finished``, ``interrupted`` or ``failed``, see :mod:`mixgan.runs.status`);
- on resume, drops half-written temporary files and cuts ``metrics.jsonl`` back to the
  checkpoint, so no line is duplicated or missing;
- turns Ctrl-C / SIGTERM into "finish this iteration, checkpoint, mark interrupted, stop": the
  engine reads the signal once per iteration (:meth:`stop_due`), writes its checkpoints when a
  stop is due and calls :meth:`stop_here` with it; a second signal stops at once, leaving the
  last checkpoint;
- records any exception that escapes in the status of every run still going, and reports a
  failed write (full disk, read-only folder) or an immediate stop in one line.

The engine writes checkpoints itself (``mixgan/runs/checkpoints.py``) and tells the guard with
:meth:`checkpointed`; a run whose numbers went bad is marked with :meth:`fail`.
"""
import signal
import threading
from pathlib import Path

from mixgan.errors import RunFailed, RunInterrupted, UsageError
from mixgan.runs import folders, status
from mixgan.system import EXIT_CODES

class RunGuard:
    """Use as a context manager around training: ``with RunGuard(run_folders) as guard:``."""

    def __init__(self, runs):
        self.folders = [Path(f) for f in runs]
        self.locks = [status.RunLock(run) for run in self.folders]
        self.iteration = self.checkpoint_iteration = 0
        self.started = False  # from begin() on, an escaping exception is recorded in status.json
        self.failed = {}  # run index -> reason, for runs whose numbers went NaN/Inf
        self.stop_signal = None
        self.saved_handlers = {}
        single = len(self.folders) == 1
        self.where = "" if single else " (in a batch)"
        self.resume_command = (f"mixgan train --resume {status.quote(self.folders[0])}" if single else
                               "mixgan sweep --resume on its sweep folder, or one run with mixgan train --resume RUN")

    # --- start ---------------------------------------------------------------------------
    def __enter__(self):
        try:
            for lock in self.locks:
                lock.acquire()
        except BaseException:
            self._release()
            raise
        return self

    def begin(self, done, resuming):
        """Training starts after iteration ``done`` (0, or the checkpoint a resume starts from):
        mark every run running and catch signals."""
        self.iteration = self.checkpoint_iteration = done
        if resuming:  # refused here (a damaged metrics.jsonl), a run is left exactly as it was
            for run in self.folders:
                folders.remove_temporary_files(run)
                folders.trim_metrics(run, done)
        self.started = True  # from here on, whatever stops the job is recorded and said in one line
        for run in self.folders:
            status.write_status(run, "running", (f"resumed from iteration {done}" if resuming else "started")
                                + self.where, done)
        self._catch_signals()

    # --- during training -----------------------------------------------------------------
    def live(self):
        """Indices of the runs that have not failed."""
        return [r for r in range(len(self.folders)) if r not in self.failed]

    def checkpointed(self, it):
        """Every live run has just written its checkpoint of iteration ``it``."""
        self.checkpoint_iteration = it
        for r in self.live():
            status.write_status(self.folders[r], "running", f"checkpoint at iteration {it}{self.where}", it)

    def fail(self, r, reason):
        """Mark run ``r`` failed (not resumable: seeded, it would fail again in the same place).
        The other runs of a batch train on; a single run stops with :meth:`failure`."""
        if r not in self.failed:
            self.failed[r] = reason
            status.write_status(self.folders[r], "failed", reason, self.checkpoint_iteration, resumable=False)

    def failure(self, r=0):
        """The one-line error that stops a job at run ``r``'s failure."""
        self.started = False
        kept = (f"the last good checkpoint (iteration {self.checkpoint_iteration}) is kept"
                if self.checkpoint_iteration else "no checkpoint had been written yet")
        return RunFailed(f"run failed: {self.failed[r]}; {kept}; {self.folders[r]} is marked failed")

    def stop_due(self, seen):
        """The signal that ends the job at this iteration, or None. ``seen``: ``stop_signal`` read
        once where the engine decides whether to checkpoint (for a distributed job, the stop its
        ranks agreed on, which may be a signal another rank caught: it becomes this job's own).
        The engine passes the result to :meth:`stop_here`; a signal that arrives after that read
        stops the next iteration, after its checkpoint, so a status never names a checkpoint
        that was not written."""
        if seen is not None and self.stop_signal is None:
            self.stop_signal = seen
        return seen

    def stop_here(self, it, stopping):
        """At the end of iteration ``it``: after Ctrl-C/SIGTERM (``stopping``, from
        :meth:`stop_due`; the engine has checkpointed every live run at ``it``), mark the runs
        interrupted and stop."""
        self.iteration = it
        if stopping is None:
            return
        name = stopping.name
        for r in self.live():
            status.write_status(self.folders[r], "interrupted", f"{name} at iteration {it}{self.where}", it)
        self.started = False
        runs = "" if len(self.folders) == 1 else f" for {len(self.live())} runs"
        raise RunInterrupted(f"interrupted by {name} at iteration {it} (checkpoint written{runs}); resume with: "
                             f"{self.resume_command}", EXIT_CODES[stopping])

    # --- the end ---------------------------------------------------------------------------
    def finish(self, iterations):
        for r in self.live():
            status.write_status(self.folders[r], "finished", f"all {iterations} iterations{self.where}", iterations)
        self.started = False

    def __exit__(self, kind, error, tb):
        try:
            replacement = self._record(error) if error is not None and self.started else None
        finally:
            self._restore_signals()
            self._release()
        if replacement is not None:
            raise replacement from error
        return False

    def _record(self, error):
        """Write what stopped the job into every live run's status; return the one-line error to
        raise instead (an immediate stop, a failed write), or None to let ``error`` through."""
        self.started = False
        where = f"at iteration {self.iteration}, last checkpoint at iteration {self.checkpoint_iteration}"
        if isinstance(error, KeyboardInterrupt):
            state, reason = "interrupted", f"stopped at once by an interrupt {where}"
        elif isinstance(error, OSError):
            state, reason = "failed", f"cannot write to the run folder: {error.strerror or error} ({where})"
        else:
            first = str(error).splitlines()[0] if str(error) else ""
            state, reason = "failed", f"{type(error).__name__}: {first} ({where})"
        for r in self.live():
            try:
                status.write_status(self.folders[r], state, reason, self.checkpoint_iteration)
            except OSError:
                pass  # the disk that refused the run's files may refuse this one too; the lock tells the rest
        if isinstance(error, KeyboardInterrupt):
            return RunInterrupted(f"{reason}; resume with: {self.resume_command}", 130)
        if isinstance(error, OSError):
            runs = f"run {self.folders[0]}" if len(self.folders) == 1 else f"{len(self.folders)} runs"
            return UsageError(f"{runs} stopped: {reason}; free space or fix permissions, then: {self.resume_command}")
        return None

    # --- signals and locks -----------------------------------------------------------------
    def _catch_signals(self):
        """Handlers are set only from the main thread (Python allows no other); elsewhere the
        caller handles signals."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in EXIT_CODES:
            self.saved_handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        if self.stop_signal is not None:
            raise KeyboardInterrupt  # asked twice: stop at once, the last checkpoint stays
        self.stop_signal = signal.Signals(signum)

    def _restore_signals(self):
        for sig, handler in self.saved_handlers.items():
            signal.signal(sig, handler)
        self.saved_handlers = {}

    def _release(self):
        for lock in self.locks:
            lock.release()
