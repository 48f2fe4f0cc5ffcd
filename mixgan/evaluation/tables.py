"""The one table system: mean ± standard error over seeds of every snapshot metric, as Markdown,
CSV and JSON. ``compare`` and ``sweep`` both summarise through it, so they report the same
numbers for the same runs: the snapshot records each run wrote to its ``metrics.jsonl`` while
training (``measure.py``: sample metrics against fresh real points, and D's diagnostics).

Undefined values (``null``/NaN, e.g. the reverse KL of a snapshot with no high-quality
sample) and records a run lacks are *left out* of the mean, never counted as 0; every cell
says over how many seeds it was taken (``n``), and the Markdown marks a partial cell with
``[n/N]`` and an empty one with ``—``. The standard error is the sample standard deviation
(ddof = 1) over √n; with one seed it is undefined and not shown.
"""
import csv
import io
import math
from pathlib import Path

from mixgan.config import config_label, read_run_config
from mixgan.data import DATASETS, is_image_dataset
from mixgan.evaluation import measure
from mixgan.runs import folders, snapshots

# Column order: sample quality first (the VEEGAN / PacGAN protocol, then distances with their
# real-vs-real floor), then the discriminator diagnostics of section 3.7.
SAMPLE_METRICS = ["modes_covered", "high_quality_fraction", "reverse_kl", "energy_distance",
                  "floor_energy_distance", "sliced_wasserstein", "floor_sliced_wasserstein", "knn_precision",
                  "knn_recall", "outside_frame_fraction", "nonfinite_fraction"]
D_METRICS = ["grad_norm_real", "grad_norm_fake", "grad_norm_interp", "d_nonlinearity"]
NOT_METRICS = {"kind", "iteration", "modes_total", "measure_s"}


def _finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def summarize(values, expected=None):
    """``{"mean", "se", "n", "missing"}`` over the finite entries of ``values`` (None/NaN left out).

    ``expected`` is how many seeds there should be (default ``len(values)``); ``missing`` counts
    the rest. ``mean`` is None when n = 0 and ``se`` when n < 2.
    """
    good = [float(v) for v in values if _finite(v)]
    n = len(good)
    expected = len(values) if expected is None else expected
    mean = sum(good) / n if n else None
    se = None
    if n >= 2:
        var = sum((v - mean) ** 2 for v in good) / (n - 1)
        se = math.sqrt(var / n)
    return {"mean": mean, "se": se, "n": n, "missing": expected - n}


def metric_names(records):
    """Every metric key present, in table order (known ones first, then any others sorted)."""
    keys = {k for per_run in records.values() for rec in per_run.values() for k in rec} - NOT_METRICS
    known = [k for k in SAMPLE_METRICS + D_METRICS if k in keys]
    return known + sorted(keys - set(known))


def tabulate(records):
    """Rows ``{data, label, iteration, metric, mean, se, n, missing}`` from
    ``{(data, label, seed): {iteration: record}}``: one row per data × label × iteration × metric."""
    names = metric_names(records)
    groups = {}
    for (data, label, seed), per_run in records.items():
        groups.setdefault((data, label), []).append(per_run)
    rows = []
    for (data, label), group in groups.items():
        iterations = sorted({it for per_run in group for it in per_run})
        for it in iterations:
            for name in names:
                values = [per_run.get(it, {}).get(name) for per_run in group]
                if not any(name in per_run.get(it, {}) for per_run in group):
                    continue  # a metric this dataset does not have (e.g. modes on the spiral)
                rows.append({"data": data, "label": label, "iteration": it, "metric": name,
                             **summarize(values)})
    return rows


def format_cell(row):
    """``mean ± se`` with 3 significant digits; ``[n/N]`` when some seeds are missing; ``—`` when none remain."""
    if row["n"] == 0:
        return "—"
    text = f"{row['mean']:.3g}" + (f" ± {row['se']:.2g}" if row["se"] is not None else "")
    if row["missing"]:
        text += f" [{row['n']}/{row['n'] + row['missing']}]"
    return text


def markdown_table(rows, metrics):
    """A Markdown table: one line per label × iteration, one column per metric."""
    cells = {}
    for r in rows:
        cells.setdefault((r["label"], r["iteration"]), {})[r["metric"]] = format_cell(r)
    metrics = [m for m in metrics if any(m in c for c in cells.values())]
    if not metrics:
        return ""
    lines = ["| objective | iteration | " + " | ".join(metrics) + " |",
             "|---|---:|" + "---:|" * len(metrics)]
    for (label, it), c in cells.items():
        lines.append(f"| {label} | {it} | " + " | ".join(c.get(m, "") for m in metrics) + " |")
    return "\n".join(lines) + "\n"


