"""The GPU benchmark (run it through ``scripts/bench_gpu.sh``, no arguments): what docs/BENCHMARKS.md's
GPU goals are checked against, on whatever CUDA GPU torch sees.

Prints, and writes with the device name to ``outputs/bench-gpu-<time>.json``:

- the demo-style loop's ms/iteration (``scripts/demo_loop.py``: the figure5 algorithm written as the
  authors' demo code writes it; width 512, batch 128, 5 D steps), for mixup and ERM;
- mixgan's single-run ms/iteration on the figure5 preset: ``mixgan train``'s engine (the batched
  engine as a batch of one, each iteration one CUDA-graph replay) and the eager single-run loop;
  each the difference of a long and a short run over their difference in iterations, so set-up and
  file writes cancel;
- the full Figure 5 (4 × 20,001 iterations at width 512) wall time through ``mixgan figure5``,
  measured, or projected from its timed plan when that exceeds PROJECT_ABOVE_S (the script must
  end within 8 minutes);
- a 64-run sweep batch at width 512: run-iterations per second, projected to 20,000 iterations;
- the peak GPU memory of the single run and of the 64-run batch;
- kernel launches per iteration (``torch.profiler``, long-minus-short again): host launch calls
  (``cudaLaunchKernel``/``cudaGraphLaunch``/...) and kernels executed on the device.
"""
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from demo_loop import demo_iteration  # noqa: E402  (scripts/demo_loop.py)

from mixgan.config import make_config  # noqa: E402
from mixgan.training.batched import train_batched  # noqa: E402
from mixgan.training.engines import train_run  # noqa: E402
from mixgan.training.loop import train  # noqa: E402

SHORT, LONG = 200, 1200  # iterations of the two single runs whose difference is timed
SWEEP_RUNS, SWEEP_SHORT, SWEEP_LONG = 64, 30, 130
DEVICE = "cuda"
PROJECT_ABOVE_S = 240  # a full Figure 5 projected longer than this is reported as projected, not run
LAUNCH_NAMES = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx", "cudaGraphLaunch",
                "cudaLaunchCooperativeKernel")


def figure5_config(n, out, objective="mixup", **kw):
    return make_config(dict(preset="figure5", objective=objective, data="ring", iterations=n, snapshots=(1,),
                            log_every=n, checkpoint_every=10**9, device=DEVICE, out=out, **kw))


def timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, result


def demo_ms(objective, warmup=20, n=200):
    step = demo_iteration(objective, torch.device(DEVICE))
    for _ in range(warmup):
        step()
    seconds, _ = timed(lambda: [step() for _ in range(n)])
    return 1000 * seconds / n


def per_iteration_ms(trainer, objective, out):
    """(long − short) / (LONG − SHORT) of ``trainer(config)``, median of three, after a warm-up run."""
    trainer(figure5_config(SHORT, out, objective))
    diffs = []
    for _ in range(3):
        short, _ = timed(lambda: trainer(figure5_config(SHORT, out, objective)))
        long, _ = timed(lambda: trainer(figure5_config(LONG, out, objective)))
        diffs.append(1000 * (long - short) / (LONG - SHORT))
    return statistics.median(diffs)


def launches(run, n_short, n_long):
    """Host kernel-launch calls and device kernels per iteration: ``run(n)`` profiled at two lengths."""
    from torch.profiler import ProfilerActivity, profile
    counts = []
    for n in (n_short, n_long):
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            run(n)
            torch.cuda.synchronize()
        events = prof.key_averages()
        host = sum(e.count for e in events if e.key in LAUNCH_NAMES)
        device = sum(e.count for e in events if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA)
        counts.append((host, device))
    return [(b - a) / (n_long - n_short) for a, b in zip(*counts)]


