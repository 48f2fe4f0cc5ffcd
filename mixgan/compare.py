"""``mixgan compare``: train (or reuse) runs over objectives × datasets × seeds, then tabulate
every snapshot metric as mean ± standard error over seeds (issue 4).

A *label* names one training setting: an objective from ``OBJECTIVES`` (``standard``,
``mixup``) or a variant from ``VARIANTS`` (``standard-ns``: the standard objective with the
non-saturating generator loss, the usual baseline, since the demo's ERM uses the saturating
one). Runs go to the usual numbered folders under ``--out``; a finished run whose
``config.json`` equals the requested config is reused instead of retrained, so an
interrupted comparison resumes and a larger ``--seeds`` only trains the new seeds.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

from mixgan import measure, runs, status, tables
from mixgan.config import FIELDS, make_config
from mixgan.errors import UsageError
from mixgan.image_data import is_image_dataset

# label -> config overrides. Adding a baseline is one entry.
VARIANTS = {
    "standard-ns": dict(objective="standard", g_loss="nonsaturating"),
    "mixup-ns": dict(objective="mixup", g_loss="nonsaturating"),
}
PROTOCOL_SAMPLES = 2500  # generated points per evaluation in VEEGAN / PacGAN's toy protocol
_RUN_ONLY = ("objective", "data", "seed")  # set by compare per run, so not options of its own


def labels_available():
    from mixgan.objectives import OBJECTIVES
    return list(OBJECTIVES) + list(VARIANTS)


def label_overrides(label):
    """Config overrides for one label, or UsageError naming the valid labels."""
    from mixgan.objectives import OBJECTIVES
    if label in OBJECTIVES:
        return {"objective": label}
    if label in VARIANTS:
        return dict(VARIANTS[label])
    raise UsageError(f"unknown objective {label!r}; choose from: {', '.join(labels_available())}")


def config_label(config):
    """The label of a run's config dict: the variant it matches, else its objective name."""
    for label, overrides in VARIANTS.items():
        if all(config.get(k) == v for k, v in overrides.items()):
            return label
    return config["objective"]


def split_list(text, what):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"{what} must name at least one entry")
    if len(set(items)) != len(items):
        raise UsageError(f"{what} names an entry twice: {text!r}")
    return items


def plan_runs(labels, datasets, seeds, overrides, config_file=None):
    """``{(data, label, seed): TrainConfig}`` for every combination; all configs are checked first."""
    plan = {}
    for data in datasets:
        for label in labels:
            for seed in seeds:
                values = {**overrides, **label_overrides(label), "data": data, "seed": seed}
                plan[data, label, seed] = make_config(values, config_file)
    return plan


def _config_key(config_dict):
    return json.dumps(config_dict, sort_keys=True)


def finished_runs(folder):
    """``{config json: run folder}`` for the finished runs directly under ``folder`` (their
    ``status.json`` says finished). Unfinished runs are named on stderr and left out, never
    tabulated from part of their snapshots; folders with an unreadable config are not runs of
    ours and are skipped."""
    found = {}
    folder = Path(folder)
    if not folder.is_dir():
        return found
    for run in sorted(folder.iterdir()):
        if not (run / "config.json").is_file():
            continue
        try:
            config = json.loads((run / "config.json").read_text())
            state = status.read_status(run)
        except (OSError, ValueError, UsageError):
            continue
        if state["state"] != "finished":
            print(f"mixgan: skipping unfinished run: {status.describe(run, state)}", file=sys.stderr)
            continue
        if isinstance(config, dict):
            found.setdefault(_config_key(config), run)  # the oldest of identical runs
    return found


def _train_one(config, threads):
    """Worker: train one run with ``threads`` torch threads (so parallel jobs do not oversubscribe the CPU)."""
    import torch
    from mixgan.train import train
    torch.set_num_threads(threads)
    return str(train(config, progress=False))


def train_or_reuse(plan, jobs=1, log=print):
    """Run folders for every planned config: reused when a finished identical run exists, else trained
    (in ``jobs`` parallel processes). Returns ``{key: Path}``."""
    index = {}
    for out in {c.out for c in plan.values()}:
        index.update(finished_runs(out))
    folders = {k: index[_config_key(c.to_dict())] for k, c in plan.items() if _config_key(c.to_dict()) in index}
    todo = [k for k in plan if k not in folders]
    log(f"compare: {len(folders)} finished runs reused, {len(todo)} to train")
    if jobs <= 1 or len(todo) <= 1:
        for i, k in enumerate(todo, 1):
            folders[k] = Path(_train_one(plan[k], max(1, _threads_now())))
            log(f"  [{i}/{len(todo)}] {folders[k]}")
        return folders
    # Spawned (not forked) workers: safe with CUDA and with torch's own thread pools.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_train_one, plan[k], threads): k for k in todo}
        for i, f in enumerate(as_completed(futures), 1):
            folders[futures[f]] = Path(f.result())
            log(f"  [{i}/{len(todo)}] {folders[futures[f]]}")
    return folders


def _threads_now():
    import torch
    return torch.get_num_threads()


