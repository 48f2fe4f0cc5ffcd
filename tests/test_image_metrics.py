"""Offline image metrics: Fréchet distance and KL by hand, the digits classifier on real held-out
digits against a degenerate generator, the classifier cache, FID's refusal, sample grids."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from conftest import tiny_config
from mixgan.evaluation import image_classifier
from mixgan.commands.main import main
from mixgan.data.registry import make_data
from mixgan.errors import UsageError
from mixgan.evaluation.fid import FIDUnavailable, fid_unavailable, frechet_inception_distance
from mixgan.evaluation.image_metrics import class_histogram, frechet_distance, image_snapshot_metrics, kl_divergence
from mixgan.viz.image_plots import draw_image_grid, image_grid, nonfinite_count
from mixgan.viz.plots import plt
from mixgan.training import train


# ------------------------------------------------------------------ pure functions
def test_frechet_distance_of_gaussians_by_hand():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-9)
    # same covariance, mean shifted by (1, 2, 2): the distance is |shift|² = 9
    assert frechet_distance(x, x + torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)) == pytest.approx(9, rel=1e-9)
    # diagonal covariances: Σ (σx − σy)² per axis, here (1 − 3)² + (2 − 1)² on exact second moments
    a = np.array([[1.0, 2.0], [-1.0, -2.0], [1.0, -2.0], [-1.0, 2.0]])  # cov diag(4/3, 16/3)
    b = a * np.array([3.0, 0.5])  # cov diag(12, 4/3)
    expected = (np.sqrt(4 / 3) - np.sqrt(12)) ** 2 + (np.sqrt(16 / 3) - np.sqrt(4 / 3)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError):
        frechet_distance(x[:1], x)


def test_kl_and_histograms():
    p = class_histogram([0, 1, 1, 2], 4)
    assert p.tolist() == [0.25, 0.5, 0.25, 0.0]
    assert kl_divergence(p, p) == 0
    assert kl_divergence([0, 1, 0, 0], p) == pytest.approx(np.log(2))
    assert kl_divergence([0, 0, 0, 1], p) == float("inf")  # mass where the truth has none


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 11), c=st.sampled_from([1, 3]), h=st.integers(1, 5), w=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_image_grid_places_every_image(n, c, h, w, seed):
    images = np.random.RandomState(seed).uniform(-1, 1, (n, c, h, w)).astype(np.float32)
    grid = image_grid(images, pad=1)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    assert grid.shape == (rows * (h + 1) + 1, cols * (w + 1) + 1, c)
    for k in range(n):
        r, q = divmod(k, cols)
        tile = grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + q * (w + 1):1 + q * (w + 1) + w]
        np.testing.assert_allclose(tile, (images[k].transpose(1, 2, 0) + 1) / 2, atol=1e-6)


def test_grids_draw_grey_colour_and_broken_images():
    images = np.zeros((4, 1, 5, 5), dtype=np.float32)
    images[1, 0, 2, 2] = np.nan
    assert nonfinite_count(images) == 1 and image_grid(images)[1 + 2, 1 + 5 + 1 + 2, 0] == 0.0
    fig, axes = plt.subplots(1, 2)
    draw_image_grid(axes[0], images, "grey")
    draw_image_grid(axes[1], np.zeros((70, 3, 4, 4)), "colour")  # only the first 64 are shown
    assert "1/4 non-finite" in [t.get_text() for t in axes[0].texts]
    assert axes[1].images[0].get_array().shape == (8 * 5 + 1, 8 * 5 + 1, 3)
    plt.close(fig)


# ------------------------------------------------------------ the digits classifier
@pytest.fixture(scope="module")
def digits_cache(tmp_path_factory):
    """One classifier for the whole file, trained on a shorter budget than the default so the
    file stays fast; cached in a shared outputs folder like a real one."""
    out = tmp_path_factory.mktemp("outputs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(image_classifier, "TRAIN_IMAGES", 8000)
        image_snapshot_metrics(tiny_config(data="digits", out=str(out)), np.zeros((2, 1, 16, 16), np.float32))
    return out


def test_real_held_out_digits_score_well_and_one_image_scores_badly(digits_cache):
    config = tiny_config(data="digits", out=str(digits_cache))
    test, train_split = (make_data("digits", config, split=s).images.numpy() for s in ("test", "train"))
    good = image_snapshot_metrics(config, test)
    assert good["classifier_test_accuracy"] > 0.9
    assert good["classes_covered"] == good["classes_total"] == 10 and good["class_kl"] < 0.05
    fresh = image_snapshot_metrics(config, train_split[:600])  # real digits the test set has not seen
    assert fresh["classes_covered"] == 10 and fresh["class_kl"] < 0.05
    one = image_snapshot_metrics(config, np.repeat(test[:1], 600, axis=0))  # a generator stuck on one image
    assert one["classes_covered"] == 1 and one["class_kl"] > 1.5
    assert one["classifier_fd"] > 20 * fresh["classifier_fd"]
    assert one["nonfinite_fraction"] == 0


def test_non_finite_images_are_counted_not_scored(digits_cache):
    config = tiny_config(data="digits", out=str(digits_cache))
    nan = np.full((10, 1, 16, 16), np.nan, dtype=np.float32)
    m = image_snapshot_metrics(config, nan)
    assert m["nonfinite_fraction"] == 1 and np.isnan(m["classifier_fd"]) and np.isnan(m["class_kl"])
    with pytest.raises(UsageError, match=r"shape \(1, 8, 8\)"):
        image_snapshot_metrics(config, np.zeros((4, 1, 8, 8), np.float32))


def test_the_cache_is_reused_and_records_its_accuracy(digits_cache, monkeypatch):
    facts = json.loads((digits_cache / "classifiers" / "digits-1x16.json").read_text())
    assert facts["test_size"] == 297 and facts["train_size"] == 1500 and 0.9 < facts["test_accuracy"] <= 1
    monkeypatch.setattr(image_classifier, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
    m = image_snapshot_metrics({"data": "digits", "out": str(digits_cache)}, np.zeros((3, 1, 16, 16), np.float32))
    assert m["classifier_test_accuracy"] == facts["test_accuracy"]


def test_corrupt_cache_is_a_one_line_error(tmp_path):
    (tmp_path / "classifiers").mkdir()
    (tmp_path / "classifiers" / "digits-1x16.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="corrupt classifier cache .*delete it to retrain"):
        image_snapshot_metrics(tiny_config(data="digits", out=str(tmp_path)), np.zeros((2, 1, 16, 16)))


def test_two_d_runs_are_refused(tmp_path):
    with pytest.raises(UsageError, match="need an image data set, not 'ring'"):
        image_snapshot_metrics({"data": "ring", "out": str(tmp_path)}, np.zeros((4, 2)))


def test_unlabelled_folder_is_refused(tmp_path):
    from PIL import Image
    for k in range(10):
        Image.new("L", (8, 8), 20 * k).save(tmp_path / f"{k}.png")
    with pytest.raises(UsageError, match="need labelled images"):
        image_snapshot_metrics(tiny_config(data=f"folder:{tmp_path}", image_size=8, out=str(tmp_path / "o")),
                               np.zeros((2, 1, 8, 8)))


def test_fid_is_refused_with_a_reason_never_zero(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # no weights here, whatever is installed
    reason = fid_unavailable()
    assert reason and ("torchmetrics" in reason or str(tmp_path) in reason)
    with pytest.raises(FIDUnavailable, match="FID needs"):
        frechet_inception_distance(np.zeros((2, 1, 16, 16)), np.zeros((2, 1, 16, 16)))


def test_image_metrics_command_on_a_digits_run(digits_cache, capsys):
    run = train(tiny_config(out=str(digits_cache), data="digits", width=4, batch_size=8, d_steps=1,
                            snapshot_size=40, iterations=2, snapshots=(1, 2)), progress=False)
    assert main(["image-metrics", str(run), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(1 <= r["classes_covered"] <= 10 and np.isfinite(r["classifier_fd"]) for r in rows)
    assert main(["image-metrics", str(run)]) == 0
    assert "classes_covered" in capsys.readouterr().out
    assert main(["image-metrics", str(run), "--fid"]) == (2 if fid_unavailable() else 0)
    if fid_unavailable():
        assert capsys.readouterr().err.startswith("mixgan: error: FID needs")
    assert main(["image-metrics", str(digits_cache / "nope")]) == 2


def test_cache_files_are_per_data_set_and_resolution():
    from mixgan.evaluation.image_classifier import classifier_path
    a, b = (classifier_path("o", f"folder:/{p}/cats", (3, 8, 8)) for p in ("x", "y"))
    assert a != b and a.name.startswith("folder-cats-") and a.name.endswith("-3x8.pt")
    assert classifier_path("o", "digits", (1, 16, 16)).as_posix() == "o/classifiers/digits-1x16.pt"
    assert classifier_path("o", "digits", (1, 32, 32)) != classifier_path("o", "digits", (1, 16, 16))