# The headline columns of summary.md: the VEEGAN / PacGAN protocol, escapes, D's smoothness.
SUMMARY_METRICS = ["modes_covered", "high_quality_fraction", "reverse_kl", "outside_frame_fraction",
                   "energy_distance", "grad_norm_interp", "d_nonlinearity"]


def summary_markdown(rows):
    """Per dataset, the last snapshot iteration of every label with the headline metrics."""
    parts = []
    for data in dict.fromkeys(r["data"] for r in rows):
        sub = [r for r in rows if r["data"] == data]
        last = {}
        for r in sub:
            last[r["label"]] = max(last.get(r["label"], 0), r["iteration"])
        present = list(dict.fromkeys(r["metric"] for r in sub))
        headline = [m for m in SUMMARY_METRICS if m in present] or present  # image runs: their own metrics
        parts += [f"### {data}\n", markdown_table([r for r in sub if r["iteration"] == last[r["label"]]],
                                                   headline)]
    return "\n".join(parts)


def write_tables(folder, rows, meta):
    """``table-<data>.md``, ``.csv`` and ``.json`` per dataset, ``summary.md`` (last iteration, headline
    metrics) and ``summary.json`` (all rows, meta)."""
    folders.atomic_write_text(folder / "summary.md", summary_markdown(rows))
    written = [folder / "summary.md"]
    for data in dict.fromkeys(r["data"] for r in rows):
        sub = [r for r in rows if r["data"] == data]
        seeds = len(meta.get("seeds", [])) or "?"
        extra = sorted({r["metric"] for r in sub} - set(SAMPLE_METRICS) - set(D_METRICS))
        md = [f"# {data}: mean ± standard error over {seeds} seeds\n",
              "Cells: mean ± s.e. over seeds; `[n/N]`: only n of N seeds defined the value; `—`: none did.\n",
              "## Generated samples\n", markdown_table(sub, SAMPLE_METRICS + extra),
              "## Discriminator diagnostics\n", markdown_table(sub, D_METRICS)]
        folders.atomic_write_text(folder / f"table-{data}.md", "\n".join(md))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["data", "label", "iteration", "metric", "mean", "se", "n", "missing"],
                           lineterminator="\n")
        w.writeheader()
        w.writerows(sub)
        folders.atomic_write_text(folder / f"table-{data}.csv", buf.getvalue())
        folders.atomic_write_json(folder / f"table-{data}.json", {"meta": meta, "rows": sub})
        written += [folder / f"table-{data}.{ext}" for ext in ("md", "csv", "json")]
    folders.atomic_write_json(folder / "summary.json", {"meta": meta, "rows": rows})
    return written + [folder / "summary.json"]


# Settings that name a mixup run apart from its objective when they differ between the runs tabulated.
MIXUP_SETTINGS = ("alpha", "lambda_dist", "pairing")


def varying_settings(configs):
    """The entries of MIXUP_SETTINGS that take more than one value among the mixup runs of ``configs``."""
    mixup = [c for c in configs if c["objective"] == "mixup"]
    return tuple(k for k in MIXUP_SETTINGS if len({c.get(k) for c in mixup}) > 1)


def run_key(config, varying=()):
    """``(data, label, seed)`` of a run's config dict: the label is the objective or variant
    (``config.VARIANTS``), followed for mixup runs by the ``varying`` settings (``mixup α=0.1``)."""
    label = config_label(config)
    if config["objective"] == "mixup":
        names = {"alpha": "α", "lambda_dist": "λ", "pairing": "pairing"}
        label = " ".join([label] + [f"{names[k]}={config[k]:g}" if k == "alpha" else f"{names[k]}={config[k]}"
                                    for k in varying])
    return config["data"], label, config["seed"]


def collect_records(run_folders):
    """``{key: {iteration: snapshot record}}`` for ``{key: run folder}``. A snapshot saved without a
    record (a run from before snapshot metrics existed) gets its sample metrics computed now from its
    ``.npz``; the discriminator diagnostics need D at that iteration and stay missing."""
    out = {}
    for key, run in run_folders.items():
        run = Path(run)
        records = measure.snapshot_records(run)
        if not records and is_image_dataset(key[0]):
            # Image runs are scored on request (the classifier is trained once and cached beside
            # the runs): classes covered, class-histogram KL, Fréchet distance per snapshot.
            from mixgan.evaluation.image_metrics import run_image_metrics
            records = {r["iteration"]: r for r in run_image_metrics(run)}
        for it in snapshots.saved_iterations(run / "snapshots"):
            if it not in records:
                fake = snapshots.load(run, "snapshots", it)["fake"]
                if measure.is_2d(fake):
                    records[it] = measure.snapshot_record(DATASETS[key[0]], fake, None, it,
                                                          read_run_config(run)["seed"])
        out[key] = records
    return out
