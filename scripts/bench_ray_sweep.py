"""The overhead of ``mixgan sweep --executor ray`` against the in-process sweep, on one machine.

    PYTHONPATH=. python scripts/bench_ray_sweep.py --repeats 3

Each repeat trains the same small sweep (ring; standard and mixup; --seeds; --iterations) three
ways, in turn: in process; on a fresh local Ray with one CPU (one task at a time, so the same
serial work: the difference is Ray's overhead), timing ``ray.init`` apart from the sweep, the
sweep once with cold workers (each task's process starts and imports torch and mixgan) and once
with the warm workers of the first; and on a fresh local Ray with ``--cpus`` CPUs (its batches
side by side). Every run uses one thread (MIXGAN_THREADS=1), so the runs are the same in every
mode. Prints the medians, the load average before and after, and the CPU.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["MIXGAN_THREADS"] = "1"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per objective (runs = 2 × seeds)")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the parallel local Ray")
    args = parser.parse_args()

    import ray
    from mixgan.experiments.ray_sweep import RayExecutor
    from mixgan.experiments.sweep import grid_configs, sweep
    from mixgan.training.threads import cpu_description

    out = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    configs = grid_configs(dict(iterations=args.iterations, width=args.width, out=str(out)), ["ring"],
                           ["standard", "mixup"], [0.2], ["beta"], range(args.seeds))
    quiet = dict(progress=False, log=lambda *a: None)

    def timed(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def local_ray(cpus):
        return timed(lambda: ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                                      logging_level="ERROR"))

    times = {k: [] for k in ("in-process", "ray init (1 CPU)", "ray, 1 CPU, cold workers", "ray, 1 CPU, warm workers",
                             f"ray init ({args.cpus} CPUs)", f"ray, {args.cpus} CPUs, cold workers")}
    print(f"{len(configs)} runs (ring; standard, mixup; {args.seeds} seeds), {args.iterations} iterations, "
          f"width {args.width}, 2 batches; {cpu_description()}; load before: {os.getloadavg()}", flush=True)
    for repeat in range(args.repeats):
        times["in-process"].append(timed(lambda: sweep(configs, **quiet)))
        times["ray init (1 CPU)"].append(local_ray(1))
        times["ray, 1 CPU, cold workers"].append(timed(lambda: sweep(configs, executor=RayExecutor(), **quiet)))
        times["ray, 1 CPU, warm workers"].append(timed(lambda: sweep(configs, executor=RayExecutor(), **quiet)))
        ray.shutdown()
        times[f"ray init ({args.cpus} CPUs)"].append(local_ray(args.cpus))
        times[f"ray, {args.cpus} CPUs, cold workers"].append(timed(lambda: sweep(configs, executor=RayExecutor(),
                                                                                  **quiet)))
        ray.shutdown()
        print(f"repeat {repeat}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
              + f"; load {os.getloadavg()[0]:.2f}", flush=True)
    print("median over repeats:")
    for k, v in times.items():
        print(f"  {k:32s} {statistics.median(v):6.1f} s  (all: {', '.join(f'{x:.1f}' for x in v)})")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
