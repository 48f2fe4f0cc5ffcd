"""``mixgan sweep``: a grid of runs trained batched, then tabulated; ``--resume`` finishes a stopped one."""
from mixgan.commands.options import add_config_arguments, given_options, positive_count, refuse_with_resume, split_list

GRID_FIELDS = ("data", "objective", "alpha", "lambda_dist")  # options that take comma-separated lists here


def add_arguments(parser):
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


def run(args):
    from mixgan.config import make_config
    from mixgan.experiments import sweep as sweeps
    from mixgan.training import resolve_device
    from mixgan.training.memory import batch_budget
    if args.resume is not None:
        refuse_with_resume(args, extra=("objectives", "lambda_dists", "seeds", "max_runs"), what="sweep")
        sweeps.resume_sweep(args.resume, progress=not args.no_progress, dry_run=args.dry_run)
        return 0
    base = make_config(given_options(args, skip=GRID_FIELDS), args.config)
    shared = {k: v for k, v in base.to_dict().items() if k not in GRID_FIELDS + ("seed",)}
    data = split_list(args.data or "ring,grid", "--data")
    objectives = split_list(args.objectives or "standard,mixup", "--objectives")
    alphas = split_list(args.alpha or str(base.alpha), "--alpha", float)
    lambda_dists = split_list(args.lambda_dists or base.lambda_dist, "--lambda-dists")
    seeds = range(base.seed, base.seed + positive_count(args.seeds or "4", "--seeds"))
    max_runs = positive_count(args.max_runs, "--max-runs") if args.max_runs is not None else None
    configs = sweeps.grid_configs(shared, data, objectives, alphas, lambda_dists, seeds)  # validates every value
    device = resolve_device(base.device)
    batches = sweeps.plan_batches(configs, max_runs, batch_budget(device))
    sweeps.check_plan(batches)  # refused before any training
    print(f"sweep: {len(configs)} runs in {len(batches)} batches of at most {max(map(len, batches))} runs "
          f"on {device}")
    if args.dry_run:
        print("\n".join(sweeps.describe_plan(configs, batches)))
        return 0
    sweeps.sweep(configs, max_runs, base.out, progress=not args.no_progress)
    return 0
