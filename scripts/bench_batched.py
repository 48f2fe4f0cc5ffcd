"""Run-iterations per second of the batched engine (``mixgan/training/batched.py``) against the same runs
trained one after another with ``mixgan.training``, and, on a GPU, the full Figure 5 and the
arithmetic limit.

    PYTHONPATH=. python scripts/bench_batched.py [--widths 64,128] [--runs 1,8,32] [--short 3 --long 13]
                                                 [--repeats 3] [--threads N] [--device cpu|cuda]

Every figure comes from the real entry points (``train`` and ``train_batched``) on the
``figure5`` preset (mixup, shuffled pairing, λ ~ U(0, 0.2), 5 D steps, batch 128) at the given
width: the time of a long run minus a short run, divided by the difference in iterations, so
set-up, snapshots and file writes cancel out (the one snapshot is at iteration 1, where both
runs are still identical). "One after another" is R times the time of one
run trained alone (each timed the same way), which is what running the R runs in sequence costs.
Measurements are interleaved and the median of ``--repeats`` is reported.

On CUDA it also prints: (c1) the full Figure 5 (ring and grid × standard and mixup, 20,000
iterations at width 512) through the batched engine with the fast path, against a demo-style
loop (one plain eager run at a time, as the authors' code is written) on the same GPU, and
(c2) run-iterations per second for R = 1 … 256 beside the GPU's arithmetic limit for that work
(FLOPs of every matrix product counted, divided by ``--peak-tflops``).
"""
import argparse
import os
from collections import Counter
import statistics
import tempfile
import time

import torch
from demo_loop import demo_iteration  # scripts/demo_loop.py
from iteration_shapes import iteration_flops, iteration_matmuls  # scripts/iteration_shapes.py

from mixgan.training.batched import train_batched
from mixgan.config import make_config
from mixgan.training import train
from mixgan.nets.fused_mlp import product
from mixgan.training.threads import cpu_description


def config(width, iterations, seed, device, out, **extra):
    return make_config(dict(preset="figure5", objective="mixup", data="ring", width=width, iterations=iterations,
                            snapshots=(1,), snapshot_size=64, log_every=iterations, seed=seed,
                            device=device, out=out, **extra))


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # --clock cpu: this process's CPU time, steadier on a machine shared with others


def beside():
    """What every figure is printed with: the CPU, its vector extensions and the load it ran under."""
    return f"{cpu_description()}, load {os.getloadavg()[0]:.2f}"


def seconds(fn):
    t = clock()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return clock() - t


def ms_per_iteration(make_run, short, long):
    """Milliseconds per iteration of ``make_run(iterations)``: (long − short) / (iterations apart)."""
    return 1e3 * (seconds(lambda: make_run(long)) - seconds(lambda: make_run(short))) / (long - short)


def cpu_table(widths, Rs, short, long, repeats, device):
    """(b): run-iterations/s, R batched vs the same R runs one after another, beside the floor
    set by the matrix products alone (batched over the R runs, measured at the same time)."""
    print(f"\n(b) {device}: run-iterations per second, figure5 preset (mixup, shuffled, 5 D steps, batch 128)")
    print(f"{'width':>6} {'R':>4} {'batched':>10} {'one after another':>18} {'speed-up':>9} "
          f"{'matmul floor':>13} {'batched/floor':>14} {'threads':>8}  CPU, load average")
    with tempfile.TemporaryDirectory() as out:
        train_batched([config(16, 1, 0, device, out)], progress=False)  # warm-up: imports, first plots
        train(config(16, 1, 0, device, out), progress=False)
        for width in widths:
            alone, batched, floor = [], {R: [] for R in Rs}, {R: [] for R in Rs}
            threads = {}  # R (0: alone) -> the CPU threads its runs trained with
            for _ in range(repeats):  # interleaved, so a busy moment hurts all alike
                alone.append(ms_per_iteration(
                    lambda n: train(config(width, n, 0, device, out), progress=False), short, long))
                threads[0] = torch.get_num_threads()
                for R in Rs:
                    batched[R].append(ms_per_iteration(lambda n: train_batched(
                        [config(width, n, s, device, out) for s in range(R)], progress=False), short, long))
                    threads[R] = torch.get_num_threads()
                    floor[R].append(floor_ms_per_run_iteration(width, R, device))
            single = statistics.median(alone)
            for R in Rs:
                ms = statistics.median(batched[R])
                rate, seq, limit = 1e3 * R / ms, 1e3 / single, 1e3 / statistics.median(floor[R])
                print(f"{width:>6} {R:>4} {rate:>10.1f} {seq:>18.1f} {rate / seq:>8.2f}× {limit:>13.1f} "
                      f"{rate / limit:>13.0%} {threads[R]:>4}/{threads[0]:<3}  {beside()}", flush=True)


