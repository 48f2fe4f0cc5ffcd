"""Continuing a stopped run from its last good checkpoint.

The run's own ``config.json`` is the only source of options (a resumed run is the same run,
so nothing may change it); the engine that started it (``engines.py``) restores the checkpoint
and goes on bitwise as if it had never stopped.
"""
from pathlib import Path

from mixgan.config import load_run_config, make_config, recorded_fact
from mixgan.errors import UsageError
from mixgan.runs import status


def resume(run_dir, progress=True):
    """Continue ``run_dir``; returns ``(run folder, trained)``, ``trained`` False when it had
    already finished (then nothing is touched). A run trained by several processes resumes under
    torchrun with as many; rank 0 reads the folder and tells the others.

    >>> from mixgan import resume
    >>> run, trained = resume("outputs/00003-ring-mixup-s0")  # doctest: +SKIP
    """
    from mixgan.training import distributed  # late: importing torch is not needed to refuse a bad folder
    with distributed.joined() as team:
        options = team.from_main(lambda: _check(run_dir, team.size))
        if options is None:
            return Path(run_dir), False
        # The run goes on in the engine that started it (engines.py), so that it resumes bitwise.
        from mixgan.training.engines import train_run
        return train_run(make_config(options), progress=progress, resume=Path(run_dir)), True


def _check(run_dir, world_size):
    """The options of the run to resume, or None when it has finished; UsageError when it cannot
    resume (no run, still running, failed for good, or made by another number of processes)."""
    run = Path(run_dir)
    if "\x00" in str(run):  # the OS cannot even look such a path up
        raise UsageError(f"no run folder at {str(run)!r}")
    if not run.is_dir():
        raise UsageError(f"no run folder at {run}")
    config = load_run_config(run)
    st = status.read_status(run)
    if st["state"] == "finished":
        return None
    if st["alive"]:
        raise UsageError(status.describe(run, st))
    if not st.get("resumable", True):
        raise UsageError(f"run {run} failed ({st.get('reason')}) and is not resumable: it is seeded, so resuming "
                         f"would repeat the same computation and fail in the same place; start a new run with "
                         f"other options")
    made = recorded_world_size(run)
    if made != world_size:
        how = (f"torchrun --nproc-per-node N -m mixgan train --resume {run}, with N processes in all"
               if made > 1 else f"mixgan train --resume {run}, on one process")
        raise UsageError(f"run {run} was trained by {made} process(es), not {world_size}: its data shares and noise "
                         f"streams are per process, so resume it with {made}: {how}")
    return config.to_dict()


def recorded_world_size(run):
    """How many processes trained ``run`` (its config.json's ``recorded.world_size``; 1 when absent)."""
    size = recorded_fact(run, "world_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else 1
