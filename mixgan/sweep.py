"""``mixgan sweep``: a grid of runs (datasets × objectives × α × seeds) trained through the batched
engine (``mixgan/batched.py``), in batches that fit memory, then summarised in one table.

Every run gets its own ordinary run folder inside one numbered sweep folder
(``outputs/NNNNN-sweep/``), so each can be inspected, animated or compared like a run trained
alone. The summary (``summary.json``, ``summary.md``) gives, per setting, the mean and standard
error over seeds of the sample metrics (``mixgan/metrics.py``) at the last snapshot.
"""
import dataclasses
import json
import sys

from mixgan.config import FIELDS, make_config
from mixgan.errors import RunInterrupted, UsageError

# Options that take comma-separated lists here instead of one value.
GRID_FIELDS = ("data", "objective", "alpha", "lambda_dist")
PLAN = "plan.json"  # every run of the sweep, written before the first is trained
DEFAULT_MEMORY = {"cpu": 2 << 30}  # bytes of activations a CPU batch may use; CUDA: half the free memory


def add_arguments(parser):
    from mixgan.cli import add_config_arguments
    parser.add_argument("--data", metavar="LIST", help="comma-separated 2D toy distributions (default: ring,grid)")
    parser.add_argument("--objectives", metavar="LIST", help="comma-separated objectives (default: standard,mixup)")
    parser.add_argument("--alpha", metavar="LIST", help="comma-separated mixup α values (default: 0.2); "
                                                         "objectives without α run once per dataset and seed")
    parser.add_argument("--lambda-dists", metavar="LIST", help="comma-separated mixup λ distributions (default: "
                                                                "the config's, beta)")
    parser.add_argument("--seeds", metavar="N", default=None,
                        help="seeds per setting: --seed, --seed+1, ..., --seed+N-1 (default: 4)")
    parser.add_argument("--max-runs", metavar="R", default=None,
                        help="most runs trained as one batch (default: as many as fit the memory estimate)")
    add_config_arguments(parser, skip=GRID_FIELDS)
    parser.add_argument("--dry-run", action="store_true", help="print the plan (runs and batches) and exit")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="finish a stopped sweep: its unfinished runs go on "
                        "from their last checkpoints, batched again where they can be; then the summary is written")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _list(text, kind, name):
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise UsageError(f"--{name} needs at least one value")
    try:
        return [kind(v) for v in values]
    except ValueError:
        raise UsageError(f"--{name} expects comma-separated {'numbers' if kind is float else 'names'}, got {text!r}")


def _count(text, name):
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} expects a whole number, got {text!r}")
    if value < 1:
        raise UsageError(f"--{name} must be >= 1, got {value}")
    return value


def grid_configs(base, data, objectives, alphas, lambda_dists, seeds):
    """Every TrainConfig of the grid, in a stable order. ``base`` holds the shared overrides."""
    configs = []
    for d in data:
        for objective in objectives:
            uses_alpha = objective == "mixup"
            for alpha in (alphas if uses_alpha else [None]):
                for dist in (lambda_dists if uses_alpha else [None]):
                    for seed in seeds:
                        values = {**base, "data": d, "objective": objective, "seed": seed}
                        if alpha is not None:
                            values["alpha"] = alpha
                        if dist is not None:
                            values["lambda_dist"] = dist
                        configs.append(make_config(values))
    return configs


def activation_bytes(config):
    """A generous estimate of one run's memory in a batch (float32): the no-grad G pass over one
    iteration's fakes, D's saved activations and gradients for one step, weights with Adam state."""
    points = config.d_steps * 2 * config.batch_size * 2  # shuffled mixup consumes 2B reals and fakes
    d_inputs = 4 * config.batch_size
    weights = 2 * (config.depth * config.width ** 2 + 8 * config.width)
    floats = 2 * points * config.width + 3 * d_inputs * config.width * (config.depth + 1) + 4 * weights
    return 4 * 2 * floats  # ×2 for the allocator's slack and temporaries


def memory_budget(device):
    import torch
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return DEFAULT_MEMORY["cpu"]


