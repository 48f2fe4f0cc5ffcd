"""Sweeps: a grid of runs (datasets × objectives × α × λ distributions × seeds) trained through the
batched engine (``mixgan/training/batched.py``), in batches that fit memory, then summarised.

Every run gets its own ordinary run folder inside one numbered sweep folder
(``outputs/NNNNN-sweep/``), so each can be inspected, animated or compared like a run trained
alone. ``plan.json`` lists every run before the first trains, so a stopped sweep can be finished
(:func:`resume_sweep`). The summary is written by the same table system as ``compare``
(``summary.py``), over the finished runs.

The batches are *units* of work (a batch, or stopped runs that go on); an executor trains them.
:class:`InProcess`, the default, trains them one after another in this process;
``ray_sweep.RayExecutor`` submits each as a Ray task. Both take the same plan and the same
resume (:func:`runs_left`, :func:`plan_units`), so a run is the same whichever trains it.
"""
import dataclasses
import json
import sys
from pathlib import Path

from mixgan.config import label_overrides, load_run_config, make_config
from mixgan.errors import RunInterrupted, UsageError
from mixgan.evaluation.tables import run_key, varying_settings
from mixgan.experiments.progress import RunBars
from mixgan.experiments.summary import write_summary
from mixgan.runs import checkpoints, folders, status
from mixgan.training import resolve_device, resume, train, train_batched
from mixgan.training.batched import batch_key, batchable, check_batch
from mixgan.training.memory import batch_budget, estimate_bytes

PLAN = "plan.json"  # every run of the sweep, written before the first is trained


def grid_configs(base, data, objectives, alphas, lambda_dists, seeds):
    """Every TrainConfig of the grid, in a stable order. ``base`` holds the shared overrides;
    ``objectives`` are labels: objectives or variants such as ``standard-ns``."""
    configs = []
    for d in data:
        for label in objectives:
            overrides = label_overrides(label)
            uses_alpha = overrides["objective"] == "mixup"
            for alpha in (alphas if uses_alpha else [None]):
                for dist in (lambda_dists if uses_alpha else [None]):
                    for seed in seeds:
                        values = {**base, **overrides, "data": d, "seed": seed}
                        if alpha is not None:
                            values["alpha"] = alpha
                        if dist is not None:
                            values["lambda_dist"] = dist
                        configs.append(make_config(values))
    return configs


