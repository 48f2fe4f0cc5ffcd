"""``mixgan plot``: runs (rows) at their snapshot iterations (columns), drawn from their saved arrays."""
from pathlib import Path

from mixgan.commands.options import add_allow_unfinished_argument, one_line, split_list
from mixgan.errors import UsageError



def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, one row each")
    parser.add_argument("--out", required=True, metavar="FILE", help="picture to write (.png, .pdf or .svg)")
    parser.add_argument("--iterations", metavar="LIST", help="comma-separated snapshot iterations (default: all shared)")
    parser.add_argument("--title", help="title above the grid")
    parser.add_argument("--landscape", action="store_true", help="draw D's saved landscape under the points")
    add_allow_unfinished_argument(parser)


def run(args):
    from mixgan.viz.figures import draw_run_grid, load_run
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise UsageError(f"--out must end in .png, .pdf or .svg, got {args.out}")
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    iterations = tuple(split_list(args.iterations, "--iterations", int)) if args.iterations else None
    shown = draw_run_grid([load_run(p, args.allow_unfinished) for p in args.runs], out, iterations, args.landscape, args.title)
    print(one_line(f"figure: {out} ({len(args.runs)} runs × iterations {', '.join(map(str, shown))})"))
    return 0
