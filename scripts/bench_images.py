"""Images per second of mixgan's training loop on image data (digits by default), or of its data
loader alone (``--loader``).

    python scripts/bench_images.py [--data digits] [--device cpu|cuda] [--warmup 3 --timed 20]
                                   [--repeats 3] [--threads N] [--data-root DIR] [--image-size R]
    python scripts/bench_images.py --loader [--data folder:PATH | --folder-images N] [--workers 0,2]

Timed through the real ``train()``, from the ``elapsed_s`` of two lines of its metrics.jsonl
(logging every iteration: one host sync per iteration, as the loop's own logging does at
its log points), so set-up, data loading, warm-up and the final snapshot are left out.
Settings are the ``dcgan`` preset (one D step of 64 real + 64 generated images per G step,
width 64, z 100) with the mixup objective; "images/s" counts the real images the
discriminator consumes (64 per iteration here), "iterations/s" the G updates. The median of
``--repeats`` is reported. On a shared machine the figure moves with the other load: say so.

``--loader`` times the batches training draws (``ImageData.training_batches``: the DataLoader with
one batch of 64 per iteration) with each number of worker processes in ``--workers``, and no
training. ``--folder-images N`` first writes N random 40x40 RGB PNGs to a temporary folder and
loads them as ``folder:`` at ``--image-size`` (default 32), so decoding is what is timed.
"""
import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mixgan.runs import folders
from mixgan.config import make_config
from mixgan.objectives import OBJECTIVES
from mixgan.training import resolve_device, train


def iterations_per_second(overrides, warmup, timed):
    """One real run of warmup + timed + 1 iterations, logging at ``warmup`` and ``warmup + timed``:
    the rate between those two lines of metrics.jsonl leaves out set-up, the first (slow)
    iterations and the one snapshot, which is written at the very last iteration."""
    with tempfile.TemporaryDirectory() as out:
        n = warmup + timed + 1
        c = make_config({**overrides, "iterations": n, "snapshots": (n,), "log_every": 1, "snapshot_size": 64,
                         "out": out})
        lines = {line["iteration"]: line["elapsed_s"] for line in folders.read_jsonl(train(c, progress=False)
                                                                                 / "metrics.jsonl")}
        return timed / (lines[warmup + timed] - lines[warmup]), c


def write_folder(folder, n, seed=0):
    """``n`` random 40x40 RGB PNGs in ``folder``."""
    from PIL import Image
    rng = np.random.RandomState(seed)
    for k in range(n):
        Image.fromarray(rng.randint(0, 256, (40, 40, 3), dtype=np.uint8)).save(Path(folder) / f"{k:06d}.png")


def loader_rates(data, workers, batches, warmup=5, batch_size=64):
    """Images per second of ``batches`` training batches (after ``warmup``) with ``workers`` workers."""
    stream = data.training_batches(batch_size, seed=0, start=1, device="cpu", workers=workers)
    for _ in range(warmup):  # starts the workers and fills their queues
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    rate = batches * batch_size / (time.perf_counter() - start)
    stream.close()
    return rate


def loader_main(a):
    from mixgan.data.images import load_image_data
    with tempfile.TemporaryDirectory() as tmp:
        name = a.data
        if a.folder_images:
            write_folder(tmp, a.folder_images)
            name = f"folder:{tmp}"
        size = a.image_size or (32 if name.startswith("folder:") else None)
        data = load_image_data(name, data_root=a.data_root, image_size=size)
        for workers in [int(w) for w in a.workers.split(",")]:
            rates = [loader_rates(data, workers, a.timed) for _ in range(a.repeats)]
            what = f"{a.folder_images} PNGs (40x40 RGB)" if a.folder_images else data.name
            print(f"{what} at "
                  f"{tuple(data.event_shape)}: {statistics.median(rates):.0f} images/s with {workers} workers "
                  f"(batch 64, median of {a.repeats} x {a.timed} batches; {os.cpu_count()} cores, "
                  f"torch {torch.__version__})")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--objective", default="mixup", choices=list(OBJECTIVES))
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default="data")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--timed", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--loader", action="store_true", help="time the data loader alone, no training")
    p.add_argument("--workers", default="0,2", help="--loader: comma-separated worker counts")
    p.add_argument("--folder-images", type=int, default=0, help="--loader: time a folder of N random PNGs")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.loader:
        return loader_main(a)
    overrides = dict(preset="dcgan", data=a.data, objective=a.objective, device=a.device, data_root=a.data_root,
                     image_size=a.image_size, width=a.width)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    rates = []
    for _ in range(a.repeats):
        rate, c = iterations_per_second(overrides, a.warmup, a.timed)
        rates.append(rate)
    it_s = statistics.median(rates)
    per_it = c.batch_size * c.d_steps * OBJECTIVES[c.objective](c).d_batches
    device = resolve_device(c.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads")
    print(f"{c.data} {c.objective} (dcgan preset, width {c.width}, batch {c.batch_size}, d_steps {c.d_steps}) "
          f"on {where}: {it_s:.2f} iterations/s, {it_s * per_it:.0f} real images/s "
          f"(median of {a.repeats} runs, {a.timed} timed iterations each after {a.warmup}; torch {torch.__version__})")


if __name__ == "__main__":
    main()