def runs_in_folder(folder, labels=None, datasets=None, max_seeds=None):
    """``{(data, label, seed): run}`` for the finished runs under ``folder`` (for ``--from``), optionally
    filtered. Two runs with one key but different settings are an error naming the first differing option."""
    if not Path(folder).is_dir():
        raise UsageError(f"--from {folder}: no such folder")
    found, configs = {}, {}
    for key_json, run in finished_runs(folder).items():
        config = json.loads(key_json)
        if not {"data", "objective", "seed"} <= set(config):
            continue
        key = (config["data"], config_label(config), config["seed"])
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


def _dataset(name):
    from mixgan.data import DATASETS
    return DATASETS[name]


def collect_records(folders):
    """``{(data, label, seed): {iteration: snapshot record}}``. A snapshot saved without a record (a run
    from before snapshot metrics existed) gets its sample metrics computed now from its ``.npz``;
    the discriminator diagnostics need D at that iteration and stay missing."""
    out = {}
    for key, run in folders.items():
        records = measure.snapshot_records(run)
        if not records and is_image_dataset(key[0]):
            # Image runs are scored on request (the classifier is trained once and cached beside
            # the runs): classes covered, class-histogram KL, Fréchet distance per snapshot.
            from mixgan.image_metrics import run_image_metrics
            records = {r["iteration"]: r for r in run_image_metrics(run)}
        for npz in sorted((run / "snapshots").glob("iter_*.npz")):
            it = int(npz.stem.split("_")[1])
            if it not in records:
                try:
                    with np.load(npz) as z:
                        fake = z["fake"]
                except (OSError, ValueError, KeyError) as e:
                    raise UsageError(f"corrupt snapshot {npz}: {e}")
                if measure.is_2d(fake):
                    config = json.loads((run / "config.json").read_text())
                    records[it] = measure.snapshot_record(_dataset(key[0]), fake, None, it, config["seed"])
        out[key] = records
    return out


def write_comparison(folder, records, folders, meta):
    """Tables (Markdown, CSV, JSON per dataset) and plots with error bands in ``folder``."""
    rows = tables.tabulate(records)
    meta = {**meta, "runs": {f"{d}/{l}/s{s}": str(p) for (d, l, s), p in sorted(folders.items())}}
    written = tables.write_tables(folder, rows, meta)
    written += tables.write_plots(folder, rows)
    return written


# ----------------------------------------------------------------------------- CLI
def add_arguments(parser):
    from mixgan.cli import _int, add_config_arguments
    parser.add_argument("--objectives", help=f"comma-separated labels: objectives or variants ({', '.join(VARIANTS)}); "
                                              "default standard,mixup (with --from: every label found)")
    parser.add_argument("--data", dest="datasets",
                        help="comma-separated datasets; default ring,grid (with --from: every dataset found)")
    parser.add_argument("--seeds", type=_int, default=None,
                        help="seeds 0..N-1 per dataset and label (default 10; with --from: every seed found)")
    parser.add_argument("--jobs", type=_int, default=1, help="runs trained in parallel processes (default 1)")
    parser.add_argument("--from", dest="from_dir", metavar="DIR",
                        help="re-tabulate the finished runs in DIR instead of training")
    add_config_arguments(parser, skip=_RUN_ONLY)
    parser.add_argument("--no-progress", action="store_true", help="print nothing but the result folder")


def run(args):
    log = (lambda *a: None) if args.no_progress else print
    default = args.from_dir is None  # with --from, names given act as filters
    every_label = ",".join(labels_available())
    labels = split_list(args.objectives or ("standard,mixup" if default else every_label), "--objectives")
    datasets = split_list(args.datasets, "--data") if args.datasets else (["ring", "grid"] if default else None)
    for label in labels:
        label_overrides(label)
    from mixgan.data import dataset_names, is_known_dataset
    for d in datasets or ():
        if not is_known_dataset(d):
            raise UsageError(f"unknown dataset {d!r}; choose from: {', '.join(dataset_names())}")
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    overrides = {n: getattr(args, n) for n in FIELDS if n not in _RUN_ONLY and getattr(args, n, None) is not None}
    if args.from_dir:
        given = sorted(set(overrides) - {"out"}) + (["--config"] if args.config else [])
        if given:
            raise UsageError(f"--from re-tabulates finished runs; training option {given[0]!r} does not apply")
        folders = runs_in_folder(args.from_dir, labels, datasets, args.seeds)
        out = overrides.get("out", args.from_dir)
    else:
        # The VEEGAN / PacGAN protocol evaluates 2,500 samples; the snapshot size is that count unless given.
        overrides.setdefault("snapshot_size", PROTOCOL_SAMPLES)
        plan = plan_runs(labels, datasets, range(args.seeds or 10), overrides, args.config)
        out = next(iter(plan.values())).out
        folders = train_or_reuse(plan, args.jobs, log)
    folder = runs.create_run_folder(out, "compare")
    meta = {"labels": sorted({k[1] for k in folders}, key=labels.index),
            "datasets": list(dict.fromkeys(k[0] for k in sorted(folders))), "seeds": sorted({k[2] for k in folders}),
            "overrides": overrides, "from": args.from_dir}
    write_comparison(folder, collect_records(folders), folders, meta)
    log((folder / "summary.md").read_text())
    print(f"comparison folder: {folder}")
    return 0

