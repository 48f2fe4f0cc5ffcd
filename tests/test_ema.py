"""The generator's weight average (``--ema``): the update rule, its place in the loops, what a run
folder keeps of it, sampling from it, and the options that refuse bad values."""
import numpy as np
import pytest
import torch

from conftest import assert_refused, tiny_config
from mixgan import load_run, sample, train, train_batched
from mixgan.commands.main import main
from mixgan.errors import UsageError
from mixgan.runs import checkpoints
from mixgan.runs.folders import read_jsonl
from mixgan.training.averaging import start_average, update_average
from mixgan.training.setup import build_models

TINY = ["--width", "8", "--depth", "1", "--batch-size", "16", "--snapshot-size", "32", "--iterations", "6",
        "--data", "ring", "--quiet"]


def test_the_update_is_ema_times_average_plus_the_rest_times_g_and_copies_buffers():
    G = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.BatchNorm1d(2))
    average = start_average(G)
    assert all(not p.requires_grad for p in average.parameters())
    with torch.no_grad():
        for p, value in zip(average.parameters(), ([[1.0], [2.0]], [4.0, -8.0], [0.0, 1.0], [2.0, 2.0])):
            p.copy_(torch.tensor(value))
        for p, value in zip(G.parameters(), ([[3.0], [6.0]], [0.0, 8.0], [4.0, 1.0], [2.0, -2.0])):
            p.copy_(torch.tensor(value))
        G[1].running_mean.copy_(torch.tensor([5.0, 7.0]))
        G[1].num_batches_tracked.fill_(9)
    before = [p.clone() for p in G.parameters()]
    update_average(average, G, 0.75)
    # 0.75·a + 0.25·g, in numbers a float holds exactly
    expected = ([[1.5], [3.0]], [3.0, -4.0], [1.0, 1.0], [2.0, 1.0])
    for p, value in zip(average.parameters(), expected):
        assert torch.equal(p, torch.tensor(value))
    assert torch.equal(average[1].running_mean, torch.tensor([5.0, 7.0]))  # copied, not averaged
    assert int(average[1].num_batches_tracked) == 9
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))  # G is left alone
    update_average(average, G, 0.5)
    assert torch.equal(average[0].weight, torch.tensor([[2.25], [4.5]]))


@pytest.mark.parametrize("engine", ["alone", "batch"])
def test_the_average_moves_after_every_generator_step(tmp_path, engine, one_thread):
    """From G's initial weights, and from each kept checkpoint to the next, the average is one update."""
    config = tiny_config(out=str(tmp_path), iterations=3, checkpoint_every=1, snapshots=(3,), ema=0.8, data="ring")
    run = train(config, progress=False) if engine == "alone" else train_batched([config], progress=False)[0]
    c2, c3 = (checkpoints.load(checkpoints.path_for(run, it)) for it in (2, 3))
    for k, v in c3["G_ema"].items():
        torch.testing.assert_close(v, 0.8 * c2["G_ema"][k] + 0.2 * c3["G"][k], rtol=1e-6, atol=1e-7)
    assert torch.load(run / "generator_ema.pt").keys() == c3["G_ema"].keys()
    for k, v in torch.load(run / "generator_ema.pt").items():
        assert torch.equal(v, c3["G_ema"][k])
    # After one iteration the average is 0.8·(G as built from the seed) + 0.2·(G after its first step).
    one = train(tiny_config(out=str(tmp_path / "one"), iterations=1, ema=0.8, data="ring"), progress=False)
    G0 = build_models(tiny_config(iterations=1, ema=0.8, data="ring"))[0].state_dict()
    G1, A1 = torch.load(one / "generator.pt"), torch.load(one / "generator_ema.pt")
    assert not torch.equal(G1["net.0.weight"], G0["net.0.weight"])
    for k in G0:
        torch.testing.assert_close(A1[k], 0.8 * G0[k] + 0.2 * G1[k], rtol=1e-6, atol=1e-7)


