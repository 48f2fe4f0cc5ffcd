"""The summary table of a sweep: per setting, mean ± standard error over seeds of the sample
metrics (``mixgan/metrics.py``) at each run's last snapshot, read back from the run folders."""
import json
import math
from pathlib import Path

import numpy as np
import torch

from mixgan import runs
from mixgan.errors import UsageError
from mixgan.metrics import snapshot_metrics

# Columns of the Markdown table (all metrics go to summary.json).
COLUMNS = ("modes_covered", "high_quality_fraction", "reverse_kl", "energy_distance", "outside_frame_fraction")
SETTING = ("data", "objective", "alpha", "lambda_dist", "pairing")


def setting_of(config):
    """The grid point a run belongs to (α and λ only mean something for mixup)."""
    mixup = config["objective"] == "mixup"
    return tuple(config[k] if mixup or k not in ("alpha", "lambda_dist", "pairing") else None for k in SETTING)


def run_metrics(run):
    """Sample metrics at the run's last snapshot; the metrics' random directions come from the run's seed."""
    try:
        config = json.loads((Path(run) / "config.json").read_text())
        last = max(config["snapshots"]) if config["snapshots"] else config["iterations"]
        with np.load(runs.snapshot_path(run, last, ".npz")) as z:
            fake, real = z["fake"], z["real"]
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"cannot read the last snapshot of run {run}: {e}")
    generator = torch.Generator().manual_seed(config["seed"])
    return config, last, snapshot_metrics(config["data"], fake, real, generator)


def mean_and_error(values):
    """Mean and standard error of the finite values (NaN where there are none; error NaN for one)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return mean, math.sqrt(var / len(finite))


def summarise(run_folders):
    """(rows, per_run): one row per setting with ``n`` seeds and ``(mean, s.e.)`` per metric."""
    per_run, groups = [], {}
    for run in run_folders:
        config, last, metrics = run_metrics(run)
        per_run.append({"run": str(run), "iteration": last, **{k: config[k] for k in SETTING + ("seed",)},
                        **metrics})
        groups.setdefault(setting_of(config), []).append(metrics)
    rows = []
    for setting, members in groups.items():
        row = dict(zip(SETTING, setting), n=len(members))
        for key in members[0]:
            row[key] = mean_and_error([m.get(key) for m in members])
        rows.append(row)
    return rows, per_run


def _cell(value):
    mean, err = value
    if math.isnan(mean):
        return "–"
    return f"{mean:.3g}" if math.isnan(err) else f"{mean:.3g} ± {err:.2g}"


def markdown_table(rows):
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    head = ["data", "objective", "α", "λ", "pairing", "seeds"] + columns
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["data"], r["objective"], "–" if r["alpha"] is None else f"{r['alpha']:g}",
                 r["lambda_dist"] or "–", r["pairing"] or "–", str(r["n"])]
        cells += [_cell(r[c]) if c in r else "–" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plain(value):
    """JSON-safe: NaN becomes null."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_summary(folder, run_folders):
    """Write ``summary.json`` and ``summary.md`` into the sweep folder; return the Markdown table."""
    rows, per_run = summarise(run_folders)
    table = markdown_table(rows)
    note = "mean ± standard error over seeds, at each run's last snapshot (mixgan/metrics.py)"
    runs.atomic_write_json(Path(folder) / "summary.json", {
        "note": note,
        "settings": [{k: _plain(v) for k, v in r.items()} for r in rows],
        "runs": [{k: _plain(v) for k, v in r.items()} for r in per_run]})
    runs.atomic_write_text(Path(folder) / "summary.md", f"# Sweep summary\n\n{note}.\n\n{table}\n")
    return table
