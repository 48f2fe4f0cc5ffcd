"""Exact resume: killed with SIGKILL, interrupted with SIGINT/SIGTERM or crashed, a
resumed CPU run ends bitwise where the same run left alone ends, with the same metrics lines."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import crash_at_generator_step, tiny_config
from mixgan import objectives
from mixgan.runs import status
from mixgan.commands.main import main
from mixgan.errors import RunInterrupted, UsageError
from mixgan.training.resuming import resume
from mixgan.runs.folders import create_run_folder, read_jsonl
from mixgan.training import train

# A small run that still takes a few seconds on one thread: long enough to be killed mid-way.
SMALL = dict(iterations=400, width=12, depth=2, batch_size=16, d_steps=2, snapshot_size=64, log_every=10,
             checkpoint_every=25, snapshots=(100, 250, 400), seed=5, device="cpu")
SMALL_ARGS = [a for k, v in SMALL.items() for a in ("--" + k.replace("_", "-"),
              ",".join(map(str, v)) if isinstance(v, tuple) else str(v))] + ["--quiet"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the subprocesses run (ENV): faster on a shared CPU, and the same
    arithmetic in both."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mixgan(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "mixgan", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def metric_lines(run):
    p = run / "metrics.jsonl"
    return p.read_text().count("\n") if p.exists() else 0


def signal_when(proc, run_glob, lines, sig):
    """Send ``sig`` once the run's metrics.jsonl has ``lines`` lines; True if it was still running."""
    while proc.poll() is None:
        found = sorted(run_glob())
        if found and metric_lines(found[0]) >= lines:
            proc.send_signal(sig)
            proc.wait()
            return True
        time.sleep(0.002)
    return False


def run_pid(run):
    """The pid in a run's status.json, None while it has none (or it is being replaced)."""
    try:
        return json.loads((run / "status.json").read_text()).get("pid")
    except (OSError, ValueError):
        return None


def final_state(run):
    """What must match bitwise: every snapshot array, the final weights, and the metrics lines
    (all fields but the wall-clock time)."""
    snaps = {p.name: dict(np.load(p)) for p in sorted((run / "snapshots").glob("*.npz"))}
    weights = {n: torch.load(run / n) for n in ("generator.pt", "discriminator.pt", "generator_ema.pt")
               if n != "generator_ema.pt" or (run / n).exists()}
    metrics = [{k: v for k, v in line.items() if k not in ("elapsed_s", "measure_s")} for line in read_jsonl(run / "metrics.jsonl")]
    return snaps, weights, metrics


def assert_same_run(a, b):
    sa, wa, ma = final_state(a)
    sb, wb, mb = final_state(b)
    assert sa.keys() == sb.keys() and wa.keys() == wb.keys()
    for name in sa:
        for k in sa[name]:
            assert np.array_equal(sa[name][k], sb[name][k]), (name, k)
            assert sa[name][k].tobytes() == sb[name][k].tobytes()
    for n in wa:
        for k in wa[n]:
            assert torch.equal(wa[n][k], wb[n][k]), (n, k)
    assert ma == mb


