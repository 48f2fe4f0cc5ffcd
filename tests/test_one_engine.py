"""One engine for toy runs: ``mixgan train`` and ``mixgan figure5`` train them through the batched
engine (a batch of one for train, a batch per objective for figure5), which keeps everything a run
of the single-run loop keeps; the routing rule (``training/engines.py``); the figure's batches.

The batched engine's numbers equal the single-run loop's within float rounding, not bitwise
(``torch.bmm`` then the bias against ``nn.Linear``'s fused ``addmm``): measured on the 2-core AMD
EPYC, a batch of one differs from ``train()`` by at most 6e-8 at iteration 1 and 1.4e-6 after 30
iterations of width 128. The tests below pin that tolerance at short horizons; a GAN amplifies any
difference over thousands of iterations, so long runs of the two engines agree in distribution only.
"""
import json

import numpy as np
import pytest

from conftest import tiny_config
from mixgan import make_config, objectives
from mixgan.commands.main import main
from mixgan.errors import RunFailed
from mixgan.experiments.workers import Batch, batch_tasks
from mixgan.objectives import batched as batched_objectives
from mixgan.training import engines
from mixgan.training.loop import train

TINY = ["--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32", "--quiet"]
OPTIONS = dict(data="ring", ema=0.9, frames=4, landscape=8, g_loss_mean="batch", iterations=12, snapshots=(6, 12),
               width=8, depth=1, batch_size=16, snapshot_size=32, seed=4)


def args_for(options):
    return [a for k, v in options.items() for a in ("--" + k.replace("_", "-"),
            ",".join(map(str, v)) if isinstance(v, tuple) else str(v))]


def only_run(folder):
    (run,) = [p for p in folder.iterdir() if (p / "config.json").is_file()]
    return run


def test_the_routing_rule():
    assert engines.engine_for(tiny_config()) == "batched"
    assert engines.engine_for(tiny_config(objective="standard", data="grid")) == "batched"
    for alone in (dict(r1=1.0), dict(r2=0.5), dict(spectral_norm=True), dict(mixup_layer=1), dict(objective="hinge"),
                  dict(objective="wgan-gp"), dict(data="mnist"), dict(tensorboard=True)):
        assert engines.engine_for(tiny_config(**alone)) == "single", alone


def test_a_run_resumes_in_the_engine_its_folder_records(tmp_path):
    def run_with(recorded):
        run = tmp_path / str(len(list(tmp_path.iterdir())))
        run.mkdir()
        (run / "config.json").write_text(json.dumps({**tiny_config().to_dict(), "recorded": recorded}))
        return run
    assert engines.engine_for(tiny_config(), run_with({"engine": "batched"})) == "batched"
    assert engines.engine_for(tiny_config(), run_with({"threads": 1})) == "single"  # older runs: the loop's
    assert engines.engine_for(tiny_config(), run_with([])) == "single"


def test_train_command_is_a_batch_of_one_that_keeps_what_a_single_run_keeps(tmp_path):
    assert main(["train", *args_for(OPTIONS), "--out", str(tmp_path / "cmd"), "--quiet"]) == 0
    run = only_run(tmp_path / "cmd")
    recorded = json.loads((run / "config.json").read_text())["recorded"]
    assert recorded["engine"] == "batched" and recorded["threads"] == 1  # MIXGAN_THREADS=1 in the suite
    alone = train(make_config({**OPTIONS, "out": str(tmp_path / "loop")}), progress=False)
    files = lambda r: sorted(str(p.relative_to(r)) for p in r.rglob("*") if p.name != ".lock")  # noqa: E731
    assert files(run) == files(alone)  # snapshots, frames, EMA weights, checkpoints, status, metrics
    assert len(list((run / "frames").glob("*.npz"))) == 4
    for kind in ("snapshots", "frames"):
        for name in sorted(p.name for p in (alone / kind).glob("*.npz")):
            with np.load(run / kind / name) as b, np.load(alone / kind / name) as a:
                assert sorted(a.files) == sorted(b.files)
                assert np.array_equal(a["real"], b["real"])  # the same snapshot stream
                for key in ("fake", "fake_ema", "landscape"):
                    if key in a.files:
                        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-5)
    mb, ma = ([json.loads(line) for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (run, alone))
    assert [m["iteration"] for m in mb] == [m["iteration"] for m in ma]
    for b, a in zip(mb, ma):
        assert b.keys() == a.keys()
        if "kind" not in a:
            for key in ("d_loss", "g_loss", "d_real", "d_fake"):
                assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5)


