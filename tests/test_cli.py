import json
import os
import subprocess
import sys

import pytest

from conftest import assert_refused
from mixgan.commands.main import main

TINY = ["--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32", "--no-progress"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mixgan", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_train_as_a_subprocess(tmp_path):
    r = run_cli("train", "--objective", "mixup", "--data", "spiral", "--iterations", "12", "--out",
                str(tmp_path), *TINY)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "00000-spiral-mixup-s0"
    assert f"run folder: {run}" in r.stdout
    assert (run / "snapshots" / "iter_000012.png").exists()
    assert json.loads((run / "config.json").read_text())["iterations"] == 12


def test_dry_run_prints_config_and_writes_nothing(tmp_path, capsys):
    assert main(["train", "--preset", "figure5", "--objective", "standard", "--dry-run",
                 "--out", str(tmp_path / "o")]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["pairing"] == "shuffled" and config["objective"] == "standard"
    assert not (tmp_path / "o").exists()


def test_config_file_with_cli_override(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text('objective = "standard"\nalpha = 0.4\n')
    assert main(["train", "--config", str(f), "--alpha", "0.3", "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["objective"] == "standard" and config["alpha"] == 0.3


BAD = {
    "unknown objective": (["--objective", "wgan"], "standard, mixup"),
    "unknown dataset": (["--data", "mnist2"], "ring, grid, spiral"),
    "alpha zero": (["--alpha", "0"], "alpha must be > 0"),
    "alpha negative": (["--alpha", "-0.5"], "alpha must be > 0"),
    "iterations zero": (["--iterations", "0"], "iterations must be >= 1"),
    "snapshot outside": (["--iterations", "50", "--snapshots", "10,60"], "outside 1..50"),
    "snapshot zero": (["--snapshots", "0"], "outside 1.."),
    "not a number": (["--width", "wide"], "whole number"),
    "missing config": (["--config", "nope.toml"], "cannot read config file"),
    "unknown flag": (["--colour", "red"], "unrecognized"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    args, words = BAD[case]
    out = tmp_path / "runs"
    assert_refused(capsys, ["train", *args, "--out", str(out), *TINY], words, out)


def test_malformed_and_unknown_key_config_files(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("alpha = [")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("alpha = 0.3\nwdith = 4\n")
    for f, words in [(bad, "malformed config file"), (unknown, "unknown option 'wdith'")]:
        assert main(["train", "--config", str(f), "--out", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["train", "--out", str(blocker / "runs"), "--iterations", "2", *TINY]) == 2
    err = capsys.readouterr().err
    assert "output folder" in err and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_folder(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    assert main(["train", "--out", str(out), "--iterations", "2", *TINY]) == 2
    assert list(out.iterdir()) == []


def test_bad_input_via_subprocess_has_no_traceback(tmp_path):
    r = run_cli("train", "--objective", "nope", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_run_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result must still be readable by others."""
    from conftest import tiny_config
    from mixgan.training import train
    run = train(tiny_config(out=str(tmp_path), iterations=2), progress=False)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "generator.pt", "snapshots/iter_000002.png"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