def test_killed_and_stopped_at_several_points_then_resumed_is_bitwise_identical(tmp_path):
    """SIGKILL early, SIGTERM later, SIGKILL again, then resume to the end; a reference run
    started at the same moment under the same folder is left alone (and gets its own folder)."""
    out = tmp_path / "runs"
    reference = mixgan("train", *SMALL_ARGS, "--out", str(out))
    proc = mixgan("train", *SMALL_ARGS, "--out", str(out))
    mine = lambda: [r for r in out.glob("0*") if run_pid(r) == proc.pid]  # noqa: E731
    stopped = [signal_when(proc, mine, 1, signal.SIGKILL)]  # before the first checkpoint, or just after
    run = mine()[0] if mine() else None
    assert run is not None, "the killed run wrote no status"
    proc = mixgan("train", "--resume", str(run), "--quiet")
    stopped.append(signal_when(proc, lambda: [run], 18, signal.SIGTERM))  # after the 100 snapshot
    if stopped[-1]:
        err = proc.stderr.read()
        assert proc.returncode == 143 and err.count("\n") == 1 and "mixgan train --resume" in err
        assert status.read_status(run)["state"] == "interrupted"
    proc = mixgan("train", "--resume", str(run), "--quiet")
    stopped.append(signal_when(proc, lambda: [run], 31, signal.SIGKILL))  # mid-way through a log window
    assert sum(stopped) >= 2, "the run was too quick to be stopped mid-way"
    if stopped[-1]:
        st = status.read_status(run)
        assert st["state"] == "running" and not st["alive"]
        assert "stopped without finishing" in status.describe(run, st)
    assert resume(run, progress=False) == (run, True)  # the last leg in this process (one thread too)
    assert reference.wait() == 0, reference.stderr.read()
    assert status.read_status(run)["state"] == "finished"
    lines = read_jsonl(run / "metrics.jsonl")
    its = [line["iteration"] for line in lines if "kind" not in line]
    assert its == list(range(10, 401, 10))  # none duplicated, none missing
    snaps = [line["iteration"] for line in lines if line.get("kind") == "snapshot"]
    assert snaps == sorted(set(snaps)) and snaps  # snapshot records: one per snapshot iteration
    (ref,) = [r for r in out.glob("0*") if r != run]
    assert_same_run(run, ref)
    assert len(list((run / "checkpoints").iterdir())) == 2  # the last two are kept
    assert not list(run.rglob(".*.tmp"))


def test_sigint_checkpoints_marks_interrupted_and_says_how_to_resume(tmp_path):
    out = tmp_path / "dir with spaces ü"
    proc = mixgan("train", *SMALL_ARGS, "--out", str(out))
    assert signal_when(proc, lambda: out.glob("0*"), 3, signal.SIGINT), "the run was too quick to be interrupted"
    err = proc.stderr.read()
    assert proc.returncode == 130
    assert err.count("\n") == 1 and "Traceback" not in err and "mixgan train --resume '" in err
    run = sorted(out.glob("0*"))[0]
    st = status.read_status(run)
    assert st["state"] == "interrupted" and "SIGINT" in st["reason"]
    stopped_at = st["checkpoint_iteration"]
    assert (run / "checkpoints" / f"ckpt_{stopped_at:06d}.ckpt").exists()
    assert read_jsonl(run / "metrics.jsonl")[-1]["iteration"] <= stopped_at
    with pytest.raises(UsageError, match="interrupted"):
        status.require_finished(run)


@pytest.mark.parametrize("engine", ["alone", "batched"])
def test_a_signal_after_the_checkpoint_decision_stops_the_next_iteration(tmp_path, monkeypatch, engine):
    """A Ctrl-C that lands after the engine has decided not to checkpoint this iteration stops the
    next one, after its checkpoint: the status never names a checkpoint that was not written."""
    from mixgan import train_batched
    from mixgan.runs import checkpoints
    from mixgan.runs.guard import RunGuard
    decide = RunGuard.stop_due
    calls = {"n": 0}

    def late_signal(self, seen):
        due = decide(self, seen)
        calls["n"] += 1
        if calls["n"] == 5:  # iteration 5, no checkpoint due: the signal arrives just too late for it
            os.kill(os.getpid(), signal.SIGINT)
        return due

    monkeypatch.setattr(RunGuard, "stop_due", late_signal)
    config = tiny_config(out=str(tmp_path), iterations=12, checkpoint_every=100, snapshots=(12,), data="ring")
    with pytest.raises(RunInterrupted, match="SIGINT at iteration 6"):
        train(config, progress=False) if engine == "alone" else train_batched([config], progress=False)
    (run,) = tmp_path.glob("0*")
    st = status.read_status(run)
    assert st["state"] == "interrupted" and st["checkpoint_iteration"] == 6
    assert [it for it, _ in checkpoints.list_checkpoints(run)] == [6]
    assert checkpoints.load(checkpoints.path_for(run, 6))["iteration"] == 6


