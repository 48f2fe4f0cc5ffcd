"""``mixgan figure5``: train the four runs of Figure 5 of Zhang et al. (ICLR 2018, §3.7) and draw it.

Datasets grid and ring × objectives standard (the ERM GAN) and mixup, all with the
``figure5`` preset (the authors' demo code settings), in one numbered group folder:

    outputs/NNNNN-figure5-s0/
        figure5.png, figure5.pdf, figure5.json
        00000-grid-standard-s0/ ...  (four ordinary run folders)

The runs train through the batched engine, as one batch per objective (ERM and mixup cannot
share one): two batches, each holding both datasets; on a GPU every iteration replays as one
CUDA graph. On a CPU with two or more cores the batches train in parallel processes, each
limited to its share of the cores so they do not oversubscribe them. ``--quick`` trains the
documented reduced setting :data:`QUICK` instead (see docs/FIGURES.md for its measured time).
"""
import contextlib
import re
import time
from pathlib import Path

from mixgan.runs import folders, status
from mixgan.config import make_config, read_run_config
from mixgan.errors import RunFailed, UsageError
from mixgan.experiments.workers import Batch, batch_tasks, config_key, cpu_cores, plan_tasks, task_configs, train_all
from mixgan.viz.figures import FIGURE5_DATA, FIGURE5_OBJECTIVES, figure5_figure, figure5_runs, save_both

# The reduced setting of ``--quick`` (chosen by measurement on a shared 2-core CPU; see docs/FIGURES.md).
# Everything else stays the demo code's: 5 D steps, batch 128, Adam 1e-3, λ ~ U(0, α), shuffled pairs.
QUICK = dict(width=128, iterations=2000, snapshots=(10, 100, 500, 1000, 2000))
QUICK_NOTE = ("reduced figure (--quick: width {width}, {iterations} iterations); the paper's figure is "
              "`mixgan figure5` (width 512, 20000 iterations; best on a GPU)")


def resolve_quick(quick, device):
    """``--quick`` on/off/auto → bool; auto = quick unless a CUDA GPU will be used."""
    if quick in ("on", "off"):
        return quick == "on"
    import torch
    gpu = device != "cpu" and torch.cuda.is_available()
    return not gpu


def figure5_configs(seed, device, alpha, quick, out, frames=0, landscape=0):
    """The four TrainConfigs, in figure order (grid row first, ERM block first)."""
    extra = dict(QUICK) if quick else {}
    return [make_config(dict(preset="figure5", data=d, objective=o, seed=seed, device=device, out=str(out),
                             frames=frames, landscape=landscape,
                             **({"alpha": alpha} if alpha is not None else {}), **extra))
            for d in FIGURE5_DATA for o in FIGURE5_OBJECTIVES]


