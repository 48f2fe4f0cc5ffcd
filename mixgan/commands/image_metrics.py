"""``mixgan image-metrics RUN...``: the offline image metrics of every snapshot of image runs, as a table."""
import json
import math
import sys

from mixgan.commands.options import add_device_argument, add_quiet_argument, one_line

COLUMNS = ("iteration", "classes_covered", "classes_total", "class_kl", "classifier_fd", "fid")


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders or folders of runs (image runs)")
    parser.add_argument("--fid", action="store_true",
                        help="also FID (needs torchmetrics, torch-fidelity and Inception weights on this machine)")
    add_device_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per snapshot instead of a table")
    add_quiet_argument(parser)


def _show(value):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def run(args):
    from mixgan.evaluation.image_metrics import run_image_metrics  # imported here: it loads torch, and the CLI starts without
    from mixgan.training import resolve_device
    device = resolve_device(args.device)
    from mixgan.runs.reader import find_runs
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))  # noqa: E731
    for run in find_runs(args.runs, "image-metrics:"):
        rows = run_image_metrics(run, fid=args.fid, device=device, progress=say)
        if args.json:
            for row in rows:
                print(json.dumps({"run": str(run), **row}))
            continue
        columns = [c for c in COLUMNS if c in rows[0]]
        print(one_line(f"{run}  (classifier test accuracy {rows[0]['classifier_test_accuracy']:.3f})"))
        table = [columns] + [[_show(r[c]) for c in columns] for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            print("  " + "  ".join(v.rjust(w) for v, w in zip(line, widths)))
    return 0
