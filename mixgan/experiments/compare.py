"""Comparisons of objectives over seeds: train every dataset × label × seed inside one numbered
comparison folder, then tabulate every snapshot metric there as mean ± standard error over seeds.

A *label* names one training setting: an objective (``standard``, ``mixup``, ...) or a variant
from ``mixgan.config.VARIANTS`` (``standard-ns``: the standard objective with the non-saturating
generator loss). The folder's ``plan.json`` lists every run before the first trains, so a stopped
comparison goes on where it stopped (:func:`resume_compare`): finished runs are kept, stopped ones
resumed from their checkpoints. Runs train seed by seed, so a comparison cut short holds whole seeds.
"""
import dataclasses
import json
import sys
from pathlib import Path

from mixgan.config import label_overrides, make_config, read_run_config
from mixgan.errors import UsageError
from mixgan.evaluation.tables import run_key, varying_settings
from mixgan.experiments.summary import write_summary
from mixgan.experiments.workers import AGAIN, config_key, cpu_cores, plan_tasks, train_all
from mixgan.runs import folders, status
from mixgan.runs.reader import find_runs

PROTOCOL_SAMPLES = 2500  # generated points per evaluation in VEEGAN / PacGAN's toy protocol
PLAN = "plan.json"  # every run of the comparison, written before the first is trained


def plan_runs(labels, datasets, seeds, overrides=None, config_file=None):
    """Every TrainConfig of the comparison (all checked before anything trains), seed by seed."""
    return [make_config({**(overrides or {}), **label_overrides(label), "data": data, "seed": seed}, config_file)
            for seed in seeds for data in datasets for label in labels]


def train_or_reuse(configs, jobs=1, log=print, progress=False, again=AGAIN):
    """Run folders for every config, in order: a finished identical run in the config's folder is
    kept (so is one that failed on NaN/Inf: the tables name and skip it), a stopped one resumed
    from its checkpoint, and the rest trained (in ``jobs`` parallel processes), with progress shown
    while they train."""
    done, tasks = plan_tasks(configs)
    found = [done.get(config_key(c.to_dict())) for c in configs]
    todo = [i for i, run in enumerate(found) if run is None]
    resumed = sum(folder is not None for _, folder in tasks)
    if len(todo) < len(configs) or resumed:
        log(f"compare: {len(configs) - len(todo)} runs already done, {resumed} to resume, "
            f"{len(todo) - resumed} to train")
    label = lambda c: f"{c.data}/{run_key(c.to_dict())[1]}/s{c.seed}"  # noqa: E731
    trained = train_all(tasks, min(jobs, len(tasks)), max(1, cpu_cores() // jobs), log=log, label=label,
                        progress=progress, again=again)
    for i, (path, _) in zip(todo, trained):
        found[i] = path
    return found


def runs_in(paths, labels=None, datasets=None, seeds=None):
    """``{(data, label, seed): run}`` for the finished runs in ``paths`` (run folders or folders of
    runs), optionally filtered by objective or variant, dataset and seed. Unfinished runs are named
    on stderr and left out. Mixup runs whose α, λ distribution or pairing differ among the runs
    found are told apart in their label (``mixup α=0.05``), as a sweep's summary labels them, so an
    α sweep trained by several commands tabulates as one. Two runs with one key but any other
    setting different are an error naming the first differing option."""
    chosen = []
    for run in find_runs(paths):
        try:
            state = status.read_status(run)
        except UsageError as e:
            print(f"mixgan: skipping {run}: {e}", file=sys.stderr)
            continue
        if state["state"] != "finished":
            print(f"mixgan: skipping unfinished run: {status.describe(run, state)}", file=sys.stderr)
            continue
        config = read_run_config(run)
        data, label, seed = run_key(config)
        if (labels and label not in labels) or (datasets and data not in datasets) or (seeds and seed not in seeds):
            continue
        chosen.append((run, config))
    varying = varying_settings([config for _, config in chosen])
    # Variants of one objective side by side in the tables, in order of their settings.
    first = {}
    for _, config in chosen:
        first.setdefault(run_key(config)[1], len(first))
    chosen.sort(key=lambda rc: (first[run_key(rc[1])[1]],) + tuple(str(rc[1].get(k)) if k != "alpha" else rc[1][k]
                                                                for k in varying))
    found, configs = {}, {}
    for run, config in chosen:
        key = run_key(config, varying)
        if key in found:
            other = configs[key]
            diff = next((n for n in sorted(set(config) | set(other)) if n != "out" and config.get(n) != other.get(n)),
                        "out")
            raise UsageError(f"--from: runs {found[key]} and {run} differ in {diff!r}; "
                             "re-tabulate runs that share one setting")
        found[key], configs[key] = run, config
    if not found:
        raise UsageError("--from: no finished runs (with config.json, generator.pt, discriminator.pt) match")
    return found


def compare(configs, jobs=1, out=None, log=print, meta=None, progress=False):
    """Train every config inside a new numbered comparison folder under ``out`` (default: the first
    config's ``out``), then write its tables and curves there; returns that folder.

    >>> from mixgan import compare
    >>> from mixgan.experiments.compare import plan_runs
    >>> folder = compare(plan_runs(["standard", "mixup"], ["ring"], range(3), dict(iterations=500)))  # doctest: +SKIP
    """
    configs = list(configs)
    folder = folders.create_run_folder(out or configs[0].out, "compare")
    log(f"comparison folder: {folder}")
    configs = [dataclasses.replace(c, out=str(folder)) for c in configs]
    folders.atomic_write_json(folder / PLAN, {"jobs": jobs, "meta": meta or {},
                                              "runs": [c.to_dict() for c in configs]})
    return _train_and_tabulate(folder, configs, jobs, log, meta, progress)


def resume_compare(folder, jobs=None, log=print, progress=False):
    """Finish the comparison in ``folder`` from its ``plan.json``: finished runs are kept, stopped
    ones go on from their checkpoints, missing ones are trained; then the tables are rewritten."""
    plan = read_plan(folder)
    configs = [make_config({**c, "out": str(folder)}) for c in plan["runs"]]
    return _train_and_tabulate(Path(folder), configs, jobs or plan.get("jobs", 1), log, plan.get("meta"), progress)


def read_plan(folder):
    """The ``plan.json`` of a comparison folder; one-line UsageError when there is none or it is damaged."""
    path = Path(folder) / PLAN
    if not path.is_file():
        raise UsageError(f"{folder} is not a comparison folder (it has no {PLAN})")
    try:
        plan = json.loads(path.read_text())
        if not isinstance(plan, dict) or not isinstance(plan.get("runs"), list) or not plan["runs"]:
            raise ValueError("expected a table with a list of runs")
        return plan
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}")


def _train_and_tabulate(folder, configs, jobs, log, meta, progress):
    # A stopped comparison goes on from its folder, not by starting anew.
    run_folders = train_or_reuse(configs, jobs, log, progress, again=f"resume with: mixgan compare --resume {folder}")
    keyed = {run_key(c.to_dict()): run for c, run in zip(configs, run_folders)}
    log(write_summary(folder, keyed, meta or {}))
    return folder


def tabulate_runs(keyed_runs, out, log=print, meta=None):
    """A new numbered comparison folder under ``out`` with the tables of ``{(data, label, seed): run}``."""
    folder = folders.create_run_folder(out, "compare")
    log(write_summary(folder, keyed_runs, meta or {}))
    return folder
