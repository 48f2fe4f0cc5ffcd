"""--tensorboard: the event file beside metrics.jsonl, read back with TensorBoard's own reader."""
import sys

import numpy as np
import pytest

from conftest import tiny_config
from mixgan.commands.main import main
from mixgan.runs import folders
from mixgan.training import train

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read_events(run):
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("data, extra", [("digits", dict(width=4, z_dim=8)), ("ring", dict(width=8))])
def test_scalars_and_pictures_read_back_as_metrics_jsonl_holds_them(tmp_path, data, extra):
    config = tiny_config(out=str(tmp_path), data=data, batch_size=8, d_steps=1, snapshot_size=16, iterations=6,
                         log_every=2, snapshots=(3, 6), tensorboard=True, **extra)
    run = train(config, progress=False)
    events = read_events(run)
    lines = folders.read_jsonl(run / "metrics.jsonl")
    losses = [r for r in lines if "kind" not in r]
    assert [e.step for e in events.Scalars("train/d_loss")] == [2, 4, 6]
    np.testing.assert_allclose([e.value for e in events.Scalars("train/g_loss")], [r["g_loss"] for r in losses],
                               rtol=1e-6)
    snapshot_lines = [r for r in lines if r.get("kind") == "snapshot"]  # 2D runs measure each snapshot
    assert [r["iteration"] for r in snapshot_lines] == ([3, 6] if data == "ring" else [])
    for key in ("energy_distance", "modes_covered") if snapshot_lines else ():
        assert [(e.step, pytest.approx(e.value, rel=1e-6)) for e in events.Scalars(f"snapshot/{key}")] == \
            [(r["iteration"], r[key]) for r in snapshot_lines]
    tags = events.Tags()["images"]
    assert [e.step for e in events.Images("snapshot")] == [3, 6]
    assert ("generated" in tags) == (data == "digits")
    if data == "digits":  # 16 images of 16x16 as a 4x4 grid with a 1-pixel border
        grid = events.Images("generated")[-1]
        assert (grid.width, grid.height) == (4 * 17 + 1, 4 * 17 + 1)


def test_without_the_package_it_is_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    out = tmp_path / "out"
    assert main(["train", "--data", "ring", "--iterations", "2", "--tensorboard", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mixgan[tensorboard]" in err and not out.exists()
