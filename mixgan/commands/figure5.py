"""``mixgan figure5``: train the four runs of the paper's Figure 5 and draw it, or redraw it from runs."""
from mixgan.commands.options import add_allow_unfinished_argument, at_least_zero, number, one_line



def add_arguments(parser):
    parser.add_argument("--seed", type=at_least_zero("seed"), default=0, help="seed of all four runs (default: 0)")
    parser.add_argument("--device", default="auto", metavar="{auto,cpu,cuda}",
                        help="auto (cuda when present), cpu or cuda (default: auto)")
    parser.add_argument("--out", default="outputs", help="folder that receives the numbered figure folder")
    parser.add_argument("--alpha", type=number, default=None, help="mixup α, λ ~ U(0, α) (default: 0.2, the paper's)")
    parser.add_argument("--quick", nargs="?", const="on", default="off", choices=["on", "off", "auto"],
                        help="reduced setting for machines without a GPU (see docs/FIGURES.md); "
                             "'auto': quick unless a CUDA GPU is present")
    parser.add_argument("--frames", type=at_least_zero("frames"), default=0,
                        help="also save N log-spaced animation frames per run (for mixgan animate)")
    parser.add_argument("--landscape", type=at_least_zero("landscape"), default=0, metavar="N",
                        help="save D's probability on an N × N grid and draw it under the points")
    parser.add_argument("--from", dest="from_runs", nargs="+", metavar="RUN_DIR",
                        help="redraw from four finished runs (grid/ring × standard/mixup) without training")
    add_allow_unfinished_argument(parser)


def run(args):
    from mixgan.experiments.figure5 import make_figure5
    group = make_figure5(seed=args.seed, device=args.device, out=args.out, alpha=args.alpha, quick=args.quick,
                         from_runs=args.from_runs, frames=args.frames, landscape=args.landscape,
                         allow_unfinished=args.allow_unfinished)
    print(one_line(f"figure: {group / 'figure5.png'} (and figure5.pdf)"))
    return 0
