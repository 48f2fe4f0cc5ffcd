"""``mixgan figure5``: train the four runs of Figure 5 of Zhang et al. (ICLR 2018, §3.7) and draw it.

Datasets grid and ring × objectives standard (the ERM GAN) and mixup, all with the
``figure5`` preset (the authors' demo code settings), in one numbered group folder:

    outputs/NNNNN-figure5-s0/
        figure5.png, figure5.pdf, figure5.json
        00000-grid-standard-s0/ ...  (four ordinary run folders)

On a CPU with two or more cores the four runs train in parallel processes, each limited
to its share of the cores so they do not oversubscribe them. ``--quick`` trains the
documented reduced setting :data:`QUICK` instead (see docs/FIGURES.md for its measured time).
"""
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from mixgan.runs import folders
from mixgan.config import make_config
from mixgan.errors import UsageError
from mixgan.viz.figures import FIGURE5_DATA, FIGURE5_OBJECTIVES, figure5_figure, figure5_runs, save_both

# The reduced setting of ``--quick`` (chosen by measurement on a shared 2-core CPU; see docs/FIGURES.md).
# Everything else stays the demo code's: 5 D steps, batch 128, Adam 1e-3, λ ~ U(0, α), shuffled pairs.
QUICK = dict(width=128, iterations=2000, snapshots=(10, 100, 500, 1000, 2000))
QUICK_NOTE = ("reduced figure (--quick: width {width}, {iterations} iterations); the paper's figure is "
              "`mixgan figure5` (width 512, 20000 iterations; best on a GPU)")


def cpu_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity masks
        return os.cpu_count() or 1


def resolve_quick(quick, device):
    """``--quick`` on/off/auto → bool; auto = quick unless a CUDA GPU will be used."""
    if quick in ("on", "off"):
        return quick == "on"
    import torch
    gpu = device != "cpu" and torch.cuda.is_available()
    return not gpu


def figure5_configs(seed, device, alpha, quick, out, frames=0, landscape=0):
    """The four TrainConfigs, in figure order (grid row first, ERM block first)."""
    extra = dict(QUICK) if quick else {}
    return [make_config(dict(preset="figure5", data=d, objective=o, seed=seed, device=device, out=str(out),
                             frames=frames, landscape=landscape,
                             **({"alpha": alpha} if alpha is not None else {}), **extra))
            for d in FIGURE5_DATA for o in FIGURE5_OBJECTIVES]


def _train_in_process(config, threads):
    """Worker body: one run with ``threads`` torch threads (separate process, so no shared state)."""
    import torch
    torch.set_num_threads(threads)
    from mixgan.training import train
    start = time.perf_counter()
    return str(train(config, progress=False)), time.perf_counter() - start


def train_runs(configs, log=print):
    """Train several independent runs; parallel processes on a multi-core CPU, one after another
    on a GPU (they would only queue on it). Returns [(run folder, seconds)] in the order given."""
    from mixgan.training import resolve_device, train
    on_cpu = all(resolve_device(c.device).type == "cpu" for c in configs)
    cores = cpu_cores()
    if on_cpu and cores >= 2 and len(configs) >= 2:
        workers = min(cores, len(configs))
        threads = max(1, cores // workers)
        log(f"training {len(configs)} runs in {workers} parallel processes ({threads} torch thread(s) each)")
        results = [None] * len(configs)
        # Longest first (mixup's shuffled pairing reads two batches per D step), so no worker is
        # left with a long run at the end while the other idles.
        from mixgan.objectives import OBJECTIVES
        order = sorted(range(len(configs)), key=lambda i: -OBJECTIVES[configs[i].objective](configs[i]).d_batches)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_train_in_process, configs[i], threads): i for i in order}
            for f in as_completed(futures):
                i = futures[f]
                results[i] = (Path(f.result()[0]), f.result()[1])
                log(f"  {configs[i].data}/{configs[i].objective}: {results[i][1]:.0f} s  → {results[i][0]}")
        return results
    results = []
    for c in configs:
        log(f"training {c.data}/{c.objective} on {resolve_device(c.device)}")
        start = time.perf_counter()
        results.append((train(c), time.perf_counter() - start))
    return results


def reduced_note(run_list):
    """The figure's note when the runs are smaller or shorter than the paper's (None otherwise)."""
    full = make_config(dict(preset="figure5"))
    sizes = {(r.config.get("width"), r.config.get("iterations")) for r in run_list}
    if sizes <= {(full.width, full.iterations)}:
        return None
    shown = "; ".join(f"width {w}, {i} iterations" for w, i in sorted(sizes, key=str))
    return f"reduced figure ({shown}); the paper's figure is `mixgan figure5` (width {full.width}, {full.iterations} iterations)"


def make_figure5(seed=0, device="auto", out="outputs", alpha=None, quick="off", from_runs=None,
                 frames=0, landscape=0, log=print, allow_unfinished=False):
    """Train (or, with ``from_runs``, reuse) the four runs and draw the figure; returns the group folder.

    >>> from mixgan import figure5
    >>> folder = figure5(quick="auto")  # doctest: +SKIP
    >>> folder / "figure5.png"  # doctest: +SKIP
    """
    if from_runs:
        cells = figure5_runs(from_runs, allow_unfinished)  # validate before creating anything
        if alpha is not None and any(cells[(d, "mixup")].config.get("alpha") != alpha for d in FIGURE5_DATA):
            raise UsageError(f"--alpha {alpha} differs from the α of the given mixup runs; leave it out with --from")
        info = {"from": [str(r.path) for r in cells.values()]}
        # Drawing reads every array, so unreadable runs fail here, before a folder is created.
        fig, iterations = figure5_figure(cells, reduced_note(cells.values()), landscape > 0)
        group = folders.create_run_folder(out, "figure5-redraw")
    else:
        quick_on = resolve_quick(quick, device)
        figure5_configs(seed, device, alpha, quick_on, out, frames, landscape)  # bad options fail here,
        from mixgan.training import resolve_device
        resolve_device(device)  # before any folder is created
        group = folders.create_run_folder(out, f"figure5{'-quick' if quick_on else ''}-s{seed}")
        configs = figure5_configs(seed, device, alpha, quick_on, group, frames, landscape)
        if quick_on:
            log("quick mode: " + QUICK_NOTE.format(**QUICK))
        log(f"figure folder: {group} (each run's metrics.jsonl shows its progress)")
        start = time.perf_counter()
        trained = train_runs(configs, log)
        cells = figure5_runs([p for p, _ in trained])
        info = {"quick": quick_on, "runs": [str(p) for p, _ in trained],
                "train_seconds": {f"{c.data}/{c.objective}": round(s, 1) for c, (_, s) in zip(configs, trained)},
                "wall_seconds": round(time.perf_counter() - start, 1), "cpu_cores": cpu_cores(),
                "device": str(resolve_device(device))}
        fig, iterations = figure5_figure(cells, reduced_note(cells.values()), landscape > 0)
    save_both(fig, [group / "figure5.png", group / "figure5.pdf"])
    folders.atomic_write_json(group / "figure5.json", {**info, "iterations": list(iterations)})
    return group
