"""``mixgan animate``: PNG frames and a GIF or MP4 of runs side by side, drawn from their saved arrays."""
from mixgan.commands.options import (add_allow_unfinished_argument, add_ema_argument, add_quiet_argument, number,
                                     one_line)


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders or folders of runs, played side by side")
    parser.add_argument("--format", default="gif", choices=["gif", "mp4"], help="movie format (default: gif)")
    parser.add_argument("--fps", type=number, default=10.0, help="frames per second (default: 10)")
    parser.add_argument("--out", default="outputs", metavar="DIR",
                        help="folder that receives the numbered animation folder (default: outputs)")
    parser.add_argument("--no-landscape", action="store_true", help="leave out D's saved landscape (drawn under the "
                                                                    "points when the runs saved one)")
    add_ema_argument(parser)
    add_allow_unfinished_argument(parser)
    add_quiet_argument(parser)


def run(args):
    from mixgan.runs.reader import find_runs
    from mixgan.viz.animate import animate
    log = (lambda *a: None) if args.quiet else print
    folder = animate(find_runs(args.runs, "animate:"), args.out, args.format, args.fps, not args.no_landscape,
                     log=log, allow_unfinished=args.allow_unfinished, ema=args.ema)
    print(one_line(f"animation: {folder / ('animation.' + args.format)} (PNG frames in {folder / 'frames'})"))
    return 0