def test_ema_leaves_the_run_it_averages_unchanged_and_off_adds_nothing(tmp_path, one_thread):
    off = train(tiny_config(out=str(tmp_path), snapshots=(6, 12), data="ring"), progress=False)
    on = train(tiny_config(out=str(tmp_path), snapshots=(6, 12), data="ring", ema=0.9), progress=False)
    # Off: no file, array, key or checkpoint entry of an average.
    assert not (off / "generator_ema.pt").exists() and (on / "generator_ema.pt").exists()
    with np.load(off / "snapshots" / "iter_000012.npz") as z:
        assert z.files == ["real", "fake", "iteration"]
    assert not any(k.startswith("ema_") for line in read_jsonl(off / "metrics.jsonl") for k in line)
    assert "G_ema" not in checkpoints.load(checkpoints.path_for(off, 12))
    # On: the raw generator, its snapshots and every metric without the prefix are bitwise those of the run without.
    for name in ("generator.pt", "discriminator.pt"):
        a, b = torch.load(off / name), torch.load(on / name)
        assert all(torch.equal(a[k], b[k]) for k in a)
    for it in (6, 12):
        with np.load(off / "snapshots" / f"iter_{it:06d}.npz") as a, np.load(on / "snapshots" / f"iter_{it:06d}.npz") as b:
            assert np.array_equal(a["fake"], b["fake"]) and b["fake_ema"].shape == a["fake"].shape
            assert not np.array_equal(b["fake"], b["fake_ema"])
    drop = lambda line: {k: v for k, v in line.items() if not k.startswith("ema_") and not k.endswith("_s")}  # noqa: E731
    lines_off, lines_on = read_jsonl(off / "metrics.jsonl"), read_jsonl(on / "metrics.jsonl")
    assert [drop(line) for line in lines_off] == [drop(line) for line in lines_on]
    snap = [line for line in lines_on if line.get("kind") == "snapshot"][-1]
    assert {"ema_modes_covered", "ema_high_quality_fraction", "ema_reverse_kl", "ema_energy_distance"} <= set(snap)
    assert "ema_modes_total" not in snap and "ema_floor_energy_distance" not in snap
    assert snap["ema_energy_distance"] != snap["energy_distance"]


