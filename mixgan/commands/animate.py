"""``mixgan animate``: PNG frames and a GIF or MP4 of runs side by side, drawn from their saved arrays."""
from mixgan.commands.options import add_allow_unfinished_argument, number, one_line



def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, played side by side")
    parser.add_argument("--format", default="gif", choices=["gif", "mp4"], help="movie format (default: gif)")
    parser.add_argument("--fps", type=number, default=10.0, help="frames per second (default: 10)")
    parser.add_argument("--out", default="outputs", help="folder that receives the numbered animation folder")
    parser.add_argument("--landscape", action="store_true", help="draw D's saved landscape under the points")
    add_allow_unfinished_argument(parser)


def run(args):
    from mixgan.viz.animate import animate
    folder = animate(args.runs, args.out, args.format, args.fps, args.landscape, allow_unfinished=args.allow_unfinished)
    print(one_line(f"animation: {folder / ('animation.' + args.format)} (PNG frames in {folder / 'frames'})"))
    return 0
