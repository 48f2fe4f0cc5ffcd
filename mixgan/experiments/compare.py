"""Comparisons of objectives over seeds: train (or reuse) runs for every dataset × label × seed,
then tabulate every snapshot metric as mean ± standard error over seeds.

A *label* names one training setting: an objective (``standard``, ``mixup``, ...) or a variant
from ``mixgan.config.VARIANTS`` (``standard-ns``: the standard objective with the non-saturating
generator loss). A finished run whose ``config.json`` equals the requested config is reused
instead of retrained, so an interrupted comparison picks up where it stopped and a larger
``--seeds`` only trains the new seeds.
"""
import sys
from pathlib import Path

from mixgan.config import label_overrides, make_config, read_run_config
from mixgan.errors import UsageError
from mixgan.evaluation.tables import run_key
from mixgan.experiments.summary import write_summary
from mixgan.experiments.workers import config_key, cpu_cores, plan_tasks, runs_by_config, train_all
from mixgan.runs import folders, status

PROTOCOL_SAMPLES = 2500  # generated points per evaluation in VEEGAN / PacGAN's toy protocol


def plan_runs(labels, datasets, seeds, overrides=None, config_file=None):
    """Every TrainConfig of the comparison (all checked before anything trains)."""
    return [make_config({**(overrides or {}), **label_overrides(label), "data": data, "seed": seed}, config_file)
            for data in datasets for label in labels for seed in seeds]


def finished_runs(folder):
    """``{config key: run folder}`` for the finished runs directly under ``folder``. Unfinished
    runs are named on stderr and left out, never tabulated from part of their snapshots."""
    finished, resumable = runs_by_config(folder)
    for run in resumable.values():
        print(f"mixgan: skipping unfinished run: {status.describe(run, status.read_status(run))}", file=sys.stderr)
    return finished


def train_or_reuse(configs, jobs=1, log=print):
    """Run folders for every config, in order: a finished identical run is reused, a stopped one
    resumed from its checkpoint, and the rest trained (in ``jobs`` parallel processes)."""
    finished, tasks = plan_tasks(configs)
    found = [finished.get(config_key(c.to_dict())) for c in configs]
    todo = [i for i, run in enumerate(found) if run is None]
    resumed = sum(folder is not None for _, folder in tasks)
    log(f"compare: {len(configs) - len(todo)} finished runs reused, {resumed} resumed, {len(todo) - resumed} to train")
    label = lambda c: f"{c.data}/{run_key(c.to_dict())[1]}/s{c.seed}"  # noqa: E731
    trained = train_all(tasks, min(jobs, len(tasks)), max(1, cpu_cores() // jobs), log=log, label=label)
    for i, (path, _) in zip(todo, trained):
        found[i] = path
    return found


def runs_in_folder(folder, labels=None, datasets=None, max_seeds=None):
    """``{(data, label, seed): run}`` for the finished runs under ``folder``, optionally filtered.
    Two runs with one key but different settings are an error naming the first differing option."""
    if not Path(folder).is_dir():
        raise UsageError(f"--from {folder}: no such folder")
    found, configs = {}, {}
    for run in finished_runs(folder).values():
        config = read_run_config(run)
        key = run_key(config)
        if (labels and key[1] not in labels) or (datasets and key[0] not in datasets) \
                or (max_seeds is not None and key[2] >= max_seeds):
            continue
        if key in found:
            other = configs[key]
            diff = next((n for n in sorted(set(config) | set(other)) if n != "out" and config.get(n) != other.get(n)),
                        "out")
            raise UsageError(f"--from {folder}: runs {found[key].name} and {run.name} differ in {diff!r}; "
                             "re-tabulate a folder that holds one setting")
        found[key], configs[key] = run, config
    if not found:
        raise UsageError(f"--from {folder}: no finished runs (with config.json, generator.pt, discriminator.pt) match")
    return found


def compare(configs, jobs=1, out=None, log=print, meta=None):
    """Train (or reuse) every config, then write the comparison folder (``out``, default the
    first config's ``out``) with its tables and curves; returns that folder.

    >>> from mixgan import compare
    >>> from mixgan.experiments.compare import plan_runs
    >>> folder = compare(plan_runs(["standard", "mixup"], ["ring"], range(3), dict(iterations=500)))  # doctest: +SKIP
    """
    configs = list(configs)
    run_folders = train_or_reuse(configs, jobs, log)
    keyed = {run_key(c.to_dict()): run for c, run in zip(configs, run_folders)}
    return tabulate_runs(keyed, out or configs[0].out, log, meta)


def tabulate_runs(keyed_runs, out, log=print, meta=None):
    """A new numbered comparison folder under ``out`` with the tables of ``{(data, label, seed): run}``."""
    folder = folders.create_run_folder(out, "compare")
    log(write_summary(folder, keyed_runs, meta or {}))
    return folder
