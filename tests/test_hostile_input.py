"""Hostile and odd input: property tests over the config and the CLI, sizes that
would exhaust memory, odd paths, read-only and full disks. Bad input is exit status 2 with
one line, and never changes an existing run."""
import errno
import hashlib
import math
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import tiny_config
from mixgan.runs import folders
from mixgan.runs import status
from mixgan.commands.main import main
from mixgan.config import FIELDS, TrainConfig
from mixgan.errors import UsageError
from mixgan.training.memory import estimate_bytes
from mixgan.training.resuming import resume
from mixgan.training import train

TINY = ["--width", "8", "--depth", "1", "--batch-size", "8", "--snapshot-size", "16", "--iterations", "6",
        "--log-every", "2", "--checkpoint-every", "2", "--device", "cpu", "--quiet"]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    """An output folder holding one finished run, and a fingerprint of every file in it."""
    out = tmp_path_factory.mktemp("existing")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(tiny_config(out=str(out), iterations=4, snapshots=(4,)), progress=False)
    finally:
        torch.set_num_threads(threads)
    return out, fingerprint(out)


def fingerprint(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(Path(folder).rglob("*"))}


HOSTILE_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, -1, -1.5, 0, 0.0, -0.0, 1e308, 2**63, 10**30,
                                   -(2**63), True, False, None, "", "5", "ü", [], [1], {}, 1e-320])
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "-1", "0", "1e400", "99999999999999999999999", "", " ", "1,,2",
                     "x", "ü", "☃ ñ", "--", "1e-400", "0x10", "1_000", "∞", "\x00"]),
    st.text(min_size=0, max_size=8))


@PROPERTY
@given(name=st.sampled_from(sorted(FIELDS)), value=st.one_of(HOSTILE_NUMBERS, st.text(max_size=6),
                                                             st.integers(), st.floats()))
def test_config_accepts_a_valid_value_or_raises_one_line_usage_error(name, value):
    try:
        c = TrainConfig(**{name: value})
    except UsageError as e:
        assert str(e) and "\n" not in str(e)
        return
    got, kind = getattr(c, name), FIELDS[name].type  # accepted: then a sane value of the field's kind
    assert not isinstance(got, bool)
    if kind is float:
        assert isinstance(got, (int, float)) and math.isfinite(got)
    if kind is int and name != "seed":
        assert isinstance(got, int) and got >= 1
    if kind is int and name == "seed":
        assert got >= 0


