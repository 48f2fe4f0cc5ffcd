"""Fault injection: each attack below once got through (code run from a data file, workers left
running, a compare that restarted runs, tracebacks on damaged folders and full disks, a silent
restart, unsafe advice in messages, decompression bombs). Each must now give one line and exit 2
(or the documented code of a stopped run), change no run, leave no process, and run no code."""
import errno
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from mixgan.commands.main import main
from mixgan.errors import UsageError
from mixgan.runs import checkpoints, folders, status
from mixgan.training import train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
pytestmark = pytest.mark.usefixtures("one_thread")


def one_error_line(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def snapshot_of(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(Path(folder).rglob("*"))}


@pytest.fixture
def stopped_run(tmp_path):
    """A run stopped after its checkpoint at iteration 4 of 8 (as Ctrl-C leaves one)."""
    run = train(tiny_config(out=str(tmp_path / "runs"), iterations=8, checkpoint_every=4, snapshots=(8,)),
                progress=False)
    for later in (checkpoints.path_for(run, 8), run / "generator.pt", run / "discriminator.pt"):
        later.unlink()
    lines = folders.read_jsonl(run / "metrics.jsonl")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines if r["iteration"] <= 4))
    status.write_status(run, "interrupted", "SIGINT at iteration 4", 4)
    return run


# ---------------------------------------------------------------- nothing executed
class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_cifar_batch_runs_nothing_and_is_named(tmp_path, capsys):
    batches = tmp_path / "data" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    marker = tmp_path / "ran"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (batches / name).write_bytes(pickle.dumps({"data": RunsACommand(marker), "labels": [0]}))
    assert main(["train", "--data", "cifar10", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
                 "--iterations", "1", "--quiet"]) == 2
    one_error_line(capsys, str(batches / "data_batch_1"), "checksum")
    assert not marker.exists() and not (tmp_path / "o").exists()


# --------------------------------------------------- damaged run folders on resume
@pytest.mark.parametrize("damage", ["not utf-8", "a list", "a text iteration", "metrics folder", "lock folder"])
def test_a_damaged_run_folder_is_one_line_and_left_as_it_was(stopped_run, capsys, damage):
    metrics = stopped_run / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    bad = {"not utf-8": b'{"iteration": 1, "d_loss": "\xff\xfe"}\n', "a list": b"[1, 2]\n",
           "a text iteration": b'{"iteration": "abc"}\n'}
    if damage in bad:
        metrics.write_bytes(lines[0] + bad[damage] + b"".join(lines[1:]))
    elif damage == "metrics folder":
        metrics.unlink()
        metrics.mkdir()
    else:
        (stopped_run / ".lock").unlink(missing_ok=True)
        (stopped_run / ".lock").mkdir()
    before = snapshot_of(stopped_run)
    assert main(["train", "--resume", str(stopped_run), "--quiet"]) == 2
    one_error_line(capsys, str(stopped_run))
    assert snapshot_of(stopped_run) == before


def test_checkpoints_that_are_not_a_folder_stop_the_resume_instead_of_restarting(stopped_run, capsys):
    shutil.rmtree(stopped_run / "checkpoints")
    (stopped_run / "checkpoints").write_text("not a folder")
    before = snapshot_of(stopped_run)
    assert main(["train", "--resume", str(stopped_run), "--quiet"]) == 2
    one_error_line(capsys, "is not a folder")
    assert snapshot_of(stopped_run) == before


def test_a_checkpoint_that_is_a_folder_falls_back_to_the_older_one(tmp_path, capsys):
    run = train(tiny_config(out=str(tmp_path), iterations=12, checkpoint_every=4, snapshots=(12,)), progress=False)
    whole = torch.load(run / "generator.pt", weights_only=True)
    newest = checkpoints.path_for(run, 12)
    newest.unlink()
    newest.mkdir()  # the newest "checkpoint" is a folder; iteration 8 is still good
    for later in (run / "generator.pt", run / "discriminator.pt"):
        later.unlink()
    lines = folders.read_jsonl(run / "metrics.jsonl")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines if r["iteration"] <= 8))
    status.write_status(run, "interrupted", "SIGINT at iteration 8", 8)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "set aside" in capsys.readouterr().err
    resumed = torch.load(run / "generator.pt", weights_only=True)
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


# ------------------------------------------------------------------- full disks
def filling_up(monkeypatch, when):
    real = folders.atomic_write_bytes

    def write(path, data, *args, **kwargs):
        if when(Path(path)):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, *args, **kwargs)
    monkeypatch.setattr(folders, "atomic_write_bytes", write)