def plan_batches(configs, max_runs, budget):
    """Split configs into batches: runs that can share a batch (``batch_key``), at most
    ``max_runs`` and ``budget`` bytes each. Keeps grid order within a batch. Runs the batched
    engine does not cover (``batched.batchable``: other objectives, penalties, images, ...)
    become batches of one, which ``train_sweep`` trains alone with ``train()``."""
    from mixgan.batched import batch_key, batchable
    groups = {}
    alone = [[c] for c in configs if not batchable(c)]
    for c in configs:
        if batchable(c):
            groups.setdefault(batch_key(c), []).append(c)
    batches = alone
    for group in groups.values():
        size = max(1, min(max_runs or len(group), budget // activation_bytes(group[0])))
        batches += [group[i:i + size] for i in range(0, len(group), size)]
    return batches


def run(args):
    if args.resume is not None:
        return resume_sweep(args)
    base = make_config({name: getattr(args, name) for name in FIELDS
                        if name not in GRID_FIELDS and getattr(args, name, None) is not None}, args.config)
    shared = {k: v for k, v in base.to_dict().items() if k not in GRID_FIELDS + ("seed",)}
    data = _list(args.data or "ring,grid", str, "data")
    objectives = _list(args.objectives or "standard,mixup", str, "objectives")
    alphas = _list(args.alpha or str(base.alpha), float, "alpha")
    lambda_dists = _list(args.lambda_dists or base.lambda_dist, str, "lambda-dists")
    seeds = range(base.seed, base.seed + _count(args.seeds or "4", "seeds"))
    max_runs = _count(args.max_runs, "max-runs") if args.max_runs is not None else None
    configs = grid_configs(shared, data, objectives, alphas, lambda_dists, seeds)  # validates every value

    from mixgan.batched import batchable, check_batch
    from mixgan.train import resolve_device
    device = resolve_device(base.device)
    batches = plan_batches(configs, max_runs, memory_budget(device))
    for batch in batches:
        if batchable(batch[0]):
            check_batch(batch)  # refused before any training
    print(f"sweep: {len(configs)} runs in {len(batches)} batches of at most {max(map(len, batches))} runs "
          f"on {device}")
    if args.dry_run:
        for i, batch in enumerate(batches):
            names = sorted({f"{c.data}-{c.objective}" for c in batch})
            print(f"  batch {i}: {len(batch)} runs ({', '.join(names)})")
        return 0
    folder = sweep_folder(base.out)
    print(f"sweep folder: {folder}")
    batches = [[dataclasses.replace(c, out=str(folder)) for c in b] for b in batches]
    from mixgan import runs
    # The whole plan, written first, so that --resume can also start the runs a stop kept from starting.
    runs.atomic_write_json(folder / PLAN, {"max_runs": max_runs, "runs": [c.to_dict() for b in batches for c in b]})
    run_folders = train_sweep(batches, progress=not args.no_progress, sweep=folder)
    return _summarise(folder, run_folders)


def _summarise(folder, run_folders):
    """Write the summary over the finished runs (a failed run's numbers are not results)."""
    from mixgan import status
    from mixgan.sweep_summary import write_summary
    finished = [run for run in run_folders if status.read_status(run)["state"] == "finished"]
    if len(finished) < len(run_folders):
        print(f"mixgan: the summary leaves out {len(run_folders) - len(finished)} unfinished or failed run(s)",
              file=sys.stderr)
    table = write_summary(folder, finished)
    print(table)
    print(f"summary:      {folder / 'summary.md'} (and summary.json)")
    return 0


def resume_sweep(args):
    """``mixgan sweep --resume SWEEP_DIR``: train the unfinished runs of a stopped sweep on from their
    last checkpoints (runs at the same checkpoint that can share a batch are batched again;
    the others go on alone), then write the summary over all its runs."""
    from pathlib import Path

    from mixgan import checkpoints, status
    from mixgan.resume import load_run_config
    given = [name for name in [*FIELDS, "objectives", "lambda_dists", "seeds", "max_runs"]
             if getattr(args, name, None) is not None] + (["config"] if args.config else [])
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} cannot be combined with --resume: a resumed sweep "
                         f"keeps the options its runs were made with")
    folder = Path(args.resume)
    if "\x00" in str(folder) or not folder.is_dir():
        raise UsageError(f"no sweep folder at {folder}")
    try:
        plan = json.loads((folder / PLAN).read_text())
        planned = [make_config(values) for values in plan["runs"]]
    except FileNotFoundError:
        raise UsageError(f"{folder} has no {PLAN} (is it a mixgan sweep folder?)")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{folder / PLAN} is unreadable or damaged ({e})")
    made = {}  # config (as stored) -> run folder, for the runs the sweep got to
    for run in sorted(p for p in folder.iterdir() if (p / "config.json").is_file()):
        made[_key(load_run_config(run))] = run
    todo, new, failed = [], [], []  # unfinished runs (config, folder, checkpoint iteration); never started; failed
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
        found = checkpoints.list_checkpoints(run)
        todo.append((config, run, found[0][0] if found else 0))
    finished = len(planned) - len(todo) - len(new) - len(failed)
    print(f"sweep: {finished} of {len(planned)} runs finished; resuming {len(todo)}, starting {len(new)}")
    if args.dry_run:
        return 0
    from mixgan.batched import batchable, train_batched
    from mixgan.resume import resume
    from mixgan.train import resolve_device
    by_id = {id(c): run for c, run, _ in todo}
    progress = not args.no_progress
    try:
        for at in sorted({it for _, _, it in todo}):
            group = [c for c, _, it in todo if it == at]
            for batch in plan_batches(group, plan.get("max_runs"), memory_budget(resolve_device(group[0].device))):
                if batchable(batch[0]):
                    train_batched(batch, progress=progress, resume=[by_id[id(c)] for c in batch])
                else:
                    resume(by_id[id(batch[0])], progress=progress)
    except RunInterrupted as e:
        raise _resume_the_sweep(e, folder)
    if new:
        train_sweep(plan_batches(new, plan.get("max_runs"), memory_budget(resolve_device(new[0].device))),
                    progress=progress, sweep=folder)
    return _summarise(folder, sorted(p for p in folder.iterdir() if (p / "config.json").is_file()))


def _key(config):
    """A config as a hashable value, to match the plan's runs with the folders made for them."""
    return json.dumps(config.to_dict(), sort_keys=True)


def sweep_folder(out):
    from mixgan import runs
    return runs.create_run_folder(out, "sweep")


def train_sweep(batches, progress=True, sweep=None):
    """Train each batch with the batched engine (or, for runs it does not cover, alone with
    ``train()``); return every run folder. Stopped by Ctrl-C/SIGTERM, it says how to go on:
    ``mixgan sweep --resume`` on the ``sweep`` folder."""
    from mixgan.batched import batchable, train_batched
    from mixgan.train import train
    folders = []
    try:
        for batch in batches:
            if batchable(batch[0]):
                folders += train_batched(batch, progress=progress)
            else:
                folders += [train(c, progress=progress) for c in batch]
    except RunInterrupted as e:
        if sweep is None:
            raise
        raise _resume_the_sweep(e, sweep)
    return folders


def _resume_the_sweep(stop, folder):
    """A run's or batch's interruption, with the command that finishes the whole sweep."""
    return RunInterrupted(f"{stop.message.split('; resume')[0]}; resume with: mixgan sweep --resume {folder}",
                          stop.exit_code)

