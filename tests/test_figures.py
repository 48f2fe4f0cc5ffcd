"""Figures, frames, landscapes and animations: layout from small synthetic run folders, frame
spacing properties, landscape orientation, GIF/MP4 read-back, and one-line errors."""
import json

import imageio.v3 as iio
import matplotlib.pyplot
import numpy as np

from mixgan.runs import status
import pytest
import torch
from hypothesis import given, settings, strategies as st

from conftest import tiny_config
from mixgan.experiments import figure5 as figure5_module
from mixgan.viz.animate import animate
from mixgan.commands.main import main
from mixgan.errors import UsageError
from mixgan.viz.figures import figure5_figure, figure5_runs, load_run, run_grid_figure
from mixgan.runs.snapshots import frame_iterations
from mixgan.evaluation.landscape import d_landscape
from mixgan.viz.plots import frame_limits
from mixgan.training import train


# ------------------------------------------------------------------ synthetic runs
def fake_run(root, name, data="ring", objective="standard", alpha=0.2, snapshots=(10, 100), frames=(),
             landscape=0, seed=0, state="finished"):
    """A run folder as training leaves it (config.json, arrays, status.json), with random points."""
    run = root / name
    (run / "snapshots").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(dict(data=data, objective=objective, alpha=alpha, seed=seed)))
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(50, 2)).astype(np.float32)
    for kind, its in (("snapshots", snapshots), ("frames", frames)):
        (run / kind).mkdir(exist_ok=True)
        for it in its:
            arrays = dict(real=real, fake=rng.normal(size=(50, 2)).astype(np.float32), iteration=it)
            if landscape:
                arrays.update(landscape=rng.uniform(size=(landscape, landscape)).astype(np.float32),
                              landscape_limits=np.array(frame_limits(real), dtype=np.float32))
            np.savez(run / kind / f"iter_{it:06d}.npz", **arrays)
    status.write_status(run, state)
    return run


def four_runs(root, **kw):
    return [fake_run(root, f"{i:05d}-{d}-{o}-s0", data=d, objective=o, **kw)
            for i, (d, o) in enumerate((d, o) for d in ("ring", "grid") for o in ("mixup", "standard"))]


def texts(fig):
    found = {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}
    return {t for t in found if t}


# ------------------------------------------------------------------------- frames
@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 400), last=st.integers(1, 10**6))
def test_frame_iterations_are_distinct_sorted_and_include_first_and_last(n, last):
    its = frame_iterations(n, last)
    assert len(its) == min(n, last)
    assert its[0] == 1 and its[-1] == last
    assert all(a < b for a, b in zip(its, its[1:]))


@pytest.mark.parametrize("n, last", [(50, 20000), (100, 20000), (30, 3000)])
def test_frame_iterations_are_logarithmic(n, last):
    its = np.array(frame_iterations(n, last), dtype=float)
    # Past the first few dozen iterations (where whole numbers force uneven ratios), log(iteration)
    # grows by a constant step.
    late = its[its >= 50]
    steps = np.diff(np.log(late))
    assert len(steps) > n / 3 and steps.max() < 1.2 * steps.min()
    # Far more frames in the first tenth of the run than the tenth a linear spacing would give.
    assert (its <= last / 10).sum() > 0.6 * n


def test_frame_iterations_small_cases():
    assert frame_iterations(0, 100) == ()
    assert frame_iterations(5, 3) == (1, 2, 3)
    assert frame_iterations(2, 100) == (1, 100)


@pytest.mark.parametrize("option, value, words", [("frames", 1, "at least 2"), ("frames", -3, "frames must be"),
                                                  ("landscape", 1, "landscape must be"),
                                                  ("landscape", 5000, "landscape must be")])
def test_bad_frame_options(option, value, words):
    with pytest.raises(UsageError, match=words):
        tiny_config(**{option: value})


