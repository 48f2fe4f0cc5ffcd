"""Checkpoint files: round trip, the newest two kept, damaged files refused with one
line, resume falling back past a damaged newest file, and NaN/Inf stopping a run."""
import hashlib
import io
import pickle

import numpy as np
import pytest
import torch

from conftest import tiny_config
from mixgan.runs import checkpoints
from mixgan import objectives
from mixgan.runs import status
from mixgan.commands.main import main
from mixgan.errors import RunFailed, UsageError
from mixgan.training.resuming import resume
from mixgan.runs.folders import trim_metrics
from mixgan.runs.folders import atomic_write_text, read_jsonl
from mixgan.training import train


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def finished_run(tmp_path):
    return train(tiny_config(out=str(tmp_path), iterations=20, checkpoint_every=3, snapshots=(20,)), progress=False)


def test_round_trip_restores_every_piece_of_state(finished_run):
    (it, path), _ = checkpoints.list_checkpoints(finished_run)
    assert it == 20
    ckpt = checkpoints.load(path)
    assert ckpt["config"] == tiny_config(out=str(finished_run.parent), iterations=20, checkpoint_every=3,
                                         snapshots=(20,)).to_dict()
    assert set(ckpt["rng"]["streams"]) == {"snapshot", "data", "noise", "objective"}
    assert ckpt["fixed_z"].shape == (64, 2) and "fixed_real" not in ckpt  # no data: it is drawn again from the seed
    G = torch.load(finished_run / "generator.pt")
    assert all(torch.equal(G[k], ckpt["G"][k]) for k in G)
    assert ckpt["window"] == 0 and ckpt["opt_d"]["state"]  # Adam moments are in


def test_only_the_newest_two_are_kept(finished_run):
    assert [i for i, _ in checkpoints.list_checkpoints(finished_run)] == [20, 18]


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bit flip":
        path.write_bytes(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    elif how == "garbage":
        path.write_bytes(b"\x00\xffnot a checkpoint" * 50)
    elif how == "header only":
        path.write_bytes(data.partition(b"\n")[0] + b"\n")


@pytest.mark.parametrize("how", ["truncated", "empty", "bit flip", "garbage", "header only"])
def test_damaged_checkpoint_is_a_one_line_error(finished_run, how):
    _, path = checkpoints.list_checkpoints(finished_run)[0]
    _damage(path, how)
    with pytest.raises(checkpoints.CorruptCheckpoint) as e:
        checkpoints.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_checkpoint_cannot_run_code():
    """A file with a valid header and checksum around a payload that would call print() when
    unpickled: weights_only loading refuses it."""
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))
    buf = io.BytesIO()
    torch.save({"format": 1, "iteration": 1, "x": Evil()}, buf)
    payload = buf.getvalue()
    data = b"mixgan-checkpoint 1 sha256=" + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    with pytest.raises(checkpoints.CorruptCheckpoint, match="cannot be read"):
        checkpoints.decode(data)
    with pytest.raises(checkpoints.CorruptCheckpoint, match="not a mixgan checkpoint"):
        checkpoints.decode(pickle.dumps({"format": 1}))
    assert checkpoints.decode(checkpoints.encode({"format": 1, "iteration": 3}))["iteration"] == 3


def _stop_early(run, iteration):
    """Make a finished run look killed just after the checkpoint at ``iteration``."""
    for it, p in checkpoints.list_checkpoints(run):
        if it > iteration:
            p.unlink()
    status.write_status(run, "running", "test", iteration)
    (run / "generator.pt").unlink()


def test_resume_falls_back_past_a_damaged_newest_checkpoint(tmp_path, capsys):
    config = tiny_config(out=str(tmp_path), iterations=20, checkpoint_every=3, snapshots=(20,))
    reference = train(config, progress=False)
    run = train(config, progress=False)
    _stop_early(run, 20)
    _damage(checkpoints.path_for(run, 20), "truncated")
    for p in (run / "snapshots").glob("iter_000020.*"):
        p.unlink()  # so that the resumed iterations 19 and 20 must make it again
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "truncated or damaged" in err and "resuming from ckpt_000018.ckpt" in err
    assert (run / "checkpoints" / "ckpt_000020.ckpt.corrupt").exists()
    for name in ("iter_000020.npz",):
        a, b = np.load(run / "snapshots" / name), np.load(reference / "snapshots" / name)
        assert np.array_equal(a["fake"], b["fake"])


