"""Progress of several runs: bars read what the runs write; no bars without a terminal."""
import json

from conftest import tiny_config
from mixgan.experiments import progress
from mixgan.experiments.workers import train_all


def write_run(folder, config, iterations):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**config.to_dict(), "recorded": {"device": "cpu"}}))
    lines = [{"iteration": i, "d_loss": 0.5} for i in iterations]
    lines.insert(1, {"kind": "snapshot", "iteration": 999})  # snapshot records do not count
    (folder / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines) + '{"iteration": 7')


def test_last_iteration_skips_snapshot_records_and_a_line_being_written(tmp_path):
    config = tiny_config(out=str(tmp_path), iterations=40)
    write_run(tmp_path / "00000-a", config, [10, 20, 30])
    assert progress.last_iteration(tmp_path / "00000-a") == 30
    assert progress.last_iteration(tmp_path / "missing") == 0


def test_bars_follow_the_runs_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "bars_wanted", lambda enabled, stream=None: enabled)
    configs = [tiny_config(out=str(tmp_path), iterations=40, seed=s) for s in range(3)]
    tasks = [(c, None) for c in configs]
    with progress.RunBars(tasks, label=lambda c: f"s{c.seed}") as bars:
        assert bars.enabled
        write_run(tmp_path / "00000-s0", configs[0], [10, 20])
        write_run(tmp_path / "00001-s2", configs[2], [10, 20, 30, 40])
        bars._update()
        per_run = {k: b.n for k, b in bars.bars.items()}
        assert sorted(per_run.values()) == [0, 20, 40]
        assert bars.overall.n == 60 and bars.overall.total == 120


def test_no_bars_without_a_terminal_but_one_line_per_run(tmp_path, capsys):
    configs = [tiny_config(out=str(tmp_path), iterations=4, seed=s, snapshots=(4,)) for s in range(2)]
    assert not progress.RunBars([(c, None) for c in configs], enabled=True).enabled  # captured: not a tty
    results = train_all([(c, None) for c in configs], workers=1, progress=True, label=lambda c: f"seed {c.seed}")
    out = capsys.readouterr()
    lines = [l for l in out.out.splitlines() if l.strip()]
    assert len(results) == 2 and len(lines) == 2 and lines[0].strip().startswith("seed 0:")
    assert "\r" not in out.err and "it/s" not in out.err