def _interrupt_at(monkeypatch, call):
    """Make the G loss send this process SIGINT at its ``call``-th use (an in-process Ctrl-C)."""
    calls = {"n": 0}
    for name in list(objectives.OBJECTIVES):
        build = objectives.OBJECTIVES[name]

        def wrapped(config, build=build):
            obj = build(config)
            inner = obj.g_loss

            def g_loss(D, fake):
                calls["n"] += 1
                if calls["n"] == call:
                    os.kill(os.getpid(), signal.SIGINT)
                return inner(D, fake)
            obj.g_loss = g_loss
            return obj
        monkeypatch.setitem(objectives.OBJECTIVES, name, wrapped)


@pytest.mark.parametrize("objective, pairing, ema", [("standard", "real-fake", 0.0), ("mixup", "shuffled", 0.0),
                                                     ("mixup", "shuffled", 0.95)])
def test_in_process_interrupt_and_resume_matches_uninterrupted(tmp_path, monkeypatch, objective, pairing, ema):
    config = tiny_config(out=str(tmp_path), iterations=40, log_every=6, checkpoint_every=7, snapshots=(5, 40),
                         objective=objective, pairing=pairing, ema=ema)
    reference = train(config, progress=False)
    _interrupt_at(monkeypatch, 17)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(RunInterrupted, match="at iteration 17"):
        train(config, progress=False)
    assert signal.getsignal(signal.SIGINT) is handler  # given back
    run = sorted(tmp_path.glob("0*"))[1]
    assert read_jsonl(run / "metrics.jsonl")[-1]["iteration"] == 12
    monkeypatch.undo()
    assert resume(run, progress=False) == (run, True)
    assert_same_run(run, reference)


def test_crash_mid_run_is_recorded_and_resumable(tmp_path, monkeypatch):
    config = tiny_config(out=str(tmp_path), iterations=30, checkpoint_every=10, snapshots=(30,))
    reference = train(config, progress=False)
    crash_at_generator_step(monkeypatch, "mixup", 24)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, progress=False)
    run = sorted(tmp_path.glob("0*"))[1]
    st = status.read_status(run)
    assert st["state"] == "failed" and "simulated crash" in st["reason"] and st["resumable"]
    assert st["checkpoint_iteration"] == 20 and not st["alive"]
    monkeypatch.undo()
    resume(run, progress=False)
    assert_same_run(run, reference)


def test_resuming_a_finished_run_says_so_and_changes_nothing(tmp_path, capsys):
    run = train(tiny_config(out=str(tmp_path)), progress=False)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_refuses_options_a_missing_folder_and_a_run_in_training(tmp_path, capsys):
    run = train(tiny_config(out=str(tmp_path)), progress=False)
    status.write_status(run, "interrupted", "test", 12)
    cases = [(["--resume", str(run), "--width", "4"], "--width cannot be combined with --resume"),
             (["--resume", str(tmp_path / "nope")], "no run folder"),
             (["--resume", str(tmp_path)], "not a mixgan run folder")]
    for args, words in cases:
        assert main(["train", *args, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    lock = status.RunLock(run).acquire()  # as a training process would hold it
    try:
        assert status.lock_is_held(run)
        assert main(["train", "--resume", str(run), "--quiet"]) == 2
        assert "still training" in capsys.readouterr().err
    finally:
        lock.release()


def test_runs_created_at_the_same_moment_get_different_folders(tmp_path):
    barrier, made = threading.Barrier(8), []

    def create():
        barrier.wait()
        made.append(create_run_folder(tmp_path, "ring-mixup-s0"))
    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(p.is_dir() for p in made)