def test_resume_with_every_checkpoint_damaged_is_exit_2_and_changes_nothing(finished_run, capsys):
    _stop_early(finished_run, 20)
    for _, p in checkpoints.list_checkpoints(finished_run):
        _damage(p, "garbage")
    before = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    assert main(["train", "--resume", str(finished_run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no readable checkpoint" in err and err.count("\n") == 1 and "Traceback" not in err
    after = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file()}
    assert {p: v for p, v in after.items() if p.name != "status.json"} == \
           {p: v for p, v in before.items() if p.name != "status.json"}


def test_resume_before_the_first_checkpoint_starts_over_identically(tmp_path):
    config = tiny_config(out=str(tmp_path), iterations=8, checkpoint_every=100, snapshots=(8,))
    reference = train(config, progress=False)
    run = train(config, progress=False)
    _stop_early(run, 0)  # as if killed before any checkpoint, with a half-written metrics line
    (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text() + '{"iteration": 12, "d_lo')
    resume(run, progress=False)
    strip = lambda lines: [{k: v for k, v in d.items() if k not in ("elapsed_s", "measure_s")} for d in lines]  # noqa: E731
    assert strip(read_jsonl(run / "metrics.jsonl")) == strip(read_jsonl(reference / "metrics.jsonl"))


def test_trim_metrics_keeps_lines_up_to_the_checkpoint(tmp_path):
    atomic_write_text(tmp_path / "metrics.jsonl", "".join(f'{{"iteration": {i}}}\n' for i in (4, 8, 12)) + '{"it')
    trim_metrics(tmp_path, 8)
    assert [d["iteration"] for d in read_jsonl(tmp_path / "metrics.jsonl")] == [4, 8]
    atomic_write_text(tmp_path / "metrics.jsonl", '{"iteration": 4}\n{"itera\n{"iteration": 12}\n')
    with pytest.raises(UsageError, match="line 2 is damaged"):
        trim_metrics(tmp_path, 12)


def _poison(monkeypatch, which, at_call, value):
    real = objectives.OBJECTIVES["mixup"]

    def build(c):
        obj = real(c)
        inner = getattr(obj, which)
        calls = {"n": 0}

        def loss(*args):
            calls["n"] += 1
            out = inner(*args)
            return out * value if calls["n"] == at_call else out
        setattr(obj, which, loss)
        return obj
    monkeypatch.setitem(objectives.OBJECTIVES, "mixup", build)


@pytest.mark.parametrize("which, at_call, value, iteration, words", [
    ("g_loss", 13, float("nan"), 13, "g_loss became nan at iteration 13"),
    ("d_loss", 2 * 9, float("inf"), 9, "at iteration 9"),  # two D steps an iteration; the last one of 9
])
def test_nan_or_inf_stops_the_run_names_iteration_and_quantity(tmp_path, monkeypatch, capsys, which, at_call,
                                                                 value, iteration, words):
    _poison(monkeypatch, which, at_call, value)
    config = tiny_config(out=str(tmp_path), iterations=30, d_steps=2, log_every=10, checkpoint_every=5,
                         snapshots=(30,))
    with pytest.raises(RunFailed, match=words) as e:
        train(config, progress=False)
    kept = (iteration - 1) // 5 * 5  # the last checkpoint before the bad iteration
    assert f"the last good checkpoint (iteration {kept}) is kept" in e.value.message
    run = next(tmp_path.glob("0*"))
    st = status.read_status(run)
    assert st["state"] == "failed" and words in st["reason"] and not st["resumable"]
    for _, p in checkpoints.list_checkpoints(run):
        ckpt = checkpoints.load(p)
        assert ckpt["iteration"] < iteration
        assert all(torch.isfinite(v).all() for v in list(ckpt["G"].values()) + list(ckpt["D"].values()))
    assert not (run / "snapshots" / "iter_000030.npz").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "not resumable" in capsys.readouterr().err
    with pytest.raises(UsageError, match="failed"):
        status.require_finished(run)


def test_a_non_finite_weight_is_caught_even_with_finite_losses(tmp_path, monkeypatch):
    """A weight set to Inf right after a step, while G's loss stays finite (D's input is clamped)."""
    real = objectives.OBJECTIVES["standard"]

    def build(c):
        obj = real(c)
        inner, n = obj.g_loss, {"calls": 0}

        def g_loss(D, fake):
            n["calls"] += 1
            if n["calls"] == 7:
                with torch.no_grad():
                    D.net[0].bias[0] = float("inf")
            return inner(D, fake).nan_to_num(0.0)
        obj.g_loss, obj.d_loss = g_loss, lambda D, r, f, g, inner=obj.d_loss: inner(D, r, f, g).nan_to_num(0.0)
        return obj
    monkeypatch.setitem(objectives.OBJECTIVES, "standard", build)
    # (the Inf in D also sends NaN gradients into G, whose weights are checked first)
    with pytest.raises(RunFailed, match=r"(generator|discriminator) weight net\.\d\.\w+ holds NaN/Inf at iteration 8"):
        train(tiny_config(out=str(tmp_path), objective="standard", iterations=12, log_every=4,
                          checkpoint_every=100, snapshots=(12,)), progress=False)
