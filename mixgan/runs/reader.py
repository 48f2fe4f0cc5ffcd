"""Reading a run folder back: its options, metrics, status, saved arrays and trained generator.

:func:`load_run` is the one way every command and the Python API open a run for reading
(figures, animations, sampling); training opens runs through ``RunGuard`` instead.
"""
import warnings
from dataclasses import dataclass
from pathlib import Path

from mixgan.config import make_config, read_run_config
from mixgan.errors import UsageError
from mixgan.runs import checkpoints, folders, snapshots, status


def find_runs(paths, what="--from"):
    """Run folders from ``paths``, each a run folder (it holds config.json) or a folder of runs (its
    direct sub-folders that hold config.json, in name order); one-line UsageError for a path that is
    neither. Unfinished runs are kept: each caller decides what to do with them."""
    found = []
    for path in paths:
        p = Path(path)
        if "\x00" in str(path) or not p.is_dir():
            raise UsageError(f"{what} {path}: no such folder")
        if (p / "config.json").is_file():
            found.append(p)
            continue
        inside = sorted(q for q in p.iterdir() if q.is_dir() and (q / "config.json").is_file())
        if not inside:
            raise UsageError(f"{what} {path}: neither a run folder nor a folder of runs (no config.json in it "
                             "or in its sub-folders)")
        found += inside
    return found


@dataclass(frozen=True)
class Run:
    """A run folder and the options in its ``config.json`` (a dict, as saved). With ``ema`` its
    saved arrays are read as the generator's weight average drew them (see :meth:`arrays`)."""

    path: Path
    config: dict
    ema: bool = False

    def iterations(self, kind="snapshots"):
        """Iterations with saved ``kind`` arrays (``snapshots`` or ``frames``), sorted."""
        return snapshots.saved_iterations(self.path / kind)

    def arrays(self, iteration, kind="snapshots"):
        """``real``, ``fake`` (and the landscape, when saved) at one iteration, as a dict of arrays;
        an image run's ``real`` comes from its ``real.npz`` (:func:`mixgan.runs.snapshots.load`).
        For a Run read with ``ema``, ``fake`` holds the weight average's samples (saved as ``fake_ema``)."""
        arrays = snapshots.load(self.path, kind, iteration)
        if self.ema:
            if "fake_ema" not in arrays:
                raise UsageError(f"{snapshots.path(self.path, kind, iteration)} holds no samples of the weight "
                                 f"average (saved before {kind} carried them); draw it without --ema")
            arrays["fake"] = arrays.pop("fake_ema")
        return arrays

    def metrics(self):
        """Every record of ``metrics.jsonl``: training-loss lines and ``"kind": "snapshot"`` records."""
        path = self.path / "metrics.jsonl"
        try:
            return folders.read_jsonl(path) if path.exists() else []
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read {path}: {e}")

    def status(self):
        return status.read_status(self.path)

    def training_config(self):
        """The options as a validated TrainConfig."""
        return make_config(self.config)

    def generator(self, iteration=None, device="cpu", ema=False):
        """G with the run's final weights (``generator.pt``), or with those of the checkpoint kept
        at ``iteration``, in eval mode on ``device``; ``ema``: G's weight average instead
        (``generator_ema.pt``), for runs trained with ``ema``."""
        import torch
        from mixgan.nets import make_networks
        if ema and not self.config.get("ema"):
            raise UsageError(f"{self.path} was trained without --ema: it has no averaged generator")
        if iteration is None:
            source = self.path / ("generator_ema.pt" if ema else "generator.pt")
            try:
                with warnings.catch_warnings():  # torch's notes on old pickle protocols say nothing to the user
                    warnings.simplefilter("ignore")
                    state = torch.load(source, map_location="cpu", weights_only=True)
            except FileNotFoundError:
                raise UsageError(f"{self.path} has no {source.name} (it has not finished; pass a checkpoint's "
                                 f"iteration)")
            except Exception:  # noqa: BLE001 - torch's own text would suggest loading it unsafely
                raise UsageError(f"cannot read {source}: it holds something other than a generator's weights "
                                 f"(refused unread: loading it could run code)")
        else:
            kept = dict(checkpoints.list_checkpoints(self.path))
            if iteration not in kept:
                raise UsageError(f"{self.path} keeps no checkpoint at iteration {iteration}; kept: "
                                 f"{', '.join(map(str, sorted(kept))) or 'none'}")
            state = checkpoints.load(kept[iteration])["G_ema" if ema else "G"]
        # The shape of one example, from a saved snapshot: the data set itself need not be at hand.
        shown = self.iterations()
        if not shown:
            raise UsageError(f"{self.path} has no snapshot to tell the shape of its examples")
        shape = self.arrays(shown[-1])["fake"].shape[1:]
        G = make_networks(shape[0] if len(shape) == 1 else tuple(shape), self.training_config())[0]
        try:
            G.load_state_dict(state)
        except RuntimeError as e:
            raise UsageError(f"the generator weights of {self.path} do not fit its config.json ({str(e).splitlines()[0]})")
        return G.to(device).eval()


def load_run(path, allow_unfinished=False, ema=False):
    """A run folder as a :class:`Run`; one-line UsageError if it is missing, not a mixgan run, or
    unfinished (unless ``allow_unfinished``: then a one-line warning, and what it holds is used).
    ``ema``: read its arrays as the weight average drew them (a run trained with ``ema``).

    >>> from mixgan import load_run
    >>> run = load_run("outputs/00000-spiral-mixup-s0")  # doctest: +SKIP
    >>> run.config["objective"], run.iterations(), run.arrays(20000)["fake"].shape  # doctest: +SKIP
    ('mixup', (10, 100, 1000, 10000, 20000), (1000, 2))
    """
    path = Path(path)
    if "\x00" in str(path) or not path.is_dir():
        raise UsageError(f"run folder {str(path)!r} does not exist")
    config = read_run_config(path)
    if ema and not config.get("ema"):
        raise UsageError(f"{path} was trained without --ema: it has no weight average to draw")
    status.require_finished(path, allow_unfinished)
    return Run(path, config, ema)
