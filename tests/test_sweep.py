"""mixgan sweep: the grid, its batches, the end-to-end command and its summary."""
import json
import math
import sys

import pytest
from hypothesis import given, strategies as st

from mixgan.commands.main import main
from mixgan.evaluation.tables import summarize
from mixgan.experiments.sweep import grid_configs, plan_batches
from mixgan.training.memory import estimate_bytes

TINY = ["--iterations", "6", "--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "48",
        "--log-every", "3"]


def test_sweep_end_to_end(tmp_path, capsys):
    assert main(["sweep", "--datasets", "ring,grid", "--objectives", "standard,mixup", "--alphas", "0.1,0.5",
                 "--seeds", "0,1", "--out", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    assert "sweep: 12 runs in 2 batches" in out
    sweep = tmp_path / "00000-sweep"
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 12  # 2 data × (1 standard + 2 α) × 2 seeds
    for run in runs:  # each an ordinary run folder
        assert {"config.json", "metrics.jsonl", "generator.pt", "discriminator.pt", "snapshots"} <= \
            {p.name for p in run.iterdir()}
        assert (run / "snapshots" / "iter_000006.npz").exists()
    configs = [json.loads((r / "config.json").read_text()) for r in runs]
    assert sorted({(c["data"], c["objective"], c["alpha"] if c["objective"] == "mixup" else None, c["seed"])
                   for c in configs}, key=str) == sorted(
        {(d, "standard", None, s) for d in ("ring", "grid") for s in (0, 1)} |
        {(d, "mixup", a, s) for d in ("ring", "grid") for a in (0.1, 0.5) for s in (0, 1)}, key=str)
    summary = json.loads((sweep / "summary.json").read_text())
    last = [r for r in summary["rows"] if r["iteration"] == 6 and r["metric"] == "energy_distance"]
    assert sorted((r["data"], r["label"]) for r in last) == sorted(
        (d, label) for d in ("ring", "grid") for label in ("standard", "mixup α=0.1", "mixup α=0.5"))
    assert all(r["n"] == 2 and r["missing"] == 0 for r in last)
    assert len(summary["meta"]["runs"]) == 12
    assert "| mixup α=0.5 | 6 |" in (sweep / "summary.md").read_text()


def test_dry_run_plans_and_writes_nothing(tmp_path, capsys):
    assert main(["sweep", "--seeds", "0,1,2,3,4", "--max-runs", "4", "--dry-run", "--out", str(tmp_path / "o"), *TINY]) == 0
    out = capsys.readouterr().out
    # 2 data × (standard + mixup) × 5 seeds = 20 runs; standard and mixup batch apart, ≤ 4 a batch.
    assert "sweep: 20 runs in 6 batches of at most 4 runs" in out
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--datasets", "ring,nowhere"], "unknown dataset 'nowhere'"),
    (["--objectives", "mixup,bogus"], "unknown objective 'bogus'"),
    (["--alphas", "0.2,x"], "comma-separated numbers"),
    (["--alphas", "-1"], "alpha must be > 0"),
    (["--seeds", "-1"], "--seeds must be >= 0"),
    (["--max-runs", "many"], "--max-runs expects a whole number"),
    (["--width", "0"], "width must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert main(["sweep", "--out", str(tmp_path / "o"), *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_batches_respect_max_runs_budget_and_shared_shapes():
    configs = grid_configs(dict(iterations=2, width=8), ["ring", "grid"], ["standard", "mixup"], [0.1, 0.2],
                           ["beta", "uniform"], range(3))
    assert len(configs) == 2 * 3 + 2 * 2 * 2 * 3
    batches = plan_batches(configs, max_runs=5, budget=1 << 40)
    assert sum(map(len, batches)) == len(configs) and max(map(len, batches)) == 5
    assert all(len({c.objective for c in b}) == 1 for b in batches)
    one_each = plan_batches(configs, max_runs=None, budget=estimate_bytes(configs[0]))
    assert all(len(b) == 1 for b in one_each)


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=20))
def test_mean_and_error(values):
    cell = summarize(values + [math.nan])  # NaN (undefined metrics) are left out
    mean, err = cell["mean"], cell["se"]
    assert mean == pytest.approx(sum(values) / len(values), abs=1e-6)
    n = len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    assert err == pytest.approx(sd / math.sqrt(n), rel=1e-6, abs=1e-6)
    assert cell["n"] == n and cell["missing"] == 1
    assert summarize([math.nan])["mean"] is None


def test_summary_of_a_damaged_run_is_a_usage_error(tmp_path):
    from conftest import tiny_config
    from mixgan.training.batched import train_batched
    from mixgan.errors import UsageError
    from mixgan.experiments.sweep import summarise
    run, = train_batched([tiny_config(out=str(tmp_path), iterations=2)], progress=False)
    (run / "metrics.jsonl").write_text("{not json\n")
    with pytest.raises(UsageError, match="corrupt"):
        summarise(tmp_path, [run])


def test_sweep_trains_what_the_batched_engine_does_not_cover_alone(tmp_path, capsys):
    """Baseline objectives and penalties go through sweep too: such runs train alone with train(),
    never batched with their options silently dropped."""
    assert main(["sweep", "--datasets", "ring", "--objectives", "wgan-gp,hinge,mixup", "--seeds", "0,1",
                 "--out", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    assert "sweep: 6 runs in 5 batches" in out  # 4 alone + the 2 mixup runs batched
    sweep = tmp_path / "00000-sweep"
    configs = [json.loads((r / "config.json").read_text()) for r in sweep.iterdir() if r.is_dir()]
    assert sorted(c["objective"] for c in configs) == ["hinge", "hinge", "mixup", "mixup", "wgan-gp", "wgan-gp"]
    summary = json.loads((sweep / "summary.json").read_text())
    assert sorted({r["label"] for r in summary["rows"]}) == ["hinge", "mixup", "wgan-gp"]
    assert all(r["n"] == 2 for r in summary["rows"] if r["metric"] == "energy_distance")


def test_options_the_batched_loop_lacks_are_never_batched():
    from mixgan.training.batched import batchable, check_batch
    from mixgan.errors import UsageError
    from conftest import tiny_config
    plain = tiny_config(objective="mixup")
    assert batchable(plain)
    assert batchable(tiny_config(objective="mixup", frames=3))  # frames are saved by the batched engine too
    for options in ({"r1": 1.0}, {"r2": 0.5}, {"spectral_norm": True}, {"mixup_layer": 1}):
        c = tiny_config(objective="mixup", **options)
        assert not batchable(c)
        with pytest.raises(UsageError, match="train such runs alone"):
            check_batch([c])
        assert plan_batches([plain, c, plain], None, 1 << 30) == [[c], [plain, plain]]


def test_sweep_and_compare_give_the_same_numbers_for_the_same_runs(tmp_path, capsys):
    """One table system: the sweep's summary and a comparison of the sweep's runs agree row by row."""
    assert main(["sweep", "--datasets", "ring,grid", "--objectives", "standard,mixup", "--seeds", "0,1",
                 "--out", str(tmp_path), *TINY]) == 0
    sweep = tmp_path / "00000-sweep"
    assert main(["compare", "--from", str(sweep), "--out", str(tmp_path), "--quiet"]) == 0
    compared = next(tmp_path.glob("*-compare"))
    rows = {name: json.loads((folder / "summary.json").read_text())["rows"] for name, folder in
            (("sweep", sweep), ("compare", compared))}
    key = lambda r: (r["data"], r["label"], r["iteration"], r["metric"])  # noqa: E731
    assert sorted(rows["sweep"], key=key) == sorted(rows["compare"], key=key)
    assert {r["label"] for r in rows["sweep"]} == {"standard", "mixup"} and len(rows["sweep"]) > 40
    for name in ("table-ring.csv", "table-grid.md"):
        assert (sweep / name).read_text() == (compared / name).read_text()


def test_a_sweep_of_image_runs_tabulates_their_image_metrics(tmp_path, capsys):
    assert main(["sweep", "--datasets", "digits", "--objectives", "standard,mixup", "--seeds", "0", "--iterations", "2",
                 "--batch-size", "16", "--snapshot-size", "64", "--width", "8", "--out", str(tmp_path),
                 "--quiet"]) == 0
    summary = (tmp_path / "00000-sweep" / "summary.md").read_text()
    assert "classes_covered" in summary and "| mixup | 2 |" in summary and "| standard | 2 |" in summary


def test_the_ray_executor_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    from conftest import assert_refused
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: import fails
    assert_refused(capsys, ["sweep", "--executor", "ray", "--out", str(tmp_path / "o"), *TINY],
                   "--executor ray needs Ray, which is not installed: pip install 'mixgan[ray]'", tmp_path / "o")


def test_address_belongs_to_the_ray_executor(tmp_path, capsys):
    from conftest import assert_refused
    assert_refused(capsys, ["sweep", "--address", "auto", "--out", str(tmp_path / "o"), *TINY],
                   "--address applies to --executor ray only", tmp_path / "o")
