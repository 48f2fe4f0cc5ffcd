"""``mixgan plot``: runs (rows) at their snapshot iterations (columns), drawn from their saved arrays
into a new numbered folder (``plot.png`` and ``plot.pdf``)."""
from mixgan.commands.options import (add_allow_unfinished_argument, add_ema_argument, add_quiet_argument, one_line,
                                     split_list)


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders or folders of runs, one row per run")
    parser.add_argument("--out", default="outputs", metavar="DIR",
                        help="folder that receives the numbered plot folder (default: outputs)")
    parser.add_argument("--snapshots", metavar="LIST", help="comma-separated snapshot iterations (default: all shared)")
    parser.add_argument("--title", help="title above the grid")
    parser.add_argument("--no-landscape", action="store_true", help="leave out D's saved landscape (drawn under the "
                                                                    "points when the runs saved one)")
    add_ema_argument(parser)
    add_allow_unfinished_argument(parser)
    add_quiet_argument(parser)


def run(args):
    from mixgan.runs import folders
    from mixgan.runs.reader import find_runs
    from mixgan.viz.figures import load_run, run_grid_figure, save_both
    iterations = tuple(split_list(args.snapshots, "--snapshots", int)) if args.snapshots else None
    run_list = [load_run(p, args.allow_unfinished, args.ema) for p in find_runs(args.runs, "plot:")]
    # Drawn before the folder is made: unreadable runs leave nothing behind.
    fig, shown = run_grid_figure(run_list, iterations, not args.no_landscape, args.title)
    folder = folders.create_run_folder(args.out, "plot")
    try:
        save_both(fig, [folder / "plot.png", folder / "plot.pdf"])
    except OSError:  # a full disk: no half-written plot folder is left behind
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
        raise
    print(one_line(f"figure: {folder / 'plot.png'} (and plot.pdf; {len(run_list)} runs × iterations "
                   f"{', '.join(map(str, shown))})"))
    return 0
