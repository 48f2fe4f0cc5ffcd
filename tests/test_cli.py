import json
import os
import subprocess
import sys

import pytest

from conftest import assert_refused
from mixgan.commands.main import main

TINY = ["--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32", "--quiet"]


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


@pytest.mark.parametrize("argv", [["compare", "--seed", "3"], ["sweep", "--max", "2"], ["train", "--iter", "5"],
                                  ["figure5", "--qu"]])
def test_abbreviated_options_are_refused_not_guessed(tmp_path, capsys, argv):
    assert_refused(capsys, [*argv, "--out", str(tmp_path / "o")], "unrecognized arguments", tmp_path / "o")


def test_version(capsys):
    from importlib.metadata import version
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"mixgan {version('mixgan')}"


def test_sample_draws_from_the_trained_generator(tmp_path, capsys):
    import numpy as np
    from mixgan import sample
    assert main(["train", "--data", "ring", "--iterations", "6", "--out", str(tmp_path / "runs"), *TINY]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert main(["sample", str(run), "--n", "300", "--seed", "4", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as z:
        drawn = z["fake"]
    assert drawn.shape == (300, 2) and np.array_equal(drawn, sample(run, n=300, seed=4))
    assert not np.array_equal(drawn, sample(run, n=300, seed=5))  # another seed, other noise
    # the final generator is the one that made the last snapshot from the fixed noise
    import torch
    from mixgan import load_run
    from mixgan.runs import checkpoints
    opened = load_run(run)
    fixed_z = checkpoints.load(checkpoints.path_for(run, 6))["fixed_z"]
    with torch.no_grad():
        np.testing.assert_array_equal(opened.generator()(fixed_z).numpy(), opened.arrays(6)["fake"])
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert "samples:" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["--out", "x.txt"], "must end in .npz or .png"),
    (["--n", "0"], "--n must be >= 1"),
    (["--n", "2000000"], "beyond the supported maximum"),
    (["--iteration", "3"], "keeps no checkpoint at iteration 3"),
])
def test_sample_refuses_bad_input_in_one_line(tmp_path, capsys, args, words):
    assert main(["train", "--data", "ring", "--iterations", "4", "--out", str(tmp_path / "runs"), *TINY]) == 0
    run = next((tmp_path / "runs").iterdir())
    argv = ["sample", str(run), *args]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "s.npz")]
    capsys.readouterr()
    assert_refused(capsys, argv, words, tmp_path / "s.npz")


def test_sample_never_overwrites_and_names_a_missing_run(tmp_path, capsys):
    (tmp_path / "s.npz").write_bytes(b"mine")
    assert_refused(capsys, ["sample", str(tmp_path / "nothing"), "--out", str(tmp_path / "t.npz")],
                   "does not exist", tmp_path / "t.npz")
    assert main(["sample", str(tmp_path / "nothing"), "--out", str(tmp_path / "s.npz")]) == 2
    assert "exists already" in capsys.readouterr().err and (tmp_path / "s.npz").read_bytes() == b"mine"


def test_the_suite_runs_the_same_when_started_in_the_background(tmp_path):
    """A background job starts with SIGINT ignored; mixgan still stops cleanly on SIGINT then."""
    script = ("import signal, subprocess, sys\n"
              "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # what `cmd &` does in a shell
              "sys.exit(subprocess.call([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', "
              "'tests/test_batched_resume.py::test_ctrl_c_checkpoints_every_run_and_the_batch_resumes_exactly', "
              "'tests/test_resume.py::test_sigint_checkpoints_marks_interrupted_and_says_how_to_resume'], "
              "stdin=subprocess.DEVNULL))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd()}, stdin=subprocess.DEVNULL,
                          start_new_session=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
