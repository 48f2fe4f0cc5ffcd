"""Sweeps on a Ray cluster (``mixgan sweep --executor ray``): each unit of a sweep (a batch, or
stopped runs that go on) becomes a Ray task; Ray places the tasks and retries those whose worker
process dies. mixgan schedules nothing itself.

- The driver (this process) plans the sweep exactly as the in-process sweep does (``sweep.py``):
  the same batches, the same ``plan.json``, the same resume. Every task writes its runs into the
  sweep folder, which must be on a file system every node sees at the same path.
- A task asks for what its batch needs: ``--threads`` CPUs (1 by default: mixgan's batched MLPs
  rarely gain from more threads), memory from the engine's own estimate
  (``training/memory.estimate_bytes``), and one GPU when the runs train on CUDA. Inside the task
  the thread policy is capped at the CPUs Ray assigned.
- A task runs :func:`sweep.finish` on its runs: finished ones are left, stopped ones go on from
  their checkpoints, missing ones start. So a task retried after its worker died never starts a
  run twice, and the runs it had checkpointed go on from there.
- Ctrl-C or SIGTERM of the driver cancels every task (their runs keep their last checkpoints)
  and says how to go on: ``mixgan sweep --resume SWEEP_DIR --executor ray``.

Ray is an optional dependency (``pip install 'mixgan[ray]'``); it is imported only here, when a
Ray sweep starts.
"""
import logging
import os
import signal
import socket
from pathlib import Path

from mixgan.errors import RunFailed, RunInterrupted, UsageError
from mixgan.experiments.sweep import finish, run_label
from mixgan.system import EXIT_CODES

INSTALL = "--executor ray needs Ray, which is not installed: pip install 'mixgan[ray]'"
RETRIES = 3  # a task whose worker process dies is run again up to this many times
CONNECT_SECONDS = 5  # ray.init retries an unreachable address for minutes: look first, this long
CANCEL_SECONDS = 60  # how long a cancelled task may take to end


def import_ray():
    """The ``ray`` module, or a UsageError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL) from None
    return ray


def check_address(address):
    """Refuse at once an ``--address`` that is neither ``auto`` nor a reachable ``HOST:PORT``."""
    if address is None or address == "auto":
        return
    if "://" in address:
        raise UsageError(f"--address takes auto or HOST:PORT of the cluster's head (Ray Client addresses such as "
                         f"{address!r} are not supported: run mixgan on a node of the cluster)")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address must be auto or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot reach a Ray cluster at {address}: {getattr(e, 'strerror', None) or e}") from None


def connect(ray, address=None):
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT``; None: ``RAY_ADDRESS`` if
    set, else a new Ray on this machine alone). Returns True when this call started the
    connection (the caller shuts it down), False when this process was already connected."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    check_address(address)
    options = dict(logging_level=logging.ERROR)
    if address is None:  # a Ray of our own on this machine: nothing of it listens beyond it
        options.update(include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        ray.shutdown()  # leave no process of a half-started Ray behind
        where = f"at {address}" if address else "on this machine"
        said = (str(e).splitlines() or [type(e).__name__])[0]
        raise UsageError(f"cannot start or join Ray {where}: {said}") from None
    return True


def task_device(ray, config):
    """``cuda`` when the runs train on CUDA: ``--device cuda``, or ``auto`` on a cluster with GPUs."""
    if config.device == "cuda" or (config.device == "auto" and ray.cluster_resources().get("GPU", 0) > 0):
        return "cuda"
    return "cpu"


def resources(configs, device, threads=None):
    """What one task asks Ray for: a GPU (and a CPU to drive it) for a CUDA batch; otherwise
    ``threads`` CPUs (1 when not given) and the batch's memory by the engine's estimate."""
    from mixgan.data import is_image_dataset
    from mixgan.training.memory import estimate_bytes
    if device == "cuda":
        return {"num_gpus": 1, "num_cpus": 1}
    c = configs[0]
    size = c.image_size or 64  # the largest resolution the image nets take: an upper bound
    shape = [3, size, size] if is_image_dataset(c.data) else 2
    return {"num_cpus": threads or 1, "memory": len(configs) * estimate_bytes(c, shape)}


def check_fits(ray, asks):
    """Refuse a task no node of the cluster could run: Ray would hold it pending for ever."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    keys = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
    for i, ask in enumerate(asks):
        if not any(all(node.get(keys[k], 0) >= v for k, v in ask.items()) for node in nodes):
            wants = ", ".join(f"{v / 2**30:.1f} GiB of memory" if k == "memory" else f"{v:g} {keys[k]}"
                              for k, v in ask.items())
            best = ", ".join(f"{n.get('CPU', 0):g} CPU, {n.get('GPU', 0):g} GPU, "
                             f"{n.get('memory', 0) / 2**30:.1f} GiB" for n in nodes) or "none"
            raise UsageError(f"batch {i} asks Ray for {wants}, which no node of the cluster has (nodes: {best}); "
                             f"use fewer --threads or a smaller --max-runs")
    return asks