def plan_batches(configs, max_runs, budget):
    """Split configs into batches: runs that can share a batch (``batch_key``), at most
    ``max_runs`` and ``budget`` bytes each. Keeps grid order within a batch. Runs the batched
    engine does not cover (``batchable``: other objectives, penalties, images, ...) become
    batches of one, which :func:`train_batches` trains alone with ``train()``."""
    groups = {}
    alone = [[c] for c in configs if not batchable(c)]
    for c in configs:
        if batchable(c):
            groups.setdefault(batch_key(c), []).append(c)
    batches = alone
    for group in groups.values():
        size = max(1, min(max_runs or len(group), budget // estimate_bytes(group[0])))
        batches += [group[i:i + size] for i in range(0, len(group), size)]
    return batches


def describe_plan(configs, batches):
    """One line per batch, for ``--dry-run``."""
    return [f"  batch {i}: {len(b)} runs ({', '.join(sorted({f'{c.data}-{c.objective}' for c in b}))})"
            for i, b in enumerate(batches)]


def sweep(configs, max_runs=None, out=None, progress=True, log=print, executor=None):
    """Train ``configs`` in batches inside a new sweep folder under ``out`` (default: the first
    config's ``out``) and write its summary; returns the sweep folder. ``executor``: what trains
    the batches (default :class:`InProcess`; ``ray_sweep.RayExecutor`` for a Ray cluster).

    >>> from mixgan import sweep
    >>> from mixgan.experiments.sweep import grid_configs
    >>> folder = sweep(grid_configs(dict(iterations=500), ["ring"], ["standard", "mixup"], [0.2], ["beta"], range(4)))  # doctest: +SKIP
    """
    configs = list(configs)
    folder = folders.create_run_folder(out or configs[0].out, "sweep")
    log(f"sweep folder: {folder}")
    configs = [dataclasses.replace(c, out=str(folder)) for c in configs]
    batches = plan_batches(configs, max_runs, batch_budget(resolve_device(configs[0].device)))
    # The whole plan, written first, so that a resume can also start the runs a stop kept from starting.
    folders.atomic_write_json(folder / PLAN, {"max_runs": max_runs, "runs": [c.to_dict() for b in batches for c in b]})
    # One overall bar and one per run (they read each run's metrics.jsonl), in place of a bar per batch.
    with RunBars([(c, None) for c in configs], run_label, progress) as bars:
        run_folders = (executor or InProcess()).train([(b, None) for b in batches], folder,
                                                      progress=progress and not bars.enabled,
                                                      log=bars.write if bars.enabled else log)
    summarise(folder, run_folders, log)
    return folder


def run_label(config):
    """A run as its bar and its line name it: data/setting/seed."""
    return f"{config.data}/{run_key(config.to_dict())[1]}/s{config.seed}"


def check_plan(batches):
    """Refuse, before any training, a batch the batched engine cannot train."""
    for batch in batches:
        if batchable(batch[0]):
            check_batch(batch)


def summarise(folder, run_folders, log=print):
    """Write the summary over the finished runs (a failed run's numbers are not results)."""
    finished = [run for run in run_folders if status.read_status(run)["state"] == "finished"]
    if len(finished) < len(run_folders):
        print(f"mixgan: the summary leaves out {len(run_folders) - len(finished)} unfinished or failed run(s)",
              file=sys.stderr)
    configs = {run: load_run_config(run).to_dict() for run in finished}
    varying = varying_settings(configs.values())
    keyed = {run_key(config, varying): run for run, config in configs.items()}
    log(write_summary(folder, keyed, {"sweep": str(folder)}))
    log(f"summary:      {folder / 'summary.md'} (and summary.json, a table per dataset)")


def resume_sweep(folder, progress=True, dry_run=False, log=print, executor=None):
    """Finish a stopped sweep: train its unfinished runs on from their last checkpoints (runs at
    the same checkpoint that can share a batch are batched again; the others go on alone), start
    the runs it never got to, then write the summary over all its runs. ``executor``: as in
    :func:`sweep`; the sweep may have been started with another."""
    folder = Path(folder)
    if "\x00" in str(folder) or not folder.is_dir():
        raise UsageError(f"no sweep folder at {folder}")
    try:
        plan = json.loads((folder / PLAN).read_text())
        planned = [make_config(values) for values in plan["runs"]]
    except FileNotFoundError:
        raise UsageError(f"{folder} has no {PLAN} (is it a mixgan sweep folder?)")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{folder / PLAN} is unreadable or damaged ({e})")
    todo, new, failed = runs_left(folder, planned)
    finished = len(planned) - len(todo) - len(new) - len(failed)
    log(f"sweep: {finished} of {len(planned)} runs finished; resuming {len(todo)}, starting {len(new)}")
    if dry_run:
        return folder
    units = plan_units(todo, new, plan.get("max_runs"), lambda c: batch_budget(resolve_device(c.device)))
    with RunBars([(c, None) for c, _, _ in todo] + [(c, None) for c in new], run_label, progress) as bars:
        (executor or InProcess()).train(units, folder, progress=progress and not bars.enabled,
                                        log=bars.write if bars.enabled else log)
    summarise(folder, _run_folders(folder), log)
    return folder


def runs_left(folder, planned):
    """What is left of the ``planned`` configs in the sweep ``folder``: ``(todo, new, failed)``,
    ``todo`` a ``(config, run folder, checkpoint iteration)`` for each unfinished run that can go
    on, ``new`` the configs never started, ``failed`` the run folders that failed for good (a
    NaN/Inf failure: seeded, it would fail again in the same place). A run another process
    trains is refused."""
    made = {_key(load_run_config(run)): run for run in _run_folders(folder)}
    todo, new, failed = [], [], []
    for config in planned:
        run = made.get(_key(config))
        if run is None:
            new.append(config)
            continue
        st = status.read_status(run)
        if st["state"] == "finished":
            continue
        if st["alive"]:
            raise UsageError(status.describe(run, st))
        if not st.get("resumable", True):  # a NaN/Inf failure: it would fail again in the same place
            print(f"mixgan: warning: {status.describe(run, st)}; left as it is", file=sys.stderr)
            failed.append(run)
            continue
        # The checkpoint the run will resume from: the newest that reads (a damaged one is set aside).
        ckpt, _ = checkpoints.load_latest(run, warn=lambda m: print(f"mixgan: warning: {m}", file=sys.stderr))
        todo.append((config, run, ckpt["iteration"] if ckpt else 0))
    return todo, new, failed


def plan_units(todo, new, max_runs, budget):
    """The units of work that finish ``todo`` and ``new`` (see :func:`runs_left`): each a
    ``(configs, run folders to resume or None)``. Stopped runs at the same checkpoint that can
    share a batch form one again; then the new runs, batched as a new sweep batches them.
    ``budget(config)``: the bytes a batch may use."""
    units = []
    for at in sorted({it for _, _, it in todo}):
        group = [(c, run) for c, run, it in todo if it == at]
        folder_of = {id(c): run for c, run in group}
        units += [(batch, [folder_of[id(c)] for c in batch])
                  for batch in plan_batches([c for c, _ in group], max_runs, budget(group[0][0]))]
    if new:
        units += [(batch, None) for batch in plan_batches(new, max_runs, budget(new[0]))]
    return units


def train_unit(configs, resumed=None, progress=True):
    """Train one unit: a batch with the batched engine (runs it does not cover, alone with
    ``train()``), or the stopped runs ``resumed`` (their folders, in the order of ``configs``);
    returns the run folders in the order of ``configs``."""
    if batchable(configs[0]):
        return train_batched(configs, progress=progress, resume=resumed)
    if resumed:
        return [resume(run, progress=progress)[0] for run in resumed]
    return [train(c, progress=progress) for c in configs]


def finish(folder, configs, progress=False):
    """Bring ``configs``, runs of the sweep ``folder``, to their end whatever state they are in:
    finished runs are left, stopped ones go on, missing ones start; returns their run folders in
    the order of ``configs``. A unit that may be run again after its process died (a retried
    Ray task) runs this, so that it never starts a run twice. The runs came from one planned
    batch, so they are not cut again for memory."""
    todo, new, failed = runs_left(folder, configs)
    for unit in plan_units(todo, new, None, lambda c: float("inf")):
        train_unit(*unit, progress=progress)
    made = {_key(load_run_config(run)): run for run in _run_folders(folder)}
    return [made[_key(c)] for c in configs if _key(c) in made]


class InProcess:
    """The default executor: trains the units one after another in this process."""

    resume_command = "mixgan sweep --resume {folder}"

    def train(self, units, folder, progress=True, log=print):
        """Train ``units`` (``(configs, run folders to resume or None)``) for the sweep ``folder``;
        returns every run folder. Stopped by Ctrl-C/SIGTERM, it says how to go on."""
        run_folders = []
        try:
            for configs, resumed in units:
                run_folders += train_unit(configs, resumed, progress=progress)
        except RunInterrupted as e:
            raise _resume_the_sweep(e, self.resume_command.format(folder=folder))
        return run_folders


def _run_folders(folder):
    return sorted(p for p in Path(folder).iterdir() if (p / "config.json").is_file())


def _key(config):
    """A config as a hashable value, to match the plan's runs with the folders made for them."""
    return json.dumps(config.to_dict(), sort_keys=True)


def train_batches(batches, progress=True, sweep_folder=None):
    """Train each batch with the batched engine (or, for runs it does not cover, alone with
    ``train()``); return every run folder. Stopped by Ctrl-C/SIGTERM, it says how to go on:
    ``mixgan sweep --resume`` on the ``sweep_folder``."""
    if sweep_folder is None:
        return [run for batch in batches for run in train_unit(batch, progress=progress)]
    return InProcess().train([(b, None) for b in batches], sweep_folder, progress=progress)


def _resume_the_sweep(stop, command):
    """A run's or batch's interruption, with the command that finishes the whole sweep."""
    return RunInterrupted(f"{stop.message.split('; resume')[0]}; resume with: {command}", stop.exit_code)
