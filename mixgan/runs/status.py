"""Run status: ``status.json`` in every run folder says whether the run is ``running``,
``finished``, ``interrupted`` or ``failed``, and why, so that no tool mistakes half a run for a
result.

A process training a run holds an exclusive lock on ``RUN/.lock`` (``fcntl.flock``; the
kernel drops it when the process dies, even by SIGKILL or power loss). So a status of
``running`` with nobody holding the lock means the run stopped without a word, and
``require_finished`` says so instead of trusting the file.
"""
import contextlib
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

from mixgan.runs import folders
from mixgan.errors import UsageError

try:
    import fcntl
except ImportError:  # not POSIX: no lock, and "running" is taken at its word
    fcntl = None

STATES = ("running", "finished", "interrupted", "failed")
FILE = "status.json"
LOCK = ".lock"


def write_status(run, state, reason="", iteration=0, resumable=True):
    """Record the run's state atomically. ``iteration``: the last iteration a checkpoint holds."""
    assert state in STATES, state
    folders.atomic_write_json(Path(run) / FILE, {
        "state": state, "reason": reason, "checkpoint_iteration": iteration, "resumable": resumable,
        "pid": os.getpid(), "host": socket.gethostname(), "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def read_status(run):
    """The run's status as a dict (see write_status), with ``alive`` saying whether a process
    holds the run's lock now. Runs made before status files existed count as finished when
    they hold their final weights."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise UsageError(f"{run} is not a mixgan run folder (it has no config.json)")
    try:
        status = json.loads((run / FILE).read_text())
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise ValueError("no state")
    except FileNotFoundError:
        finished = (run / "generator.pt").is_file() and (run / "discriminator.pt").is_file()
        status = {"state": "finished" if finished else "running", "reason": "no status.json (an older run)",
                  "checkpoint_iteration": 0, "resumable": not finished}
    except (OSError, ValueError) as e:
        raise UsageError(f"{run / FILE} is unreadable or damaged ({e}); the run's state is unknown")
    status["alive"] = lock_is_held(run)
    return status


def describe(run, status):
    """One sentence for a run that is not finished, ending with what to do about it."""
    resume = f"resume it with: mixgan train --resume {quote(run)}"
    state, reason, it = status["state"], status.get("reason", ""), status.get("checkpoint_iteration", 0)
    if status["alive"]:
        return f"run {run} is still training (last checkpoint at iteration {it})"
    if state == "running":
        return (f"run {run} stopped without finishing (killed, crashed or lost power; last checkpoint at "
                f"iteration {it}); {resume}")
    if state == "interrupted":
        return f"run {run} was interrupted ({reason}); {resume}"
    if state == "failed" and status.get("resumable"):
        return f"run {run} failed ({reason}); {resume}"
    if state == "failed":
        return f"run {run} failed: {reason}"
    return f"run {run} is {state}"


def require_finished(run_dir, allow_unfinished=False):
    """For commands that read a run (compare, figure5 --from, plot, animate): return its status
    if it finished; otherwise raise UsageError with one line saying what state it is in and how
    to resume it. With ``allow_unfinished`` an unfinished run is accepted with a one-line
    warning on stderr (the caller then uses what the folder holds so far)."""
    status = read_status(run_dir)
    if status["state"] == "finished":
        return status
    line = describe(run_dir, status)
    if not allow_unfinished:
        raise UsageError(line + " (or pass --allow-unfinished to use what it holds so far)")
    print(f"mixgan: warning: {line}; using what it holds so far", file=sys.stderr)
    return status


def quote(path):
    """A path as the shell should read it in a command we print."""
    return shlex.quote(str(path))


class RunLock:
    """Exclusive lock on a run folder for the life of one training process."""

    def __init__(self, run):
        self.path = Path(run) / LOCK
        self.fd = None

    def acquire(self):
        if fcntl is None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # a folder in its place, a read-only or full disk
            raise UsageError(f"cannot lock run {self.path.parent}: {self.path.name}: {e.strerror or e}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"run {self.path.parent} is being trained right now by another process")
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None


@contextlib.contextmanager
def choosing_in(folder):
    """Held while a process chooses, inside ``folder``, a numbered folder to go on with or to create,
    and takes that folder's lock: another process making the same choice waits for it, then sees the
    folder taken. A lock on the folder itself, so nothing is written there; held for milliseconds."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as e:
        raise UsageError(f"cannot read output folder {folder}: {e.strerror or e}")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def lock_is_held(run):
    """Whether some process is training ``run`` now."""
    path = Path(run) / LOCK
    if fcntl is None or not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
