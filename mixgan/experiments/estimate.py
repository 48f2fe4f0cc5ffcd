"""Plans of long commands: what they will train, and how long that should take on this device.

The estimate comes from a short timing, not a table: a few iterations of the plan's first run
are trained in a temporary folder with the threads each run will get, and the time per iteration
after the first (which pays for allocation and warm-up) is scaled to the plan. It is printed
before the work starts and by ``--dry-run``, which trains nothing else.
"""
import dataclasses
import math
import tempfile

from mixgan.errors import RunInterrupted
from mixgan.runs import folders

TIMED_ITERATIONS = 12  # at width 512 on one CPU core about 1.5 s
TIMED_LOG_EVERY = 4  # timed from the first log line to the last: warm-up excluded, two log lines included


def seconds_per_iteration(config, threads=None, batch=1):
    """Measured seconds per iteration of ``config`` (``batch`` runs at once through the batched
    engine when above 1; one run in the engine ``engines.py`` picks for it) with at most ``threads`` threads (the thread policy chooses within them, as
    for the real run), from a throwaway run of a few iterations."""
    import torch
    from mixgan.training import threads as thread_policy, train_batched
    from mixgan.training.engines import train_run
    saved = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory(prefix="mixgan-timing-") as tmp, thread_policy.capped(threads):
            short = dataclasses.replace(config, iterations=TIMED_ITERATIONS, snapshots=(TIMED_ITERATIONS,),
                                        snapshot_size=min(config.snapshot_size, 64), log_every=TIMED_LOG_EVERY, frames=0,
                                        landscape=0, checkpoint_every=10**9, out=tmp)
            try:
                if batch > 1:
                    run = train_batched([dataclasses.replace(short, seed=short.seed + i) for i in range(batch)],
                                        progress=False)[0]
                else:
                    run = train_run(short, progress=False)  # in the engine the run will use
            except RunInterrupted as stop:  # the throwaway run is gone with its folder: nothing to resume
                raise RunInterrupted("interrupted while timing the plan; nothing was started", stop.exit_code) from None
            times = [r["elapsed_s"] for r in folders.read_jsonl(run / "metrics.jsonl")
                     if "kind" not in r and "elapsed_s" in r]
    finally:
        torch.set_num_threads(saved)
    if len(times) >= 2:
        return max(times[-1] - times[0], 1e-6) / ((len(times) - 1) * TIMED_LOG_EVERY)
    return max(times[-1] if times else 1e-3, 1e-6) / TIMED_ITERATIONS


def duration(seconds):
    """Seconds as a short human duration: 45 s, 12 min, 3.2 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_line(what, runs, iterations, seconds_per_it, workers, device, batches=None):
    """One line: the runs, their iterations and the estimated wall time with ``workers`` in parallel;
    ``batches``: the runs train as that many batches of the batched engine, and ``seconds_per_it``
    is one batch's iteration."""
    rounds = math.ceil((batches or runs) / max(1, workers))
    total = rounds * iterations * seconds_per_it
    parallel = f", {workers} at a time" if workers > 1 else ""
    grouped = f" as {batches} batch(es)" if batches else ""
    return (f"{what}: {runs} run(s) × {iterations} iterations{grouped}{parallel} on {device}; "
            f"timed {seconds_per_it * 1000:.1f} ms/iteration per {'batch' if batches else 'run'} → about "
            f"{duration(total)} of training (snapshot measurements come on top)")
