"""Checkpoints: everything a run needs to continue bitwise as if it had never stopped.

A checkpoint holds G, D (and G's weight average, for runs with ``ema``), both Adam optimisers,
the state of every random stream (the ``torch.Generator`` streams of ``mixgan/rng.py`` and
torch's global CPU and CUDA generators), the fixed snapshot noise, the iteration, and the running
loss sums of the current logging window (so the metrics line after a resume is the one the run
would have written).

It holds no data. The fixed real batch that snapshots show is drawn again from the run's seed
when a run resumes (the ``snapshot`` stream starts afresh, so the draw is the same), and an image
run keeps it in ``real.npz`` anyway. Older checkpoints may also hold ``fixed_real``;
it is ignored.

File format: one header line ``mixgan-checkpoint 1 sha256=<hex>\\n`` followed by a
``torch.save`` payload. The digest catches truncated and damaged files before unpickling,
and the payload is read with ``weights_only=True``, so a hostile file cannot run code.
Files are written atomically (temporary name, then rename); the newest two are kept.
"""
import hashlib
import io
import os
import re
import warnings
from pathlib import Path

import torch

from mixgan.config import OLDER_RUNS
from mixgan.runs import folders
from mixgan.errors import UsageError

FORMAT = 1
MAGIC = b"mixgan-checkpoint"
KEEP = 2  # the newest two: if the newest is ever damaged, the one before it still resumes the run
_NAME = re.compile(r"^ckpt_(\d{6,})\.ckpt$")


class CorruptCheckpoint(UsageError):
    """A checkpoint file that is truncated, damaged or not a mixgan checkpoint."""


def folder(run):
    return Path(run) / "checkpoints"


def path_for(run, iteration):
    return folder(run) / f"ckpt_{iteration:06d}.ckpt"


def list_checkpoints(run):
    """Checkpoint files of a run as ``[(iteration, path)]``, newest first. A ``checkpoints`` that
    is not a folder is an error: read as "no checkpoint yet" it would restart the run."""
    if not folder(run).is_dir():
        if os.path.lexists(folder(run)):
            raise UsageError(f"{folder(run)} is not a folder; the run's checkpoints cannot be read (move it "
                             f"aside only if the run should start again from iteration 0)")
        return []
    found = [(int(m.group(1)), p) for p in folder(run).iterdir() if (m := _NAME.match(p.name))]
    return sorted(found, reverse=True)


