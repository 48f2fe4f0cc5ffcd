"""Training several runs, in parallel worker processes where that pays, so that stopping the
command stops everything it started and leaves every run resumable.

- Workers are spawned (safe with CUDA and torch's thread pools), each with its share of the
  cores, in a process group of their own: a terminal's Ctrl-C reaches the command, which then
  asks each worker once to stop.
- Ctrl-C or SIGTERM of the command: every worker's run finishes its iteration, writes a
  checkpoint and is marked interrupted; then the command exits 130 or 143 and says to run it
  again, which resumes those runs.
- SIGKILL of the command: the kernel sends each worker SIGTERM (``PR_SET_PDEATHSIG`` on Linux),
  with the same result. A worker whose run was stopped exits rather than take another run.
"""
import atexit
import ctypes
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from mixgan.config import read_run_config
from mixgan.errors import RunInterrupted, UsageError
from mixgan.runs import status

PR_SET_PDEATHSIG = 1  # prctl option, from linux/prctl.h
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def cpu_cores():
    """The cores this process may run on (its affinity mask), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity masks
        return os.cpu_count() or 1


def _worker_start(parent, threads):
    """Runs first in every worker: its own process group, SIGTERM when the parent dies, its threads."""
    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: a killed parent leaves its workers to finish
        pass
    if os.getppid() != parent:  # the parent died before the line above could take effect
        os.kill(os.getpid(), signal.SIGTERM)
    import torch
    torch.set_num_threads(threads)


def _run_one(config, resume_folder):
    """Worker body: train ``config`` (or resume ``resume_folder``); ``(folder, seconds)``. A run
    stopped by a signal has written its checkpoint; the worker then exits at once rather than
    take the next queued run, and the command sees it go."""
    from mixgan.training import resume, train
    start = time.perf_counter()
    try:
        folder = resume(resume_folder, progress=False)[0] if resume_folder else train(config, progress=False)
    except RunInterrupted as stop:
        # Leave now rather than through the pool, which would hand this worker its next run;
        # the exit handlers still run (multiprocessing unlinks the semaphores it made here).
        atexit._run_exitfuncs()
        os._exit(stop.exit_code)
    return str(folder), time.perf_counter() - start


class _Stop(BaseException):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signal.Signals(signum)


def train_all(tasks, workers=1, threads=1, log=print, label=str, progress=False):
    """Train ``tasks`` (``(config, resume folder or None)``), ``workers`` at a time in worker
    processes with ``threads`` torch threads each, or in this process when ``workers`` is 1.
    Returns ``[(run folder, seconds)]`` in the order given; RunInterrupted when stopped."""
    if workers <= 1 or len(tasks) <= 1:
        from mixgan.training import resume, train
        results = []
        for config, folder in tasks:  # here a stop is the run's own: it says how to resume
            start = time.perf_counter()
            path = resume(folder, progress=progress)[0] if folder else train(config, progress=progress)
            results.append((Path(path), time.perf_counter() - start))
            log(f"  {label(config)}: {results[-1][1]:.0f} s  → {path}")
        return results
    return _in_workers(tasks, workers, threads, log, label)


def _in_workers(tasks, workers, threads, log, label):
    results = [None] * len(tasks)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_start,
                               initargs=(os.getpid(), threads))
    saved = {}
    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise _Stop(signum)
        saved = {sig: signal.signal(sig, stop) for sig in EXIT_CODES}
    try:
        futures = {pool.submit(_run_one, config, folder): i for i, (config, folder) in enumerate(tasks)}
        for f in as_completed(futures):
            i = futures[f]
            path, seconds = f.result()
            results[i] = (Path(path), seconds)
            log(f"  {label(tasks[i][0])}: {seconds:.0f} s  → {path}")
    except (_Stop, KeyboardInterrupt, BrokenProcessPool) as e:
        for sig in saved:  # a second signal while the workers checkpoint must not cut that short
            signal.signal(sig, signal.SIG_IGN)
        _stop_workers(pool)
        if isinstance(e, BrokenProcessPool):  # a worker was stopped (or killed) on its own
            raise RunInterrupted("a worker process ended before its runs did; every run still training was "
                                 "checkpointed; run the same command again to resume them", 1) from None
        signum = e.signum if isinstance(e, _Stop) else signal.SIGINT
        raise RunInterrupted(f"interrupted by {signum.name}: every run still training was checkpointed; "
                             f"run the same command again to resume them", EXIT_CODES[signum]) from None
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    pool.shutdown(wait=True)
    return results


def _stop_workers(pool):
    """Ask every worker once to stop (its run checkpoints) and wait until all have exited."""
    processes = list(getattr(pool, "_processes", {}).values())
    for p in processes:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in processes:
        p.join()
    pool.shutdown(wait=True, cancel_futures=True)  # the pool's own queues and their semaphores closed too


def config_key(config_dict):
    """A run's options as one hashable value (``out`` included: runs are matched in their folder)."""
    return json.dumps(config_dict, sort_keys=True)


def runs_by_config(folder, say_skipped=True):
    """``(finished, resumable)``: ``{config key: run folder}`` for the runs directly under ``folder``
    that finished, and for those that stopped before their end and can go on (interrupted,
    killed, or failed on a full disk; not a NaN failure, and not one another process trains).
    The oldest of identical runs wins. Folders that are not readable runs are skipped."""
    finished, resumable = {}, {}
    folder = Path(folder)
    if not folder.is_dir():
        return finished, resumable
    for run in sorted(folder.iterdir()):
        if not (run / "config.json").is_file():
            continue
        try:
            key, state = config_key(read_run_config(run)), status.read_status(run)
        except (OSError, UsageError):
            continue
        if state["state"] == "finished":
            finished.setdefault(key, run)
        elif not state["alive"] and state.get("resumable", True):
            resumable.setdefault(key, run)
        elif say_skipped:
            print(f"mixgan: skipping unfinished run: {status.describe(run, state)}", file=sys.stderr)
    return finished, resumable
