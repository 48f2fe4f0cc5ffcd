"""How many CPU threads a run's operations use: the one thread policy of every command.

torch's default is one OpenMP thread per core of the host. For mixgan's small networks that is
often wrong in two ways. When an iteration's matrices are small, threads cost more than they
give: each operation ends at a barrier where threads spin waiting for each other. And when other
processes keep the cores busy, the scheduler parks one of the threads while the others spin for
it, so an iteration can take tens of times longer than with one thread (measured in
docs/BENCHMARKS.md). The policy therefore uses

- one thread where the work is too small for threads to pay (:data:`SMALL_WORK`),
- otherwise the CPUs this process may really use (its affinity mask and its cgroup's CPU quota,
  not the host's count) less those other processes keep busy (the load average, bounded by the
  processes running right now), and at least one,
- or exactly what the user asked for (``--threads N``, :func:`request`, or the environment
  variable ``MIXGAN_THREADS``, which the test suite sets so that its runs do not depend on the load).

A thread count changes float rounding, not the algorithm, so two runs of one seed under different
load can differ in the last bits. A resumed run therefore keeps the count its ``config.json``
records, so that resuming stays bitwise exact; ``--threads N`` gives bitwise reruns across loads.

The choice is made when a run starts and recorded in the run's ``config.json`` under
``recorded``; the commands print it (:func:`describe`) before they train. Worker processes of ``compare`` and ``figure5`` are capped
at their share of the CPUs (:func:`limit_to`). Threads never change what a run computes beyond
float rounding, so the thread count is not a training option.
"""
import os
from pathlib import Path

from mixgan.config import recorded_fact
from mixgan.system import affinity_cpus, cgroup_cpus

# Multiply-adds of the largest matrix product in one discriminator pass (rows × width × width):
# below this, one thread is faster even on an idle machine (scripts/bench_shared_cpu.py).
SMALL_WORK = 16 * 2**20

_requested = None  # --threads N: exactly N
_cap = None  # a worker's share of the CPUs


def request(threads):
    """Use exactly ``threads`` threads for every run this process trains (None: the policy)."""
    global _requested
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        from mixgan.errors import UsageError
        raise UsageError(f"--threads must be a whole number >= 1, got {threads!r}")
    _requested = threads


def requested():
    """The thread count asked for with :func:`request`, or None."""
    return _requested


def limit_to(threads):
    """Cap the threads of this process's runs at ``threads`` (a worker's share of the CPUs)."""
    global _cap
    _cap = max(1, int(threads))


class capped:
    """``with capped(n):`` runs started inside use at most ``n`` threads (a timing of a worker's run)."""

    def __init__(self, threads):
        self.threads = threads

    def __enter__(self):
        global _cap
        self.saved, _cap = _cap, (max(1, int(self.threads)) if self.threads else _cap)
        return self

    def __exit__(self, *exc):
        global _cap
        _cap = self.saved
        return False


def usable_cpus():
    """CPUs this process may use: its affinity mask, its cgroup quota and a worker's cap."""
    limits = [affinity_cpus(), cgroup_cpus(), _cap]
    return max(1, min(n for n in limits if n))


def busy_elsewhere():
    """About how many CPUs other processes keep busy: the 1-minute load average, bounded by the
    processes runnable right now (less this one), so a past burst or our own history counts less."""
    try:
        load = os.getloadavg()[0]
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError, AttributeError):
        return 0
    return max(0, round(min(load, running)))


def work_size(config, runs=1):
    """Multiply-adds of the largest matrix product of one discriminator pass (of ``runs`` runs
    stacked by the batched engine), or None for conv nets."""
    from mixgan.data import is_image_dataset
    if is_image_dataset(config.data):
        return None  # convolutions over images are large enough for threads
    return runs * 2 * config.batch_size * config.width * config.width  # real and generated rows at once


def from_environment():
    """``MIXGAN_THREADS`` as a whole number >= 1, or None when unset."""
    text = os.environ.get("MIXGAN_THREADS", "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        from mixgan.errors import UsageError
        raise UsageError(f"MIXGAN_THREADS must be a whole number >= 1, got {text!r}")
    return value


def choose(config, runs=1, recorded=None):
    """``(threads, reason)`` for ``runs`` runs of ``config`` trained together on the CPU;
    ``recorded``: the count a resumed run was trained with."""
    if _requested is not None:
        return _requested, "as requested"
    asked = from_environment()
    if asked is not None:
        return asked, "as MIXGAN_THREADS requests"
    if recorded:
        return int(recorded), "as the run was started with (a resumed run keeps its threads)"
    usable = usable_cpus()
    size = work_size(config, runs)
    if size is not None and size < SMALL_WORK:
        return 1, f"width {config.width}: operations too small for threads to pay"
    busy = busy_elsewhere()
    threads = max(1, min(usable, usable - busy))
    return threads, f"{usable} usable CPU(s), about {busy} busy with other work"


def apply(config, device, runs=1, resume=None):
    """Set torch's threads for a run of ``config`` on ``device``; returns what config.json records."""
    import torch
    if device.type != "cpu":
        return {"threads": torch.get_num_threads()}
    threads, reason = choose(config, runs, recorded_threads(resume))
    torch.set_num_threads(threads)
    return {"threads": threads, "threads_reason": reason}


def recorded_threads(run):
    """The thread count ``run``'s config.json records (None for a new run or an older folder)."""
    if run is None:
        return None
    threads = recorded_fact(run, "threads")
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 else None


def describe(config):
    """The choice for ``config`` as the commands print it."""
    threads, reason = choose(config)
    return f"{threads} CPU thread(s) per run ({reason}; --threads N to choose)"


def cpu_description():
    """The CPU's model name and its vector extensions, as benchmarks print them beside a figure."""
    import platform
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    vector = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} ({' '.join(vector) or 'no AVX2'})"
