"""Reduced-length comparison of mixup with the baseline stabilisers on ring and grid.

Trains every variant of VARIANTS on each dataset for a few seeds with ``mixgan.training.train``,
then scores 2,500 generated points (the final snapshot, drawn from its fixed noise) with
``mixgan.metrics.snapshot_metrics`` against 2,500 fresh real points: modes captured and
high-quality share (VEEGAN / PacGAN protocol, 3σ), reverse KL over modes, energy distance
and the share of points outside the plotting frame. Prints a Markdown table (mean ± standard
error over seeds) and writes every number to ``<out>/results.json``.

    PYTHONPATH=. python scripts/compare_baselines.py --data ring --iterations 500 --width 64 --seeds 0,1,2

Torch is limited to one thread (``--threads``): these networks are too small to gain from
more, and on a shared machine extra threads only contend.
"""
import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mixgan.evaluation import toy_metrics as metrics
from mixgan.runs import folders
from mixgan.config import make_config
from mixgan.errors import UsageError
from mixgan.training import train
from toy_data import DATASETS

# variant -> options on top of the shared ones. Settings not named here are mixgan's
# defaults: Adam 1e-3 (β 0.9, 0.999), 5 D steps, saturating G loss for standard and mixup,
# mixup with λ ~ Beta(0.2, 0.2) and real–fake pairing (the paper's equation).
VARIANTS = {
    "standard": dict(objective="standard"),
    "mixup": dict(objective="mixup"),
    "mixup-layer1": dict(objective="mixup", mixup_layer=1),
    "wgan-gp-toy": dict(objective="wgan-gp", gp_weight=0.1, lr=1e-4, beta1=0.5, beta2=0.9),
    "hinge": dict(objective="hinge"),
    "lsgan": dict(objective="lsgan"),
    "standard-r1": dict(objective="standard", r1=1.0),
    "standard-sn": dict(objective="standard", spectral_norm=True),
}

EVAL_POINTS = 2500
# (metrics key, column heading, scale, decimals)
COLUMNS = [("modes_covered", "modes", 1, 1), ("high_quality_fraction", "% HQ", 100, 1),
           ("reverse_kl", "rev-KL", 1, 2), ("energy_distance", "energy dist.", 1, 3),
           ("outside_frame_fraction", "% outside frame", 100, 0)]


def score(run, data, seed):
    """Sample metrics of the run's final snapshot against fresh real points (seeded per run)."""
    last = sorted((run / "snapshots").glob("iter_*.npz"))[-1]
    with np.load(last) as z:
        fake = z["fake"]
    gen = torch.Generator().manual_seed(10_000 + seed)
    real = DATASETS[data].sample(EVAL_POINTS, gen)
    return metrics.snapshot_metrics(data, fake, real, gen)


def summarise(values):
    """(mean, standard error, runs with a number) of the finite values."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return float(v.mean()), float(se), len(v)


def cell(values, scale, decimals, seeds):
    """``mean ± s.e.``, with ``(k/n)`` when only k of the n runs gave a number (rev-KL has none
    when no point is high quality)."""
    mean, se, n = summarise(values)
    if n == 0:
        return "—"
    text = f"{mean * scale:.{decimals}f}" + ("" if math.isnan(se) else f" ± {se * scale:.{decimals}f}")
    return text + (f" ({n}/{seeds})" if n < seeds else "")


def table(results, data, seeds):
    lines = ["| variant | " + " | ".join(h for _, h, _, _ in COLUMNS) + " | s/run |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for name in VARIANTS:
        rows = [r for r in results if r["variant"] == name and r["data"] == data]
        if not rows:
            continue
        cells = [cell([r["metrics"][k] for r in rows], scale, d, len(rows)) for k, _, scale, d in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean([r['seconds'] for r in rows]):.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ring,grid", help="comma-separated mixtures (default: ring,grid)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names from VARIANTS")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="outputs/compare-baselines")
    args = p.parse_args(argv)
    try:
        datasets, seeds = args.data.split(","), [int(s) for s in args.seeds.split(",")]
        variants = [v.strip() for v in args.variants.split(",")]
        for name in variants:
            if name not in VARIANTS:
                raise UsageError(f"unknown variant {name!r}; choose from: {', '.join(VARIANTS)}")
        for name in datasets:
            if not hasattr(DATASETS.get(name), "centers"):
                raise UsageError(f"{name!r} is not a Gaussian mixture of toy_data (try ring, grid)")
        torch.set_num_threads(args.threads)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        shared = dict(iterations=args.iterations, width=args.width, batch_size=args.batch_size,
                      snapshots=(args.iterations,), snapshot_size=EVAL_POINTS, log_every=args.iterations,
                      out=str(out / "runs"), device="cpu")
        results = []
        for data in datasets:
            for name in variants:
                for seed in seeds:
                    config = make_config({**shared, **VARIANTS[name], "data": data, "seed": seed})
                    start = time.perf_counter()
                    run = train(config, progress=False)
                    seconds = time.perf_counter() - start
                    results.append(dict(variant=name, data=data, seed=seed, run=str(run),
                                        seconds=round(seconds, 2), metrics=score(run, data, seed)))
                    print(f"{data} {name} s{seed}: {seconds:.1f}s", file=sys.stderr, flush=True)
        summary = dict(settings={**shared, "seeds": seeds, "threads": args.threads}, results=results)
        folders.atomic_write_json(out / f"results-{'-'.join(datasets)}.json", summary)
    except (UsageError, ValueError) as e:
        print(f"compare_baselines: error: {e}", file=sys.stderr)
        return 2
    for data in datasets:
        print(f"\n{data} ({args.iterations} iterations, width {args.width}, batch {args.batch_size}, "
              f"seeds {args.seeds})\n")
        print(table(results, data, len(seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
