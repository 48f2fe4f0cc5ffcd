"""Smoke test of scripts/compare_baselines.py with a tiny budget."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_baselines.py"


def load():
    spec = importlib.util.spec_from_file_location("compare_baselines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_comparison_writes_table_and_results(tmp_path, capsys):
    script = load()
    assert script.main(["--data", "ring", "--seeds", "0,1", "--iterations", "2", "--width", "8",
                        "--batch-size", "16", "--variants", "standard,wgan-gp-toy", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if l.startswith("| standard |") or l.startswith("| wgan-gp-toy |")]
    assert len(rows) == 2 and all(l.count("|") == 8 for l in rows)
    results = json.loads((tmp_path / "results-ring.json").read_text())["results"]
    assert [(r["variant"], r["seed"]) for r in results] == [("standard", 0), ("standard", 1),
                                                           ("wgan-gp-toy", 0), ("wgan-gp-toy", 1)]
    assert all(r["metrics"]["modes_total"] == 8 for r in results)
    assert json.loads((Path(results[2]["run"]) / "config.json").read_text())["gp_weight"] == 0.1


def test_bad_variant_or_dataset_is_one_line(tmp_path, capsys):
    script = load()
    for args, words in [(["--variants", "nope"], "unknown variant 'nope'"),
                        (["--data", "spiral"], "not a Gaussian mixture")]:
        assert script.main([*args, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_summary_cells():
    script = load()
    assert script.cell([1.0, 3.0], 1, 1, 2) == "2.0 ± 1.0"
    assert script.cell([0.5, float("nan")], 100, 0, 2) == "50 (1/2)"
    assert script.cell([float("nan")], 1, 2, 1) == "—"
