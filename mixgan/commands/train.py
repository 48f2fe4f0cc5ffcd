"""``mixgan train``: one run, or ``--resume`` of a stopped one."""
import json

from mixgan.commands.options import (add_config_arguments, add_quiet_argument, add_threads_argument,
                                     config_from_args, one_line, refuse_with_resume)



def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and the estimated time, "
                                                              "and exit")
    add_threads_argument(parser)
    add_quiet_argument(parser)
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder from its last checkpoint "
                        "(its config.json gives every option)")


def run(args):
    if args.resume is not None:
        return _resume(args)
    config = config_from_args(args)
    if args.dry_run:
        from mixgan.experiments.estimate import plan_line, seconds_per_iteration
        from mixgan.training import resolve_device
        import sys
        from mixgan.errors import UsageError
        print(json.dumps(config.to_dict(), indent=2))  # standard output stays JSON, for scripts
        try:
            per_it = seconds_per_iteration(config)
        except UsageError as e:  # e.g. image files not there yet: the options are still worth seeing
            print(one_line(f"train: no time estimate ({e})"), file=sys.stderr)
            return 0
        print(plan_line("train", 1, config.iterations, per_it, 1, resolve_device(config.device)), file=sys.stderr)
        return 0
    from mixgan.data import is_image_dataset
    from mixgan.training import distributed, resolve_device, threads
    from mixgan.training.engines import train_run
    distributed.check_launch(is_image_dataset(config.data), config.mixup_layer)  # before any line is printed
    talk = distributed.launched_rank() == 0  # under torchrun, rank 0 speaks for every process
    if talk and not args.quiet and resolve_device(config.device).type == "cpu":
        print(one_line(f"train: {threads.describe(config)}"))
    folder = train_run(config, progress=not args.quiet)  # a toy run: the batched engine, as a batch of one
    if talk:
        print(one_line(f"run folder: {folder}"))
        print(one_line(f"snapshots:  {folder / 'snapshots'} (iter_NNNNNN.png pictures, .npz arrays)"))
    return 0


def _resume(args):
    """Continue a stopped run; options other than progress ones are refused."""
    refuse_with_resume(args)
    if args.dry_run:
        from mixgan.config import load_run_config
        print(json.dumps(load_run_config(args.resume).to_dict(), indent=2))
        return 0
    from mixgan.training.distributed import launched_rank
    from mixgan.training.resuming import resume
    folder, trained = resume(args.resume, progress=not args.quiet)
    if launched_rank() != 0:  # under torchrun, rank 0 speaks for every process
        return 0
    if not trained:
        print(one_line(f"run {folder} is already finished; nothing to do"))
        return 0
    print(one_line(f"run folder: {folder} (resumed and finished)"))
    return 0
