"""``mixgan figure5``: train the four runs of the paper's Figure 5 and draw it, or redraw it from runs."""
from mixgan.commands.options import (add_allow_unfinished_argument, add_device_argument, add_quiet_argument,
                                     add_threads_argument, at_least_zero, number, one_line, path_list, seed_list)
from mixgan.errors import UsageError


def add_arguments(parser):
    parser.add_argument("--seeds", metavar="LIST", default="0",
                        help="comma-separated seeds: train the four runs of each (ERM's runs in one batch, mixup's "
                             "in another) and draw one figure per seed, figure5.png the first seed's; with --from, "
                             "the one seed whose runs to pick from folders of runs (default: 0)")
    add_device_argument(parser)
    parser.add_argument("--out", default="outputs", help="folder that receives the numbered figure folder")
    parser.add_argument("--alpha", type=number, default=None, help="mixup α, λ ~ U(0, α) (default: 0.2, the paper's)")
    parser.add_argument("--quick", nargs="?", const="on", default="off", choices=["on", "off", "auto"],
                        help="reduced setting for machines without a GPU (see docs/FIGURES.md); "
                             "'auto': quick unless a CUDA GPU is present")
    parser.add_argument("--frames", type=at_least_zero("frames"), default=0,
                        help="also save N log-spaced animation frames per run (for mixgan animate)")
    parser.add_argument("--landscape", type=at_least_zero("landscape"), default=0, metavar="N",
                        help="save D's probability on an N × N grid and draw it under the points")
    parser.add_argument("--from", dest="from_paths", metavar="PATHS",
                        help="redraw without training, from comma-separated run folders or folders of runs holding "
                             "grid/ring × standard/mixup (from a folder of runs, those of the one seed in --seeds)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (runs, iterations, estimated time) "
                                                              "and exit")
    add_allow_unfinished_argument(parser)
    add_threads_argument(parser)
    add_quiet_argument(parser)


def run(args):
    from mixgan.experiments.figure5 import make_figure5
    from_paths = path_list(args.from_paths, "--from") if args.from_paths else None
    seeds = seed_list(args.seeds)
    if from_paths and len(seeds) > 1:
        raise UsageError(f"--from redraws one seed's figure: give one seed in --seeds, not {args.seeds}")
    group = make_figure5(seed=seeds[0], seeds=seeds, device=args.device, out=args.out, alpha=args.alpha, quick=args.quick,
                         from_runs=from_paths, frames=args.frames, landscape=args.landscape,
                         allow_unfinished=args.allow_unfinished, log=(lambda *a: None) if args.quiet else print,
                         dry_run=args.dry_run, progress=not args.quiet)
    if group is not None:
        print(one_line(f"figure: {group / 'figure5.png'} (and figure5.pdf)"))
    return 0
