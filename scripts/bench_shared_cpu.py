"""Training speed on a shared CPU: a run alone, and beside busy processes, with mixgan's thread
policy, with one thread, and with torch's default (one thread per core).

For each width it trains the same short run (the figure5 preset's batch and D steps) through the
real command, ``mixgan train``, and reads the training time from the run's metrics.jsonl (start-up
and snapshot measurements excluded). "Busy" processes spin on one core each, as a second training,
a notebook or a browser would. It prints ms/iteration for every case and the two ratios the thread
policy is judged by: policy beside load over one thread beside load (goal: at most 1.5), and policy
beside load over policy alone (goal: at most 3, since a fair share of two cores is 2).

    python scripts/bench_shared_cpu.py                       # widths 32, 128, 512, two busy processes
    python scripts/bench_shared_cpu.py --widths 32 --busy 3

Look at ``uptime`` first: other work on the machine changes every figure. The script prints the
CPU model, its vector extensions and the load average beside the figures.
"""
import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ITERATIONS = {32: 300, 64: 300, 128: 200, 256: 100, 512: 60}


def spin():
    os.nice(0)
    while True:
        pass


def ms_per_iteration(width, threads, out):
    """Train one short run with ``threads`` (None: the policy; "default": torch's own) and return
    its training ms/iteration, from the first logged iteration to the last."""
    n = ITERATIONS.get(width, 100)
    cmd = [sys.executable, "-m", "mixgan", "train", "--preset", "figure5", "--data", "ring", "--width", str(width),
           "--iterations", str(n), "--snapshots", str(n), "--snapshot-size", "100", "--log-every", str(n // 4),
           "--checkpoint-every", str(10 * n), "--device", "cpu", "--out", str(out), "--quiet"]
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads == "default":
        # torch's own choice: one thread per core, as before the thread policy
        cmd += ["--threads", str(os.cpu_count())]
    elif threads is not None:
        cmd += ["--threads", str(threads)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    run = sorted(p for p in Path(out).iterdir() if p.is_dir())[-1]
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    times = [(r["iteration"], r["elapsed_s"]) for r in lines if "kind" not in r]
    (i0, t0), (i1, t1) = times[0], times[-1]
    return 1000 * (t1 - t0) / (i1 - i0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="32,128,512")
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the run (default 2)")
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    from mixgan.training.threads import cpu_description
    print(f"CPU: {cpu_description()}; {os.cpu_count()} cores; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in widths:
            results[w] = {"alone, policy": ms_per_iteration(w, None, tmp)}
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
        for p in spinners:
            p.start()
        time.sleep(2)  # let the load average see them
        try:
            for w in widths:
                results[w]["busy, policy"] = ms_per_iteration(w, None, tmp)
                results[w]["busy, 1 thread"] = ms_per_iteration(w, 1, tmp)
                results[w]["busy, torch default"] = ms_per_iteration(w, "default", tmp)
        finally:
            for p in spinners:
                p.terminate()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.busy} busy processes")
    print(f"{'width':>5} | {'alone, policy':>14} | {'busy, policy':>13} | {'busy, 1 thread':>14} | "
          f"{'busy, default':>13} | policy/1 thread | busy/alone")
    for w, r in results.items():
        print(f"{w:>5} | {r['alone, policy']:>11.1f} ms | {r['busy, policy']:>10.1f} ms | {r['busy, 1 thread']:>11.1f} ms"
              f" | {r['busy, torch default']:>10.1f} ms | {r['busy, policy'] / r['busy, 1 thread']:>15.2f} | "
              f"{r['busy, policy'] / r['alone, policy']:>10.2f}")


if __name__ == "__main__":
    main()