def capture(iteration, window, elapsed_s, config, G, D, opt_g, opt_d, streams, fixed_z, sums, G_ema=None):
    """The state of a run at the end of ``iteration`` as a dict of tensors and plain values
    (``G_ema``: the generator's weight average, for runs with ``ema``)."""
    rng = {"streams": {name: g.get_state() for name, g in streams.items()},
           "torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["torch_cuda"] = torch.cuda.get_rng_state_all()
    ckpt = {"format": FORMAT, "iteration": iteration, "config": config.to_dict(), "device": fixed_z.device.type,
            "G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": rng, "fixed_z": fixed_z.detach().cpu(),
            "sums": {k: v.detach().cpu() for k, v in sums.items()}, "window": window, "elapsed_s": elapsed_s}
    if G_ema is not None:  # absent otherwise, so a run without ema writes what it always wrote
        ckpt["G_ema"] = G_ema.state_dict()
    return ckpt


def restore(ckpt, G, D, opt_g, opt_d, streams, fixed_z, sums, G_ema=None):
    """Put a captured state back in place (in the objects the loop already holds; check it with
    :func:`load_for_resume` first); returns ``(iteration, window, elapsed_s)``."""
    G.load_state_dict(ckpt["G"])
    D.load_state_dict(ckpt["D"])
    if G_ema is not None:
        G_ema.load_state_dict(ckpt["G_ema"])
    opt_g.load_state_dict(ckpt["opt_g"])
    opt_d.load_state_dict(ckpt["opt_d"])
    for name, g in streams.items():
        g.set_state(ckpt["rng"]["streams"][name])
    # The loop itself draws nothing from the global generators; they are put back so that a
    # component that does (dropout, augmentation) would resume exactly too.
    torch.set_rng_state(ckpt["rng"]["torch_cpu"])
    if "torch_cuda" in ckpt["rng"] and torch.cuda.is_available():
        states = ckpt["rng"]["torch_cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    fixed_z.copy_(ckpt["fixed_z"].to(fixed_z.device))
    for k, v in sums.items():
        v.copy_(ckpt["sums"][k].to(v.device))
    return ckpt["iteration"], ckpt["window"], ckpt["elapsed_s"]


def encode(ckpt):
    """Header line with the payload's digest, then the payload."""
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    payload = buf.getvalue()
    header = MAGIC + b" %d sha256=%s\n" % (FORMAT, hashlib.sha256(payload).hexdigest().encode())
    return header + payload


def decode(data, name="checkpoint"):
    """The checkpoint dict in ``data``; CorruptCheckpoint (one line) when it is not whole."""
    header, sep, payload = data.partition(b"\n")
    m = re.fullmatch(MAGIC + rb" (\d+) sha256=([0-9a-f]{64})", header) if sep else None
    if m is None:
        raise CorruptCheckpoint(f"{name} is not a mixgan checkpoint (empty, truncated or another kind of file)")
    if int(m.group(1)) != FORMAT:
        raise CorruptCheckpoint(f"{name} has checkpoint format {int(m.group(1))}; this mixgan reads format {FORMAT}")
    if hashlib.sha256(payload).hexdigest().encode() != m.group(2):
        raise CorruptCheckpoint(f"{name} is truncated or damaged (its checksum does not match)")
    try:
        with warnings.catch_warnings():  # torch's warnings about old pickle protocols say nothing to the user
            warnings.simplefilter("ignore")
            ckpt = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        # torch's own message suggests loading without weights_only, which could run code: not quoted.
        raise CorruptCheckpoint(f"{name} cannot be read: it holds something other than a mixgan training state "
                                f"(refused unread: loading it could run code)")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or not isinstance(ckpt.get("iteration"), int):
        raise CorruptCheckpoint(f"{name} does not hold a mixgan training state")
    return ckpt


def save(run, ckpt):
    """Write ``ckpt`` atomically as the newest checkpoint, then drop all but the newest KEEP."""
    folder(run).mkdir(exist_ok=True)
    path = path_for(run, ckpt["iteration"])
    folders.atomic_write_bytes(path, encode(ckpt))
    for _, old in list_checkpoints(run)[KEEP:]:
        old.unlink(missing_ok=True)
    return path


def load(path):
    """Read and verify one checkpoint file."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:  # a folder in its place counts as damaged: an older checkpoint may still serve
        raise CorruptCheckpoint(f"cannot read checkpoint {path}: {e.strerror or e}")
    return decode(data, name=f"checkpoint {path}")


def load_latest(run, warn=None):
    """The newest checkpoint of ``run`` that reads back whole, as ``(ckpt, path)``, or
    ``(None, None)`` when the run has none yet. A damaged newer file is renamed to
    ``*.corrupt`` (kept for inspection, never read again) and reported through ``warn``; if
    every checkpoint is damaged, CorruptCheckpoint names them."""
    found = list_checkpoints(run)
    problems = []
    for _, path in found:
        try:
            ckpt = load(path)
        except CorruptCheckpoint as e:
            problems.append((path, str(e)))
            continue
        for bad, message in problems:
            set_aside(bad)
            if warn:
                warn(f"{message}; set aside as {bad.name}.corrupt, resuming from {path.name}")
        return ckpt, path
    if problems:
        raise CorruptCheckpoint(f"no readable checkpoint in {folder(run)}: " + "; ".join(m for _, m in problems))
    return None, None


def set_aside(path):
    """Rename a damaged checkpoint out of the way so no later resume or clean-up counts it."""
    path = Path(path)
    path.replace(path.with_name(path.name + ".corrupt"))


def load_for_resume(run_folders, configs, device, warn=None):
    """The newest readable checkpoint of every run, in order, or None where no run has one yet.

    UsageError (one line) unless each was made with its run's ``config.json`` and on the device
    type the job runs on (random streams of one device type cannot drive another), and unless all
    stand at one iteration (a batch resumes together)."""
    found = [load_latest(run, warn) for run in run_folders]
    if all(ckpt is None for ckpt, _ in found):
        return None
    if any(ckpt is None for ckpt, _ in found) or len({ckpt["iteration"] for ckpt, _ in found}) != 1:
        seen = ", ".join(f"{Path(run).name}: {ckpt['iteration'] if ckpt else 'none'}"
                         for run, (ckpt, _) in zip(run_folders, found))
        raise UsageError(f"the runs of this batch have checkpoints at different iterations ({seen}); "
                         f"resume them alone with mixgan train --resume RUN")
    for run, config, (ckpt, path) in zip(run_folders, configs, found):
        made, now = {**OLDER_RUNS, **ckpt["config"]}, config.to_dict()
        made.pop("out", None), now.pop("out", None)  # the same run, wherever its folder is now
        if made != now:
            raise UsageError(f"checkpoint {path} was made with other options than {Path(run) / 'config.json'}")
        if config.ema and "G_ema" not in ckpt:
            raise UsageError(f"checkpoint {path} holds no generator average although the run has ema {config.ema}")
        if ckpt["device"] != device.type:
            raise UsageError(f"checkpoint {path} was written on {ckpt['device']}; resume it on {ckpt['device']} "
                             f"too (the run is on {device.type} now)")
    return [ckpt for ckpt, _ in found]
