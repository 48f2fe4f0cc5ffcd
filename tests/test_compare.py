"""mixgan compare: plans, reuse of finished runs, --from, tables on disk and one-line errors."""
import csv
import json

import pytest

from mixgan.evaluation.tables import collect_records
from mixgan.experiments import compare
from mixgan.runs import folders
from mixgan.commands.main import main
from mixgan.errors import UsageError

TINY = ["--iterations", "6", "--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "48",
        "--snapshots", "2,6", "--log-every", "3", "--quiet"]


def comparison_folders(out):
    return sorted(p for p in out.iterdir() if p.name.endswith("-compare"))


def runs_of(folder):
    return sorted(p for p in folder.iterdir() if (p / "config.json").is_file())


def test_compare_trains_in_one_folder_resumes_and_retabulates(tmp_path, capsys):
    out = tmp_path / "o"
    args = ["compare", "--objectives", "standard,standard-ns", "--datasets", "ring", "--seeds", "0,1", "--out", str(out)]
    assert main(args + TINY) == 0
    first = comparison_folders(out)[-1]
    assert f"comparison folder: {first}" in capsys.readouterr().out
    assert [p.name for p in out.iterdir()] == [first.name]  # the runs live inside the comparison folder
    trained = runs_of(first)
    assert len(trained) == 4
    configs = [json.loads((run / "config.json").read_text()) for run in trained]
    assert sorted(c["g_loss"] for c in configs) == ["nonsaturating"] * 2 + ["saturating"] * 2
    assert [(c["seed"]) for c in configs] == [0, 0, 1, 1]  # seed by seed: a cut-off keeps whole seeds
    # A folder is named by the label its table row carries, so the two baselines are told apart.
    assert [run.name.split("-", 1)[1] for run in trained] == [
        f"ring-{'standard-ns' if c['g_loss'] == 'nonsaturating' else 'standard'}-s{c['seed']}" for c in configs]
    assert sorted(run.name.split("-", 1)[1] for run in trained) == [
        "ring-standard-ns-s0", "ring-standard-ns-s1", "ring-standard-s0", "ring-standard-s1"]

    for name in ("table-ring.md", "table-ring.csv", "table-ring.json", "summary.json", "plot-ring.png", "plan.json"):
        assert (first / name).stat().st_size > 100
    rows = list(csv.DictReader((first / "table-ring.csv").open()))
    assert {r["label"] for r in rows} == {"standard", "standard-ns"}
    assert {int(r["iteration"]) for r in rows} == {2, 6}
    grads = [r for r in rows if r["metric"] == "grad_norm_interp"]
    assert len(grads) == 4 and all(r["n"] == "2" and float(r["se"]) >= 0 for r in grads)
    assert "| standard-ns | 6 |" in (first / "table-ring.md").read_text()

    # --resume trains only what is missing and rewrites the tables in the same folder.
    kept = {run: (run / "generator.pt").stat().st_mtime_ns for run in trained[:3]}
    import shutil
    shutil.rmtree(trained[3])
    (first / "summary.json").unlink()
    assert main(["compare", "--resume", str(first), "--quiet"]) == 0
    assert len(runs_of(first)) == 4 and (first / "summary.json").exists()
    assert {run: (run / "generator.pt").stat().st_mtime_ns for run in trained[:3]} == kept
    assert main(["compare", "--resume", str(first), "--width", "4"]) == 2

    # --from gives the same numbers, in a new folder under --out, from a run folder list or the folder.
    rows_of = lambda f: json.loads((f / "summary.json").read_text())["rows"]  # noqa: E731
    assert main(["compare", "--from", str(first), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert rows_of(comparison_folders(tmp_path / "again")[-1]) == rows_of(first)
    assert main(["compare", "--from", ",".join(map(str, runs_of(first))), "--out", str(tmp_path / "listed"),
                 "--quiet"]) == 0
    assert rows_of(comparison_folders(tmp_path / "listed")[-1]) == rows_of(first)
    assert runs_of(first) == sorted(runs_of(first))  # nothing was written into the input folder
    assert sorted(p.name for p in first.iterdir() if p.is_dir()) == [r.name for r in runs_of(first)]


def test_dry_run_prints_the_plan_with_an_estimate_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["compare", "--datasets", "ring", "--seeds", "0,1,2", "--out", str(out), "--dry-run"] + TINY) == 0
    line = capsys.readouterr().out
    assert "6 run(s) × 6 iterations" in line and "ms/iteration" in line and "about" in line
    assert not out.exists()


def test_from_fills_in_sample_metrics_of_old_runs(tmp_path):
    out = tmp_path / "o"
    assert main(["compare", "--objectives", "mixup", "--datasets", "grid", "--seeds", "0", "--out", str(out)] + TINY) == 0
    run = next(p for p in comparison_folders(out)[-1].iterdir() if p.name.endswith("-s0"))
    # A run recorded before snapshot metrics existed: only loss records.
    lines = [l for l in folders.read_jsonl(run / "metrics.jsonl") if "kind" not in l]
    (run / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    records = collect_records({("grid", "mixup", 0): run})[("grid", "mixup", 0)]
    assert sorted(records) == [2, 6]
    assert "modes_covered" in records[6] and "grad_norm_real" not in records[6]
    # A corrupt metrics.jsonl is a one-line error, and the run is left as it was.
    (run / "metrics.jsonl").write_text('{"iteration": 3, "d_lo')
    assert main(["compare", "--from", str(out), "--quiet"]) == 2
    assert (run / "metrics.jsonl").read_text() == '{"iteration": 3, "d_lo'


def test_plan_labels_and_protocol_sample_count(monkeypatch, tmp_path):
    seen = {}

    def capture(configs, jobs, log, progress, again=None):
        from mixgan.evaluation.tables import run_key
        seen.update({run_key(c.to_dict()): c for c in configs})
        raise UsageError("stop here")

    monkeypatch.setattr(compare, "train_or_reuse", capture)
    assert main(["compare", "--objectives", "standard-ns,mixup", "--datasets", "ring,grid", "--seeds", "0,1,2",
                 "--preset", "figure5", "--width", "32", "--out", str(tmp_path)]) == 2
    assert len(seen) == 2 * 2 * 3
    c = seen["grid", "standard-ns", 2]
    assert (c.objective, c.g_loss, c.data, c.seed, c.width) == ("standard", "nonsaturating", "grid", 2, 32)
    assert c.pairing == "shuffled" and c.snapshot_size == compare.PROTOCOL_SAMPLES == 2500
    assert seen["ring", "mixup", 0].g_loss == "saturating"


@pytest.mark.parametrize("args, message", [
    (["--objectives", "standard,bogus"], "unknown objective 'bogus'"),
    (["--datasets", "ring,nowhere"], "unknown dataset 'nowhere'"),
    (["--objectives", "mixup,mixup"], "names an entry twice"),
    (["--seeds", "-1"], "--seeds must be >= 0"),
    (["--seeds", "1,1"], "--seeds names an entry twice"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--from", "/nonexistent/folder"], "no such folder"),
    (["--alpha", "-1"], "alpha must be > 0"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["compare", "--out", str(tmp_path / "o")] + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_from_refuses_training_options_and_mixed_settings(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["compare", "--from", str(tmp_path), "--width", "8"]) == 2
    assert "does not apply" in capsys.readouterr().err
    base = ["compare", "--objectives", "standard", "--datasets", "ring", "--seeds", "0", "--out", str(out)]
    assert main(base + TINY) == 0
    assert main(base + TINY[:2] + ["--width", "4"] + TINY[4:]) == 0
    with pytest.raises(UsageError, match="differ in 'width'"):
        compare.runs_in([out / f.name for f in comparison_folders(out)])
    assert main(["compare", "--from", str(tmp_path / "empty_but_real"), "--quiet"]) == 2


def test_from_tells_mixup_settings_apart_and_orders_them(tmp_path, capsys):
    """Mixup runs of several alphas, trained by separate commands, tabulate as one alpha sweep:
    each alpha its own row label, in alpha order, and the baseline keeps its plain label."""
    out = tmp_path / "o"
    base = ["compare", "--datasets", "ring", "--seeds", "0", "--out", str(out)] + TINY
    for objectives, alpha in (("mixup", "0.4"), ("standard,mixup", "0.1")):
        assert main(base + ["--objectives", objectives, "--alpha", alpha]) == 0
    made = comparison_folders(out)
    capsys.readouterr()
    assert main(["compare", "--from", ",".join(map(str, made)), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    table = comparison_folders(tmp_path / "t")[0]
    labels = list(dict.fromkeys(r["label"] for r in json.loads((table / "summary.json").read_text())["rows"]))
    assert labels == ["mixup α=0.1", "mixup α=0.4", "standard"]
    only_mixup = compare.runs_in(made, labels=["mixup"])
    assert sorted(key[1] for key in only_mixup) == ["mixup α=0.1", "mixup α=0.4"]
    # Runs of one alpha, tabulated alone, keep the plain label.
    assert [key[1] for key in compare.runs_in([made[0]])] == ["mixup"]


def test_compare_from_names_and_skips_unfinished_runs(tmp_path, capsys):
    """An interrupted run is reported on stderr and left out of the tables, never averaged in part."""
    from mixgan.runs import status
    from mixgan.commands.main import main as cli_main
    from conftest import tiny_config
    from mixgan.training import train
    done = [train(tiny_config(out=str(tmp_path), objective="standard", data="ring", seed=s), progress=False)
            for s in (0, 1)]
    status.write_status(done[1], "interrupted", reason="stopped by SIGINT")
    assert cli_main(["compare", "--from", str(tmp_path), "--out", str(tmp_path / "tables")]) == 0
    captured = capsys.readouterr()
    assert "skipping unfinished run" in captured.err and done[1].name in captured.err
    table = next((tmp_path / "tables").glob("*-compare")) / "summary.json"
    assert table.exists()


def test_compare_tabulates_the_baseline_objectives(tmp_path, capsys):
    from mixgan.commands.main import main as cli_main
    assert cli_main(["compare", "--objectives", "wgan-gp,hinge,lsgan", "--datasets", "ring", "--seeds", "0",
                     "--out", str(tmp_path), *TINY]) == 0
    table = (next(tmp_path.glob("*-compare")) / "table-ring.md").read_text()
    for name in ("wgan-gp", "hinge", "lsgan"):
        assert name in table


def test_compare_tabulates_image_runs_with_the_classifier_metrics(tmp_path, capsys):
    from mixgan.commands.main import main as cli_main
    assert cli_main(["compare", "--objectives", "standard,mixup", "--datasets", "digits", "--seeds", "0",
                     "--iterations", "2", "--batch-size", "16", "--snapshot-size", "64", "--width", "8",
                     "--out", str(tmp_path), "--quiet"]) == 0
    table = (next(tmp_path.glob("*-compare")) / "table-digits.md").read_text()
    for metric in ("classes_covered", "class_kl", "classifier_fd"):
        assert metric in table


def test_resume_leaves_a_nan_failed_run_and_refuses_one_another_process_trains(tmp_path, capsys):
    from mixgan.runs import status
    out = tmp_path / "o"
    assert main(["compare", "--objectives", "standard,mixup", "--datasets", "ring", "--seeds", "0",
                 "--out", str(out)] + TINY) == 0
    first = comparison_folders(out)[-1]
    standard, mixup = runs_of(first)
    capsys.readouterr()

    # A NaN failure is seeded: training the config again would fail in the same place, so it is
    # left as it is (and named), and nothing new is trained in its place.
    status.write_status(standard, "failed", "d_loss became nan at iteration 4", 3, resumable=False)
    (first / "summary.json").unlink()
    main(["compare", "--resume", str(first), "--quiet"])
    assert runs_of(first) == [standard, mixup]
    assert f"run {standard} failed: d_loss became nan at iteration 4; left as it is" in capsys.readouterr().err
    assert status.read_status(standard)["state"] == "failed"
    assert (first / "summary.json").exists()

    # A run some other process holds is refused in one line, before anything is trained or written.
    status.write_status(mixup, "running", "", 3)
    lock = status.RunLock(mixup).acquire()
    try:
        before = sorted(p.name for p in first.iterdir())
        assert main(["compare", "--resume", str(first), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"mixgan: error: run {mixup} is still training (last checkpoint at iteration 3) in another process; "
                       "run this command again when that one has ended"]
        assert sorted(p.name for p in first.iterdir()) == before
    finally:
        lock.release()
