import json

import pytest

from mixgan.config import FIELDS, PAPER_SNAPSHOTS, PRESETS, TrainConfig, make_config
from mixgan.errors import UsageError


def test_defaults_follow_the_paper():
    c = TrainConfig()
    assert (c.width, c.depth, c.z_dim, c.batch_size, c.d_steps, c.iterations) == (512, 3, 2, 128, 5, 20000)
    assert (c.lr, c.beta1, c.beta2) == (1e-3, 0.9, 0.999)
    assert (c.lambda_dist, c.pairing, c.alpha) == ("beta", "real-fake", 0.2)
    assert c.snapshot_iterations == PAPER_SNAPSHOTS


def test_every_field_has_a_one_line_doc():
    for name, f in FIELDS.items():
        assert f.metadata["doc"] and "\n" not in f.metadata["doc"], name


def test_figure5_preset_is_the_demo_code():
    c = make_config({"preset": "figure5", "objective": "mixup"})
    assert (c.lambda_dist, c.pairing, c.g_loss, c.alpha) == ("uniform", "shuffled", "saturating", 0.2)
    assert make_config({"preset": "figure5", "objective": "standard"}).g_loss == "saturating"


def test_precedence_defaults_preset_file_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('preset = "figure5"\nalpha = 0.5\niterations = 300\n')
    c = make_config({"iterations": 200}, f)
    assert c.alpha == 0.5 and c.iterations == 200 and c.pairing == "shuffled"
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"batch-size": 64, "alpha": 1}))
    c = make_config({}, j)
    assert c.batch_size == 64 and c.alpha == 1.0 and isinstance(c.alpha, float)


def test_default_snapshots_fit_shorter_runs():
    assert TrainConfig(iterations=500).snapshot_iterations == (10, 100, 500)
    assert TrainConfig(iterations=100).snapshot_iterations == (10, 100)
    assert TrainConfig(iterations=5).snapshot_iterations == (5,)


@pytest.mark.parametrize("overrides, words", [
    ({"objective": "nope"}, "standard, mixup"),
    ({"data": "nope"}, "ring, grid, spiral"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": -1.0}, "alpha"),
    ({"alpha": float("nan")}, "finite"),
    ({"alpha": 2.0, "lambda_dist": "uniform"}, "<= 1"),
    ({"iterations": 0}, "iterations"),
    ({"snapshots": (0,)}, "outside 1..20000"),
    ({"snapshots": (20001,)}, "outside 1..20000"),
    ({"width": 10**9}, "maximum"),
    ({"lr": float("inf")}, "finite"),
    ({"iterations": "many"}, "iterations must be int"),
    ({"colour": "red"}, "unknown option 'colour'"),
    ({"preset": "nope"}, "figure5"),
])
def test_bad_values_raise_one_line(overrides, words):
    with pytest.raises(UsageError) as e:
        make_config(overrides)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_bad_config_files(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        make_config({}, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("alpha = = 3")
    with pytest.raises(UsageError, match="malformed"):
        make_config({}, bad)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"alfa": 0.3}')
    with pytest.raises(UsageError, match="unknown option 'alfa'"):
        make_config({}, unknown)


def test_presets_only_name_real_fields():
    for preset in PRESETS.values():
        assert set(preset) <= set(FIELDS)


def test_presets_apply_the_same_from_python_files_and_the_command_line(tmp_path, capsys):
    import json
    from mixgan import TrainConfig, make_config
    from mixgan.commands.main import main
    from mixgan.config import PRESETS
    for name in PRESETS:
        assert TrainConfig(preset=name) == make_config({"preset": name})
        assert all(getattr(TrainConfig(preset=name), k) == v for k, v in PRESETS[name].items())
    mine = TrainConfig(preset="figure5", width=128, lambda_dist="beta")  # given options win over the preset
    assert (mine.width, mine.lambda_dist, mine.pairing) == (128, "beta", "shuffled")
    (tmp_path / "c.toml").write_text('preset = "figure5"\nwidth = 128\nlambda_dist = "beta"\n')
    assert make_config(config_file=tmp_path / "c.toml") == mine
    assert main(["train", "--preset", "figure5", "--width", "128", "--lambda-dist", "beta", "--dry-run"]) == 0
    assert TrainConfig(**json.loads(capsys.readouterr().out)) == mine


def test_runs_made_before_an_option_existed_keep_the_value_they_trained_with(tmp_path):
    """A figure5 run whose config.json predates ``g_loss_mean`` trained with the mean over generated
    points, though the preset now says ``batch``."""
    import json
    from mixgan.config import load_run_config
    values = make_config({"preset": "figure5", "iterations": 10}).to_dict()
    del values["g_loss_mean"]
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert load_run_config(tmp_path).g_loss_mean == "generated"
    values["g_loss_mean"] = "batch"
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert load_run_config(tmp_path).g_loss_mean == "batch"
