"""Pictures a reader can read: properties of the matplotlib figures, not pixel snapshots. Every
text drawn lies inside the figure and overlaps no other text; point pictures name real and
generated points in a legend that covers no panel; a landscape comes with its colour bar (D's
probability, 0 to 1); metric curves have axis labels, a marker per label, styles that keep
coinciding curves visible, and bands of ± 1 standard error."""
import math
import statistics
from unittest import mock

import imageio.v3 as iio
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colorbar import Colorbar
from matplotlib.colors import to_rgb
from matplotlib.image import AxesImage
from matplotlib.text import Text

from test_figures import fake_image_run, fake_run, four_runs
from mixgan.evaluation import tables
from mixgan.runs.reader import load_run
from mixgan.viz import plots
from mixgan.viz.animate import frame_figure, render_frame
from mixgan.viz.curves import curves_figure
from mixgan.viz.figures import figure5_figure, figure5_runs, run_grid_figure
from mixgan.viz.plots import plt, samples_figure, snapshot_figure

NOTE = "reduced figure (width 32, 300 iterations); the paper's figure is `mixgan figure5` (width 512, 20000 iterations)"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------ helpers
def drawn_texts(fig):
    """[(text, window extent)] of every text the renderer draws (visible and not empty)."""
    drawn, draw = [], Text.draw

    def record(text, renderer):
        if text.get_visible() and text.get_text().strip():
            drawn.append(text)
        return draw(text, renderer)

    with mock.patch.object(Text, "draw", record):
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]


def text_problems(fig, tolerance=1.0):
    """Texts drawn (partly) outside the figure, and pairs of texts that overlap, in pixels."""
    texts = drawn_texts(fig)
    assert texts, "nothing drawn"
    W, H = fig.bbox.width, fig.bbox.height
    problems = [f"outside: {s!r} {b.bounds}" for s, b in texts
                if b.x0 < -tolerance or b.y0 < -tolerance or b.x1 > W + tolerance or b.y1 > H + tolerance]
    for i, (s, a) in enumerate(texts):
        for t, b in texts[i + 1:]:
            if min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance:
                problems.append(f"overlap: {s!r} and {t!r}")
    return problems


def point_axes(fig):
    return [a for a in fig.findobj(Axes) if a.collections and not hasattr(a, "_colorbar")]


def assert_points_legend(fig):
    """One legend naming real and generated points in the scatter colours, over no point panel."""
    legends = [lg for f in (fig, *fig.subfigs) for lg in f.legends]
    assert len(legends) == 1
    legend = legends[0]
    names = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert set(names) == {"real (data)", "generated"}
    assert to_rgb(names["real (data)"].get_color()) == to_rgb(plots.REAL_COLOR)
    assert to_rgb(names["generated"].get_color()) == to_rgb(plots.FAKE_COLOR)
    fig.canvas.draw()
    box = legend.get_window_extent(fig.canvas.get_renderer())
    panels = point_axes(fig)
    assert panels
    for ax in panels:
        real, fake = ax.collections[:2]
        assert (real.get_label(), fake.get_label()) == ("real (data)", "generated")
        assert not box.overlaps(ax.get_window_extent()), "the legend covers a panel"


def colorbars(fig):
    return [m.colorbar for m in fig.findobj(lambda a: isinstance(getattr(a, "colorbar", None), Colorbar))]


def assert_landscape_colorbar(fig):
    """One colour bar, 0 to 1, in the landscape maps' colours and transparency, labelled."""
    maps = [im for im in fig.findobj(AxesImage) if im.get_cmap().name == plots.LANDSCAPE_CMAP]
    assert maps
    (bar,) = colorbars(fig)
    lims = bar.ax.get_xlim() if bar.orientation == "horizontal" else bar.ax.get_ylim()
    assert lims == pytest.approx((0.0, 1.0))
    assert "probability" in bar.ax.get_xlabel() + bar.ax.get_ylabel()
    assert list(bar.get_ticks()) == [0.0, 0.5, 1.0]
    for im in maps:
        assert im.get_cmap().name == bar.cmap.name and im.get_clim() == (0.0, 1.0)
        assert im.get_alpha() == bar.mappable.get_alpha()