def test_a_disk_full_at_the_first_status_write_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    filling_up(monkeypatch, lambda p: p.name == "status.json")
    assert main(["train", *tiny_args(tmp_path / "o")]) == 2
    one_error_line(capsys, "No space left on device", "mixgan train --resume")
    monkeypatch.undo()  # space again
    run, = (tmp_path / "o").iterdir()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert status.read_status(run)["state"] == "finished"


def tiny_args(out):
    return ["--iterations", "4", "--width", "8", "--depth", "1", "--batch-size", "8", "--snapshot-size", "16",
            "--out", str(out), "--quiet"]


def test_plot_and_animate_into_a_full_disk_are_one_line_and_leave_nothing(tmp_path, capsys, monkeypatch):
    run = train(tiny_config(out=str(tmp_path / "runs"), iterations=4, snapshots=(2, 4)), progress=False)
    filling_up(monkeypatch, lambda p: p.suffix in (".png", ".gif", ".svg"))
    assert main(["plot", str(run), "--out", str(tmp_path / "grid")]) == 2
    one_error_line(capsys, "No space left on device")
    assert not list((tmp_path / "grid").glob("*-plot/plot.png"))
    assert main(["animate", str(run), "--out", str(tmp_path / "anim")]) == 2
    one_error_line(capsys, "No space left on device")
    assert not list((tmp_path / "anim").glob("*-animate"))


# ------------------------------------------------------------- safe messages
def test_refusals_never_suggest_unsafe_loading(tmp_path, capsys):
    run = train(tiny_config(out=str(tmp_path), iterations=4, checkpoint_every=2, snapshots=(4,)), progress=False)
    hostile = checkpoints.path_for(run, 6)
    payload = pickle.dumps({"format": 1, "iteration": 6, "x": RunsACommand(tmp_path / "ran")}, protocol=4)
    hostile.write_bytes(checkpoints.MAGIC + b" 1 sha256=%s\n" % hashlib.sha256(payload).hexdigest().encode() + payload)
    with warnings.catch_warnings(record=True) as warned, pytest.raises(checkpoints.CorruptCheckpoint) as refused:
        warnings.simplefilter("always")
        checkpoints.load(hostile)
    assert not warned  # torch's two-line note about old pickle protocols says nothing to the user
    assert "weights_only" not in str(refused.value) and "could run code" in str(refused.value)
    assert not (tmp_path / "ran").exists()
    (run / "snapshots" / "iter_000004.npz").write_bytes(pickle.dumps(RunsACommand(tmp_path / "ran")))
    assert main(["plot", str(run), "--out", str(tmp_path / "p")]) == 2
    err = one_error_line(capsys, "is not a snapshot file")
    assert "allow_pickle" not in err and not (tmp_path / "ran").exists()


# ------------------------------------------------------------------ big numbers
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.new("L", (12000, 12000)).save(folder / "bomb.png")  # about 150 KB on disk, 144 million pixels
    Image.new("L", (20, 20), 128).save(folder / "fine.png")
    start = time.perf_counter()
    assert main(["train", "--data", f"folder:{folder}", "--image-size", "8", "--iterations", "1", "--quiet",
                 "--out", str(tmp_path / "o")]) == 2
    one_error_line(capsys, "bomb.png", "12000x12000", "refused undecoded")
    assert time.perf_counter() - start < 60  # never decoded: no 144-megapixel buffer was filled


def test_an_idx_header_with_huge_dimensions_is_one_line(tmp_path):
    from mixgan.data.images import load_image_data
    from mixgan.errors import UsageError
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).write_bytes(bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3 + b"\0" * 10)
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\0" * 10)
    with pytest.raises(UsageError, match="reading mnist from") as refused:
        load_image_data("mnist", data_root=tmp_path)
    assert "\n" not in str(refused.value)


