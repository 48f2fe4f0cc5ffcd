"""Run folders written by an earlier layout of mixgan (``tests/data/reference``) still load, resume,
redraw and reproduce: the same config and seed give the same samples and weights.

The folders were made on the machine named in ``MADE_ON.json``. There, with the same torch, the
comparison is bitwise; elsewhere matrix kernels may round differently, so it is within 1e-4.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mixgan import load_run, make_config, resume, train, train_batched
from mixgan.commands.main import main
from mixgan.config import load_run_config
from mixgan.runs import checkpoints, folders, status

REFERENCE = Path(__file__).parent / "data" / "reference"
SINGLE = REFERENCE / "00000-ring-mixup-s3"
SWEEP = REFERENCE / "00001-sweep"


def same_machine():
    made = json.loads((REFERENCE / "MADE_ON.json").read_text())
    try:
        model = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        model = None
    return (made["torch"], made["cpu_capability"], made["cpu_model"]) == (
        torch.__version__, torch.backends.cpu.get_cpu_capability(), model)


EXACT = same_machine()


def assert_same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if EXACT or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":  # strings ("kind") match exactly anywhere
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    else:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def assert_same_folder_arrays(made, stored, kind="snapshots"):
    names = sorted(p.name for p in (stored / kind).glob("*.npz"))
    assert names and names == sorted(p.name for p in (made / kind).glob("*.npz"))
    for name in names:
        with np.load(stored / kind / name) as s, np.load(made / kind / name) as m:
            assert sorted(s.files) == sorted(m.files)
            for key in s.files:
                assert_same(m[key], s[key])


def assert_same_weights(made, stored):
    for name in ("generator.pt", "discriminator.pt"):
        s = torch.load(stored / name, weights_only=True)
        m = torch.load(made / name, weights_only=True)
        assert list(s) == list(m)
        for key in s:
            assert_same(m[key], s[key])


def loss_lines(run):
    """metrics.jsonl without the wall-clock field and the measuring time."""
    drop = {"elapsed_s", "measure_s"}
    return [{k: v for k, v in r.items() if k not in drop} for r in folders.read_jsonl(run / "metrics.jsonl")]


def copy(run, tmp_path):
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


def test_the_stored_run_loads(one_thread):
    run = load_run(SINGLE)
    config = load_run_config(SINGLE)
    assert (config.objective, config.data, config.seed, config.pairing) == ("mixup", "ring", 3, "shuffled")
    assert run.iterations() == (10, 20) and run.iterations("frames") == (1, 3, 8, 20)
    assert "landscape" in run.arrays(20) and run.arrays(20)["fake"].shape == (64, 2)
    assert [r["iteration"] for r in run.metrics() if r.get("kind") == "snapshot"] == [10, 20]
    # Its final generator, rebuilt from config.json, makes the last snapshot from the fixed noise.
    fixed_z = checkpoints.load(checkpoints.path_for(SINGLE, 20))["fixed_z"]
    with torch.no_grad():
        assert_same(run.generator()(fixed_z).numpy(), run.arrays(20)["fake"])


def test_the_same_config_and_seed_give_the_same_run(tmp_path, one_thread):
    config = make_config({**load_run_config(SINGLE).to_dict(), "out": str(tmp_path)})
    made = train(config, progress=False)
    assert_same_folder_arrays(made, SINGLE)
    assert_same_folder_arrays(made, SINGLE, "frames")
    assert_same_weights(made, SINGLE)
    lines, stored = loss_lines(made), loss_lines(SINGLE)
    assert len(lines) == len(stored)
    for a, b in zip(lines, stored):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(np.nan if a[key] is None else a[key], np.nan if b[key] is None else b[key])


def test_the_stored_run_resumes_from_its_checkpoint_to_the_same_end(tmp_path, one_thread):
    run = copy(SINGLE, tmp_path)
    # As the run stood when stopped after its checkpoint at iteration 10.
    for later in (run / "checkpoints" / "ckpt_000020.ckpt", run / "snapshots" / "iter_000020.npz",
                  run / "frames" / "iter_000020.npz", run / "generator.pt", run / "discriminator.pt"):
        later.unlink()
    status.write_status(run, "interrupted", "SIGINT at iteration 10", 10)
    folder, trained = resume(run, progress=False)
    assert trained and status.read_status(folder)["state"] == "finished"
    assert_same_folder_arrays(folder, SINGLE)
    assert_same_weights(folder, SINGLE)
    assert len(loss_lines(folder)) == len(loss_lines(SINGLE))


def test_the_stored_sweep_runs_train_again_to_the_same_samples(tmp_path, one_thread):
    stored = sorted(p for p in SWEEP.iterdir() if p.is_dir())
    by_objective = {}
    for run in stored:
        config = load_run_config(run)
        by_objective.setdefault(config.objective, []).append((run, make_config({**config.to_dict(), "out": str(tmp_path)})))
    for pairs in by_objective.values():
        made = train_batched([c for _, c in pairs], progress=False)
        for (old, _), new in zip(pairs, made):
            assert_same_folder_arrays(new, old)
            assert_same_weights(new, old)


def test_a_stored_batched_run_resumes_alone(tmp_path, one_thread):
    run = copy(next(p for p in SWEEP.iterdir() if p.name.endswith("ring-mixup-s1")), tmp_path)
    for later in (run / "checkpoints" / "ckpt_000020.ckpt", run / "snapshots" / "iter_000020.npz",
                  run / "generator.pt", run / "discriminator.pt"):
        later.unlink()
    status.write_status(run, "interrupted", "SIGINT at iteration 10", 10)
    folder, _ = resume(run, progress=False)
    stored = SWEEP / run.name
    with np.load(folder / "snapshots" / "iter_000020.npz") as m, np.load(stored / "snapshots" / "iter_000020.npz") as s:
        # a run resumed alone goes on as in its batch, to float rounding
        np.testing.assert_allclose(m["fake"], s["fake"], rtol=1e-4, atol=1e-5)


def test_the_stored_runs_redraw(tmp_path, capsys):
    assert main(["plot", str(SINGLE), str(SWEEP), "--out", str(tmp_path)]) == 0
    assert next(tmp_path.glob("*-plot/plot.png")).stat().st_size > 1000
    assert main(["animate", str(SINGLE), "--out", str(tmp_path)]) == 0
    animation = next(tmp_path.glob("*-animate"))
    assert len(list((animation / "frames").glob("frame_*.png"))) == 4  # the run's four frames
    assert main(["compare", "--from", str(SWEEP), "--out", str(tmp_path), "--quiet"]) == 0


@pytest.mark.parametrize("run", [SINGLE, *sorted(p for p in SWEEP.iterdir() if p.is_dir())], ids=lambda p: p.name)
def test_resuming_a_finished_stored_run_changes_nothing(tmp_path, run):
    copied = copy(run, tmp_path)
    assert resume(copied, progress=False) == (copied, False)
    for p in run.rglob("*"):
        if p.is_file():
            assert (copied / p.relative_to(run)).read_bytes() == p.read_bytes()
