"""The baseline objectives and options through the config and the command line."""
import json

import pytest

from conftest import assert_refused

from mixgan.commands.main import main
from mixgan.config import make_config

TINY = ["--iterations", "3", "--width", "8", "--depth", "2", "--batch-size", "16", "--snapshot-size", "32",
        "--quiet"]


@pytest.mark.parametrize("args", [["--objective", "wgan-gp", "--gp-weight", "0.1"], ["--objective", "hinge"],
                                  ["--objective", "lsgan"], ["--objective", "standard", "--r1", "1", "--r2", "0.5"],
                                  ["--objective", "mixup", "--mixup-layer", "2", "--r1", "1"],
                                  ["--objective", "standard", "--spectral-norm"],
                                  ["--preset", "wgan-gp-toy", "--spectral-norm", "false"]])
def test_each_baseline_trains_through_the_cli(tmp_path, capsys, args):
    assert main(["train", *args, "--data", "ring", "--out", str(tmp_path), *TINY]) == 0
    (run,) = tmp_path.iterdir()
    config = json.loads((run / "config.json").read_text())
    assert (run / "snapshots" / "iter_000003.npz").exists()
    assert config["spectral_norm"] is (args[-1] == "--spectral-norm")


def test_wgan_gp_toy_preset_has_the_papers_settings(capsys):
    assert main(["train", "--preset", "wgan-gp-toy", "--dry-run"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert (c["objective"], c["gp_weight"], c["lr"], c["beta1"], c["beta2"], c["d_steps"]) == (
        "wgan-gp", 0.1, 1e-4, 0.5, 0.9, 5)


def test_help_names_the_wgan_gp_adam_settings(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "lr 1e-4, β1 0.5, β2 0.9" in text and "--spectral-norm" in text


def test_config_file_flags(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('spectral_norm = true\nr1 = 2\nobjective = "mixup"\nmixup_layer = 1\n')
    c = make_config(config_file=f)
    assert c.spectral_norm is True and c.r1 == 2.0 and c.mixup_layer == 1


BAD = {
    "negative r1": (["--r1", "-1"], "r1 must be a finite number >= 0"),
    "nan r2": (["--r2", "nan"], "r2 must be a finite number >= 0"),
    "inf gp weight": (["--gp-weight", "inf"], "gp_weight must be a finite number >= 0"),
    "layer on hinge": (["--objective", "hinge", "--mixup-layer", "1"], "applies to objective mixup only"),
    "layer too deep": (["--objective", "mixup", "--mixup-layer", "3"], "mixup_layer must be in 0..2"),
    "negative layer": (["--objective", "mixup", "--mixup-layer", "-1"], "mixup_layer must be in 0..2"),
    "bad flag value": (["--spectral-norm", "maybe"], "expected true or false"),
    "unknown objective": (["--objective", "wgan"], "wgan-gp, hinge, lsgan"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_baseline_options_one_line_exit_2(tmp_path, capsys, case):
    args, words = BAD[case]
    out = tmp_path / "runs"
    assert_refused(capsys, ["train", *args, "--out", str(out), *TINY], words, out)


def test_flag_in_a_config_file_must_be_boolean(tmp_path, capsys):
    f = tmp_path / "c.json"
    f.write_text('{"spectral_norm": "yes"}')
    assert main(["train", "--config", str(f), "--out", str(tmp_path / "runs")]) == 2
    assert "spectral_norm must be true or false" in capsys.readouterr().err


def test_too_deep_mixup_layer_for_conv_nets_writes_nothing(tmp_path, capsys):
    """The conv D's depth is known only once it is built: still one line, exit 2, no run folder."""
    from mixgan.commands.main import main
    out = tmp_path / "runs"
    assert main(["train", "--data", "digits", "--objective", "mixup", "--mixup-layer", "3", "--iterations", "2",
                 "--width", "8", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "mixup_layer must be in 0..2" in err and err.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())
