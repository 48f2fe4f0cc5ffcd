import json

import numpy as np
import pytest
import torch

from conftest import tiny_config
import importlib

from mixgan import objectives
from mixgan.data.registry import DATASETS
from mixgan.training import train

train_module = importlib.import_module("mixgan.training.loop")


def test_smoke_run_writes_the_run_folder(tmp_path):
    run = train(tiny_config(out=str(tmp_path), snapshots=(1, 5, 12)), progress=False)
    assert run.parent == tmp_path and run.name == "00000-spiral-mixup-s3"
    assert json.loads((run / "config.json").read_text())["width"] == 16
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    lines = [l for l in lines if "kind" not in l]  # the training-loss records; snapshot records have a kind
    assert [l["iteration"] for l in lines] == [4, 8, 12]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "elapsed_s"} <= set(lines[0])
    for it in (1, 5, 12):
        with np.load(run / "snapshots" / f"iter_{it:06d}.npz") as z:
            assert z["real"].shape == z["fake"].shape == (64, 2)
        assert (run / "snapshots" / f"iter_{it:06d}.png").stat().st_size > 1000
    G = torch.load(run / "generator.pt")
    assert G["net.0.weight"].shape == (16, 2)


def test_run_folders_are_never_overwritten(tmp_path):
    a = train(tiny_config(out=str(tmp_path), iterations=2), progress=False)
    b = train(tiny_config(out=str(tmp_path), iterations=2), progress=False)
    assert a != b and a.exists() and b.name.startswith("00001-")


def test_same_seed_same_samples_other_seed_other_samples(tmp_path):
    runs = [train(tiny_config(out=str(tmp_path), seed=s), progress=False) for s in (1, 1, 2)]
    fakes = [np.load(r / "snapshots" / "iter_000012.npz")["fake"] for r in runs]
    assert np.array_equal(fakes[0], fakes[1])
    assert not np.array_equal(fakes[0], fakes[2])


def test_snapshot_noise_is_shared_across_objectives(tmp_path):
    a = train(tiny_config(out=str(tmp_path), objective="standard"), progress=False)
    b = train(tiny_config(out=str(tmp_path), objective="mixup"), progress=False)
    ra, rb = (np.load(r / "snapshots" / "iter_000012.npz")["real"] for r in (a, b))
    assert np.array_equal(ra, rb)


def test_global_rng_untouched(tmp_path):
    state = torch.get_rng_state()
    train(tiny_config(out=str(tmp_path), iterations=2), progress=False)
    assert torch.equal(state, torch.get_rng_state())


def test_discriminator_steps_build_no_graph_through_G(tmp_path, monkeypatch):
    """The discriminator loss must give G no gradient, and D's inputs carry no requires_grad."""
    seen = {}
    build = train_module.build_models

    def capture(config, *a, **k):
        seen["G"], seen["D"] = build(config, *a, **k)
        return seen["G"], seen["D"]

    class Checked:
        def __init__(self, inner):
            self.inner, self.d_batches = inner, inner.d_batches
            self.d_calls = 0

        def d_loss(self, D, real, fake, generator):
            assert not real.requires_grad and not fake.requires_grad
            loss = self.inner.d_loss(D, real, fake, generator)
            grads = torch.autograd.grad(loss, list(seen["G"].parameters()), allow_unused=True,
                                        retain_graph=True)
            assert all(g is None for g in grads)
            self.d_calls += 1
            return loss

        def g_loss(self, D, fake):
            assert all(not p.requires_grad for p in D.parameters()), "D must be frozen in the G step"
            return self.inner.g_loss(D, fake)

    checked = {}
    for name in ("standard", "mixup"):
        monkeypatch.setitem(objectives.OBJECTIVES, name,
                            lambda c, b=objectives.OBJECTIVES[name]: checked.setdefault(c.objective, Checked(b(c))))
    monkeypatch.setattr(train_module, "build_models", capture)
    for name in ("standard", "mixup"):
        train(tiny_config(out=str(tmp_path), objective=name, iterations=3, d_steps=2, pairing="shuffled"),
              progress=False)
        assert checked[name].d_calls == 6
        assert all(p.requires_grad for p in seen["D"].parameters())  # unfrozen after the G step


@pytest.mark.parametrize("data", list(DATASETS))
@pytest.mark.parametrize("objective", list(objectives.OBJECTIVES))
def test_every_dataset_and_objective_trains(tmp_path, data, objective):
    run = train(tiny_config(out=str(tmp_path), data=data, objective=objective, iterations=3, width=8,
                            snapshots=(3,)), progress=False)
    with np.load(run / "snapshots" / "iter_000003.npz") as z:
        assert np.isfinite(z["fake"]).all()
    assert (run / "snapshots" / "iter_000003.png").exists()


def test_mixup_moves_the_generator_towards_the_data(tmp_path):
    """A short real training run: after 300 iterations the generated ring points sit much
    closer to the ring than at iteration 1 (seeded; width 64)."""
    run = train(tiny_config(out=str(tmp_path), data="ring", objective="mixup", iterations=300, width=64,
                            depth=3, batch_size=64, snapshots=(1, 300), log_every=100), progress=False)
    def dist(it):
        fake = np.load(run / "snapshots" / f"iter_{it:06d}.npz")["fake"]
        return np.abs(np.linalg.norm(fake, axis=1) - 1).mean()
    assert dist(300) < 0.5 * dist(1)


def test_training_flushes_denormals_and_restores_the_setting(tmp_path, monkeypatch):
    """Denormal floats slow CPU arithmetic many times over once D saturates: training flushes
    them while it runs, and leaves the caller's setting as it found it."""
    seen = []
    build = train_module.build_models

    def probe(*a, **k):
        seen.append((torch.tensor([1e-40]) * 1.0).item())
        return build(*a, **k)

    monkeypatch.setattr(train_module, "build_models", probe)
    for before in (False, True):
        torch.set_flush_denormal(before)
        train(tiny_config(out=str(tmp_path), iterations=1), progress=False)
        assert ((torch.tensor([1e-40]) * 1.0).item() == 0.0) is before
    torch.set_flush_denormal(False)
    assert seen == [0.0, 0.0]  # flushed during both runs


def test_config_json_records_how_the_run_was_made(tmp_path):
    import platform
    from mixgan.config import load_run_config, read_run_config
    config = tiny_config(out=str(tmp_path), iterations=2)
    run = train(config, progress=False)
    recorded = json.loads((run / "config.json").read_text())["recorded"]
    assert recorded["device"] == "cpu" and recorded["torch"] == torch.__version__
    assert recorded["python"] == platform.python_version() and recorded["mixgan"] and recorded["command"]
    assert "recorded" not in read_run_config(run) and load_run_config(run) == config  # facts, not options