def run_task(folder, configs, threads, environment_threads):
    """The body of one Ray task, on a worker: cap the thread policy at the CPUs Ray assigned,
    take the driver's thread request, and bring ``configs`` to their end (:func:`sweep.finish`)."""
    import ray
    from mixgan.training import threads as policy
    assigned = ray.get_runtime_context().get_assigned_resources().get("CPU")
    policy.limit_to(max(1, int(assigned or 1)))
    policy.request(threads)
    if environment_threads:  # the driver's MIXGAN_THREADS: a worker on another node lacks it
        os.environ["MIXGAN_THREADS"] = environment_threads
    else:
        os.environ.pop("MIXGAN_THREADS", None)
    return [str(run) for run in finish(Path(folder), configs, progress=False)]


class _Stop(Exception):
    """SIGTERM while the driver waits for its tasks."""


def _on_sigterm(signum, frame):
    raise _Stop()


class RayExecutor:
    """Trains a sweep's units as Ray tasks (see the module's docstring). ``address``: as for
    :func:`connect`; ``retries``: how often a task whose worker died is run again; ``task``: the
    function each task runs (:func:`run_task`; tests wrap it)."""

    def __init__(self, address=None, retries=RETRIES, task=run_task):
        self.address, self.retries, self.task = address, retries, task
        self._started, self._depth = False, 0

    def __enter__(self):
        """Join (or start) the cluster now, so that an unreachable one is refused before any work;
        the outermost ``with`` leaves it again (a Ray this process had joined before stays)."""
        if self._depth == 0:
            self._started = connect(import_ray(), self.address)
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0 and self._started:
            import_ray().shutdown()
            self._started = False
        return False

    @property
    def resume_command(self):
        where = f" --address {self.address}" if self.address else ""
        return "mixgan sweep --resume {folder} --executor ray" + where

    def train(self, units, folder, progress=True, log=print):
        """Submit every unit (``(configs, run folders to resume or None)``) at once and wait for
        them; returns every run folder, in the order of ``units``."""
        with self:
            return self._train(import_ray(), units, Path(folder), log)

    def check(self, units):
        """What each unit's task asks for; refused when no node of the cluster has that. Needs the
        connection (``with`` this executor)."""
        from mixgan.training import threads as policy
        ray = import_ray()
        device = task_device(ray, units[0][0][0]) if units else "cpu"
        return check_fits(ray, [resources(configs, device, policy.requested()) for configs, _ in units])

    def _train(self, ray, units, folder, log):
        from mixgan.training import threads as policy
        remote = ray.remote(self.task)
        asks = self.check(units)
        pending = {}
        for i, ((configs, _), ask) in enumerate(zip(units, asks)):  # a unit's own runs tell it what is left
            ref = remote.options(max_retries=self.retries, retry_exceptions=False, **ask).remote(
                str(folder), configs, policy.requested(), os.environ.get("MIXGAN_THREADS"))
            pending[ref] = i
        results = [[] for _ in units]
        saved = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread: Ctrl-C still reaches it as KeyboardInterrupt
            saved = None
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in done:
                    i = pending.pop(ref)
                    results[i] = [Path(run) for run in ray.get(ref)]
                    for config, run in zip(units[i][0], results[i]):
                        log(f"  {run_label(config)}: → {run}")
        except (KeyboardInterrupt, _Stop) as e:
            self._cancel(ray, pending)
            sig = signal.SIGTERM if isinstance(e, _Stop) else signal.SIGINT
            raise RunInterrupted(f"interrupted by {sig.name}: the Ray tasks were cancelled and their runs keep their "
                                 f"last checkpoints; resume with: {self.resume_command.format(folder=folder)}",
                                 EXIT_CODES[sig]) from None
        except ray.exceptions.RayTaskError as e:  # the task's own error: bad input, a failed run
            self._cancel(ray, pending)
            cause = getattr(e, "cause", None)
            if isinstance(cause, (UsageError, RunFailed, RunInterrupted, OSError)):
                raise cause from None
            raise
        except ray.exceptions.RayError as e:  # the worker died more often than retried, a node was lost, ...
            self._cancel(ray, pending)
            raise RunInterrupted(f"a Ray task failed ({type(e).__name__}, after {self.retries} retries); every run "
                                 f"keeps its last checkpoint; resume with: {self.resume_command.format(folder=folder)}",
                                 1) from None
        finally:
            if saved is not None:
                signal.signal(signal.SIGTERM, saved)
        return [run for runs in results for run in runs]

    @staticmethod
    def _cancel(ray, pending):
        """Stop every task still pending or running (a running one's worker is killed: its runs keep
        their last checkpoints), and wait until they have ended, so that their runs' locks are free
        for a resume."""
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or already gone: nothing left to stop
                pass
        for ref in pending:
            try:
                ray.get(ref, timeout=CANCEL_SECONDS)
            except Exception:  # cancelled, as asked (or ended otherwise): its end is all we wait for
                pass