# ---------------------------------------------------------- the checker can fail
def test_text_problems_finds_clipped_and_overlapping_text():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title("a title far too long to fit in a figure two inches wide")
    ax.text(0.5, 0.5, "one", transform=ax.transAxes)
    ax.text(0.5, 0.5, "two", transform=ax.transAxes)
    found = text_problems(fig)
    assert any(p.startswith("outside") for p in found)
    assert "overlap: 'one' and 'two'" in found


def assert_readable_points(fig, landscape):
    """No clipped or overlapping text, a legend for the points, and a colour bar exactly when D's
    landscape is drawn."""
    assert text_problems(fig) == []
    assert_points_legend(fig)
    if landscape:
        assert_landscape_colorbar(fig)
    else:
        assert colorbars(fig) == []


# ------------------------------------------------------------- point pictures
@pytest.mark.parametrize("landscape", [0, 16])
def test_snapshot_picture(tmp_path, landscape):
    run = fake_run(tmp_path, "00002-ring-standard-s0", snapshots=(300,), landscape=landscape)
    fig = snapshot_figure(run / "snapshots" / "iter_000300.npz", "standard · ring · iteration 300")
    assert_readable_points(fig, landscape)


def test_samples_picture(tmp_path):
    rng = np.random.default_rng(0)
    fig = samples_figure(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)), "mixup · ring · 200 samples")
    assert text_problems(fig) == []
    assert_points_legend(fig)


@pytest.mark.parametrize("snapshots", [(10,), (10, 100, 1000), (10, 100, 500, 1000, 2000)])
@pytest.mark.parametrize("landscape", [0, 8])
def test_figure5_picture(tmp_path, snapshots, landscape):
    cells = figure5_runs(four_runs(tmp_path, snapshots=snapshots, landscape=landscape))
    fig, _ = figure5_figure(cells, NOTE, landscape=bool(landscape))
    assert_readable_points(fig, landscape)
    assert " ".join(s for s, _ in drawn_texts(fig) if "reduced" in s or "iterations)" in s).split() == NOTE.split()


@pytest.mark.parametrize("landscape", [False, True])
def test_run_grid_picture(tmp_path, landscape):
    runs = [load_run(fake_run(tmp_path, f"0000{i}-{d}-{o}-s0", data=d, objective=o, snapshots=(10, 100, 300),
                              landscape=8, seed=i))
            for i, (d, o) in enumerate((d, o) for d in ("grid", "ring") for o in ("standard", "mixup"))]
    fig, _ = run_grid_figure(runs, landscape=landscape, title="four runs")
    assert_readable_points(fig, landscape)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_animation_frame(tmp_path, n):
    runs = [load_run(fake_run(tmp_path, f"0000{i}-ring-{o}-s0", objective=o, frames=(1, 9), landscape=8, seed=i))
            for i, o in enumerate(("standard", "mixup", "standard")[:n])]
    fig = frame_figure(runs, 9, "frames", landscape=True)
    assert text_problems(fig) == []
    assert_points_legend(fig)
    assert_landscape_colorbar(fig)
    # Every frame of an animation has the same size, whatever the iteration's text.
    assert frame_figure(runs, 1, "frames", landscape=True).get_size_inches() == pytest.approx(fig.get_size_inches())


def test_frame_png_is_the_movie_frame(tmp_path):
    runs = [load_run(fake_run(tmp_path, f"0000{i}-ring-{o}-s0", objective=o, frames=(1, 9), landscape=8, seed=i))
            for i, o in enumerate(("standard", "mixup"))]
    png, rgb = render_frame(runs, 9, "frames", landscape=True)
    np.testing.assert_array_equal(iio.imread(png)[..., :3], rgb)


