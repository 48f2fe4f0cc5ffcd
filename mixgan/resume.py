"""``mixgan train --resume RUN_DIR``: continue a stopped run from its last good checkpoint.

The run's own ``config.json`` is the only source of options (a resumed run is the same run,
so nothing may change it); the training loop restores the checkpoint (see mixgan.run_guard).
"""
import json
from pathlib import Path

from mixgan import status
from mixgan.config import FIELDS, make_config
from mixgan.errors import UsageError


def load_run_config(run):
    """The TrainConfig a run folder was made with."""
    if "\x00" in str(run):  # the OS cannot even look such a path up
        raise UsageError(f"no run folder at {str(run)!r}")
    path = Path(run) / "config.json"
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run} is not a mixgan run folder (it has no config.json)")
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}")
    if not isinstance(values, dict):
        raise UsageError(f"{path} is damaged: expected a table of options")
    return make_config(values)


def resume(run_dir, progress=True):
    """Continue ``run_dir``; returns ``(run folder, trained)``, ``trained`` False when it had
    already finished (then nothing is touched)."""
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
    from mixgan.train import train  # late: importing torch is not needed to refuse a bad folder
    return train(config, progress=progress, resume=run), True


def run_resume(args):
    """The CLI side of ``train --resume``: options other than progress ones are refused."""
    given = [name for name in FIELDS if getattr(args, name, None) is not None]
    if args.config:
        given.append("config")
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(f"{flag} cannot be combined with --resume: a resumed run keeps the options in its "
                         f"config.json")
    if args.dry_run:
        print(json.dumps(load_run_config(args.resume).to_dict(), indent=2))
        return 0
    run, trained = resume(args.resume, progress=not args.no_progress)
    if not trained:
        print(f"run {run} is already finished; nothing to do")
        return 0
    print(f"run folder: {run} (resumed and finished)")
    return 0