def poison_d_loss_after(monkeypatch, calls):
    """Make both engines' mixup D loss NaN from its ``calls + 1``-th call on."""
    for cls in (objectives.core.MixupObjective, batched_objectives.BatchedMixup):
        inner, count = cls.d_loss, {"n": 0}

        def d_loss(self, *a, inner=inner, count=count):
            count["n"] += 1
            loss = inner(self, *a)
            return loss * float("nan") if count["n"] > calls else loss
        monkeypatch.setattr(cls, "d_loss", d_loss)


def test_a_nan_stops_a_batch_of_one_with_the_single_runs_line(tmp_path, monkeypatch, capsys):
    options = dict(OPTIONS, ema=0.0, frames=0, landscape=0, d_steps=2, log_every=4)
    poison_d_loss_after(monkeypatch, 5)  # two D steps per iteration: iteration 3 is the first NaN
    assert main(["train", *args_for(options), "--out", str(tmp_path / "cmd"), "--quiet"]) == RunFailed.exit_code
    err = capsys.readouterr().err
    run = only_run(tmp_path / "cmd")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"run failed: d_loss became nan at iteration 3; no checkpoint had been written yet; {run} is marked" in err
    poison_d_loss_after(monkeypatch, 5)
    with pytest.raises(RunFailed) as alone:
        train(make_config({**options, "out": str(tmp_path / "loop")}), progress=False)
    assert alone.value.message.replace(str(only_run(tmp_path / "loop")), str(run)) in err
    st = json.loads((run / "status.json").read_text())
    assert st["state"] == "failed" and st["resumable"] is False


def test_figure5_runs_form_one_batch_per_objective():
    configs = [make_config(dict(preset="figure5", data=d, objective=o, seed=s, width=8, iterations=4))
               for s in (0, 1) for d in ("grid", "ring") for o in ("standard", "mixup")]
    odd = make_config(dict(data="ring", r1=1.0, width=8, iterations=4))
    tasks = batch_tasks([(c, None) for c in configs] + [(odd, None)])
    assert tasks[-1] == (odd, None)  # what the batched engine does not cover stays a run of its own
    standard, mixup = tasks[:2]
    assert isinstance(standard, Batch) and isinstance(mixup, Batch) and len(tasks) == 3
    assert [(c.data, c.seed) for c in standard.configs] == [(c.data, c.seed) for c in mixup.configs] == \
        [("grid", 0), ("ring", 0), ("grid", 1), ("ring", 1)]
    assert {c.objective for c in standard.configs} == {"standard"} and standard.resume is None


def test_a_nan_in_a_figure5_batch_stops_the_command_with_its_line(tmp_path, monkeypatch, capsys):
    from mixgan.experiments import figure5
    monkeypatch.setattr(figure5, "QUICK", dict(width=8, depth=1, batch_size=16, snapshot_size=32, iterations=8,
                                               snapshots=(4, 8), log_every=4))
    monkeypatch.setattr(figure5, "cpu_cores", lambda: 1)  # in this process, where the poison is
    from mixgan.experiments import estimate
    monkeypatch.setattr(estimate, "seconds_per_iteration", lambda *a, **k: 1e-3)  # no timing run to poison
    poison_d_loss_after(monkeypatch, 10)  # the mixup batch's first D loss call of iteration 3 (5 D steps each)
    assert main(["figure5", "--quick", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == RunFailed.exit_code
    err = capsys.readouterr().err
    assert "run failed: d_loss became nan at iteration 3;" in err and err.strip().splitlines()[-1].startswith("mixgan: run failed")
    group = next(tmp_path.glob("*-figure5-quick-s0"))
    states = {p.name[6:]: json.loads((p / "status.json").read_text())["state"] for p in group.iterdir() if p.is_dir()}
    assert states == {"grid-standard-s0": "finished", "ring-standard-s0": "finished", "grid-mixup-s0": "failed",
                      "ring-mixup-s0": "failed"}
    assert not (group / "figure5.png").exists()

    # The same command again goes on in that folder, where a seeded NaN would only come back: it
    # says so in one line and trains nothing.
    held = sorted(p.name for p in group.iterdir())
    monkeypatch.setattr(figure5, "train_all", lambda *a, **k: pytest.fail("trained again"))
    assert main(["figure5", "--quick", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == RunFailed.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "d_loss became nan at iteration 3" in err and "would fail again" in err
    assert sorted(p.name for p in group.iterdir()) == held and len(list(tmp_path.iterdir())) == 1