def train_runs(configs, log=print, progress=False, dry_run=False):
    """Train the runs of ``configs`` (those in one group folder): a finished one is kept, a stopped
    one resumed from its checkpoint, the rest trained. Runs train as batches of the batched engine,
    one per objective setting (ERM's runs in one, mixup's in the other; on a GPU each iteration
    replays as one CUDA graph); the batches in parallel processes on a multi-core CPU, one after
    another on a GPU (they would only queue on it). Returns [(run folder, seconds)]; RunFailed
    names a run whose numbers went NaN/Inf."""
    from mixgan.training import resolve_device
    finished, runs = plan_tasks(configs, warn=lambda m: None)
    for path in finished.values():  # a run that failed for good: the figure cannot be drawn
        _refuse_failed(path, "; seeded, it would fail again in the same place (remove that folder to "
                             "train it anew, or choose another --seed)")
    resumed = sum(folder is not None for _, folder in runs)
    if len(runs) < len(configs) or resumed:
        log(f"{len(configs) - len(runs)} runs already finished, {resumed} to resume")
    tasks = batch_tasks(runs)
    # Longest first (mixup's shuffled pairing reads two batches per D step), so no worker is
    # left with a long batch at the end while the other idles.
    from mixgan.objectives import OBJECTIVES
    tasks.sort(key=lambda task: (-OBJECTIVES[task_configs(task)[0].objective](task_configs(task)[0]).d_batches,
                                 -len(task_configs(task))))
    on_cpu = all(resolve_device(c.device).type == "cpu" for c in configs)
    cores = cpu_cores()
    workers = min(cores, len(tasks)) if on_cpu and cores >= 2 else 1
    threads = max(1, cores // max(1, workers))
    if tasks:
        from mixgan.experiments.estimate import plan_line, seconds_per_iteration
        from mixgan.training import threads as thread_policy
        first = task_configs(tasks[0])
        per_it = seconds_per_iteration(first[0], threads=threads, batch=len(first))
        with thread_policy.capped(threads):
            chosen = thread_policy.describe(first[0])
        batches = sum(isinstance(task, Batch) for task in tasks)
        (print if dry_run else log)(plan_line("figure5", len(runs), first[0].iterations, per_it, workers,
                                              resolve_device(configs[0].device), batches=len(tasks) if batches else None)
                                    + f"; {chosen}")
    if dry_run:
        return None
    label = lambda c: f"{c.data}/{c.objective}"  # noqa: E731
    trained = dict(zip((config_key(c.to_dict()) for task in tasks for c in task_configs(task)),
                       train_all(tasks, workers, threads, log, label, progress=progress)))
    for path, _ in trained.values():  # a batch trains on past a failed run: the figure cannot
        _refuse_failed(path)
    return [trained.get(config_key(c.to_dict())) or (finished[config_key(c.to_dict())], 0.0) for c in configs]


def _refuse_failed(path, advice=""):
    st = status.read_status(path)
    if st["state"] == "failed":
        raise RunFailed(f"run failed: {st.get('reason')}; {path} is marked failed{advice}")


def unfinished_group(out, label, configs_for):
    """The newest group folder ``out/NNNNN-<label>`` without its figure whose runs all belong to
    the plan ``configs_for(group)``: a figure5 command stopped before its end, to go on with."""
    out = Path(out)
    if not out.is_dir():
        return None
    pattern = re.compile(rf"^\d{{5,}}-{re.escape(label)}$")
    for group in sorted((p for p in out.iterdir() if pattern.match(p.name) and p.is_dir()), reverse=True):
        if (group / "figure5.png").exists():
            continue
        planned = {config_key(c.to_dict()) for c in configs_for(group)}
        held = [p for p in group.iterdir() if (p / "config.json").is_file()]
        try:
            if all(config_key(read_run_config(p)) in planned for p in held):
                return group
        except UsageError:
            continue
    return None


def figure_runs_in(paths, seed):
    """The run folders ``paths`` name: run folders as given; from a folder of runs, those that can be
    a cell of the figure (grid or ring, labelled standard or mixup) with ``seed``."""
    from mixgan.config import config_label
    from mixgan.runs.reader import find_runs
    chosen = []
    for path in paths:
        runs = find_runs([path])
        if runs == [Path(path)]:
            chosen.append(Path(path))
            continue
        for run in runs:
            config = read_run_config(run)
            if (config["data"] in FIGURE5_DATA and config_label(config) in FIGURE5_OBJECTIVES
                    and config["seed"] == seed):
                chosen.append(run)
    return chosen


def reduced_note(run_list):
    """The figure's note when the runs are smaller or shorter than the paper's (None otherwise)."""
    full = make_config(dict(preset="figure5"))
    sizes = {(r.config.get("width"), r.config.get("iterations")) for r in run_list}
    if sizes <= {(full.width, full.iterations)}:
        return None
    shown = "; ".join(f"width {w}, {i} iterations" for w, i in sorted(sizes, key=str))
    return f"reduced figure ({shown}); the paper's figure is `mixgan figure5` (width {full.width}, {full.iterations} iterations)"


def make_figure5(seed=0, device="auto", out="outputs", alpha=None, quick="off", from_runs=None,
                 frames=0, landscape=0, log=print, allow_unfinished=False, dry_run=False, progress=False,
                 seeds=None):
    """Train (or, with ``from_runs``, reuse) the four runs and draw the figure; returns the group folder.
    ``seeds``: train the four runs of each of these seeds in the one group folder (ERM's runs of every
    seed in one batch, mixup's in another) and draw one figure per seed: ``figure5.png`` is the first
    seed's, ``figure5-s<seed>.png`` each other's.
    ``from_runs``: run folders or folders of runs (from those, the figure's runs of ``seed``).
    ``dry_run``: print the plan and return None, creating nothing.

    >>> from mixgan import figure5
    >>> folder = figure5(quick="auto")  # doctest: +SKIP
    >>> folder / "figure5.png"  # doctest: +SKIP
    """
    if from_runs:
        cells = figure5_runs(figure_runs_in(from_runs, seed), allow_unfinished)  # validate before creating anything
        if alpha is not None and any(cells[(d, "mixup")].config.get("alpha") != alpha for d in FIGURE5_DATA):
            raise UsageError(f"--alpha {alpha} differs from the α of the given mixup runs; leave it out with --from")
        info = {"from": [str(r.path) for r in cells.values()]}
        # Drawing reads every array, so unreadable runs fail here, before a folder is created.
        if dry_run:
            print(f"figure5: would redraw from {', '.join(str(r.path) for r in cells.values())}")
            return None
        fig, iterations = figure5_figure(cells, reduced_note(cells.values()), landscape > 0)
        group = folders.create_run_folder(out, "figure5-redraw")
    else:
        quick_on = resolve_quick(quick, device)
        seeds = list(seeds) if seeds else [seed]
        figure5_configs(seeds[0], device, alpha, quick_on, out, frames, landscape)  # bad options fail here,
        from mixgan.training import resolve_device
        resolve_device(device)  # before any folder is created
        label = f"figure5{'-quick' if quick_on else ''}-s{'-'.join(map(str, seeds))}"
        configs_for = lambda group: [c for s in seeds  # noqa: E731
                                     for c in figure5_configs(s, device, alpha, quick_on, group, frames, landscape)]
        if dry_run:
            group = unfinished_group(out, label, configs_for)
            train_runs(configs_for(group or Path(out) / f"NNNNN-{label}"), log, dry_run=True)
            return None
        with _held_group(out, label, configs_for, log) as group:
            configs = configs_for(group)
            if quick_on:
                log("quick mode: " + QUICK_NOTE.format(**QUICK))
            log(f"figure folder: {group} (each run's metrics.jsonl shows its progress)")
            start = time.perf_counter()
            trained = train_runs(configs, log, progress)
            name = lambda c: f"{c.data}/{c.objective}" + (f"/s{c.seed}" if len(seeds) > 1 else "")  # noqa: E731
            info = {"quick": quick_on, "seeds": seeds, "runs": [str(p) for p, _ in trained],
                    "train_seconds": {name(c): round(s, 1) for c, (_, s) in zip(configs, trained)},
                    "wall_seconds": round(time.perf_counter() - start, 1), "cpu_cores": cpu_cores(),
                    "device": str(resolve_device(device))}
            # configs hold four runs per seed, in seed order. figure5.png comes last: a group folder
            # without it is a stopped command that the same command goes on with.
            per_seed = [figure5_runs([p for p, _ in trained[4 * i:4 * i + 4]]) for i in range(len(seeds))]
            for other, cells in zip(seeds[1:], per_seed[1:]):
                fig, _ = figure5_figure(cells, reduced_note(cells.values()), landscape > 0)
                save_both(fig, [group / f"figure5-s{other}.png", group / f"figure5-s{other}.pdf"])
            cells = per_seed[0]
            fig, iterations = figure5_figure(cells, reduced_note(cells.values()), landscape > 0)
            return _write_figure(group, fig, iterations, info)
    return _write_figure(group, fig, iterations, info)


def _write_figure(group, fig, iterations, info):
    save_both(fig, [group / "figure5.png", group / "figure5.pdf"])
    folders.atomic_write_json(group / "figure5.json", {**info, "iterations": list(iterations)})
    return group


@contextlib.contextmanager
def _held_group(out, label, configs_for, log):
    """The group folder this command trains and draws in (a stopped one it goes on with, or a new
    one), held until it ends: the same command started again meanwhile would go on in this folder
    and train the same runs beside it, so it is refused. The choice is made under a lock on ``out``,
    so two commands started at the same instant cannot both miss each other's folder."""
    out = folders.make_output_folder(out)
    with status.choosing_in(out):
        group = unfinished_group(out, label, configs_for)
        if group is not None and status.lock_is_held(group):
            raise UsageError(f"{group} is being made by another figure5 command; run this one again when "
                             "that one has ended")
        if group is not None:
            log(f"going on with the stopped figure in {group}")
        else:
            group = folders.create_run_folder(out, label)
        lock = status.RunLock(group).acquire()
    try:
        yield group
    finally:
        lock.release()