def test_sample_ema_draws_from_the_average_and_refuses_runs_without_it(tmp_path, capsys):
    assert main(["train", *TINY, "--ema", "0.9", "--out", str(tmp_path / "on")]) == 0
    assert main(["train", *TINY, "--out", str(tmp_path / "off")]) == 0
    on, off = next((tmp_path / "on").iterdir()), next((tmp_path / "off").iterdir())
    assert main(["sample", str(on), "--ema", "--n", "200", "--seed", "4", "--out", str(tmp_path / "s.npz")]) == 0
    assert "weight average" in capsys.readouterr().out
    with np.load(tmp_path / "s.npz") as z:
        drawn = z["fake"]
    assert np.array_equal(drawn, sample(on, n=200, seed=4, ema=True))
    assert not np.array_equal(drawn, sample(on, n=200, seed=4))  # the raw generator draws others
    # The averaged generator is the one that made the last snapshot's fake_ema, final or from its checkpoint.
    opened = load_run(on)
    fixed_z = checkpoints.load(checkpoints.path_for(on, 6))["fixed_z"]
    with torch.no_grad():
        for G in (opened.generator(ema=True), opened.generator(6, ema=True)):
            np.testing.assert_array_equal(G(fixed_z).numpy(), opened.arrays(6)["fake_ema"])
    assert main(["sample", str(on), "--ema", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    capsys.readouterr()
    assert_refused(capsys, ["sample", str(off), "--ema", "--out", str(tmp_path / "t.npz")],
                   "trained without --ema", tmp_path / "t.npz")
    with pytest.raises(UsageError, match="trained without --ema"):
        sample(off, ema=True)


@pytest.mark.parametrize("value, words", [("1", "ema must be 0 (off) or between 0 and 1"), ("1.5", "ema must be"),
                                          ("-0.1", "ema must be"), ("nan", "ema must be"), ("inf", "ema must be"),
                                          ("x", "expected a number")])
def test_bad_ema_values_exit_2_with_one_line(tmp_path, capsys, value, words):
    assert_refused(capsys, ["train", *TINY, "--ema", value, "--out", str(tmp_path / "runs")], words,
                   tmp_path / "runs")


def test_ema_config_values():
    assert tiny_config().ema == 0.0 and tiny_config(ema=0.999).ema == 0.999
    with pytest.raises(UsageError, match="ema must be a number"):
        tiny_config(ema="0.9")
    with pytest.raises(UsageError, match="ema must be 0"):
        tiny_config(ema=1)


def test_an_image_run_keeps_the_average_of_its_conv_generator(tmp_path, one_thread):
    """Conv G has BatchNorm buffers: copied into the average, which samples like G."""
    run = train(tiny_config(out=str(tmp_path), data="digits", width=4, batch_size=8, d_steps=1, snapshot_size=16,
                            iterations=3, snapshots=(3,), log_every=3, ema=0.5), progress=False)
    with np.load(run / "snapshots" / "iter_000003.npz") as z:
        assert z["fake_ema"].shape == z["fake"].shape and not np.array_equal(z["fake_ema"], z["fake"])
        shape = z["fake"].shape[1:]
    G, average = torch.load(run / "generator.pt"), torch.load(run / "generator_ema.pt")
    counters = [k for k in G if k.endswith("num_batches_tracked")]
    assert counters and all(torch.equal(G[k], average[k]) for k in counters)  # copied, never averaged
    assert sample(run, n=5, ema=True).shape == (5, *shape)


@pytest.mark.parametrize("engine", ["alone", "batched"])
def test_frames_carry_the_average_and_plot_and_animate_draw_it(tmp_path, capsys, engine, one_thread):
    config = tiny_config(out=str(tmp_path / "runs"), iterations=6, snapshots=(3, 6), frames=3, ema=0.8, data="ring")
    run = train(config, progress=False) if engine == "alone" else train_batched([config], progress=False)[0]
    opened = load_run(run)
    for it in opened.iterations("frames"):
        assert opened.arrays(it, "frames")["fake_ema"].shape == opened.arrays(it, "frames")["fake"].shape
    # The last frame and the last snapshot are drawn by the same average on the same noise.
    np.testing.assert_array_equal(opened.arrays(6, "frames")["fake_ema"], opened.arrays(6)["fake_ema"])
    averaged = load_run(run, ema=True)
    for kind in ("snapshots", "frames"):
        np.testing.assert_array_equal(averaged.arrays(6, kind)["fake"], opened.arrays(6, kind)["fake_ema"])
        assert "fake_ema" not in averaged.arrays(6, kind)

    assert main(["plot", str(run), "--ema", "--out", str(tmp_path / "p"), "--quiet"]) == 0
    assert main(["animate", str(run), "--ema", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    import json
    (made,) = (tmp_path / "a").iterdir()
    assert json.loads((made / "animation.json").read_text())["ema"] is True
    from mixgan.viz.figures import run_grid_figure, run_title
    assert run_title(averaged).endswith("· weight average") and "weight average" not in run_title(opened)
    fig, _ = run_grid_figure([averaged])
    assert any("weight average" in t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    capsys.readouterr()

    # A run without the average, and a frame saved without its samples, are one line each, writing nothing.
    off = train(tiny_config(out=str(tmp_path / "off"), iterations=6, snapshots=(6,), data="ring"), progress=False)
    assert_refused(capsys, ["plot", str(off), "--ema", "--out", str(tmp_path / "p2")], "trained without --ema",
                   tmp_path / "p2")
    frame = next((run / "frames").glob("*.npz"))
    kept = {k: v for k, v in np.load(frame).items() if k != "fake_ema"}
    np.savez(frame, **kept)
    assert_refused(capsys, ["animate", str(run), "--ema", "--out", str(tmp_path / "a2")],
                   "holds no samples of the weight average", tmp_path / "a2")
