"""What the generator's weight average (``--ema``) does to mixup on the ring, at a reduced size.

Trains mixup with the figure5 preset on the ring for each ``--ema`` value and seed (the seeds of
one value as one batch, see ``mixgan/training/batched.py``), then prints the snapshot metrics the
runs recorded (``metrics.jsonl``: modes covered, high-quality fraction, reverse KL, energy
distance against fresh real points) of the raw generator and, for ema > 0, of its weight average
(the ``ema_`` keys), as mean ± standard error over seeds. The raw generator does not depend on
``--ema`` (the average only watches it), so the raw rows of every ema value must agree.

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/ema_ring.py --out outputs/ema-ring

Defaults: width 128, 2000 iterations, seeds 0,1,2, ema 0 and 0.999 (a few minutes on one thread).
"""
import argparse
import time
from pathlib import Path

import torch

from mixgan.config import make_config
from mixgan.evaluation.measure import snapshot_records
from mixgan.evaluation.tables import summarize
from mixgan.training import train_batched

METRICS = [("modes_covered", "modes (of 8)", 1, 2), ("high_quality_fraction", "% HQ", 100, 1),
           ("reverse_kl", "reverse KL", 1, 3), ("energy_distance", "energy dist.", 1, 4)]


def cell(values, scale, decimals):
    s = summarize(values)
    if s["mean"] is None:
        return "—"
    text = f"{s['mean'] * scale:.{decimals}f}"
    if s["se"] is not None:
        text += f" ± {s['se'] * scale:.{decimals}f}"
    return text + (f" [{s['n']}/{len(values)}]" if s["missing"] else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="outputs/ema-ring", help="folder for the run folders")
    parser.add_argument("--emas", default="0,0.999", help="comma-separated ema values")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    emas = [float(v) for v in args.emas.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]

    runs = {}
    for ema in emas:
        configs = [make_config(dict(preset="figure5", objective="mixup", data="ring", width=args.width,
                                    iterations=args.iterations, seed=s, ema=ema, device="cpu",
                                    out=str(Path(args.out) / f"ema-{ema}"))) for s in seeds]
        start = time.perf_counter()
        runs[ema] = train_batched(configs, progress=False)
        print(f"ema {ema}: {len(seeds)} seeds trained in {time.perf_counter() - start:.0f} s "
              f"({runs[ema][0].parent})", flush=True)

    records = {ema: [snapshot_records(run) for run in folders] for ema, folders in runs.items()}
    iterations = sorted(set.intersection(*(set(r) for per in records.values() for r in per)))
    print(f"\nmixup, figure5 preset, ring, width {args.width}, {args.iterations} iterations, seeds {args.seeds}: "
          f"snapshot metrics on {make_config(dict(preset='figure5')).snapshot_size} fixed-noise points, "
          f"mean ± standard error over seeds\n")
    print("| iteration | ema | generator | " + " | ".join(name for _, name, _, _ in METRICS) + " |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for it in (i for i in iterations if i >= args.iterations // 2):
        for ema in emas:
            kinds = [("raw", "")] + ([("average", "ema_")] if ema else [])
            for label, prefix in kinds:
                cells = [cell([r[it].get(prefix + key) for r in records[ema]], scale, dec)
                         for key, _, scale, dec in METRICS]
                print(f"| {it} | {ema:g} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
