"""``mixgan compare``: train runs over objectives × datasets × seeds in one numbered folder and
tabulate them; ``--resume`` finishes a stopped comparison; ``--from`` re-tabulates finished runs."""
from mixgan.commands.options import (add_config_arguments, add_quiet_argument, add_threads_argument, given_options,
                                     one_line, path_list, positive_count, refuse_with_resume, seed_list, split_list,
                                     whole_number)
from mixgan.errors import UsageError

_RUN_ONLY = ("objective", "data", "seed")  # set by compare per run, so not options of its own
DEFAULT_SEEDS = "0,1,2,3,4,5,6,7,8,9"


def add_arguments(parser):
    from mixgan.config import VARIANTS, choices
    from mixgan.experiments.compare import PROTOCOL_SAMPLES
    parser.add_argument("--objectives", metavar="LIST",
                        help=f"comma-separated labels from {{{','.join(choices('labels'))}}}: objectives or variants "
                             f"({', '.join(VARIANTS)}); default standard,mixup (with --from: every label found)")
    parser.add_argument("--datasets", metavar="LIST",
                        help=f"comma-separated datasets from {{{','.join(choices('datasets'))}}} or folder:PATH; "
                             "default ring,grid (with --from: every dataset found)")
    parser.add_argument("--seeds", metavar="LIST", default=None,
                        help=f"comma-separated seeds, one run per seed, dataset and label (default {DEFAULT_SEEDS}; "
                             "with --from: every seed found)")
    parser.add_argument("--jobs", type=whole_number, default=None,
                        help="runs trained in parallel processes (default 1; with --resume, the stopped comparison's)")
    parser.add_argument("--from", dest="from_paths", metavar="PATHS",
                        help="re-tabulate finished runs instead of training: comma-separated run folders or "
                             "folders of runs; the tables go to a new numbered folder under --out. Mixup runs "
                             "whose alpha, lambda distribution or pairing differ are labelled apart "
                             "('mixup α=0.1'); runs differing in any other setting are refused")
    parser.add_argument("--resume", metavar="COMPARE_DIR",
                        help="finish a stopped comparison: its unfinished runs go on from their checkpoints, "
                             "then its tables are written")
    add_config_arguments(parser, skip=_RUN_ONLY, defaults={"snapshot_size": PROTOCOL_SAMPLES})
    parser.add_argument("--dry-run", action="store_true", help="print the plan (runs, iterations, estimated time) "
                                                              "and exit")
    add_threads_argument(parser)
    add_quiet_argument(parser)


def run(args):
    from mixgan.config import choices, label_overrides
    from mixgan.data import dataset_names, is_known_dataset
    from mixgan.experiments import compare as comparisons
    log = (lambda *a: None) if args.quiet else print
    if args.resume is not None:
        refuse_with_resume(args, extra=("objectives", "datasets", "seeds", "from_paths"), what="comparison")
        if args.dry_run:
            plan = comparisons.read_plan(args.resume)
            print(f"compare: {len(plan['runs'])} runs planned in {args.resume}")
            return 0
        jobs = positive_count(args.jobs, "--jobs") if args.jobs is not None else None
        folder = comparisons.resume_compare(args.resume, jobs=jobs, log=log, progress=not args.quiet)
        print(one_line(f"comparison folder: {folder}"))
        return 0
    default = args.from_paths is None  # with --from, names given act as filters
    labels = split_list(args.objectives or ("standard,mixup" if default else ",".join(choices("labels"))),
                        "--objectives", unique=True)
    datasets = split_list(args.datasets, "--datasets", unique=True) if args.datasets else (
        ["ring", "grid"] if default else None)
    for label in labels:
        label_overrides(label)
    for d in datasets or ():
        if not is_known_dataset(d):
            raise UsageError(f"unknown dataset {d!r}; choose from: {', '.join(dataset_names())}")
    seeds = seed_list(args.seeds) if args.seeds is not None else None
    jobs = positive_count(args.jobs if args.jobs is not None else 1, "--jobs")
    overrides = given_options(args, skip=_RUN_ONLY)
    if args.from_paths:
        given = sorted(set(overrides) - {"out"}) + (["--config"] if args.config else [])
        if given:
            raise UsageError(f"--from re-tabulates finished runs; training option {given[0]!r} does not apply")
        paths = path_list(args.from_paths, "--from")
        keyed = comparisons.runs_in(paths, labels, datasets, seeds)
        if args.dry_run:
            print(f"compare: would tabulate {len(keyed)} finished runs into a new folder under "
                  f"{overrides.get('out', 'outputs')}")
            return 0
        folder = comparisons.tabulate_runs(keyed, overrides.get("out", "outputs"), log, {"from": paths})
    else:
        # The VEEGAN / PacGAN protocol evaluates 2,500 samples; the snapshot size is that count unless given.
        overrides.setdefault("snapshot_size", comparisons.PROTOCOL_SAMPLES)
        configs = comparisons.plan_runs(labels, datasets, seeds or seed_list(DEFAULT_SEEDS), overrides, args.config)
        if not args.quiet or args.dry_run:
            print(plan_line(configs, jobs))
        if args.dry_run:
            return 0
        folder = comparisons.compare(configs, jobs, log=log, meta={"overrides": overrides},
                                     progress=not args.quiet)
    print(one_line(f"comparison folder: {folder}"))
    return 0


def plan_line(configs, jobs):
    """The plan: runs, iterations and the time they should take here, from a short timing."""
    from mixgan.experiments.estimate import plan_line as line, seconds_per_iteration
    from mixgan.experiments.workers import cpu_cores
    from mixgan.training import resolve_device
    device = resolve_device(configs[0].device)
    workers = min(jobs, len(configs))
    from mixgan.training import threads
    share = max(1, cpu_cores() // jobs)
    per_it = seconds_per_iteration(configs[0], threads=share)
    with threads.capped(share):
        chosen = threads.describe(configs[0])
    return line("compare", len(configs), max(c.iterations for c in configs), per_it, workers, device) + f"; {chosen}"
