"""One image run trained by several processes with DistributedDataParallel, as ``torchrun`` starts them.

``torchrun --nproc-per-node N -m mixgan train --data cifar10 ...`` starts N processes with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their environment; each joins the process group
(:func:`joined`) and trains its share of one run. A process started any other way (or by
torchrun with one process) is a :class:`Solo` team, whose methods leave the single-run loop
exactly as it was. The rules, stated in docs/SCALING.md:

- ``batch_size`` is per process: every process draws its own ``batch_size`` real images per
  discriminator step from its share of the data (``DistributedSampler``, see
  :mod:`mixgan.data.loader`) and as many fakes, so the run's effective batch is
  ``world_size * batch_size``; ``config.json`` records both under ``recorded``.
- Weights start identical (DDP broadcasts rank 0's at wrapping) and stay so: every backward
  averages the gradients. Noise and λ come from per-rank streams (:func:`mixgan.rng.rank_generators`).
- Rank 0 alone creates the run folder and writes metrics, snapshots, checkpoints and status; the
  others learn the folder from it. On resume rank 0 reads the checkpoint and sends it to the others,
  so only rank 0's machine needs to see the run folder (every machine needs the data).
- Every decision that ends or changes the run (an error before training, a signal, a NaN) is
  made together, so no process waits for one that has left; a process that dies is caught by the
  process group's timeout (:data:`TIMEOUT`) or, sooner, by torchrun stopping the others.
"""
import contextlib
import datetime
import os
import signal

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mixgan.errors import RunFailed, RunInterrupted, UsageError
from mixgan.rng import PER_RANK_STREAMS, rank_generators, run_generators
from mixgan.runs import status
from mixgan.runs.guard import RunGuard
from mixgan.system import EXIT_CODES
from mixgan.training import threads
from mixgan.training.setup import prepare_device, resolve_device

# How long a collective waits for a process that does not come (a crashed or stuck rank) before
# every process stops with an error. Long enough for rank 0 to draw and measure a snapshot while
# the others wait; without it, NCCL and gloo would wait 10 and 30 minutes, NCCL possibly forever.
TIMEOUT = datetime.timedelta(minutes=30)


def _environment_number(name, default):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"{name} must be a whole number >= 0 (torchrun sets it), got {text!r}")
    return value


def launched_world_size():
    """The number of processes the launcher started (``WORLD_SIZE``; 1 when none is set)."""
    return max(1, _environment_number("WORLD_SIZE", 1))


def launched_rank():
    """This process's rank among them (``RANK``; 0 when none is set)."""
    return _environment_number("RANK", 0)


def quiet_elsewhere(error, machine=False):
    """``error`` as every process raises it when all of them meet it alike (the same options, an
    error rank 0 sent them): rank 0 reports it, the others exit with its status silently, so the
    user reads one line, not one per process. ``machine``: alike on the processes of each machine
    (its GPUs), so each machine's first process reports it."""
    if (_environment_number("LOCAL_RANK", 0) if machine else launched_rank()) != 0:
        error.quiet = True
    return error


def check_launch(data_is_images, objective_options):
    """Refuse what DistributedDataParallel cannot train: toy data (one small run, nothing to share
    out) and mixup at a hidden layer of D (it calls D's layers around D's forward, where DDP
    averages nothing). ``objective_options``: the config's ``mixup_layer``."""
    size = launched_world_size()
    if size == 1:
        return
    if not data_is_images:
        raise quiet_elsewhere(UsageError(
            f"toy (2-D) data trains on one process, not {size} under torchrun: many toy runs train fastest "
            f"together on one device with the batched engine (mixgan sweep, mixgan compare), and across "
            f"machines with mixgan sweep --executor ray"))
    if objective_options:
        raise quiet_elsewhere(UsageError(
            "mixup_layer (manifold mixup) cannot train on several processes: it runs D's layers outside "
            "D's forward, where DistributedDataParallel averages no gradient; train it on one process"))


class Solo:
    """The team of a run trained by one process: every collective is the identity."""

    size, rank, is_main, shard = 1, 0, True, None

    def device(self, name):
        return prepare_device(name)

    def generators(self, seed, device):
        return run_generators(seed, device)

    def from_main(self, make):
        return make()

    def wrap(self, model, device):
        return model

    def agree_stop(self, stop_signal):
        return stop_signal

    def first_problem(self, problem):
        return problem

    def mean(self, values):
        return values

    def gather(self, value):
        return [value]

    def recorded(self, config):
        return {}

    def guard(self, run):
        return RunGuard([run])


class Replicated(DistributedDataParallel):
    """A DDP-wrapped G or D that still says how many trailing dimensions one example has
    (``event_ndim``), which objectives and penalties read."""

    @property
    def event_ndim(self):
        return self.module.event_ndim