def test_training_saves_frames_and_landscapes(tmp_path):
    config = tiny_config(out=str(tmp_path), data="ring", iterations=30, frames=7, landscape=9, snapshots=(5, 30))
    run = train(config, progress=False)
    saved = sorted(int(p.stem[5:]) for p in (run / "frames").glob("iter_*.npz"))
    assert tuple(saved) == frame_iterations(7, 30)
    for path in [*(run / "frames").glob("*.npz"), *(run / "snapshots").glob("*.npz")]:
        with np.load(path) as z:
            assert z["fake"].shape == z["real"].shape == (64, 2)
            assert z["landscape"].shape == (9, 9) and z["landscape"].dtype == np.float32
            assert ((z["landscape"] >= 0) & (z["landscape"] <= 1)).all()
            np.testing.assert_allclose(z["landscape_limits"], frame_limits(z["real"]), rtol=1e-6)
    # Frames use the snapshots' fixed noise: at a shared iteration they hold the same points.
    a, b = np.load(run / "frames" / "iter_000030.npz"), np.load(run / "snapshots" / "iter_000030.npz")
    np.testing.assert_array_equal(a["fake"], b["fake"])


def test_no_frames_or_landscape_by_default(tmp_path):
    run = train(tiny_config(out=str(tmp_path), iterations=3), progress=False)
    assert not (run / "frames").exists()
    with np.load(run / "snapshots" / "iter_000003.npz") as z:
        assert "landscape" not in z.files


def test_landscape_orientation(first_coordinate):
    """With logit = x, σ(D) must vary along columns (x) and be constant along rows (y)."""
    real = np.array([[-1.0, 0.0], [1.0, 2.0]], dtype=np.float32)
    out = d_landscape(first_coordinate, real, 5)
    lo, hi = frame_limits(real)
    t = np.linspace(lo, hi, 5)
    expected = np.broadcast_to(1 / (1 + np.exp(-t)), (5, 5))
    np.testing.assert_allclose(out["landscape"], expected, rtol=1e-5)
    np.testing.assert_allclose(out["landscape_limits"], [lo, hi])


# ------------------------------------------------------------------------ figures
def test_figure5_layout_from_synthetic_runs(tmp_path):
    cells = figure5_runs(four_runs(tmp_path, snapshots=(10, 100, 1000)))
    fig, its = figure5_figure(cells)
    assert its == (10, 100, 1000)
    erm, mix = fig.subfigs
    assert erm._suptitle.get_text() == "ERM GAN" and mix._suptitle.get_text() == "mixup GAN (α = 0.2)"
    for block in (erm, mix):
        axes = block.axes
        assert len(axes) == 2 * 3
        assert [a.get_title() for a in axes[:3]] == ["10", "100", "1000"]
        assert axes[0].get_ylabel() == "grid" and axes[3].get_ylabel() == "ring"
    # Each panel shows its own run: the ERM/grid top-left panel holds that run's fake points.
    expected = cells[("grid", "standard")].arrays(10)["fake"]
    np.testing.assert_array_equal(erm.axes[0].collections[1].get_offsets(), expected)


def test_figure5_uses_shared_iterations_and_writes_png_and_pdf(tmp_path, capsys):
    paths = four_runs(tmp_path / "runs", snapshots=(10, 100, 500))
    extra = fake_run(tmp_path / "runs2", "00000-grid-mixup-s0", data="grid", objective="mixup", snapshots=(10, 500))
    paths = [p for p in paths if not p.name.endswith("grid-mixup-s0")] + [extra]
    assert main(["figure5", "--from", ",".join(map(str, paths)), "--out", str(tmp_path / "out")]) == 0
    group = next((tmp_path / "out").iterdir())
    assert (group / "figure5.png").stat().st_size > 10_000 and (group / "figure5.pdf").stat().st_size > 5_000
    assert json.loads((group / "figure5.json").read_text())["iterations"] == [10, 500]


@pytest.mark.parametrize("case, words", [
    ("spiral", "Figure 5 needs data grid or ring"), ("missing", "missing: ring/standard"),
    ("twice", "two grid/mixup runs"), ("not a run", "neither a run folder nor a folder of runs"),
    ("no such", "no such folder"), ("alphas", "different α"), ("corrupt", "cannot read"),
    ("images", "no 2D 'real' points")])