def floor_ms_per_run_iteration(width, R, device, repeats=5):
    """The arithmetic floor: the time of one iteration's matrix products for R runs as batched
    products in the form the engine computes them (``fused_mlp.product``; each shape timed
    alone, best of ``repeats``), per run."""
    total = 0.0
    for (m, k, n), count in Counter(iteration_matmuls("mixup", width=width)).items():
        a, b = torch.randn(R, m, k, device=device), torch.randn(R, k, n, device=device)
        product(a, b)
        best = min(seconds(lambda: product(a, b)) for _ in range(repeats))
        total += count * best
    return 1e3 * total / R


def demo_figure5_seconds(device, iterations):
    """The four Figure 5 runs, one after another, each in the demo code's style
    (``scripts/demo_loop.py``)."""
    total = 0.0
    for data_name in ("ring", "grid"):
        for objective in ("standard", "mixup"):
            one_iteration = demo_iteration(objective, device, data_name)
            total += seconds(lambda: [one_iteration() for _ in range(iterations)])
    return total


def gpu_tables(iterations, Rs, peak_tflops, short, long):
    """(c1) the full Figure 5, (c2) run-iterations/s for R runs at width 512 against the arithmetic limit."""
    device = "cuda"
    name = torch.cuda.get_device_name()
    print(f"\n(c1) {name}: full Figure 5 (ring, grid × standard, mixup; {iterations} iterations, width 512; "
          f"snapshots and the default checkpoints every 1000 iterations included)")
    with tempfile.TemporaryDirectory() as out:
        def figure5():
            for objective in ("standard", "mixup"):  # two objectives: two batches of two runs
                train_batched([config(512, iterations, 0, device, out, data=d, objective=objective,
                                      snapshots=(10, 100, 1000, 10000, iterations), snapshot_size=1000)
                               for d in ("ring", "grid")], progress=False)
        fast = seconds(figure5)
        demo = demo_figure5_seconds(device, iterations)
        print(f"mixgan batched + CUDA graph: {fast:.1f} s   demo-style loop: {demo:.1f} s   ratio {demo / fast:.1f}×"
              f"   (host {beside()})")

        print(f"\n(c2) {name}: run-iterations per second at width 512 (figure5 preset), "
              f"arithmetic limit at {peak_tflops} TFLOP/s")
        print(f"{'R':>5} {'run-it/s':>10} {'limit':>10} {'of limit':>9} {'20k its of 64 runs':>19} "
              f"(training alone: snapshots and checkpoints not counted)")
        flops = iteration_flops(objective="mixup", width=512)
        for R in Rs:
            ms = ms_per_iteration(lambda n: train_batched([config(512, n, s, device, out) for s in range(R)],
                                                          progress=False), short, long)
            rate, limit = 1e3 * R / ms, peak_tflops * 1e12 / flops
            print(f"{R:>5} {rate:>10.0f} {limit:>10.0f} {rate / limit:>8.1%} {64 * 20000 / rate:>17.0f} s"
                  f"   (host {beside()})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", default="64,128")
    p.add_argument("--runs", default="1,8,32")
    p.add_argument("--short", type=int, default=3)
    p.add_argument("--long", type=int, default=13)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for every timed run (default: mixgan's thread policy, run by run)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--gpu-runs", default="1,4,16,64,256")
    p.add_argument("--gpu-iterations", type=int, default=20000, help="iterations of the full Figure 5")
    p.add_argument("--peak-tflops", type=float, default=67.0,
                   help="the GPU's dense FP32 peak (H100 SXM: 67; H200: 67)")
    p.add_argument("--clock", choices=list(CLOCK), default="wall",
                   help="wall time, or this process's CPU time (steadier when other jobs share the CPU)")
    a = p.parse_args()
    global clock
    clock = CLOCK[a.clock]
    from mixgan.training import threads
    threads.request(a.threads)  # train() and train_batched() set the threads themselves, from this
    print(f"CPU: {beside()}")
    print(f"torch {torch.__version__}, device {a.device}, {a.clock} clock; threads "
          + (f"{a.threads} (--threads)" if a.threads else "by mixgan's thread policy (the column: batched/alone)"))
    cpu_table([int(w) for w in a.widths.split(",")], [int(r) for r in a.runs.split(",")], a.short, a.long,
              a.repeats, a.device)
    if a.device == "cuda":
        gpu_tables(a.gpu_iterations, [int(r) for r in a.gpu_runs.split(",")], a.peak_tflops, 20, 220)


if __name__ == "__main__":
    main()