class Team(Solo):
    """This process's place in a run trained by ``size`` processes."""

    def __init__(self):
        self.size, self.rank = dist.get_world_size(), dist.get_rank()
        self.local_rank = _environment_number("LOCAL_RANK", 0)
        self.local_size = max(1, _environment_number("LOCAL_WORLD_SIZE", 1))
        self.is_main, self.shard = self.rank == 0, (self.rank, self.size)

    def device(self, name):
        """Process ``LOCAL_RANK``'s GPU, or the CPU with the CPUs shared among this machine's processes."""
        device = resolve_device(name)
        if device.type == "cuda":
            if self.local_size > torch.cuda.device_count():  # NCCL refuses two processes on one GPU
                raise quiet_elsewhere(UsageError(
                    f"{self.local_size} processes on this machine but {torch.cuda.device_count()} GPU(s): "
                    f"start one process per GPU (torchrun --nproc-per-node {torch.cuda.device_count()})"), machine=True)
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
            return device
        threads.limit_to(threads.usable_cpus() // self.local_size)
        return prepare_device(name)

    def generators(self, seed, device):
        return rank_generators(seed, self.rank, device)

    def from_main(self, make):
        """``make()`` run on rank 0 and its value sent to every rank; if it raises, every rank
        raises (rank 0 its own error, the others a quiet copy), so none waits for the others."""
        box = [None]
        if self.is_main:
            try:
                box[0] = ("value", make())
            except BaseException as error:
                box[0] = ("error", f"rank 0 stopped: {type(error).__name__}: {error}")
                dist.broadcast_object_list(box, src=0)
                raise
        dist.broadcast_object_list(box, src=0)
        kind, value = box[0]
        if kind == "value":
            return value
        error = UsageError(value)  # exits with status 2 and no traceback, while rank 0 reports its own error
        error.quiet = True
        raise error

    def wrap(self, model, device):
        # Why plain DDP fits this loop: each discriminator step and the generator step end in their own
        # backward and optimiser step, so every backward must average gradients (no no_sync: nothing
        # accumulates across backwards). D is called several times before one backward (real, fake,
        # mixed, penalties); autograd sums those uses into one gradient per weight before DDP's hook
        # fires, so that is one reduction. Every weight takes part in every backward of its model, so
        # find_unused_parameters stays off (it would walk the graph each step). The loop calls the
        # unwrapped D where D must not learn (the generator step, with D's requires_grad off, and the
        # logged D(x)) and the unwrapped G where G only generates (the no-grad fakes, snapshots), so
        # DDP never waits for a gradient that toggling requires_grad switched off.
        return Replicated(model, device_ids=[device.index] if device.type == "cuda" else None)

    def agree_stop(self, stop_signal):
        """The signal that stops the run at this iteration, the same on every rank: this rank's own,
        or SIGTERM when only another rank was signalled (one small all-reduce per iteration)."""
        flag = torch.tensor([int(stop_signal is not None)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return stop_signal if stop_signal is not None or not flag.item() else signal.SIGTERM

    def first_problem(self, problem):
        """The first rank's NaN/Inf report (with its rank), or None when every rank is well."""
        found = [None] * self.size
        dist.all_gather_object(found, problem)
        return next((f"{p} (rank {r})" for r, p in enumerate(found) if p), None)

    def mean(self, values):
        """The mean over the ranks of a small CPU tensor (losses and D's outputs for metrics.jsonl)."""
        values = values.clone()
        dist.all_reduce(values)
        return values / self.size

    def gather(self, value):
        found = [None] * self.size
        dist.all_gather_object(found, value)
        return found

    def recorded(self, config):
        return {"world_size": self.size, "effective_batch_size": self.size * config.batch_size,
                "distributed_backend": str(dist.get_backend())}

    def guard(self, run):
        if not self.is_main:
            return FollowerGuard(run)
        guard = RunGuard([run])
        machines = "" if self.size == self.local_size else f" on each of its {self.size // self.local_size} machines"
        guard.resume_command = (f"torchrun --nproc-per-node {self.local_size} -m mixgan train --resume "
                                f"{status.quote(run)}{machines}")
        return guard


class FollowerGuard(RunGuard):
    """The guard of ranks other than 0: it catches signals like rank 0's guard, and writes nothing
    (rank 0 keeps the status and the lock); its errors are quiet, rank 0 reports them."""

    def __init__(self, run):
        super().__init__([run])
        self.locks = []

    def begin(self, done, resuming):
        self.iteration = self.checkpoint_iteration = done
        self._catch_signals()

    def checkpointed(self, it):
        self.checkpoint_iteration = it

    def fail(self, r, reason):
        self.failed[r] = reason

    def failure(self, r=0):
        error = RunFailed(f"run failed: {self.failed[r]}")
        error.quiet = True
        return error

    def stop_here(self, it, stopping):
        self.iteration = it
        if stopping is not None:
            error = RunInterrupted(f"interrupted by {stopping.name} at iteration {it}", EXIT_CODES[stopping])
            error.quiet = True
            raise error

    def finish(self, iterations):
        pass


def per_rank_state(streams, sums):
    """What differs between ranks and a checkpoint must keep for each: the noise and λ streams and
    the running loss sums of the current logging window."""
    return {"streams": {name: streams[name].get_state() for name in PER_RANK_STREAMS},
            "sums": {k: v.detach().cpu() for k, v in sums.items()}}


def restore_rank(ckpt, rank, streams, sums):
    """Put back rank ``rank``'s own streams and sums from a checkpoint of a multi-process run."""
    own = ckpt["ranks"][rank]
    for name in PER_RANK_STREAMS:
        streams[name].set_state(own["streams"][name])
    for k, v in sums.items():
        v.copy_(own["sums"][k].to(v.device))


@contextlib.contextmanager
def joined():
    """This process's team: :class:`Solo` for one process, else the process group of ``torchrun``'s
    processes, joined here (gloo for CPU tensors, NCCL for CUDA ones) and left at the end."""
    if launched_world_size() == 1:
        yield Solo()
        return
    if dist.is_initialized():  # resume joined it before reading the run's options
        yield Team()
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    try:
        dist.init_process_group(backend, timeout=TIMEOUT)
    except (ValueError, RuntimeError) as error:  # a variable missing or a peer that never came
        raise UsageError(f"cannot join the other {launched_world_size() - 1} process(es) of this run: "
                         f"{str(error).splitlines()[0] if str(error) else type(error).__name__} "
                         f"(start it with torchrun --nproc-per-node N -m mixgan train ...)")
    try:
        yield Team()
    finally:
        dist.destroy_process_group()
