"""Training several runs, in parallel worker processes where that pays, so that stopping the
command stops everything it started and leaves every run resumable.

- Workers are spawned (safe with CUDA and torch's thread pools), each with its share of the
  cores, in a process group of their own: a terminal's Ctrl-C reaches the command, which then
  asks each worker once to stop.
- Ctrl-C or SIGTERM of the command: every worker's run finishes its iteration, writes a
  checkpoint and is marked interrupted; then the command exits 130 or 143 and says to run it
  again, which resumes those runs.
- SIGKILL of the command: the kernel tells each worker (``PR_SET_PDEATHSIG`` on Linux, as SIGHUP,
  once per thread of the dead parent), which then stops its run as after one SIGTERM and exits.
"""
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

from mixgan.config import read_run_config
from mixgan.errors import RunInterrupted, UsageError
from mixgan.runs import status
from mixgan.system import EXIT_CODES, signal_when_parent_dies



def cpu_cores():
    """The cores this process may run on (its affinity mask), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity masks
        return os.cpu_count() or 1


_stopping = False  # in a worker: a stop was asked for, so it takes no further run
_starting = False  # in a worker: a run is under way; its guard handles signals once it trains
_orphaned = False  # in a worker: the command that started it has died


def _on_stop(signum, frame):
    global _stopping
    _stopping = True
    if _starting:  # nothing to checkpoint yet: stop the set-up itself
        raise KeyboardInterrupt


def _on_parent_death(signum, frame):
    """The kernel says the parent died, once for each of its threads as they go: the first time,
    stop as a SIGTERM would (one SIGTERM, so the run's guard checkpoints rather than stopping at once)."""
    global _orphaned
    if not _orphaned:
        _orphaned = True
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_start(parent, threads, requested=None):
    """Runs first in every worker: its own process group, a signal when the parent dies, a SIGTERM
    between runs that only means "take no further run", and its threads."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _on_stop)  # while a run trains, its guard handles SIGTERM instead
    signal.signal(signal.SIGHUP, _on_parent_death)
    signal_when_parent_dies(signal.SIGHUP)  # not Linux: a killed parent leaves its workers to finish
    if os.getppid() != parent:  # the parent died before the line above could take effect
        _on_parent_death(signal.SIGHUP, None)
    from mixgan.training import threads as thread_policy
    thread_policy.limit_to(threads)  # each run then takes what the policy gives within this share
    thread_policy.request(requested)


class Batch(NamedTuple):
    """A task of runs trained together by the batched engine: their configs and, for runs that go
    on from their checkpoints (all at one iteration), their folders; ``resume`` None for new runs."""
    configs: tuple
    resume: tuple = None


def batch_tasks(tasks):
    """``tasks`` (``(config, resume folder or None)``) as the fewest tasks that train them: runs
    that can share a batch of the batched engine (``batch_key``; new runs, or runs whose newest
    checkpoints stand at one iteration) become one :class:`Batch`, in the order of their first
    run; runs it does not cover stay as they are."""
    from mixgan.runs import checkpoints
    from mixgan.training.batched import batch_key, batchable
    groups, order = {}, []
    for config, folder in tasks:
        if not batchable(config):
            order.append((config, folder))
            continue
        at = None if folder is None else _checkpoint_iteration(checkpoints, folder)
        key = (batch_key(config), folder is None, at)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((config, folder))
    return [Batch(tuple(c for c, _ in groups[item]),
                  None if item[1] else tuple(f for _, f in groups[item])) if item in groups else item
            for item in order]


def _checkpoint_iteration(checkpoints, folder):
    """The iteration ``folder`` would resume from (0 without a checkpoint; -1 when none reads,
    so that the run goes alone and says why)."""
    try:
        ckpt, _ = checkpoints.load_latest(folder)
    except UsageError:
        return -1
    return ckpt["iteration"] if ckpt else 0


def task_configs(task):
    """The configs a task trains: the batch's, or the one run's."""
    return list(task.configs) if isinstance(task, Batch) else [task[0]]


def _train_task(task):
    """Train one task in this process (no progress bar); returns its run folders."""
    if isinstance(task, Batch):
        from mixgan.training import train_batched
        return train_batched(list(task.configs), progress=False,
                             resume=None if task.resume is None else list(task.resume))
    from mixgan.training import resume, train
    config, folder = task
    return [resume(folder, progress=False)[0] if folder else train(config, progress=False)]


def _run_one(task, parent):
    """Worker body: train ``task`` (a run, new or to resume, or a :class:`Batch`). Returns
    ``(folders, seconds, stopped)``; ``stopped`` when a signal stopped the runs (their checkpoints
    are written) or came before they started. A worker whose parent has died leaves as soon as
    its runs are safe."""
    global _stopping, _starting
    start = time.perf_counter()
    if not _stopping:
        _starting = True
        try:
            made = _train_task(task)
            return [str(f) for f in made], time.perf_counter() - start, False
        except (RunInterrupted, KeyboardInterrupt):
            _stopping = True
        finally:
            _starting = False
    if _orphaned or os.getppid() != parent:  # nobody waits for a result, or will send the end: go now
        os._exit(143)
    return None, time.perf_counter() - start, True


AGAIN = "run the same command again to resume them"  # what a stopped command says to do next


def train_all(tasks, workers=1, threads=1, log=print, label=str, progress=False, again=AGAIN):
    """Train ``tasks`` (``(config, resume folder or None)``, or :class:`Batch`), ``workers`` at a
    time in worker processes with ``threads`` torch threads each, or in this process when
    ``workers`` is 1. ``progress``: an overall bar and a bar per run on a terminal (one line per
    finished run otherwise, through ``log``). Returns ``[(run folder, seconds)]``, one per run, in
    the order given (a batch's runs share its seconds); RunInterrupted when stopped, ending with
    ``again``: how to go on (by default, run the same command again, which resumes the stopped runs)."""
    from mixgan.experiments.progress import RunBars
    runs = [(c, f) for task in tasks for c, f in _runs_of(task)]
    with RunBars(runs, label, progress and log is not None) as bars:
        say = bars.write if bars.enabled and log is print else log
        if workers <= 1 or len(tasks) <= 1:
            return _in_this_process(tasks, say, label, again)
        return _in_workers(tasks, workers, threads, say, label, again)


def _runs_of(task):
    """``[(config, resume folder or None)]`` for each run of a task."""
    if isinstance(task, Batch):
        return list(zip(task.configs, task.resume or [None] * len(task.configs)))
    return [task]


def _in_this_process(tasks, log, label, again):
    results = []
    for task in tasks:
        start = time.perf_counter()
        try:
            made = _train_task(task)
        except RunInterrupted as stop:
            raise RunInterrupted(f"{stop.message.split('; resume')[0]}; {again}", stop.exit_code) from None
        seconds = time.perf_counter() - start
        for config, path in zip(task_configs(task), made):
            results.append((Path(path), seconds))
            log(f"  {label(config)}: {seconds:.0f} s  → {path}")
    return results


def _in_workers(tasks, workers, threads, log, label, again):
    """The pool's parent: results as they come; on a signal (noted by a flag, never raised inside
    the pool's machinery) no queued run starts, each worker is asked once to stop, and the
    parent waits for them; a second signal stops the workers at once."""
    from mixgan.training import threads as thread_policy
    results, signals = [None] * len(tasks), []  # per task: [(run folder, seconds)]
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_start,
                               initargs=(os.getpid(), threads, thread_policy.requested()))
    saved = {}
    if threading.current_thread() is threading.main_thread():
        saved = {sig: signal.signal(sig, lambda signum, frame: signals.append(signal.Signals(signum)))
                 for sig in EXIT_CODES}
    failed = None
    try:
        futures = {pool.submit(_run_one, task, os.getpid()): i for i, task in enumerate(tasks)}
        pending = set(futures)
        while pending and not signals:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in done:
                i = futures[f]
                paths, seconds, interrupted = f.result()
                if interrupted:  # a worker was stopped on its own: stop the rest the same way
                    signals.append(signal.SIGTERM)
                    continue
                results[i] = [(Path(path), seconds) for path in paths]
                for config, path in zip(task_configs(tasks[i]), paths):
                    log(f"  {label(config)}: {seconds:.0f} s  → {path}")
    except BaseException as e:  # a run's error, a broken pool, KeyboardInterrupt from elsewhere
        failed = e
    finally:
        if signals or failed is not None:  # a broken pool has already asked its workers itself
            _stop_workers(pool, signals, ask=not isinstance(failed, BrokenProcessPool))
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    pool.shutdown(wait=True)
    if failed is not None and not isinstance(failed, (BrokenProcessPool, KeyboardInterrupt)):
        raise failed
    if signals or failed is not None:
        if isinstance(failed, BrokenProcessPool):
            raise RunInterrupted("a worker process ended before its runs did; every run still training was "
                                 f"checkpointed; {again}", 1) from None
        first = signals[0] if signals else signal.SIGINT
        raise RunInterrupted(f"interrupted by {first.name}: every run still training was checkpointed; {again}",
                             EXIT_CODES[first]) from None
    return [run for per_task in results for run in per_task]


def _stop_workers(pool, signals, ask=True):
    """No queued run starts; every worker is asked once (SIGTERM) to stop, which checkpoints its
    run; then wait for them. A further signal to the parent meanwhile is passed on, so the
    workers stop at once (their last checkpoints stay)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    asked = len(signals)
    for p in processes if ask else ():
        _signal(p, signal.SIGTERM)
    while any(p.is_alive() for p in processes):
        if len(signals) > asked:  # asked again: stop at once
            asked = len(signals)
            for p in processes:
                _signal(p, signal.SIGTERM)
        for p in processes:
            p.join(0.1)


def _signal(process, sig):
    try:
        os.kill(process.pid, sig)
    except (ProcessLookupError, TypeError):
        pass


def config_key(config_dict):
    """A run's options as one hashable value. ``out`` is left out: runs are looked for in one folder
    at a time, and a folder reached by another spelling of its path (or moved) holds the same runs."""
    return json.dumps({k: v for k, v in config_dict.items() if k != "out"}, sort_keys=True)


def runs_by_config(folder):
    """``{config key: (run folder, status)}`` for the runs directly under ``folder``, whatever their
    state. Of identical runs, a finished one wins, then the oldest. Folders that are not readable
    runs are skipped."""
    runs = {}
    folder = Path(folder)
    if not folder.is_dir():
        return runs
    for run in sorted(folder.iterdir()):
        if not (run / "config.json").is_file():
            continue
        try:
            key, state = config_key(read_run_config(run)), status.read_status(run)
        except (OSError, UsageError):
            continue
        if key not in runs or (state["state"] == "finished" and runs[key][1]["state"] != "finished"):
            runs[key] = (run, state)
    return runs


def plan_tasks(configs, warn=lambda m: print(f"mixgan: warning: {m}", file=sys.stderr)):
    """What is left of ``configs`` in their output folders: ``(done, tasks)``, ``done`` the
    ``{config key: run folder}`` of the runs that need nothing more (finished, or failed for good on
    NaN/Inf: seeded, such a run would fail again in the same place, so it is left as it is and
    ``warn`` says so), ``tasks`` a ``(config, resume folder or None)`` for each of the others, in
    order: a stopped run goes on (interrupted, killed, or failed on an error marked resumable
    such as a full disk), a missing one is trained. A run another process is training is refused
    with UsageError, as training it here as well would only repeat the work."""
    runs = {}
    for out in {c.out for c in configs}:
        runs.update(runs_by_config(out))
    planned = [(config, *runs.get(config_key(config.to_dict()), (None, None))) for config in configs]
    for _, run, state in planned:
        if state is not None and state["state"] != "finished" and state["alive"]:
            raise UsageError(f"{status.describe(run, state)} in another process; "
                             "run this command again when that one has ended")
    done, tasks = {}, []
    for config, run, state in planned:
        key = config_key(config.to_dict())
        if state is None:
            tasks.append((config, None))
        elif state["state"] == "finished":
            done[key] = run
        elif state.get("resumable", True):
            tasks.append((config, run))
        else:
            warn(f"{status.describe(run, state)}; left as it is (it would fail again in the same place)")
            done[key] = run
    return done, tasks
