"""Runs trained in a batch lose nothing when stopped: per-run checkpoints in the single-run
format, Ctrl-C/SIGTERM handling, resume as a batch (train_batched, mixgan sweep --resume) or
alone (mixgan train --resume)."""
import json
import os
import shutil
import signal

import pytest
import torch

from conftest import tiny_config
from mixgan.training import batched
from mixgan.runs import checkpoints
from mixgan.runs import status
from mixgan.training.batched import train_batched
from mixgan.commands.main import main
from mixgan.errors import RunInterrupted
from mixgan.training.resuming import resume


def batch_configs(out, **kw):
    base = dict(iterations=12, checkpoint_every=4, snapshots=(6, 12), objective="mixup", pairing="shuffled",
                lambda_dist="uniform")
    base.update(kw)
    return [tiny_config(out=str(out), seed=s, data=d, **base) for s, d in ((0, "ring"), (1, "grid"), (2, "ring"))]


def weights(run):
    ema = {"ema." + k: v for k, v in torch.load(run / "generator_ema.pt").items()} \
        if (run / "generator_ema.pt").exists() else {}
    return {**torch.load(run / "generator.pt"), **{"D." + k: v for k, v in torch.load(run / "discriminator.pt").items()},
            **ema}


def metrics(run):
    """metrics.jsonl without its timings (elapsed_s, measure_s)."""
    return [{k: v for k, v in json.loads(line).items() if not k.endswith("_s")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def stop_at(monkeypatch, iteration):
    """Send this process SIGINT when the batch logs ``iteration`` (as a user's Ctrl-C would). The
    batch has then already decided whether to checkpoint ``iteration``: it stops after the next."""
    log = batched._log

    def log_then_interrupt(folders, it, *a):
        log(folders, it, *a)
        if it == iteration:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(batched, "_log", log_then_interrupt)


def test_every_run_of_a_batch_is_checkpointed_like_a_single_run(tmp_path):
    folders = train_batched(batch_configs(tmp_path / "b"), progress=False)
    for run in folders:
        assert [it for it, _ in checkpoints.list_checkpoints(run)] == [12, 8]  # the newest two, as alone
        st = status.read_status(run)
        assert st["state"] == "finished" and st["checkpoint_iteration"] == 12 and not st["alive"]
    # The checkpoint of a run in a batch is the one that run writes alone (floats to rounding).
    alone = tiny_config(out=str(tmp_path / "a"), seed=0, data="ring", iterations=12, checkpoint_every=4,
                        snapshots=(6, 12), objective="mixup", pairing="shuffled", lambda_dist="uniform")
    from mixgan.training import train
    single = train(alone, progress=False)
    a, b = (checkpoints.load(checkpoints.path_for(r, 8)) for r in (single, folders[0]))
    assert a["rng"]["streams"].keys() == b["rng"]["streams"].keys()
    for name in a["rng"]["streams"]:
        assert torch.equal(a["rng"]["streams"][name], b["rng"]["streams"][name])
    for part in ("G", "D"):
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k])
    for opt in ("opt_g", "opt_d"):
        for i, s in a[opt]["state"].items():
            for k in s:
                torch.testing.assert_close(s[k], b[opt]["state"][i][k], rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_ctrl_c_checkpoints_every_run_and_the_batch_resumes_exactly(tmp_path, monkeypatch, ema):
    done = train_batched(batch_configs(tmp_path / "whole", ema=ema), progress=False)
    configs = batch_configs(tmp_path / "stopped", ema=ema)
    handler = signal.getsignal(signal.SIGINT)
    stop_at(monkeypatch, 8)
    with pytest.raises(RunInterrupted) as e:
        train_batched(configs, progress=False)
    assert e.value.exit_code == 130 and "sweep --resume" in e.value.message
    stopped = sorted((tmp_path / "stopped").iterdir())
    for run in stopped:
        st = status.read_status(run)
        assert st["state"] == "interrupted" and st["checkpoint_iteration"] == 9 and not st["alive"]
        assert [it for it, _ in checkpoints.list_checkpoints(run)] == [9, 8]  # one off the schedule, for the stop
        assert not (run / "generator.pt").exists()
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is handler  # handlers given back
    train_batched(configs, progress=False, resume=stopped)
    for a, b in zip(done, stopped):
        wa, wb = weights(a), weights(b)
        assert wa.keys() == wb.keys() and any(k.startswith("ema.") for k in wa) == bool(ema)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)  # bitwise: every piece of state came back
        assert metrics(a) == metrics(b)  # no line lost or repeated
        assert status.read_status(b)["state"] == "finished"


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_a_run_of_a_stopped_batch_resumes_alone(tmp_path, monkeypatch, ema):
    done = train_batched(batch_configs(tmp_path / "whole", ema=ema), progress=False)
    stop_at(monkeypatch, 4)
    with pytest.raises(RunInterrupted):
        train_batched(batch_configs(tmp_path / "stopped", ema=ema), progress=False)
    monkeypatch.undo()
    run = sorted((tmp_path / "stopped").iterdir())[1]
    assert resume(run, progress=False) == (run, True)
    wa, wb = weights(done[1]), weights(run)
    assert wa.keys() == wb.keys()
    for k in wa:  # alone, the arithmetic is not batched: equal to float rounding
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5)
    assert [m["iteration"] for m in metrics(run)] == [m["iteration"] for m in metrics(done[1])]


