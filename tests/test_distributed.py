"""One image run on several processes (torchrun + DistributedDataParallel, gloo on the CPU): the share of
the data each process draws, per-rank streams, the toy-data refusal, and real torchrun jobs that train,
resume bitwise, and match a plain run with one process."""
import json
import os
import shutil
import signal
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
import torch

from conftest import assert_refused
from mixgan.commands.main import main
from mixgan.data.loader import ShardBatches
from mixgan.rng import rank_generators, run_generators
from mixgan.runs import status

REPO = Path(__file__).resolve().parents[1]
# Tiny conv nets on 8x8 digits, two D steps so each iteration makes several D backwards per process.
TINY = ["--data", "digits", "--image-size", "8", "--width", "4", "--batch-size", "8", "--d-steps", "2",
        "--snapshot-size", "16", "--iterations", "6", "--snapshots", "3,6", "--log-every", "2",
        "--checkpoint-every", "2", "--device", "cpu", "--seed", "5", "--quiet"]
TORCHRUN_TIMEOUT = 300  # seconds; a job takes about a minute on two shared cores


def torchrun(tmp_path, args, nproc=2):
    """``torchrun --nproc-per-node nproc --standalone -m mixgan train ARGS`` in ``tmp_path``; returns
    (exit status, stderr). The job runs in its own process group, killed whatever happens, so no
    process outlives the test."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIXGAN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--standalone",
           "-m", "mixgan", "train", *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TORCHRUN_TIMEOUT)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return proc.returncode, out, err


def state_dicts_equal(a, b):
    a, b = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def metrics_without_time(run):
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "elapsed_s"} for line in lines]


# --- the share of the data and the streams of each process (no processes started) ----------

def test_each_process_draws_a_disjoint_share_of_every_epoch():
    n, size, world = 20, 5, 2  # one epoch = two batches per process
    shares = [list(islice(ShardBatches(n, size, seed=1, rank=r, world_size=world), 4)) for r in range(world)]
    for epoch in (0, 1):
        seen = [i for r in range(world) for batch in shares[r][2 * epoch: 2 * epoch + 2] for i in batch]
        assert sorted(seen) == list(range(n))  # every index once per epoch across the processes
    assert shares[0][:2] != shares[0][2:]  # a new order each epoch
    other_seed = list(islice(ShardBatches(n, size, seed=2, rank=0, world_size=world), 2))
    assert other_seed != shares[0][:2]


def test_a_share_resumes_at_any_iteration_and_runs_across_epochs():
    n, size = 7, 3  # shares of 3 (drop_last), so batches straddle epochs
    whole = list(islice(ShardBatches(n, size, seed=0, rank=1, world_size=2), 6))
    for start in (2, 4, 6):
        assert list(islice(ShardBatches(n, size, seed=0, rank=1, world_size=2, start=start), 7 - start)) \
            == whole[start - 1:]


def test_ranks_draw_their_own_noise_and_lambda_and_share_the_snapshot_batch():
    gens = [rank_generators(3, r, "cpu") for r in range(2)]
    draw = {name: [torch.randn(4, generator=g[name]) for g in gens] for name in ("noise", "objective", "snapshot")}
    assert not torch.equal(*draw["noise"]) and not torch.equal(*draw["objective"])
    assert torch.equal(*draw["snapshot"])
    assert torch.equal(draw["snapshot"][0], torch.randn(4, generator=run_generators(3, "cpu")["snapshot"]))


# --- refusals under torchrun (the environment it sets, in this process) ----------------------

def test_toy_data_under_torchrun_is_refused_in_one_line_pointing_at_the_engines(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert_refused(capsys, ["train", "--data", "ring", "--iterations", "4", "--out", str(out)],
                   "mixgan sweep --executor ray", out)
    monkeypatch.setenv("RANK", "1")  # the other process exits the same way without a second line
    assert main(["train", "--data", "ring", "--iterations", "4", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "" and not out.exists()
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun with one process: a plain run, not refused
    from mixgan.training.distributed import check_launch
    check_launch(False, 0)


def test_manifold_mixup_under_torchrun_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "out"
    assert_refused(capsys, ["train", "--data", "digits", "--mixup-layer", "1", "--out", str(out)],
                   "cannot train on several processes", out)


# --- torchrun jobs ------------------------------------------------------------------------------

def train_on_two_processes(tmp_path):
    """A tiny digits run trained by two gloo processes; checks what the folder holds and returns it."""
    code, out, err = torchrun(tmp_path, [*TINY, "--out", "out"])
    assert code == 0, err[-3000:]
    runs = list((tmp_path / "out").iterdir())
    assert len(runs) == 1  # rank 0 alone made a folder
    run = runs[0]
    assert out.count("run folder:") == 1  # and rank 0 alone spoke
    recorded = json.loads((run / "config.json").read_text())["recorded"]
    assert (recorded["world_size"], recorded["effective_batch_size"], recorded["distributed_backend"]) == (2, 16, "gloo")
    for name in ("generator.pt", "discriminator.pt", "real.npz", "snapshots/iter_000003.png",
                 "snapshots/iter_000006.npz", "checkpoints/ckpt_000004.ckpt", "checkpoints/ckpt_000006.ckpt"):
        assert (run / name).is_file(), name
    assert status.read_status(run)["state"] == "finished"
    assert [m["iteration"] for m in metrics_without_time(run)] == [2, 4, 6]
    return run


def stop_after_checkpoint_4(run, keep):
    """Turn a finished run back into one stopped after its checkpoint at iteration 4, moving its final
    weights to ``keep``."""
    keep.mkdir()
    for name in ("generator.pt", "discriminator.pt"):
        shutil.move(run / name, keep / name)
    (run / "checkpoints" / "ckpt_000006.ckpt").unlink()
    for p in (run / "snapshots").glob("iter_000006.*"):
        p.unlink()
    status.write_status(run, "interrupted", "stopped by the test", 4)


def test_torchrun_two_processes_train_one_run_that_one_process_cannot_resume(tmp_path, capsys):
    run = train_on_two_processes(tmp_path)
    stop_after_checkpoint_4(run, tmp_path / "finished")
    # Their data shares and noise streams are per process: one process cannot go on with them.
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "trained by 2 process(es), not 1" in err and err.count("\n") == 1
    assert status.read_status(run)["state"] == "interrupted"


@pytest.mark.slow
def test_torchrun_two_processes_resume_bitwise(tmp_path):
    run = train_on_two_processes(tmp_path)
    finished = metrics_without_time(run)
    keep = tmp_path / "finished"
    stop_after_checkpoint_4(run, keep)
    code, out, err = torchrun(tmp_path, ["--resume", str(run), "--quiet"])
    assert code == 0, err[-3000:]
    assert out.count("resumed and finished") == 1
    assert status.read_status(run)["state"] == "finished"
    for name in ("generator.pt", "discriminator.pt"):  # every rank's noise, λ and data share came back
        assert state_dicts_equal(run / name, keep / name), name
    assert metrics_without_time(run) == finished


@pytest.mark.slow
def test_torchrun_with_one_process_is_a_plain_run(tmp_path):
    code, out, err = torchrun(tmp_path, [*TINY, "--out", "job"], nproc=1)
    assert code == 0, err[-3000:]
    assert main(["train", *TINY, "--out", str(tmp_path / "plain")]) == 0
    (job,), (plain,) = (list((tmp_path / d).iterdir()) for d in ("job", "plain"))
    assert "world_size" not in json.loads((job / "config.json").read_text())["recorded"]
    assert state_dicts_equal(job / "generator.pt", plain / "generator.pt")
    assert metrics_without_time(job) == metrics_without_time(plain)