def test_an_output_folder_with_a_line_break_keeps_stdout_one_line_per_item(tmp_path, capsys):
    out = tmp_path / "a\nb"
    assert main(["train", *tiny_args(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["run folder", "snapshots"]


# ----------------------------------------------- nothing left running, nothing lost
def descendants(pid):
    """Every process below ``pid`` (from /proc), alive or not."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


LONG = ["--iterations", "200000", "--width", "8", "--depth", "1", "--batch-size", "8", "--snapshot-size", "16",
        "--log-every", "50", "--checkpoint-every", "100000", "--quiet"]
COMMANDS = {
    "figure5": lambda out: ["figure5", "--quick", "--out", str(out)],
    "compare": lambda out: ["compare", "--objectives", "standard,mixup", "--datasets", "ring", "--seeds", "0",
                            "--jobs", "2", "--out", str(out), *LONG],
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_stopping_the_command_stops_every_worker_and_leaves_runs_resumable(tmp_path, command, sig):
    out = tmp_path / "out"
    parent = subprocess.Popen([sys.executable, "-m", "mixgan", *COMMANDS[command](out)], env=ENV, cwd=tmp_path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    below = []
    try:
        training = lambda: len([p for p in out.rglob("metrics.jsonl") if p.stat().st_size > 0]) >= 2  # noqa: E731
        assert wait_for(training, 120), "the workers never started training"
        below = descendants(parent.pid)
        assert len(below) >= 2
        parent.send_signal(sig)
        assert wait_for(lambda: not any(alive(p) for p in below), 30), [p for p in below if alive(p)]
        code = parent.wait(30)
    finally:  # whatever happened, nothing of this test is left running
        for p in {parent.pid, *below, *descendants(parent.pid)}:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    runs = [p.parent for p in out.rglob("config.json") if p.parent.name[-3:-1] == "-s"]
    assert runs
    for run in runs:
        st = status.read_status(run)
        assert st["state"] != "failed" and not st["alive"] and st.get("resumable", True)
        if st["state"] == "interrupted":  # stopped after its iteration, with a checkpoint: not cut short
            assert "stopped at once" not in st["reason"] and st["checkpoint_iteration"] > 0, st
    if sig != signal.SIGKILL:
        assert code == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
        err = parent.stderr.read()
        again = "resume with: mixgan compare --resume" if command == "compare" else "run the same command again"
        assert err.count("\n") == 1 and again in err and "Traceback" not in err


def test_compare_started_again_resumes_its_stopped_runs_to_the_same_result(tmp_path, capsys, monkeypatch):
    args = ["compare", "--objectives", "standard,mixup", "--datasets", "ring", "--seeds", "0", "--iterations", "12",
            "--width", "8", "--depth", "1", "--batch-size", "8", "--snapshot-size", "16", "--log-every", "4",
            "--checkpoint-every", "4", "--snapshots", "6,12", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    calls = {"n": 0}
    original_save = checkpoints.save

    def stop_after_first_checkpoint(run, ckpt):
        path = original_save(run, ckpt)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return path
    monkeypatch.setattr(checkpoints, "save", stop_after_first_checkpoint)
    assert main([*args, "--out", str(tmp_path / "stopped")]) == 130
    stopped = next((tmp_path / "stopped").iterdir())
    assert f"resume with: mixgan compare --resume {stopped}" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["compare", "--resume", str(stopped)]) == 0
    assert "1 to resume" in capsys.readouterr().out
    made = {p.name: p for p in stopped.iterdir() if p.name[-3:-1] == "-s"}
    whole = {p.name: p for p in next((tmp_path / "whole").iterdir()).iterdir() if p.name[-3:-1] == "-s"}
    assert sorted(made) == sorted(whole)
    for name in made:
        a = torch.load(made[name] / "generator.pt", weights_only=True)
        b = torch.load(whole[name] / "generator.pt", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_figure5_started_again_goes_on_in_its_folder(tmp_path, monkeypatch):
    """A stopped figure keeps its finished runs, resumes the stopped one, trains the rest, draws."""
    from mixgan.errors import RunInterrupted
    from mixgan.experiments import figure5
    monkeypatch.setattr(figure5, "QUICK", dict(width=8, iterations=12, snapshots=(6, 12)))
    monkeypatch.setattr(figure5, "cpu_cores", lambda: 1)  # in this process, one run after another
    seen = []
    save = checkpoints.save

    def stop_in_the_second_batch(run, ckpt):
        # The four runs train as two batches, one per objective, one batch after the other here:
        # the first checkpoint of the second objective stops the command after it is written.
        path = save(run, ckpt)
        seen.append(json.loads((Path(run) / "config.json").read_text())["objective"])
        if seen[-1] != seen[0]:
            raise KeyboardInterrupt
        return path
    monkeypatch.setattr(checkpoints, "save", stop_in_the_second_batch)
    with pytest.raises(RunInterrupted):
        figure5.make_figure5(quick="on", out=tmp_path, log=lambda *a: None)
    group, = tmp_path.iterdir()
    assert not (group / "figure5.png").exists()
    first = {p: snapshot_of(p) for p in group.iterdir() if p.is_dir() and status.read_status(p)["state"] == "finished"}
    assert len(first) == 2  # the first batch's two runs
    monkeypatch.setattr(checkpoints, "save", save)
    assert figure5.make_figure5(quick="on", out=tmp_path, log=lambda *a: None) == group
    assert (group / "figure5.png").exists() and len([p for p in group.iterdir() if p.is_dir()]) == 4
    for run, files in first.items():
        assert snapshot_of(run) == files  # kept as it was, not trained again


def test_a_figure_another_command_is_making_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """The same figure5 command started twice: the second would go on in the first one's folder and
    train its runs a second time beside it, so it is refused before anything is trained."""
    from mixgan.experiments import figure5
    monkeypatch.setattr(figure5, "QUICK", dict(width=8, iterations=4, snapshots=(4,)))
    monkeypatch.setattr(figure5, "train_all", lambda *a, **k: pytest.fail("trained beside the other command"))
    group = folders.create_run_folder(tmp_path, "figure5-quick-s0")  # as the first command made it
    lock = status.RunLock(group).acquire()
    try:
        assert main(["figure5", "--quick", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 2
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert err == f"mixgan: error: {group} is being made by another figure5 command; run this one again when " \
                  "that one has ended\n"
    assert [p.name for p in tmp_path.iterdir()] == [group.name] and not any(p.is_dir() for p in group.iterdir())


def test_two_figure5_commands_choosing_at_once_share_one_folder(tmp_path, monkeypatch):
    """Two figure5 commands choosing their group folder at the same instant: the second waits for the
    first's choice, then finds that folder being made and is refused. Were the choice not made under
    a lock on --out, each would miss the other's folder, make its own and train the same runs."""
    from mixgan.experiments import figure5
    monkeypatch.setattr(figure5, "QUICK", dict(width=8, iterations=4, snapshots=(4,)))
    first_creating, second_chose, second_ended = threading.Event(), threading.Event(), threading.Event()
    create, choose = folders.create_run_folder, figure5.unfinished_group

    def slow_create(out, label):
        if threading.current_thread().name == "first":
            first_creating.set()
            second_chose.wait(timeout=1)  # the window in which the second could choose too
        return create(out, label)

    def choosing(*args):
        found = choose(*args)
        if threading.current_thread().name == "second":
            second_chose.set()
        return found

    class Trained(Exception):
        pass

    def train_runs(configs, *args, **kwargs):
        if threading.current_thread().name == "first":
            second_ended.wait(timeout=30)  # holds its folder until the second has chosen
        raise Trained(configs[0].out)

    monkeypatch.setattr(folders, "create_run_folder", slow_create)
    monkeypatch.setattr(figure5, "unfinished_group", choosing)
    monkeypatch.setattr(figure5, "train_runs", train_runs)
    ended = {}

    def command():
        try:
            figure5.make_figure5(device="cpu", out=str(tmp_path), quick="on", log=lambda *a: None)
        except Exception as e:
            ended[threading.current_thread().name] = e
        finally:
            if threading.current_thread().name == "second":
                second_ended.set()

    first = threading.Thread(target=command, name="first")
    first.start()
    assert first_creating.wait(timeout=30)
    second = threading.Thread(target=command, name="second")
    second.start()
    for thread in (first, second):
        thread.join(timeout=60)
    groups = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(groups) == 1 and isinstance(ended["first"], Trained) and ended["first"].args[0] == str(groups[0])
    assert isinstance(ended["second"], UsageError)
    assert str(ended["second"]) == f"{groups[0]} is being made by another figure5 command; run this one again " \
                                   "when that one has ended"


def test_a_sigterm_before_training_is_one_line_and_the_handler_is_given_back(tmp_path, capsys, monkeypatch):
    """A SIGTERM while a command sets up (reading a folder's headers, say) stops it as Ctrl-C does,
    with one line and 143, instead of a silent death; main() leaves the process's handler as it was."""
    from mixgan.commands import sample
    before = signal.getsignal(signal.SIGTERM)

    def terminated_while_setting_up(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this at once
        return 0

    monkeypatch.setattr(sample, "run", terminated_while_setting_up)
    started = time.perf_counter()
    code = main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "s.npz")])
    err = capsys.readouterr().err
    assert code == 143 and err == "mixgan: interrupted by SIGTERM\n"
    assert time.perf_counter() - started < 4
    assert signal.getsignal(signal.SIGTERM) is before