def test_figure5_from_wrong_runs_is_one_line_and_writes_nothing(tmp_path, capsys, case, words):
    paths = four_runs(tmp_path / "runs")
    if case == "spiral":
        paths[0] = fake_run(tmp_path, "x-spiral", data="spiral")
    elif case == "missing":
        paths = [p for p in paths if "ring-standard" not in p.name]
    elif case == "twice":
        paths.append(fake_run(tmp_path, "x-grid-mixup", data="grid", objective="mixup"))
    elif case == "not a run":
        (tmp_path / "empty").mkdir()
        paths[0] = tmp_path / "empty"
    elif case == "no such":
        paths[0] = tmp_path / "nowhere"
    elif case == "alphas":
        paths = [p for p in paths if "grid-mixup" not in p.name]
        paths.append(fake_run(tmp_path, "x-grid-mixup", data="grid", objective="mixup", alpha=0.4))
    elif case == "corrupt":
        (paths[0] / "config.json").write_text("{not json")
    elif case == "images":  # e.g. a run on an image dataset: its snapshots are not 2D points
        np.savez(paths[1] / "snapshots" / "iter_000010.npz", real=np.zeros((4, 1, 8, 8)), fake=np.zeros((4, 1, 8, 8)))
    out = tmp_path / "out"
    assert main(["figure5", "--from", ",".join(map(str, paths)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_figure5_from_runs_without_shared_snapshots(tmp_path, capsys):
    paths = four_runs(tmp_path / "runs", snapshots=(10,))
    paths[0] = fake_run(tmp_path, "x-ring-mixup", data="ring", objective="mixup", snapshots=(20,))
    assert main(["figure5", "--from", ",".join(map(str, paths)), "--out", str(tmp_path / "out")]) == 2
    assert "share no snapshots iteration" in capsys.readouterr().err


def test_run_grid_layout(tmp_path):
    runs = [load_run(fake_run(tmp_path, f"0000{i}-ring-{o}-s0", objective=o, snapshots=(1, 10, 100)))
            for i, o in enumerate(("standard", "mixup", "standard"))]
    fig, its = run_grid_figure(runs, title="three runs")
    assert its == (1, 10, 100) and len(fig.axes) == 9
    assert "three runs" in texts(fig) and "iteration 100" in texts(fig)
    assert [a.get_ylabel().splitlines()[0] for a in fig.axes[::3]] == [
        "ring · ERM GAN", "ring · mixup GAN (α = 0.2)", "ring · ERM GAN"]
    fig, its = run_grid_figure(runs, iterations=(10,))
    assert its == (10,) and len(fig.axes) == 3
    with pytest.raises(UsageError, match="not a snapshot every run saved"):
        run_grid_figure(runs, iterations=(7,))


def test_plot_command(tmp_path, capsys):
    a = fake_run(tmp_path, "a", snapshots=(1, 2), landscape=8)
    b = fake_run(tmp_path, "b", objective="mixup", snapshots=(1, 2), landscape=8)
    assert main(["plot", str(a), str(b), "--out", str(tmp_path / "p"), "--snapshots", "2"]) == 0
    plotted = next((tmp_path / "p").glob("*-plot"))
    assert iio.imread(plotted / "plot.png").ndim == 3 and (plotted / "plot.pdf").exists()
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "p")]) == 0  # a folder of runs: both rows
    assert len(list((tmp_path / "p").glob("*-plot"))) == 2
    assert main(["plot", str(a), "--snapshots", "2,x", "--out", str(tmp_path / "q")]) == 2
    assert main(["plot", str(tmp_path / "p"), "--out", str(tmp_path / "q")]) == 2  # no runs in it
    (a / "snapshots" / "iter_000002.npz").write_bytes(b"PK\x03\x04 truncated")
    assert main(["plot", str(a), "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "cannot read" in err and "Traceback" not in err
    assert not (tmp_path / "q").exists()


# ---------------------------------------------------------------------- animation
@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_animate_side_by_side_reads_back(tmp_path, fmt):
    frames = (1, 2, 4, 9, 20)
    a = fake_run(tmp_path, "a", frames=frames, landscape=6)
    b = fake_run(tmp_path, "b", objective="mixup", frames=frames + (30,), seed=1, landscape=6)
    folder = animate([a, b], out=tmp_path / "out", fmt=fmt, fps=5, landscape=True, log=lambda *_: None)
    movie = iio.imread(folder / f"animation.{fmt}", index=None)
    assert movie.shape[0] == len(frames)  # in sync: only the iterations both runs saved
    pngs = sorted((folder / "frames").glob("frame_*.png"))
    assert len(pngs) == len(frames)
    h, w = iio.imread(pngs[0]).shape[:2]
    assert w > 1.8 * h  # two panels side by side
    assert json.loads((folder / "animation.json").read_text())["iterations"] == list(frames)


def test_animate_falls_back_to_snapshots_and_rejects_bad_input(tmp_path, capsys):
    a = fake_run(tmp_path, "a", snapshots=(10, 100, 1000))
    folder = animate([a], out=tmp_path / "out", log=lambda *_: None)
    assert iio.imread(folder / "animation.gif", index=None).shape[0] == 3
    for args, words in [(["--format", "avi"], "invalid choice"), (["--fps", "0"], "fps must be"),
                        (["--fps", "fast"], "expected a number")]:
        assert main(["animate", str(a), "--out", str(tmp_path / "bad"), *args]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    (a / "snapshots" / "iter_000100.npz").write_bytes(b"not an npz")
    assert main(["animate", str(a), "--out", str(tmp_path / "bad")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


# ---------------------------------------------------------------- figure5 training
def test_figure5_trains_four_runs_and_draws(tmp_path, monkeypatch, capsys):
    """The real entry point with a tiny reduced setting, as two CPU processes (as on the 2-core machine)."""
    monkeypatch.setattr(figure5_module, "QUICK", dict(width=8, depth=1, batch_size=16, snapshot_size=32,
                                                      iterations=12, snapshots=(3, 12)))
    monkeypatch.setattr(figure5_module, "cpu_cores", lambda: 2)
    assert main(["figure5", "--quick", "--device", "cpu", "--out", str(tmp_path), "--frames", "4",
                 "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "quick mode" in out and "mixgan figure5" in out and "2 at a time" in out and "ms/iteration" in out
    group = tmp_path / "00000-figure5-quick-s2"
    info = json.loads((group / "figure5.json").read_text())
    assert info["quick"] is True and info["iterations"] == [3, 12] and len(info["runs"]) == 4
    names = sorted(p.name[6:] for p in group.iterdir() if p.is_dir())
    assert names == ["grid-mixup-s2", "grid-standard-s2", "ring-mixup-s2", "ring-standard-s2"]
    for p in group.iterdir():
        if p.is_dir():
            assert json.loads((p / "config.json").read_text())["pairing"] == "shuffled"  # the figure5 preset
            assert len(list((p / "frames").glob("*.npz"))) == 4
    assert (group / "figure5.png").exists() and (group / "figure5.pdf").exists()


def test_quick_auto_follows_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert figure5_module.resolve_quick("auto", "auto") is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert figure5_module.resolve_quick("auto", "auto") is False
    assert figure5_module.resolve_quick("auto", "cpu") is True
    assert figure5_module.resolve_quick("on", "cuda") is True and figure5_module.resolve_quick("off", "cpu") is False


def test_figure5_bad_options_write_nothing(tmp_path, capsys):
    for args, words in [(["--alpha", "2"], "alpha must be <= 1"), (["--device", "tpu"], "invalid choice"),
                        (["--quick", "maybe"], "invalid choice"), (["--frames", "1"], "at least 2")]:
        assert main(["figure5", *args, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["plot", "animate", "figure5"])
def test_unfinished_runs_are_refused_unless_allowed(tmp_path, capsys, command):
    runs_ = four_runs(tmp_path)
    status.write_status(runs_[1], "interrupted", reason="stopped by SIGINT")
    args = {"plot": ["plot", *map(str, runs_), "--out", str(tmp_path / "p")],
            "animate": ["animate", *map(str, runs_[:2]), "--out", str(tmp_path / "anim")],
            "figure5": ["figure5", "--from", ",".join(map(str, runs_)), "--out", str(tmp_path / "f5")]}[command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "interrupted" in err and "--allow-unfinished" in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


def fake_image_run(root, name, snapshots=(10, 100), frames=(), seed=0):
    """An image run folder as training leaves it: [N, C, H, W] arrays in [-1, 1]."""
    run = root / name
    rng = np.random.default_rng(seed)
    for kind, its in (("snapshots", snapshots), ("frames", frames)):
        (run / kind).mkdir(parents=True, exist_ok=True)
        for it in its:
            np.savez(run / kind / f"iter_{it:06d}.npz", real=rng.uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32),
                     fake=rng.uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32), iteration=it)
    (run / "config.json").write_text(json.dumps(dict(data="digits", objective="mixup", alpha=0.2, seed=seed)))
    status.write_status(run, "finished")
    return run


def test_plot_and_animate_draw_image_runs(tmp_path, capsys):
    runs_ = [fake_image_run(tmp_path, f"0000{i}-digits-mixup-s{i}", frames=(1, 5, 10), seed=i) for i in (0, 1)]
    assert main(["plot", *map(str, runs_), "--out", str(tmp_path / "grid")]) == 0
    assert next((tmp_path / "grid").glob("*-plot/plot.png")).stat().st_size > 1000
    assert main(["animate", *map(str, runs_), "--out", str(tmp_path / "anim")]) == 0
    gif = next((tmp_path / "anim").glob("*/animation.gif"))
    assert iio.imread(gif, index=None).shape[0] == 3
    # Images have no legend to say which are generated: the figure says it in words.
    from mixgan.viz.animate import frame_figure
    from mixgan.viz.figures import load_run, run_grid_figure
    opened = [load_run(r) for r in runs_]
    for fig in (run_grid_figure(opened)[0], frame_figure(opened, 5, "frames", False)):
        assert any("generated images" in t for t in texts(fig))
        matplotlib.pyplot.close(fig)


def test_landscape_is_refused_for_image_data():
    from mixgan.config import make_config
    from mixgan.errors import UsageError
    with pytest.raises(UsageError, match="2D data only"):
        make_config({"data": "digits", "landscape": 16})


def test_figure5_with_seeds_trains_four_runs_per_seed_and_draws_one_figure_each(tmp_path, monkeypatch):
    from mixgan.experiments import figure5 as figure5_module
    monkeypatch.setattr(figure5_module, "QUICK", dict(width=8, depth=1, batch_size=16, snapshot_size=32,
                                                      iterations=6, snapshots=(3, 6)))
    monkeypatch.setattr(figure5_module, "cpu_cores", lambda: 1)  # in this process, one batch after another
    assert main(["figure5", "--quick", "--seeds", "3,5", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    (group,) = tmp_path.iterdir()
    assert group.name.endswith("figure5-quick-s3-5")
    runs = sorted(p for p in group.iterdir() if (p / "config.json").is_file())
    seeds = sorted(json.loads((run / "config.json").read_text())["seed"] for run in runs)
    assert seeds == [3, 3, 3, 3, 5, 5, 5, 5]
    assert (group / "figure5.png").is_file() and (group / "figure5-s5.png").is_file()
    assert not (group / "figure5-s3.png").exists()  # the first seed's figure is figure5.png
    info = json.loads((group / "figure5.json").read_text())
    assert info["seeds"] == [3, 5] and len(info["train_seconds"]) == 8 and "ring/mixup/s5" in info["train_seconds"]
    # the first seed's figure is drawn from seed 3's runs: redrawing it from the folder with --seed 3 agrees
    assert main(["figure5", "--from", str(group), "--seeds", "3", "--out", str(tmp_path / "again"), "--quiet"]) == 0
    redrawn = json.loads((next((tmp_path / "again").iterdir()) / "figure5.json").read_text())
    assert sorted(redrawn["from"]) == sorted(r for r in info["runs"] if r.endswith("-s3"))


@pytest.mark.parametrize("args", [["--seed", "2"], ["--seeds", "0,0"], ["--seeds", "-1"],
                                  ["--seeds", "0,1", "--from", "somewhere"]])
def test_figure5_refuses_bad_seed_lists_in_one_line(tmp_path, capsys, args):
    assert main(["figure5", "--quick", "--dry-run", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()
