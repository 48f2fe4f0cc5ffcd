"""Iterations per second of mixgan's training loop on the paper's configuration (the
``figure5`` preset), next to a plain PyTorch loop written the way the authors' demo code is
written, running the same algorithm on the same device, and the arithmetic floor.

    python scripts/bench_train.py [--device cpu|cuda] [--short 20 --long 60] [--repeats 3] [--breakdown 30]

mixgan is timed through its real ``train()``: the difference between a long and a short run
divided by the difference in iterations, so set-up, snapshots and file writes cancel out. Both runs take their one snapshot at
iteration 1, where they are still identical: a snapshot's measuring time depends on where G's
points are, so snapshots at different iterations would not cancel.
The demo-style loop differs from mixgan only in how it computes the same thing: fakes are not
detached in discriminator steps (a graph is built and back-propagated through G), inputs carry
``requires_grad=True``, each mixup step generates its two real+fake batches with separate G
passes, and the generator step runs D on a real+fake batch. The arithmetic floor is the time
of the matrix products one mixgan iteration needs, each shape timed alone on this machine.
Runs are interleaved (mixgan, demo, floor; repeated) and the median of each is reported.
"""
import argparse
import os
import statistics
import tempfile
import time

import torch
from demo_loop import demo_iteration  # scripts/demo_loop.py
from iteration_shapes import iteration_matmuls  # scripts/iteration_shapes.py

from mixgan.config import make_config
from mixgan.training import train
from mixgan.training.threads import cpu_description


def beside():
    """What every figure is printed with: the CPU, its vector extensions and the load it ran under."""
    return f"{cpu_description()}, load {os.getloadavg()[0]:.2f}"


def figure5_config(objective, n, device, out):
    """The paper's configuration for ``n`` iterations, with its one snapshot at iteration 1."""
    return make_config(dict(preset="figure5", objective=objective, data="ring", iterations=n,
                            snapshots=(1,), log_every=n, device=device, out=out))


def mixgan_ms_per_iteration(objective, device, short, long):
    times = {}
    with tempfile.TemporaryDirectory() as out:
        for n in (short, long):
            c = figure5_config(objective, n, device, out)
            t = time.perf_counter()
            train(c, progress=False)
            times[n] = time.perf_counter() - t
    return 1e3 * (times[long] - times[short]) / (long - short)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def demo_ms_per_iteration(objective, device, iterations):
    """The demo-style loop (``scripts/demo_loop.py``). Denormals are flushed here too, as in
    mixgan's loop, so the comparison is of the loop's structure alone."""
    torch.set_flush_denormal(True)
    one_iteration = demo_iteration(objective, device)
    for _ in range(3):
        one_iteration()
    sync(device)
    t = time.perf_counter()
    for _ in range(iterations):
        one_iteration()
    sync(device)
    return 1e3 * (time.perf_counter() - t) / iterations


def floor_ms_per_iteration(shapes, device, reps=30):
    total, cache = 0.0, {}
    for m, k, n in shapes:
        if (m, k, n) not in cache:
            a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
            for _ in range(5):
                a @ b
            sync(device)
            t = time.perf_counter()
            for _ in range(reps):
                a @ b
            sync(device)
            cache[m, k, n] = (time.perf_counter() - t) / reps
        total += cache[m, k, n]
    return 1e3 * total


# Where a training iteration's time goes, by operator (--breakdown).
CATEGORIES = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "Adam updates": ("aten::_fused_adam_", "aten::_foreach_add_"),
    "ReLU and its gradient": ("aten::relu_", "aten::clamp_min_", "aten::threshold_backward"),
    "bias gradients (sums)": ("aten::sum",),
    "copies (bias into addmm, casts)": ("aten::copy_",),
}


def breakdown(objective, device, iterations):
    """Per-iteration milliseconds inside each kind of operator over ``iterations`` iterations of
    train(), from torch.profiler's self time (the snapshot at iteration 1 is left out by
    subtracting a 1-iteration run). The profiler adds some overhead to every operator call, so
    "everything else" (dispatch, Python, small operators) reads high; the large operators'
    times are close to their unprofiled times."""
    from torch.profiler import ProfilerActivity, profile

    def self_ms(n):
        with tempfile.TemporaryDirectory() as out:
            c = figure5_config(objective, n, device, out)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                train(c, progress=False)
        times = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
        return times, sum(times.values())

    self_ms(1)  # warm-up: first calls at each shape pay one-off costs
    (t1, total1), (tn, totaln) = self_ms(1), self_ms(1 + iterations)
    per_it = {k: (tn.get(k, 0) - t1.get(k, 0)) / iterations for k in tn}
    rows = {name: sum(per_it.get(op, 0.0) for op in ops) for name, ops in CATEGORIES.items()}
    rows["everything else"] = (totaln - total1) / iterations - sum(rows.values())
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--short", type=int, default=20, help="iterations of the short mixgan run")
    p.add_argument("--long", type=int, default=60, help="iterations of the long mixgan run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--breakdown", type=int, default=0, metavar="N",
                   help="also profile N iterations of each objective and print where the time goes")
    a = p.parse_args()
    print(f"CPU: {beside()}")
    print(f"device {a.device}, torch {torch.__version__}, threads by mixgan's thread policy (each row says how many); "
          f"figure5 preset (width 512, depth 3, batch 128, 5 D steps)")
    print(f"{'objective':<10}{'mixgan ms/it':>14}{'demo ms/it':>12}{'speed-up':>10}"
          f"{'floor ms/it':>13}{'GFLOP/it':>10}{'floor GFLOP/s':>15}{'mixgan/floor':>14}  CPU, load average")
    mixgan_ms_per_iteration("standard", a.device, 1, 2)  # warm-up: the first train() in a process pays imports and first plots
    floors = {}
    for objective in ("standard", "mixup"):
        shapes = iteration_matmuls(objective)
        flops = sum(2 * m * k * n for m, k, n in shapes)
        ours, demo, floor = [], [], []
        for _ in range(a.repeats):
            ours.append(mixgan_ms_per_iteration(objective, a.device, a.short, a.long))
            used = torch.get_num_threads()  # what train() chose; the demo loop below runs with it too
            demo.append(demo_ms_per_iteration(objective, a.device, a.long - a.short))
            floor.append(floor_ms_per_iteration(shapes, a.device))
        o, d, f = (statistics.median(v) for v in (ours, demo, floor))
        print(f"{objective:<10}{o:>14.1f}{d:>12.1f}{d / o:>9.2f}x{f:>13.1f}{flops / 1e9:>10.2f}"
              f"{flops / f / 1e6:>15.0f}{o / f:>13.2f}x  {used} threads, {beside()}", flush=True)
        floors[objective] = f
    if a.breakdown:
        print(f"\nwhere one iteration's time goes (torch.profiler, {a.breakdown} iterations; ms per iteration)")
        for objective in ("standard", "mixup"):
            rows = breakdown(objective, a.device, a.breakdown)
            print(f"{objective}: " + ", ".join(f"{name} {ms:.1f}" for name, ms in rows.items())
                  + f"; matrix products / floor {rows['matrix products'] / floors[objective]:.2f}x  ({beside()})")


if __name__ == "__main__":
    main()