def _check_one_line_exit_2_or_valid(code, err, out_folder, before):
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("mixgan: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert fingerprint(out_folder) == before  # nothing under the existing run changed, nothing added


@PROPERTY
@given(options=st.lists(st.tuples(st.sampled_from(sorted(FIELDS)), HOSTILE_TEXT), min_size=1, max_size=3))
def test_cli_options_exit_2_with_one_line_or_are_valid(existing, capsys, options):
    out, before = existing
    args = [a for name, value in options for a in ("--" + name.replace("_", "-"), value)]
    code = main(["train", *args, "--out", str(out), "--dry-run"])
    _check_one_line_exit_2_or_valid(code, capsys.readouterr().err, out, before)


@PROPERTY
@given(path=HOSTILE_TEXT, extra=st.sampled_from([[], ["--width", "4"], ["--dry-run"], ["--config", "x.toml"]]))
def test_resume_with_odd_paths_exits_2_with_one_line(existing, capsys, path, extra):
    out, before = existing
    code = main(["train", "--resume", str(out / path) if path else path, *extra, "--quiet"])
    if path in ("", ".") or ("\x00" not in path and (out / path).resolve() == out.resolve()):
        assert code == 2
    _check_one_line_exit_2_or_valid(code, capsys.readouterr().err, out, before)


@pytest.mark.parametrize("args", [
    ["--batch-size", str(1 << 20), "--d-steps", "1000"],
    ["--width", str(1 << 14), "--depth", "64"],
    ["--snapshot-size", str(1 << 20), "--width", str(1 << 14), "--z-dim", str(1 << 14)],
])
def test_sizes_that_would_exhaust_memory_are_refused_before_allocating(tmp_path, capsys, args):
    out = tmp_path / "runs"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["train", *args, "--out", str(out), "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "this run needs about" in err and "GiB" in err and err.count("\n") == 1
    assert not out.exists()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 500_000  # KiB: nothing big was allocated


def test_memory_estimate_grows_with_every_size_and_passes_the_paper_setting():
    base = TrainConfig(preset="figure5")
    assert estimate_bytes(base) < 2**30  # the paper's run needs well under a GiB
    for name in ("width", "depth", "batch_size", "d_steps", "z_dim", "snapshot_size"):
        bigger = TrainConfig(**{**base.to_dict(), name: getattr(base, name) * 2})
        assert estimate_bytes(bigger) > estimate_bytes(base), name


@pytest.mark.parametrize("image", [False, True])
def test_memory_estimate_counts_the_weight_average(image):
    """With ``ema`` a run holds a second copy of G's weights: at least that much more is asked for."""
    from mixgan.nets import make_networks
    base = TrainConfig(preset="dcgan", data="digits", width=16) if image else TrainConfig(preset="figure5")
    shape = [1, 8, 8] if image else 2
    G, _ = make_networks(shape, base)
    averaged = TrainConfig(**{**base.to_dict(), "ema": 0.999})
    assert estimate_bytes(averaged, shape) - estimate_bytes(base, shape) >= 4 * sum(p.numel() for p in G.parameters())


def test_unicode_and_spaces_in_paths_train_and_resume(tmp_path, capsys):
    out = tmp_path / "a folder ☃" / "ñ runs"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    (run,) = out.glob("0*")
    status.write_status(run, "interrupted", "test", 4)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert status.read_status(run)["state"] == "finished"


def test_a_read_only_output_folder_is_one_line(tmp_path, capsys, monkeypatch):
    """Root ignores permission bits, so the refusal is simulated where the folder is made."""
    def refuse(self, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))
    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["train", *TINY, "--out", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and err.count("\n") == 1


def test_a_full_disk_mid_run_fails_cleanly_and_the_run_resumes(tmp_path, capsys, monkeypatch, existing):
    """Writes start failing with ENOSPC after a few files: one line, exit 2, the run marked
    failed but resumable, other runs untouched; with space again, resume finishes it."""
    import shutil
    out = tmp_path / "runs"
    shutil.copytree(existing[0], out)  # another run beside the one that meets the full disk
    before = fingerprint(out)
    real, calls = folders.atomic_write_bytes, {"n": 0}

    def filling_up(path, data):
        calls["n"] += 1
        if calls["n"] > 6 and Path(path).name != "status.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)
    monkeypatch.setattr(folders, "atomic_write_bytes", filling_up)
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "mixgan train --resume" in err and err.count("\n") == 1
    monkeypatch.undo()
    new = [r for r in out.glob("0*") if str(r.relative_to(out)) not in before]
    (run,) = new
    st = status.read_status(run)
    assert st["state"] == "failed" and st["resumable"] and "No space left" in st["reason"]
    assert {k: v for k, v in fingerprint(out).items() if k in before} == before
    assert resume(run, progress=False) == (run, True)
    assert status.read_status(run)["state"] == "finished"


def test_a_tiny_file_size_quota_is_one_line_and_exit_2(tmp_path):
    """A real limit, not a patch: RLIMIT_FSIZE makes every write past 64 KiB fail with EFBIG."""
    def quota():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1",
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    r = subprocess.run([sys.executable, "-m", "mixgan", "train", *TINY, "--width", "128", "--depth", "2",
                        "--out", str(tmp_path / "runs")], env=env, capture_output=True, text=True,
                       preexec_fn=quota, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "cannot write to the run folder" in r.stderr and r.stderr.count("\n") == 1
    (run,) = (tmp_path / "runs").glob("0*")
    assert status.read_status(run)["state"] == "failed"
    assert not list(run.rglob(".*.tmp"))  # no half-written file left behind


def test_a_failed_metrics_append_leaves_no_half_line(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    folders.append_jsonl(path, {"iteration": 1})
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:5]))  # the disk fills mid-line
    with pytest.raises(OSError, match="No space left"):
        folders.append_jsonl(path, {"iteration": 2, "d_loss": 0.5})
    monkeypatch.undo()
    assert path.read_text() == '{"iteration": 1}\n'


@PROPERTY
@given(out=HOSTILE_TEXT, config_file=st.one_of(st.none(), HOSTILE_TEXT))
def test_odd_output_folders_and_config_paths_exit_2_or_train(tmp_path, capsys, out, config_file, existing):
    """The output folder and config file as given on the command line (relative to a scratch folder)."""
    folder, before = existing
    args = ["--config", str(tmp_path / config_file)] if config_file is not None else []
    target = str(tmp_path / "o" / out.lstrip("/").replace("..", "__"))  # never outside the scratch folder
    code = main(["train", *TINY, "--iterations", "1", "--out", target, *args])
    _check_one_line_exit_2_or_valid(code, capsys.readouterr().err, folder, before)


def test_huge_image_runs_are_refused_before_allocating(tmp_path, capsys):
    """The conv nets get their own (generous) estimate: a huge batch on digits is one line, exit 2."""
    from mixgan.commands.main import main
    out = tmp_path / "runs"
    assert main(["train", "--data", "digits", "--batch-size", "1000000", "--d-steps", "500", "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and err.count("\n") == 1
    assert not out.exists()
