"""Run status: what status.json says through a run's life, and require_finished, the
check that compare, figure5 --from, plot and animate make before reading a run."""
import json

import pytest

from mixgan.commands.options import add_allow_unfinished_argument
import torch

from conftest import tiny_config
from mixgan.runs import status
from mixgan.errors import UsageError
from mixgan.training import train


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(tiny_config(out=str(tmp_path_factory.mktemp("runs")), iterations=4, snapshots=(4,)),
                     progress=False)
    finally:
        torch.set_num_threads(threads)


def copy_of(run, tmp_path):
    import shutil
    return shutil.copytree(run, tmp_path / run.name)


def test_a_finished_run_says_finished_and_passes(finished):
    st = status.require_finished(finished)
    assert st["state"] == "finished" and st["checkpoint_iteration"] == 4 and not st["alive"]
    assert not status.lock_is_held(finished)


@pytest.mark.parametrize("state, resumable, alive, words", [
    ("interrupted", True, False, "was interrupted (why); resume it with: mixgan train --resume"),
    ("failed", True, False, "failed (why); resume it with"),
    ("failed", False, False, "failed: why"),
    ("running", True, False, "stopped without finishing (killed, crashed or lost power; last checkpoint at "
                             "iteration 2); resume it with"),
    ("running", True, True, "is still training (last checkpoint at iteration 2)"),
])
def test_unfinished_runs_are_refused_with_one_line(finished, tmp_path, capsys, state, resumable, alive, words):
    run = copy_of(finished, tmp_path)
    status.write_status(run, state, "why", 2, resumable=resumable)
    lock = status.RunLock(run).acquire() if alive else None
    try:
        with pytest.raises(UsageError) as e:
            status.require_finished(run)
        assert words in str(e.value) and "\n" not in str(e.value) and "--allow-unfinished" in str(e.value)
        st = status.require_finished(run, allow_unfinished=True)
        assert st["state"] == state and st["alive"] == alive
        err = capsys.readouterr().err
        assert err.startswith("mixgan: warning:") and words in err and err.count("\n") == 1
    finally:
        if lock:
            lock.release()


def test_older_runs_without_status_and_bad_folders(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    (run / "status.json").unlink()
    assert status.require_finished(run)["state"] == "finished"  # it holds its final weights
    (run / "generator.pt").unlink()
    with pytest.raises(UsageError, match="stopped without finishing"):
        status.require_finished(run)
    (run / "status.json").write_text("{not json")
    with pytest.raises(UsageError, match="status.json is unreadable or damaged"):
        status.require_finished(run)
    (run / "status.json").write_text(json.dumps({"state": "sleeping"}))
    with pytest.raises(UsageError, match="damaged"):
        status.require_finished(run)
    with pytest.raises(UsageError, match="not a mixgan run folder"):
        status.require_finished(tmp_path / "nowhere")


def test_the_lock_is_exclusive_and_dropped_on_release(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    first = status.RunLock(run).acquire()
    with pytest.raises(UsageError, match="being trained right now"):
        status.RunLock(run).acquire()
    first.release()
    assert not status.lock_is_held(run)
    status.RunLock(run).acquire().release()


def test_paths_with_spaces_and_quotes_are_quoted_in_resume_lines():
    assert status.quote("/a b/c") == "'/a b/c'" and status.quote("/a/b") == "/a/b"


def test_allow_unfinished_flag_is_one_line_to_add():
    import argparse
    p = argparse.ArgumentParser()
    add_allow_unfinished_argument(p)
    assert p.parse_args(["--allow-unfinished"]).allow_unfinished is True
