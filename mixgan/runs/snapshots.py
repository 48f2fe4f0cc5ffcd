"""The one writer (and reader) of a run's saved arrays: snapshots, animation frames and real images.

``snapshots/iter_NNNNNN.npz`` and ``frames/iter_NNNNNN.npz`` hold ``fake`` (points [N, 2], or
images [N, C, H, W] in [-1, 1]), ``iteration`` and, when the run saves D's landscape,
``landscape`` and ``landscape_limits``. Snapshots of runs with ``ema`` also hold ``fake_ema``:
the generator's weight average on the same noise, shaped like ``fake``. The generated points
always come from the run's fixed noise, so every snapshot and frame shows the same latent points.

The fixed real batch shown beside them is ``real``. 2D runs keep their real points in every file
(1000 points are 8 KB, and a snapshot file then stands alone). Image runs save their real images
once, as ``real`` in ``RUN/real.npz`` (written before the first iteration): a thousand 64x64
colour images are 49 MB, too much to repeat in every snapshot, frame and checkpoint. Older image
runs hold ``real`` in every file; :func:`load` reads both layouts, and every reader goes
through it, so ``real`` is always in what it returns. Pictures are drawn from these files by
``mixgan/viz``; this module writes arrays only.

Frames (``--frames N``) sit at N iterations spaced logarithmically from 1 to the last, so the
fast early changes of GAN training get as many frames as the slow late ones.
"""
import functools
import zipfile
from pathlib import Path

import numpy as np

from mixgan.errors import UsageError
from mixgan.runs import folders

KINDS = ("snapshots", "frames")
REAL_FILE = "real.npz"  # an image run's fixed real images, saved once


def path(run, kind, iteration, suffix=".npz"):
    """``RUN/<kind>/iter_NNNNNN<suffix>``."""
    return Path(run) / kind / f"iter_{iteration:06d}{suffix}"


def save(run, kind, iteration, arrays):
    """Write ``arrays`` atomically as the ``kind`` file of ``iteration``; returns its path."""
    target = path(run, kind, iteration)
    target.parent.mkdir(exist_ok=True)
    folders.atomic_save_npz(target, **arrays)
    return target


def save_real(run, real):
    """Write an image run's fixed real images once, as ``real`` in ``RUN/real.npz``; returns its path."""
    target = Path(run) / REAL_FILE
    folders.atomic_save_npz(target, real=real)
    return target


def load(run, kind, iteration):
    """The arrays saved at ``iteration`` as a dict, with ``real`` from ``RUN/real.npz`` when the
    file holds none; one-line UsageError when a file is unreadable or holds neither points
    [N, 2] nor images [N, C, H, W]."""
    return read(path(run, kind, iteration))


def read(source):
    """:func:`load` for the file at ``source`` (``RUN/<kind>/iter_NNNNNN.npz``)."""
    source = Path(source)
    arrays = _read_npz(source, "snapshot file")
    where = {"real": source, "fake": source}
    if "real" not in arrays:  # an image run: its real images are saved once, beside the snapshots' folder
        where["real"] = source.parent.parent / REAL_FILE
        if where["real"].is_file():
            stat = where["real"].stat()
            arrays["real"] = _real_images(str(where["real"]), stat.st_mtime_ns, stat.st_size)
    for key in ("real", "fake"):
        a = arrays.get(key)
        points, images = a is not None and a.ndim == 2 and a.shape[1] == 2, a is not None and a.ndim == 4
        if not (points or images):
            raise UsageError(f"{where[key]} has no {key!r} points [N, 2] or images [N, C, H, W]; "
                             f"is it a mixgan run?")
    return arrays


@functools.lru_cache(maxsize=4)
def _real_images(source, mtime_ns, size):
    """``real`` of a ``real.npz``, read once for all the snapshots and frames that show it (an
    animation reads every frame), read-only since callers share it; the file's time and size
    in the key make a rewritten file read again."""
    real = _read_npz(Path(source), "file of real images").get("real")
    if real is not None:
        real.flags.writeable = False
    return real


def _read_npz(source, what):
    try:
        with np.load(source) as z:
            return {k: z[k] for k in z.files}
    except OSError as e:
        raise UsageError(f"cannot read {source}: {e.strerror or e}")
    except (ValueError, EOFError, zipfile.BadZipFile):  # numpy's own text would suggest unsafe loading
        raise UsageError(f"cannot read {source}: it is not a {what} (a numpy .npz of plain arrays)")


def saved_iterations(folder):
    """Iterations of the ``iter_NNNNNN.npz`` files in a snapshots or frames folder, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return ()
    its = []
    for p in folder.glob("iter_*.npz"):
        try:
            its.append(int(p.stem[5:]))
        except ValueError:
            continue
    return tuple(sorted(its))


def frame_iterations(n, last):
    """``n`` distinct iterations in 1..``last``, logarithmically spaced, with 1 and ``last`` included.

    Each step multiplies by the ratio that spreads the remaining log-distance evenly over
    the remaining frames, rounded, and at least one more than the previous frame; so near 1,
    where geometric spacing would repeat whole numbers, the frames are consecutive, and
    further on they are geometric. ``n >= last`` gives every iteration; ``n = 0`` none.
    """
    if n <= 0:
        return ()
    if n == 1 or last == 1:
        return (last,)
    if n >= last:
        return tuple(range(1, last + 1))
    its = [1]
    for k in range(1, n):
        prev, left = its[-1], n - k  # frames still to place, this one included
        target = round(prev * (last / prev) ** (1 / left))
        its.append(min(last - (left - 1), max(prev + 1, target)))
    return tuple(its)
