"""``mixgan sample``: new samples from a trained run's generator, saved as arrays or a picture."""
from pathlib import Path

from mixgan.commands.options import (add_device_argument, add_ema_argument, at_least_zero, one_line, positive_count,
                                     whole_number)
from mixgan.errors import UsageError

MAX_SAMPLES = 1_000_000


def add_arguments(parser):
    parser.add_argument("run", metavar="RUN_DIR", help="a finished run folder")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="where to save: .npz (the samples as array 'fake') or .png (a picture); never overwritten")
    parser.add_argument("--n", type=whole_number, default=1000, help="samples to draw (default: 1000)")
    parser.add_argument("--seed", type=at_least_zero("seed"), default=0, help="seed of the noise (default: 0)")
    parser.add_argument("--iteration", type=whole_number, default=None,
                        help="use the weights of the checkpoint kept at this iteration (default: the final weights)")
    add_device_argument(parser)
    add_ema_argument(parser)


def run(args):
    out = Path(args.out)
    if out.suffix.lower() not in (".npz", ".png"):
        raise UsageError(f"--out must end in .npz or .png, got {args.out}")
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    if out.exists():
        raise UsageError(f"{out} exists already; sample never overwrites a file")
    n = positive_count(args.n, "--n")
    if n > MAX_SAMPLES:
        raise UsageError(f"--n = {n} is beyond the supported maximum of {MAX_SAMPLES}")
    from mixgan.evaluation.sampling import sample
    from mixgan.runs import folders
    from mixgan.runs.reader import load_run
    from mixgan.training import resolve_device
    opened = load_run(args.run)
    samples = sample(opened, n=n, seed=args.seed, iteration=args.iteration, device=str(resolve_device(args.device)),
                     ema=args.ema)
    try:
        if out.suffix.lower() == ".npz":
            folders.atomic_save_npz(out, overwrite=False, fake=samples)
        else:
            from mixgan.viz.plots import draw_samples
            shown = opened.iterations()
            draw_samples(samples, opened.arrays(shown[-1])["real"], out, overwrite=False,
                         title=f"{opened.config['objective']} · {opened.config['data']} · {n} samples"
                         + (" · weight average" if args.ema else ""))
    except FileExistsError:
        raise UsageError(f"{out} exists already; sample never overwrites a file")
    print(one_line(f"samples: {out} ({n} from {'the weight average of ' if args.ema else ''}{opened.path})"))
    return 0
