"""``mixgan compare``: train (or reuse) runs over objectives × datasets × seeds and tabulate them,
or re-tabulate finished runs with ``--from``."""
from mixgan.commands.options import (add_config_arguments, given_options, one_line, positive_count, split_list,
                                     whole_number)
from mixgan.errors import UsageError

_RUN_ONLY = ("objective", "data", "seed")  # set by compare per run, so not options of its own


def add_arguments(parser):
    from mixgan.config import VARIANTS
    parser.add_argument("--objectives", help=f"comma-separated labels: objectives or variants ({', '.join(VARIANTS)}); "
                                              "default standard,mixup (with --from: every label found)")
    parser.add_argument("--data", dest="datasets",
                        help="comma-separated datasets; default ring,grid (with --from: every dataset found)")
    parser.add_argument("--seeds", type=whole_number, default=None,
                        help="seeds 0..N-1 per dataset and label (default 10; with --from: every seed found)")
    parser.add_argument("--jobs", type=whole_number, default=1, help="runs trained in parallel processes (default 1)")
    parser.add_argument("--from", dest="from_dir", metavar="DIR",
                        help="re-tabulate the finished runs in DIR instead of training")
    add_config_arguments(parser, skip=_RUN_ONLY)
    parser.add_argument("--no-progress", action="store_true", help="print nothing but the result folder")


def run(args):
    from mixgan.config import choices, label_overrides
    from mixgan.data import dataset_names, is_known_dataset
    from mixgan.experiments.compare import PROTOCOL_SAMPLES, compare, plan_runs, runs_in_folder, tabulate_runs
    log = (lambda *a: None) if args.no_progress else print
    default = args.from_dir is None  # with --from, names given act as filters
    labels = split_list(args.objectives or ("standard,mixup" if default else ",".join(choices("labels"))),
                        "--objectives", unique=True)
    datasets = split_list(args.datasets, "--data", unique=True) if args.datasets else (["ring", "grid"] if default else None)
    for label in labels:
        label_overrides(label)
    for d in datasets or ():
        if not is_known_dataset(d):
            raise UsageError(f"unknown dataset {d!r}; choose from: {', '.join(dataset_names())}")
    if args.seeds is not None:
        positive_count(args.seeds, "--seeds")
    positive_count(args.jobs, "--jobs")
    overrides = given_options(args, skip=_RUN_ONLY)
    if args.from_dir:
        given = sorted(set(overrides) - {"out"}) + (["--config"] if args.config else [])
        if given:
            raise UsageError(f"--from re-tabulates finished runs; training option {given[0]!r} does not apply")
        keyed = runs_in_folder(args.from_dir, labels, datasets, args.seeds)
        folder = tabulate_runs(keyed, overrides.get("out", args.from_dir), log, {"from": args.from_dir})
    else:
        # The VEEGAN / PacGAN protocol evaluates 2,500 samples; the snapshot size is that count unless given.
        overrides.setdefault("snapshot_size", PROTOCOL_SAMPLES)
        configs = plan_runs(labels, datasets, range(args.seeds or 10), overrides, args.config)
        folder = compare(configs, args.jobs, log=log, meta={"overrides": overrides})
    print(one_line(f"comparison folder: {folder}"))
    return 0
