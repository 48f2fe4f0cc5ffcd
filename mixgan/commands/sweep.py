"""``mixgan sweep``: a grid of runs trained batched, then tabulated; ``--resume`` finishes a stopped one."""
from mixgan.commands.options import (add_config_arguments, add_quiet_argument, add_threads_argument, given_options,
                                     positive_count, refuse_with_resume, seed_list, split_list)

GRID_FIELDS = ("data", "objective", "alpha", "lambda_dist", "seed")  # options that take comma-separated lists here


def add_arguments(parser):
    from mixgan.config import choices
    parser.add_argument("--datasets", metavar="LIST", help=f"comma-separated 2D toy distributions from "
                                                            f"{{{','.join(choices('datasets'))}}} (default: ring,grid)")
    parser.add_argument("--objectives", metavar="LIST", help=f"comma-separated labels from "
                                                              f"{{{','.join(choices('labels'))}}} (default: standard,mixup)")
    parser.add_argument("--alphas", metavar="LIST", help="comma-separated mixup α values (default: 0.2); "
                                                          "objectives without α run once per dataset and seed")
    parser.add_argument("--lambda-dists", metavar="LIST",
                        help=f"comma-separated mixup λ distributions from {{{','.join(choices('lambda_dists'))}}} "
                             "(default: the preset's, else beta)")
    parser.add_argument("--seeds", metavar="LIST", default=None, help="comma-separated seeds (default: 0,1,2,3)")
    parser.add_argument("--max-runs", metavar="R", default=None,
                        help="most runs trained as one batch (default: as many as fit the memory estimate)")
    add_config_arguments(parser, skip=GRID_FIELDS)
    parser.add_argument("--dry-run", action="store_true", help="print the plan (runs, batches, estimated time) and exit")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="finish a stopped sweep: its unfinished runs go on "
                        "from their last checkpoints, batched again where they can be; then the summary is written")
    parser.add_argument("--executor", choices=("in-process", "ray"), default=None, metavar="{in-process,ray}",
                        help="what trains the batches: in-process, one after another in this process (the default), "
                             "or ray, each batch a task on a Ray cluster (pip install 'mixgan[ray]'; docs/SCALING.md)")
    parser.add_argument("--address", metavar="ADDRESS", default=None,
                        help="with --executor ray: the Ray cluster, auto (the one this machine belongs to) or HOST:PORT "
                             "of its head (default: RAY_ADDRESS, else a new Ray on this machine alone)")
    add_threads_argument(parser)
    add_quiet_argument(parser)


def executor(args):
    """The executor ``--executor`` names (None: in-process); Ray's absence is refused here, before any work."""
    from mixgan.errors import UsageError
    if args.executor != "ray":
        if args.address is not None:
            raise UsageError("--address applies to --executor ray only")
        return None
    from mixgan.experiments.ray_sweep import RayExecutor, check_address, import_ray
    import_ray()
    check_address(args.address)
    return RayExecutor(args.address)


def run(args):
    from contextlib import nullcontext
    from mixgan.config import make_config
    from mixgan.experiments import sweep as sweeps
    from mixgan.training import resolve_device
    from mixgan.training.memory import batch_budget
    chosen = executor(args)
    # Ray is joined before anything is made, so that an unreachable cluster is refused first.
    connected = chosen if chosen is not None and not args.dry_run else nullcontext()
    if args.resume is not None:
        refuse_with_resume(args, extra=("datasets", "objectives", "alphas", "lambda_dists", "seeds", "max_runs"),
                           what="sweep")
        with connected:
            sweeps.resume_sweep(args.resume, progress=not args.quiet, dry_run=args.dry_run, executor=chosen)
        return 0
    base = make_config(given_options(args, skip=GRID_FIELDS), args.config)
    shared = {k: v for k, v in base.to_dict().items() if k not in GRID_FIELDS}
    data = split_list(args.datasets or "ring,grid", "--datasets", unique=True)
    objectives = split_list(args.objectives or "standard,mixup", "--objectives", unique=True)
    alphas = split_list(args.alphas or str(base.alpha), "--alphas", float, unique=True)
    lambda_dists = split_list(args.lambda_dists or base.lambda_dist, "--lambda-dists", unique=True)
    seeds = seed_list(args.seeds or "0,1,2,3")
    max_runs = positive_count(args.max_runs, "--max-runs") if args.max_runs is not None else None
    configs = sweeps.grid_configs(shared, data, objectives, alphas, lambda_dists, seeds)  # validates every value
    device = resolve_device(base.device)
    batches = sweeps.plan_batches(configs, max_runs, batch_budget(device))
    sweeps.check_plan(batches)  # refused before any training
    with connected:
        if chosen is not None and not args.dry_run:  # a task no node could run is refused before any work
            chosen.check([(b, None) for b in batches])
        if not args.quiet or args.dry_run:
            from mixgan.experiments.estimate import duration, seconds_per_iteration
            largest = max(batches, key=len)
            per_it = seconds_per_iteration(largest[0], batch=len(largest))
            total = sum(per_it * len(b) / len(largest) * b[0].iterations for b in batches)  # time grows with the runs
            print(f"sweep: {len(configs)} runs in {len(batches)} batches of at most {len(largest)} runs on {device}; "
                  f"timed {per_it * 1000:.1f} ms/iteration for a batch of {len(largest)} → about {duration(total)} "
                  f"of training (snapshot measurements come on top)")
        if args.dry_run:
            print("\n".join(sweeps.describe_plan(configs, batches)))
            return 0
        sweeps.sweep(configs, max_runs, base.out, progress=not args.quiet,
                     log=(lambda *a: None) if args.quiet else print, executor=chosen)
    return 0
