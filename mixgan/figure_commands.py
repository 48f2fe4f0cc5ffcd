"""Command-line glue for the figure commands (``figure5``, ``plot``, ``animate``): arguments and
what each runs. Plotting modules are imported only when a command runs, so ``--help`` stays fast."""
import argparse

from mixgan.status import add_allow_unfinished_argument


def _count(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0, got {value}")  # argparse adds the option name
        return value
    return parse


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")


def add_figure5(parser):
    parser.add_argument("--seed", type=_count("seed"), default=0, help="seed of all four runs (default: 0)")
    parser.add_argument("--device", default="auto", metavar="{auto,cpu,cuda}",
                        help="auto (cuda when present), cpu or cuda (default: auto)")
    parser.add_argument("--out", default="outputs", help="folder that receives the numbered figure folder")
    parser.add_argument("--alpha", type=_number, default=None, help="mixup α, λ ~ U(0, α) (default: 0.2, the paper's)")
    parser.add_argument("--quick", nargs="?", const="on", default="off", choices=["on", "off", "auto"],
                        help="reduced setting for machines without a GPU (see docs/FIGURES.md); "
                             "'auto': quick unless a CUDA GPU is present")
    parser.add_argument("--frames", type=_count("frames"), default=0,
                        help="also save N log-spaced animation frames per run (for mixgan animate)")
    parser.add_argument("--landscape", type=_count("landscape"), default=0, metavar="N",
                        help="save D's probability on an N × N grid and draw it under the points")
    parser.add_argument("--from", dest="from_runs", nargs="+", metavar="RUN_DIR",
                        help="redraw from four finished runs (grid/ring × standard/mixup) without training")
    add_allow_unfinished_argument(parser)


def run_figure5(args):
    from mixgan.figure5 import make_figure5
    group = make_figure5(seed=args.seed, device=args.device, out=args.out, alpha=args.alpha, quick=args.quick,
                         from_runs=args.from_runs, frames=args.frames, landscape=args.landscape,
                         allow_unfinished=args.allow_unfinished)
    print(f"figure: {group / 'figure5.png'} (and figure5.pdf)")
    return 0


def add_plot(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, one row each")
    parser.add_argument("--out", required=True, metavar="FILE", help="picture to write (.png, .pdf or .svg)")
    parser.add_argument("--iterations", metavar="LIST", help="comma-separated snapshot iterations (default: all shared)")
    parser.add_argument("--title", help="title above the grid")
    parser.add_argument("--landscape", action="store_true", help="draw D's saved landscape under the points")
    add_allow_unfinished_argument(parser)


def run_plot(args):
    from pathlib import Path

    from mixgan.errors import UsageError
    from mixgan.figures import draw_run_grid, load_run
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise UsageError(f"--out must end in .png, .pdf or .svg, got {args.out}")
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    try:
        iterations = tuple(int(v) for v in args.iterations.split(",") if v.strip()) if args.iterations else None
    except ValueError:
        raise UsageError(f"--iterations expects comma-separated whole numbers, got {args.iterations!r}")
    shown = draw_run_grid([load_run(p, args.allow_unfinished) for p in args.runs], out, iterations, args.landscape, args.title)
    print(f"figure: {out} ({len(args.runs)} runs × iterations {', '.join(map(str, shown))})")
    return 0


def add_animate(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, played side by side")
    parser.add_argument("--format", default="gif", choices=["gif", "mp4"], help="movie format (default: gif)")
    parser.add_argument("--fps", type=_number, default=10.0, help="frames per second (default: 10)")
    parser.add_argument("--out", default="outputs", help="folder that receives the numbered animation folder")
    parser.add_argument("--landscape", action="store_true", help="draw D's saved landscape under the points")
    add_allow_unfinished_argument(parser)


def run_animate(args):
    from mixgan.animate import animate
    folder = animate(args.runs, args.out, args.format, args.fps, args.landscape, allow_unfinished=args.allow_unfinished)
    print(f"animation: {folder / ('animation.' + args.format)} (PNG frames in {folder / 'frames'})")
    return 0