def test_sweep_resume_finishes_a_stopped_sweep(tmp_path, monkeypatch, capsys):
    tiny = ["--iterations", "8", "--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32",
            "--log-every", "2", "--checkpoint-every", "2", "--quiet", "--seeds", "0,1"]
    grid = ["sweep", "--datasets", "ring", "--objectives", "standard,mixup", *tiny]
    assert main([*grid, "--out", str(tmp_path / "whole")]) == 0
    stop_at(monkeypatch, 4)  # the first batch (standard) stops at iteration 5; mixup never starts
    assert main([*grid, "--out", str(tmp_path / "stopped")]) == 130
    sweep = tmp_path / "stopped" / "00000-sweep"
    err = capsys.readouterr().err
    assert f"mixgan sweep --resume {sweep}" in err and err.count("\n") == 1
    monkeypatch.undo()
    assert main(["sweep", "--resume", str(sweep), "--quiet"]) == 0
    assert "0 of 4 runs finished; resuming 2, starting 2" in capsys.readouterr().out
    whole = sorted(p for p in (tmp_path / "whole" / "00000-sweep").iterdir() if p.is_dir())
    resumed = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in whole] == [p.name for p in resumed]
    for a, b in zip(whole, resumed):
        wa, wb = weights(a), weights(b)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        assert status.read_status(b)["state"] == "finished"
    assert json.loads((sweep / "summary.json").read_text())["rows"] == \
        json.loads((tmp_path / "whole" / "00000-sweep" / "summary.json").read_text())["rows"]
    # A finished sweep resumes to nothing and says so.
    assert main(["sweep", "--resume", str(sweep), "--quiet"]) == 0
    assert "4 of 4 runs finished; resuming 0, starting 0" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "0,1,2"], "--seeds cannot be combined with --resume"),
    (["--width", "16"], "--width cannot be combined with --resume"),
])
def test_sweep_resume_refuses_new_options(tmp_path, capsys, extra, message):
    assert main(["sweep", "--resume", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_sweep_resume_refuses_what_is_not_a_stopped_sweep(tmp_path, capsys):
    assert main(["sweep", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no sweep folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["sweep", "--resume", str(tmp_path / "empty")]) == 2
    assert "has no plan.json" in capsys.readouterr().err
    (tmp_path / "empty" / "plan.json").write_text("{not json")
    assert main(["sweep", "--resume", str(tmp_path / "empty")]) == 2
    assert "plan.json is unreadable or damaged" in capsys.readouterr().err
    # A run that another process is training right now is left alone.
    tiny = ["--iterations", "4", "--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32",
            "--quiet", "--seeds", "0,1", "--objectives", "mixup", "--datasets", "ring"]
    assert main(["sweep", *tiny, "--out", str(tmp_path / "s")]) == 0
    sweep = tmp_path / "s" / "00000-sweep"
    run = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    status.write_status(run, "running", "test")
    lock = status.RunLock(run).acquire()
    capsys.readouterr()
    try:
        assert main(["sweep", "--resume", str(sweep)]) == 2
        err = capsys.readouterr().err
        assert "is still training" in err and err.count("\n") == 1
    finally:
        lock.release()


def test_a_batch_whose_runs_stand_at_different_checkpoints_is_refused(tmp_path):
    folders = train_batched(batch_configs(tmp_path / "b"), progress=False)
    for run in folders:
        status.write_status(run, "interrupted", "test", 12)
    checkpoints.path_for(folders[1], 12).unlink()
    shutil.rmtree(folders[0] / "checkpoints")
    with pytest.raises(Exception, match="different iterations"):
        train_batched(batch_configs(tmp_path / "b"), progress=False, resume=folders)


def test_sweep_resume_leaves_a_failed_run_alone_and_out_of_the_summary(tmp_path, capsys):
    tiny = ["--iterations", "4", "--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32",
            "--quiet", "--seeds", "0,1", "--objectives", "mixup", "--datasets", "ring"]
    assert main(["sweep", *tiny, "--out", str(tmp_path)]) == 0
    sweep = tmp_path / "00000-sweep"
    bad, good = sorted(p for p in sweep.iterdir() if p.is_dir())
    status.write_status(bad, "failed", "d_loss became nan at iteration 3", 0, resumable=False)
    capsys.readouterr()
    assert main(["sweep", "--resume", str(sweep), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "1 of 2 runs finished; resuming 0, starting 0" in out
    assert f"run {bad} failed" in err and "left as it is" in err and "leaves out 1 unfinished or failed run" in err
    assert status.read_status(bad)["state"] == "failed"
    summary = json.loads((sweep / "summary.json").read_text())
    assert list(summary["meta"]["runs"].values()) == [str(good)]


def test_a_run_that_goes_nan_is_marked_failed_and_the_others_finish_untouched(tmp_path, monkeypatch, capsys):
    clean = train_batched(batch_configs(tmp_path / "clean", checkpoint_every=3), progress=False)
    stacks = []
    stack = batched.stack
    monkeypatch.setattr(batched, "stack", lambda modules: stacks.append(stack(modules)) or stacks[-1])
    log = batched._log

    def log_then_poison(folders, it, *a):
        record = log(folders, it, *a)
        if it == 4:  # run 1's discriminator weights go NaN, as a diverging run's would
            with torch.no_grad():
                stacks[1].weights[0][1].fill_(float("nan"))
        return record

    monkeypatch.setattr(batched, "_log", log_then_poison)
    folders = train_batched(batch_configs(tmp_path / "nan", checkpoint_every=3), progress=False)
    assert "1 of 3 runs failed (NaN/Inf)" in capsys.readouterr().err
    st = status.read_status(folders[1])
    assert st["state"] == "failed" and not st["resumable"] and st["checkpoint_iteration"] == 3
    # The first iteration on the poisoned weights, found when the run is next checked (at 6), in a single run's words.
    assert st["reason"] == "d_loss became nan at iteration 5"
    assert not (folders[1] / "generator.pt").exists()
    assert [it for it, _ in checkpoints.list_checkpoints(folders[1])] == [3]  # no checkpoint holds the NaN
    assert max(m["iteration"] for m in metrics(folders[1])) == 4
    for r in (0, 2):  # the runs beside it never saw it
        assert status.read_status(folders[r])["state"] == "finished"
        wa, wb = weights(clean[r]), weights(folders[r])
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
