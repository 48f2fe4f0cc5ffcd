"""scripts/rounding_drift.py at a tiny size: the same run trained the same way twice is bitwise
itself, and the stored reference run (trained elsewhere) stays within float rounding of a run
trained here with its options."""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rounding_drift.py"
STORED = ROOT / "tests" / "data" / "reference" / "00000-ring-mixup-s3"


def load():
    spec = importlib.util.spec_from_file_location("rounding_drift", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(out):
    """{row name: [(largest difference, modes) per snapshot iteration]}"""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 1 and re.fullmatch(r"[-+.\deE]+ \(.*\)", cells[1]):
            rows[cells[0]] = [(float(c.split()[0]), c.split()[1].strip("()")) for c in cells[1:]]
    return rows


def test_drift_table_against_the_stored_run(tmp_path, capsys, one_thread):
    from mixgan.training import threads
    assert load().main(["--against", str(STORED), "--iterations", "20", "--snapshots", "10,20",
                        "--threads", "2", "--batches", "2,3", "--out", str(tmp_path)]) == 0
    assert threads.requested() is None  # the script leaves the process's thread policy as it was
    rows = table(capsys.readouterr().out)
    names = list(rows)
    assert names[:5] == ["alone, 1 thread", "alone, 1 thread, again", "alone, 2 threads",
                         "in a batch of 2, 1 thread", "in a batch of 3, 1 thread"]
    assert names[5].startswith("trained elsewhere") and len(names) == 6
    assert all(d == 0 for d, _ in rows["alone, 1 thread"] + rows["alone, 1 thread, again"])
    for name in names[2:]:
        # at this size and length the ways part only in float rounding; the modes column is recorded
        assert all(d < 1e-3 and modes.isdigit() for d, modes in rows[name]), (name, rows[name])
    # the batches really held other runs: ring seed 3 beside grid seed 3, then ring seed 4
    assert {p.name for p in (tmp_path / "way4").iterdir()} >= {"00000-ring-mixup-s3", "00001-grid-mixup-s3",
                                                               "00002-ring-mixup-s4"}


@pytest.mark.parametrize("args", [["--snapshots", "10,2000"], ["--batches", "1"], ["--threads", "0"],
                                  ["--snapshots", "10,x"], ["--seed"], ["--objective", "nope"]])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, args):
    assert load().main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rounding_drift: ") and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_a_stored_run_without_the_snapshots_asked_for_is_one_line(tmp_path, capsys):
    assert load().main(["--against", str(STORED), "--iterations", "30", "--snapshots", "10,30",
                        "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "has no snapshot at iteration 30" in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_companions_fill_a_batch_with_the_other_dataset_then_later_seeds():
    companions = load().companions
    assert companions("ring", 2, 5) == [("grid", 2), ("ring", 3), ("grid", 3), ("ring", 4), ("grid", 4)]
    assert companions("spiral", 0, 2) == [("spiral", 1), ("spiral", 2)]
