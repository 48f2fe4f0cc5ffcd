"""Continuing a stopped run from its last good checkpoint.

The run's own ``config.json`` is the only source of options (a resumed run is the same run,
so nothing may change it); the engine that started it (``engines.py``) restores the checkpoint
and goes on bitwise as if it had never stopped.
"""
from pathlib import Path

from mixgan.config import load_run_config
from mixgan.errors import UsageError
from mixgan.runs import status


def resume(run_dir, progress=True):
    """Continue ``run_dir``; returns ``(run folder, trained)``, ``trained`` False when it had
    already finished (then nothing is touched).

    >>> from mixgan import resume
    >>> run, trained = resume("outputs/00003-ring-mixup-s0")  # doctest: +SKIP
    """
    run = Path(run_dir)
    if "\x00" in str(run):  # the OS cannot even look such a path up
        raise UsageError(f"no run folder at {str(run)!r}")
    if not run.is_dir():
        raise UsageError(f"no run folder at {run}")
    config = load_run_config(run)
    st = status.read_status(run)
    if st["state"] == "finished":
        return run, False
    if st["alive"]:
        raise UsageError(status.describe(run, st))
    if not st.get("resumable", True):
        raise UsageError(f"run {run} failed ({st.get('reason')}) and is not resumable: it is seeded, so resuming "
                         f"would repeat the same computation and fail in the same place; start a new run with "
                         f"other options")
    # Late: importing torch is not needed to refuse a bad folder. The run goes on in the engine that
    # started it (engines.py), so that it resumes bitwise.
    from mixgan.training.engines import train_run
    return train_run(config, progress=progress, resume=run), True