# ------------------------------------------------------------- image pictures
def test_image_pictures(tmp_path):
    runs = [load_run(fake_image_run(tmp_path, f"0000{i}-digits-mixup-s{i}", frames=(1, 5), seed=i)) for i in (0, 1)]
    figs = [snapshot_figure(runs[0].path / "snapshots" / "iter_000010.npz", "mixup · digits · iteration 10"),
            run_grid_figure(runs, title="digits")[0], frame_figure(runs, 5, "frames", landscape=False),
            samples_figure(runs[0].arrays(10)["fake"], None, "mixup · digits · 16 samples")]
    for fig in figs:
        assert text_problems(fig) == []
        assert colorbars(fig) == [] and not fig.legends  # images only: no points to name
    assert [ax.get_title() for ax in figs[0].axes] == ["real (data)", "generated"]


# --------------------------------------------------------------------- curves
def curve_rows(labels, iterations, metrics, seeds=3):
    """Summary rows of synthetic per-seed values, and those values {(label, metric, it): [v]}."""
    rng = np.random.default_rng(0)
    values, records = {}, {}
    for label in labels:
        for seed in range(seeds):
            per_it = records.setdefault(("ring", label, seed), {})
            for it in iterations:
                for k, metric in enumerate(metrics):
                    v = float(k + math.log(it) + rng.normal(scale=0.3))
                    per_it.setdefault(it, {})[metric] = v
                    values.setdefault((label, metric, it), []).append(v)
    return tables.tabulate(records), values


def test_curves_picture():
    labels = ["standard", "mixup", "mixup α=0.4 pairing=shuffled", "wgan-gp"]
    metrics = tables.SAMPLE_METRICS[:7]
    rows, values = curve_rows(labels, (10, 100, 1000, 20000), metrics)
    fig = curves_figure(rows, "ring")
    assert text_problems(fig) == []
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == labels
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_ylabel() for ax in panels] == metrics
    for ax in panels:
        assert ax.get_xlabel() == "iteration (log scale)" and ax.get_xscale() == "log"
        lines = sorted(ax.get_lines(), key=lambda line: line.get_zorder())
        assert [line.get_label() for line in lines] == labels
        assert all(line.get_marker() not in (None, "", "None", " ") for line in lines)
        styles = {(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines}
        assert len({s[1] for s in styles}) == len(labels) and len({s[0] for s in styles}) == len(labels)
        # Where curves coincide the one drawn later is thinner, with smaller markers, so both show.
        sizes = [(line.get_linewidth(), line.get_markersize()) for line in lines]
        assert all(a[0] > b[0] and a[1] > b[1] for a, b in zip(sizes, sizes[1:]))
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == len(labels)
        for line in lines:
            (band,) = [b for b in bands if to_rgb(b.get_facecolor()[0][:3]) == to_rgb(line.get_color())]
            vertices = np.concatenate([p.vertices for p in band.get_paths()])
            for x, m in zip(line.get_xdata(), line.get_ydata()):
                seeds = values[(line.get_label(), ax.get_ylabel(), int(x))]
                se = statistics.stdev(seeds) / math.sqrt(len(seeds))
                assert m == pytest.approx(statistics.mean(seeds))
                ys = vertices[np.isclose(vertices[:, 0], x), 1]
                assert ys.min() == pytest.approx(m - se) and ys.max() == pytest.approx(m + se)


def test_curves_linear_scale_and_one_seed():
    rows, _ = curve_rows(["standard", "mixup"], (10, 100, 300), ["energy_distance"], seeds=1)
    fig = curves_figure(rows, "ring")
    assert text_problems(fig) == []
    (ax,) = fig.axes
    assert ax.get_xlabel() == "iteration (linear scale)" and ax.get_xscale() == "linear"
    assert ax.get_ylabel() == "energy_distance"
    assert not ax.collections  # one seed: no standard error, so no band
