"""How far one seeded toy run drifts when only the float rounding of its arithmetic changes.

Trains the same run (same options, same seed, same random streams) several ways with the batched
engine, the engine ``mixgan train``, ``compare`` and ``figure5`` use for toy data:

- alone with one thread (the reference), and again the same way: on one machine this must be
  bitwise the reference;
- alone with ``--threads`` threads;
- inside batches of ``--batches`` runs, beside the other dataset at the same seed and then both
  datasets at the next seeds (a run's numbers depend in the last bits on how many runs share
  its batch);
- with ``--against RUN``, also a run folder trained elsewhere (another machine, another torch)
  with the same options: its snapshots are compared as they are, nothing is retrained.

For each, at every snapshot iteration, it prints the largest difference of the generated points
(the fixed-noise snapshot) from the reference, and the modes covered (``metrics.jsonl``).

    PYTHONPATH=. python scripts/rounding_drift.py --out outputs/drift \\
        --against outputs/alpha-s2/00004-compare/00000-ring-mixup-s2

Defaults: mixup α = 0.2 on the ring, seed 2, the figure5 preset at width 512, 1,000 iterations,
snapshots at 10, 100 and 1,000 of 2,500 points; with ``--against`` the options are the run's.
"""
import sys
import time
from pathlib import Path

import numpy as np

from mixgan.commands.options import Parser, number, one_line, whole_number, whole_numbers
from mixgan.config import load_run_config, make_config
from mixgan.errors import RunFailed, RunInterrupted, UsageError
from mixgan.evaluation.measure import snapshot_records
from mixgan.runs import snapshots
from mixgan.training import threads, train_batched

DATASETS = ("ring", "grid")


def companions(data, seed, count):
    """``count`` (dataset, seed) pairs to share a batch with ``(data, seed)``: the other toy dataset
    at the same seed, then both at the next seeds."""
    family = [data] + [d for d in DATASETS if d != data and data in DATASETS]
    return [(d, s) for s in range(seed, seed + count + 1) for d in family][1:count + 1]


def train_way(base, out, runs_in_batch, n_threads):
    """Train ``base`` in a batch of ``runs_in_batch`` runs with ``n_threads`` threads; its folder."""
    threads.request(n_threads)
    configs = [make_config({**base.to_dict(), "data": d, "seed": s, "out": str(out)})
               for d, s in [(base.data, base.seed)] + companions(base.data, base.seed, runs_in_batch - 1)]
    start = time.perf_counter()
    folder = train_batched(configs, progress=False)[0]
    print(f"  trained in {time.perf_counter() - start:.0f} s: {folder}", file=sys.stderr, flush=True)
    return folder


def row(name, folder, reference, iterations):
    """One table row: per iteration, the largest difference of ``folder``'s snapshot points from
    ``reference``'s (a dict of arrays by iteration) and its modes covered."""
    records = snapshot_records(folder)
    cells = []
    for it in iterations:
        fake = snapshots.load(folder, "snapshots", it)["fake"]
        if fake.shape != reference[it].shape:
            raise UsageError(f"{folder}: {fake.shape[0]} snapshot points at iteration {it}, "
                             f"the reference has {reference[it].shape[0]}")
        modes = records.get(it, {}).get("modes_covered")
        cells.append(f"{np.abs(fake - reference[it]).max():.3g} ({'—' if modes is None else modes})")
    return f"| {name} | " + " | ".join(cells) + " |"


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="outputs/drift", help="parent folder of the trained runs")
    parser.add_argument("--against", type=Path, help="a finished run folder trained elsewhere")
    parser.add_argument("--objective", default="mixup")
    parser.add_argument("--data", default="ring")
    parser.add_argument("--alpha", type=number, default=0.2)
    parser.add_argument("--seed", type=whole_number, default=2)
    parser.add_argument("--width", type=whole_number, default=512)
    parser.add_argument("--iterations", type=whole_number, default=1000)
    parser.add_argument("--snapshots", type=whole_numbers, default=(10, 100, 1000), help="comma-separated iterations")
    parser.add_argument("--snapshot-size", type=whole_number, default=2500,
                        help="points per snapshot (with --against: the run's)")
    parser.add_argument("--threads", type=whole_number, default=2, help="threads of the many-thread way")
    parser.add_argument("--batches", type=whole_numbers, default=(2, 6), help="comma-separated batch sizes")
    try:
        return run(parser.parse_args(argv))
    except (UsageError, OSError) as e:
        print(one_line(f"rounding_drift: {e}"), file=sys.stderr)
        return 2
    except (RunInterrupted, RunFailed) as e:  # the way being trained is checkpointed and says how to resume
        print(one_line(f"rounding_drift: {e.message}"), file=sys.stderr)
        return e.exit_code


def run(args):
    """Train the ways, print the table; 0, or :class:`UsageError` for bad input."""
    iterations, batches = args.snapshots, args.batches
    if not iterations or max(iterations) > args.iterations or not batches or min(batches) < 2 or args.threads < 1:
        raise UsageError("--snapshots must be iterations up to --iterations, --batches sizes of 2 or more, "
                         "--threads >= 1")
    shared = dict(iterations=args.iterations, snapshots=iterations, frames=0, landscape=0, device="cpu")
    asked = threads.requested()
    try:
        if args.against:
            stored = load_run_config(args.against)
            missing = [it for it in iterations if not snapshots.path(args.against, "snapshots", it).is_file()]
            if missing:
                raise UsageError(f"{args.against} has no snapshot at iteration {missing[0]}")
            base = make_config({**stored.to_dict(), **shared, "tensorboard": False})
        else:
            base = make_config(dict(preset="figure5", objective=args.objective, data=args.data, alpha=args.alpha,
                                    seed=args.seed, width=args.width, snapshot_size=args.snapshot_size, **shared))
        out = Path(args.out)
        ways = [("alone, 1 thread", 1, 1), ("alone, 1 thread, again", 1, 1),
                (f"alone, {args.threads} threads", 1, args.threads)]
        ways += [(f"in a batch of {r}, 1 thread", r, 1) for r in batches]
        folders = [(name, train_way(base, out / f"way{i}", r, t)) for i, (name, r, t) in enumerate(ways)]
        if args.against:
            folders.append((f"trained elsewhere ({args.against})", args.against))
        reference = {it: snapshots.load(folders[0][1], "snapshots", it)["fake"] for it in iterations}
        print(f"{base.objective} α={base.alpha:g} on {base.data}, seed {base.seed}, width {base.width}, "
              f"preset {base.preset}: largest |difference| of the {base.snapshot_size} snapshot points from "
              f"the first row (modes covered)\n")
        print("| trained | " + " | ".join(f"iteration {it}" for it in iterations) + " |")
        print("|---|" + "---:|" * len(iterations))
        for name, folder in folders:
            print(row(name, folder, reference, iterations))
    finally:
        threads.request(asked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
