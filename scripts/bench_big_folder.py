"""How a large image folder starts: time to the first finished training iteration and peak memory,
for a folder of N small PNGs built under /tmp (100,000 by default), beside a folder of 1,000.

    python scripts/bench_big_folder.py [--images 100000] [--folder /tmp/mixgan-big-folder]

Each measurement runs ``mixgan.train`` in a fresh process (``--iterations 1``, snapshot batch 64,
16x16, width 8): its wall time from before ``import mixgan`` to the end of the run, and its peak
resident memory (``ru_maxrss``), against the same process stopped right after its imports. The
folder is built once and kept (delete it afterwards); on a shared machine say what the load was.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build(folder, n, seed=0):
    """``n`` random 24x24 RGB PNGs in ``folder`` (kept when it already holds ``n``)."""
    import numpy as np
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    if sum(1 for _ in folder.iterdir()) == n:
        return
    rng = np.random.RandomState(seed)
    for k in range(n):
        Image.fromarray(rng.randint(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{k:06d}.png")


def child(folder, imports_only):
    start = time.perf_counter()
    from mixgan import TrainConfig, train
    imported = time.perf_counter() - start
    if not imports_only:
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig(data=f"folder:{folder}", image_size=16, width=8, batch_size=64, d_steps=1,
                                 iterations=1, snapshot_size=64, log_every=1, device="cpu", out=out)
            train(config, progress=False)
    print(json.dumps({"import_s": imported, "total_s": time.perf_counter() - start,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(folder, imports_only=False):
    args = [sys.executable, __file__, "--child", str(folder)] + (["--imports-only"] if imports_only else [])
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--folder", default="/tmp/mixgan-big-folder")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--imports-only", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.imports_only)
    big, small = Path(a.folder), Path(a.folder + "-1000")
    start = time.perf_counter()
    build(big, a.images)
    build(small, 1000)
    print(f"folders built in {time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.1f}")
    base = measure(small, imports_only=True)
    print(f"imports only: {base['total_s']:.1f} s, peak RSS {base['peak_rss_mb']:.0f} MB")
    for folder, n in ((small, 1000), (big, a.images)):
        r = measure(folder)
        print(f"{n:,} images: 1 iteration done {r['total_s']:.1f} s after start ({r['total_s'] - r['import_s']:.1f} s "
              f"after the imports), peak RSS {r['peak_rss_mb']:.0f} MB "
              f"({r['peak_rss_mb'] - base['peak_rss_mb']:+.0f} MB over the imports); "
              f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
