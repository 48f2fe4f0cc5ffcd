"""Snapshot metrics recorded by training, and the mean ± s.e. tables (mixgan.evaluation.measure, mixgan.evaluation.tables)."""
import importlib
import json
import math

import numpy as np
import pytest
import torch

import toy_data
from conftest import tiny_config
from mixgan.evaluation import measure
from mixgan.runs import folders
from mixgan.evaluation import tables
from mixgan.training import train

SAMPLE_KEYS = {"energy_distance", "sliced_wasserstein", "knn_precision", "knn_recall", "outside_frame_fraction",
               "floor_energy_distance", "floor_sliced_wasserstein"}
MIXTURE_KEYS = {"high_quality_fraction", "modes_covered", "modes_total", "reverse_kl"}
D_KEYS = {"grad_norm_real", "grad_norm_fake", "grad_norm_interp", "d_nonlinearity"}


def test_every_snapshot_carries_a_record(tmp_path):
    run = train(tiny_config(out=str(tmp_path), data="ring", snapshots=(1, 5, 12)), progress=False)
    lines = folders.read_jsonl(run / "metrics.jsonl")
    snaps = [l for l in lines if l.get("kind") == "snapshot"]
    assert [l["iteration"] for l in snaps] == [1, 5, 12]
    assert [l["iteration"] for l in lines if "kind" not in l] == [4, 8, 12]  # loss records unchanged
    for rec in snaps:
        assert SAMPLE_KEYS | MIXTURE_KEYS | D_KEYS | {"kind", "iteration", "measure_s"} == set(rec)
        assert rec["modes_total"] == 8
    # strict JSON: an undefined reverse KL is written as null, never as NaN
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    # the record describes exactly the saved points
    with np.load(run / "snapshots" / "iter_000012.npz") as z:
        again = measure.snapshot_record(toy_data.DATASETS["ring"], z["fake"], None, 12, 3)
    assert all(again[k] == snaps[-1][k] for k in SAMPLE_KEYS | MIXTURE_KEYS)


def test_metrics_do_not_change_training(tmp_path, monkeypatch):
    """Measuring draws from its own stream: the generated points are identical without it."""
    a = train(tiny_config(out=str(tmp_path), data="grid", snapshots=(5, 12)), progress=False)
    monkeypatch.setattr(importlib.import_module("mixgan.training.saving"), "record_snapshot_metrics", lambda *args: None)
    b = train(tiny_config(out=str(tmp_path), data="grid", snapshots=(5, 12)), progress=False)
    fa, fb = (np.load(r / "snapshots" / "iter_000012.npz")["fake"] for r in (a, b))
    assert np.array_equal(fa, fb)
    assert not measure.snapshot_records(b) and len(measure.snapshot_records(a)) == 2


def test_non_mixture_and_diverged_points():
    spiral = toy_data.DATASETS["spiral"]
    fake = spiral.sample(200, torch.Generator().manual_seed(0)).numpy()
    rec = measure.snapshot_record(spiral, fake, None, 7, 0)
    assert set(rec) == SAMPLE_KEYS | {"kind", "iteration", "measure_s"}
    fake[:50] = np.nan  # a quarter of the points diverged
    rec = measure.snapshot_record(toy_data.DATASETS["ring"], fake, None, 7, 0)
    assert rec["nonfinite_fraction"] == 0.25
    assert rec["outside_frame_fraction"] >= 0.25
    assert all(v is None or math.isfinite(v) for v in rec.values() if not isinstance(v, str))


def test_snapshot_record_is_deterministic():
    ring = toy_data.DATASETS["ring"]
    fake = ring.sample(300, torch.Generator().manual_seed(1)).numpy()
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1), torch.nn.Flatten(0))
    a = measure.snapshot_record(ring, fake, D, 100, 4)
    b = measure.snapshot_record(ring, fake, D, 100, 4)
    c = measure.snapshot_record(ring, fake, D, 100, 5)
    drop = lambda r: {k: v for k, v in r.items() if k != "measure_s"}
    assert drop(a) == drop(b)
    assert drop(a) != drop(c)  # other seed, other fresh real points
    assert a["modes_covered"] == 8 and a["high_quality_fraction"] > 0.95


# ------------------------------------------------------------------------ tables
def test_summarize_mean_and_standard_error():
    s = tables.summarize([1.0, 2.0, 3.0, 6.0])
    assert s["mean"] == 3.0 and s["n"] == 4 and s["missing"] == 0
    # sample variance (ddof 1) = (4 + 1 + 0 + 9) / 3; s.e. = sqrt(var / 4)
    assert s["se"] == pytest.approx(math.sqrt(14 / 3 / 4))


def test_summarize_leaves_out_undefined_values():
    s = tables.summarize([None, float("nan"), 2.0, 4.0], expected=5)
    assert s["mean"] == 3.0 and s["n"] == 2 and s["missing"] == 3  # never averaged as 0
    assert tables.summarize([None, None]) == {"mean": None, "se": None, "n": 0, "missing": 2}
    one = tables.summarize([5.0, None])
    assert one["mean"] == 5.0 and one["se"] is None


def test_tabulate_and_format():
    rec = lambda kl, g: {"kind": "snapshot", "iteration": 10, "reverse_kl": kl, "modes_total": 8, "grad_norm_real": g}
    records = {("ring", "mixup", 0): {10: rec(0.5, 1.0)}, ("ring", "mixup", 1): {10: rec(None, 3.0)},
               ("ring", "standard", 0): {10: rec(None, 2.0)}}
    rows = {(r["label"], r["metric"]): r for r in tables.tabulate(records)}
    assert "modes_total" not in {m for _, m in rows}
    assert tables.format_cell(rows["mixup", "reverse_kl"]) == "0.5 [1/2]"
    assert tables.format_cell(rows["standard", "reverse_kl"]) == "—"
    assert tables.format_cell(rows["mixup", "grad_norm_real"]) == "2 ± 1"


@pytest.mark.parametrize("bad", [float("inf"), True, "x"])
def test_summarize_rejects_non_numbers(bad):
    assert tables.summarize([bad, 1.0])["n"] == 1
