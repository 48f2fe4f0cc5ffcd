"""The GPU tier: the real entry points on a CUDA device, where the batched engine replays every
iteration as one CUDA graph. Skipped where torch sees no CUDA GPU; ``pytest -m gpu`` runs only these.
The CPU suite tests the same engine with capture off (tests/test_one_engine.py, test_batched*.py).

Tolerances. Graph replay runs the kernels eager mode runs, on the same inputs, so graph and eager
runs are compared to 1e-6; a run in a batch and the same run alone (the single-run loop, or a batch
of one) differ by float rounding of the stacked products, compared as on the CPU (rtol 1e-4,
atol 1e-5) over 12 iterations. float32 matrix products keep TF32 off (torch's default).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config
from mixgan.commands.main import main
from mixgan.runs import status

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TINY = ["--width", "16", "--depth", "2", "--batch-size", "32", "--snapshot-size", "64", "--device", "cuda"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}


def cuda_config(**kw):
    return tiny_config(device="cuda", **kw)


def fake(run, it, key="fake"):
    with np.load(run / "snapshots" / f"iter_{it:06d}.npz") as z:
        return z[key]


def runs_in(folder):
    return sorted(p for p in Path(folder).rglob("config.json") if (p.parent / "status.json").is_file())


def test_train_on_the_gpu_captures_the_iteration_and_finishes(tmp_path, capsys):
    assert main(["train", "--data", "ring", "--iterations", "40", "--snapshots", "10,40", "--ema", "0.9",
                 "--frames", "4", "--landscape", "8", *TINY, "--out", str(tmp_path), "--quiet"]) == 0
    assert "CUDA graph capture failed" not in capsys.readouterr().err  # a capture fails on any host sync
    (config_file,) = runs_in(tmp_path)
    run = config_file.parent
    recorded = json.loads(config_file.read_text())["recorded"]
    assert recorded["engine"] == "batched" and recorded["device"].startswith("cuda")
    assert status.read_status(run)["state"] == "finished"
    assert np.isfinite(fake(run, 40)).all() and np.isfinite(fake(run, 40, "fake_ema")).all()
    assert len(list((run / "frames").glob("*.npz"))) == 4


def test_graph_replay_equals_eager(tmp_path):
    from mixgan.training.batched import train_batched
    configs = lambda out: [cuda_config(out=str(out), seed=s, data=d, iterations=24, snapshots=(4, 24),  # noqa: E731
                                       pairing="shuffled", ema=0.9) for s, d in ((1, "ring"), (2, "grid"))]
    graphed = train_batched(configs(tmp_path / "graph"), progress=False, cuda_graph=True)
    eager = train_batched(configs(tmp_path / "eager"), progress=False, cuda_graph=False)
    for g, e in zip(graphed, eager):
        for it in (4, 24):  # before the capture (warm-up iterations) and well after it
            for key in ("fake", "fake_ema"):
                np.testing.assert_allclose(fake(g, it, key), fake(e, it, key), rtol=1e-6, atol=1e-6)


def test_batched_equals_single_on_the_gpu(tmp_path):
    from mixgan.training.batched import train_batched
    from mixgan.training.loop import train
    options = [dict(seed=1, data="ring"), dict(seed=2, data="grid", alpha=0.5, lambda_dist="uniform")]
    batch = train_batched([cuda_config(out=str(tmp_path / "b"), snapshots=(1, 12), **o) for o in options],
                          progress=False)
    for o, run_b in zip(options, batch):
        run_a = train(cuda_config(out=str(tmp_path / "a"), snapshots=(1, 12), **o), progress=False)
        for it in (1, 12):
            np.testing.assert_allclose(fake(run_b, it), fake(run_a, it), rtol=1e-4, atol=1e-5)


def test_figure5_quick_on_the_gpu(tmp_path, monkeypatch, capsys):
    from mixgan.experiments import figure5
    monkeypatch.setattr(figure5, "QUICK", dict(width=16, depth=2, batch_size=32, snapshot_size=64, iterations=30,
                                               snapshots=(10, 30)))
    assert main(["figure5", "--quick", "--device", "cuda", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "as 2 batch(es)" in out.out and "CUDA graph capture failed" not in out.err
    group = next(tmp_path.glob("*-figure5-quick-s0"))
    assert (group / "figure5.png").exists()
    info = json.loads((group / "figure5.json").read_text())
    assert info["device"].startswith("cuda") and len(info["runs"]) == 4


def test_sweep_on_the_gpu(tmp_path, capsys):
    assert main(["sweep", "--datasets", "ring", "--objectives", "standard,mixup", "--seeds", "0,1,2", "--iterations", "20",
                 "--snapshots", "20", *TINY, "--out", str(tmp_path), "--quiet"]) == 0
    sweep = next(tmp_path.glob("*-sweep"))
    runs = runs_in(sweep)
    assert len(runs) == 6 and all(status.read_status(r.parent)["state"] == "finished" for r in runs)
    assert (sweep / "summary.md").exists()


def test_a_killed_gpu_run_resumes_to_the_end_it_would_have_reached(tmp_path):
    """SIGKILL after the first checkpoint, then ``mixgan train --resume``: the run finishes where an
    uninterrupted run ends (the resumed leg re-captures its graph after its warm-up iterations)."""
    args = ["train", "--data", "ring", "--iterations", "600", "--checkpoint-every", "100", "--snapshots", "600",
            "--log-every", "50", *TINY, "--quiet"]
    reference = main([*args, "--out", str(tmp_path / "ref")])
    assert reference == 0
    proc = subprocess.Popen([sys.executable, "-m", "mixgan", *args, "--out", str(tmp_path / "killed")], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        found = list((tmp_path / "killed").glob("*/checkpoints/ckpt_*.ckpt"))
        if found:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    (config_file,) = runs_in(tmp_path / "killed")
    run = config_file.parent
    killed = status.read_status(run)["state"] != "finished"
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert status.read_status(run)["state"] == "finished"
    (ref_config,) = runs_in(tmp_path / "ref")
    # Resumed on a fresh process, the run repeats the eager warm-up and the capture; the kernels and
    # their inputs are the same, so the end agrees to rounding (checked loosely: 600 GAN iterations).
    np.testing.assert_allclose(fake(run, 600), fake(ref_config.parent, 600), rtol=1e-3, atol=1e-3)
    if not killed:
        pytest.skip("the run finished before it could be killed")