def main():
    if not torch.cuda.is_available():
        print("bench_gpu: torch sees no CUDA GPU; this benchmark needs one", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(0)
    results = {"device": name, "torch": torch.__version__, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                     time.gmtime())}
    say = lambda key, value, text: (results.__setitem__(key, value), print(text, flush=True))  # noqa: E731
    print(f"bench_gpu on {name}, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mixgan-bench-gpu-") as tmp:
        for objective in ("mixup", "standard"):
            ms = demo_ms(objective)
            say(f"demo_ms_per_it_{objective}", ms, f"demo-style loop ({objective}, width 512, batch 128): {ms:.2f} ms/it")

        torch.cuda.reset_peak_memory_stats()
        for objective in ("mixup", "standard"):
            ms = per_iteration_ms(lambda c: train_run(c, progress=False), objective, tmp)
            say(f"mixgan_ms_per_it_{objective}", ms, f"mixgan train (batched engine, CUDA graph; {objective}): "
                                                     f"{ms:.3f} ms/it, {results[f'demo_ms_per_it_{objective}'] / ms:.1f}x the demo-style loop")
        say("peak_memory_single_run_mib", torch.cuda.max_memory_allocated() / 2**20,
            f"peak GPU memory, one run: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
        ms = per_iteration_ms(lambda c: train(c, progress=False), "mixup", tmp)
        say("eager_loop_ms_per_it_mixup", ms, f"single-run eager loop (mixup), for reference: {ms:.2f} ms/it")

        try:
            host, device = launches(lambda n: train_run(figure5_config(n, tmp), progress=False), 50, 150)
            say("launches_per_it_mixgan", {"host_calls": host, "device_kernels": device},
                f"kernel launches per iteration, mixgan train: {host:.1f} host launch calls, {device:.1f} device kernels")
            step = demo_iteration("mixup", torch.device(DEVICE))
            host, device = launches(lambda n: [step() for _ in range(n)], 20, 60)
            say("launches_per_it_demo", {"host_calls": host, "device_kernels": device},
                f"kernel launches per iteration, demo-style loop: {host:.1f} host launch calls, {device:.1f} device kernels")
        except Exception as e:  # noqa: BLE001 - a profiler that fails leaves the other figures standing
            say("launches_error", str(e), f"kernel launches: not measured ({type(e).__name__}: {e})")

        torch.cuda.reset_peak_memory_stats()
        configs = lambda n: [dataclasses.replace(figure5_config(n, tmp), seed=s) for s in range(SWEEP_RUNS)]  # noqa: E731
        train_batched(configs(SWEEP_SHORT), progress=False)  # warm-up
        short, _ = timed(lambda: train_batched(configs(SWEEP_SHORT), progress=False))
        long, _ = timed(lambda: train_batched(configs(SWEEP_LONG), progress=False))
        per_it = (long - short) / (SWEEP_LONG - SWEEP_SHORT)
        say("sweep64_run_iterations_per_s", SWEEP_RUNS / per_it,
            f"64-run batch (width 512, mixup): {SWEEP_RUNS / per_it:.0f} run-iterations/s; 64 runs × 20,000 "
            f"iterations projected {20000 * per_it:.0f} s")
        results["sweep64_projected_20000_s"] = 20000 * per_it
        say("peak_memory_sweep64_mib", torch.cuda.max_memory_allocated() / 2**20,
            f"peak GPU memory, 64-run batch: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")

        from mixgan.experiments.estimate import seconds_per_iteration
        full = make_config(dict(preset="figure5", device=DEVICE))
        projected = 2 * full.iterations * seconds_per_iteration(full, batch=2)  # two batches of two, one after the other
        results["figure5_projected_s"] = projected
        if projected > PROJECT_ABOVE_S:
            say("figure5_wall_s", None, f"full Figure 5: projected {projected:.0f} s from its timed plan "
                                        f"(not run: over {PROJECT_ABOVE_S} s)")
        else:
            from mixgan.experiments.figure5 import make_figure5
            seconds, group = timed(lambda: make_figure5(device=DEVICE, out=tmp, quick="off", log=lambda *a: None))
            info = json.loads((group / "figure5.json").read_text())
            say("figure5_wall_s", seconds, f"full Figure 5 (4 × {full.iterations} iterations, width 512): "
                                           f"{seconds:.1f} s wall, {info['wall_seconds']:.1f} s training "
                                           f"(projected {projected:.0f} s)")
    out = Path("outputs")
    out.mkdir(exist_ok=True)
    path = out / f"bench-gpu-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
