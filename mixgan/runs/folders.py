"""Run folders: numbered creation that never overwrites, atomic file writes, metrics.jsonl."""
import errno
import io
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from mixgan.errors import UsageError


_UMASK = os.umask(0o022)  # read the process umask (there is no getter) and put it back at once
os.umask(_UMASK)


def atomic_write_bytes(path, data, overwrite=True):
    """Write to a temporary file in the same folder, then rename: a crash never leaves a truncated
    file. ``overwrite=False``: FileExistsError, and nothing written, if ``path`` exists by then."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the name is taken, even by a file made a moment ago
            Path(tmp).unlink()
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_npz(path, overwrite=True, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    if overwrite:
        atomic_write_bytes(path, buf.getvalue())
    else:
        atomic_write_bytes(path, buf.getvalue(), overwrite=False)


def atomic_torch_save(path, obj):
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def append_jsonl(path, record):
    """Append one line in one write. metrics.jsonl is the one file that grows in place rather
    than being replaced (rewriting it each time would cost O(lines²)); if the write fails (full
    disk) the file is cut back to where it was, and a line cut short by a kill is dropped when
    the run is resumed (:func:`trim_metrics`)."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "No space left on device (short write)")
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def read_jsonl(path):
    """Every record of a ``.jsonl`` file; ValueError for a line that is not UTF-8 JSON."""
    with open(path, "rb") as f:
        return [json.loads(line.decode("utf-8")) for line in f if line.strip()]


_NUMBERED = re.compile(r"^(\d{5,})-")


def make_output_folder(out):
    """``out`` as a folder, created with its parents if need be; UsageError if it cannot be."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise UsageError(f"cannot create output folder {out}: {getattr(e, 'strerror', None) or e}")
    if not out.is_dir():
        raise UsageError(f"output folder {out} is not a folder")
    return out


def create_run_folder(out, label):
    """Create ``out/NNNNN-label`` with the next free number. ``mkdir`` is exclusive, so two
    runs started at once under the same ``out`` get different folders."""
    out = make_output_folder(out)
    taken = [int(m.group(1)) for p in out.iterdir() if (m := _NUMBERED.match(p.name))]
    number = max(taken, default=-1) + 1
    for _ in range(1000):
        run = out / f"{number:05d}-{label}"
        try:
            run.mkdir()
            return run
        except FileExistsError:
            number += 1
        except OSError as e:
            raise UsageError(f"cannot write to output folder {out}: {e.strerror or e}")
    raise UsageError(f"could not find a free run folder name under {out}")


def fsync_file(path):
    """Flush a file that grows in place (metrics.jsonl) to disk, if it exists."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def trim_metrics(run, iteration):
    """Keep the lines of metrics.jsonl up to ``iteration`` (the checkpoint a resume starts
    from): later lines are written again by the resumed run, and a last line cut short by a
    kill (no line break) is dropped. A whole line that is damaged (not UTF-8, not a JSON object,
    no whole iteration number) is a one-line UsageError and the file is left as it is."""
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except OSError as e:  # a folder in its place, unreadable
        raise UsageError(f"cannot read {path}: {e.strerror or e}; the run's metrics cannot be continued")
    kept = []
    for n, line in enumerate(lines):
        if not line.endswith(b"\n") and n == len(lines) - 1:
            break  # cut short by a kill: lines are appended whole, so only the last can be
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict) or type(record.get("iteration", 0)) is not int:
                raise ValueError("not a metrics record")
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
            raise UsageError(f"{path} line {n + 1} is damaged; the run's metrics cannot be continued")
        if record.get("iteration", 0) <= iteration:
            kept.append(line)
    if len(kept) != len(lines):
        atomic_write_bytes(path, b"".join(kept))


def remove_temporary_files(run):
    """Half-written temporary files (``.NAME.XXXX.tmp``) left by a process killed mid-write."""
    for sub in (Path(run), Path(run) / "snapshots", Path(run) / "frames", Path(run) / "checkpoints"):
        if sub.is_dir():
            for p in sub.glob(".*.tmp"):
                p.unlink(missing_ok=True)
