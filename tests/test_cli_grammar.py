"""The command-line grammar of docs/CLI.md, checked on the parser of every subcommand."""
import argparse

import pytest

from mixgan.commands.main import COMMANDS, build_parser, main
from mixgan.config import choices

LIST_OPTIONS = {"--objectives", "--datasets", "--seeds", "--alphas", "--lambda-dists", "--snapshots", "--from"}
LONG_COMMANDS = {"train", "figure5", "compare", "sweep"}  # may start more than a minute of work


def subparser(name):
    parser = build_parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def options(parser):
    return {s: a for a in parser._actions for s in a.option_strings}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_follows_the_grammar(name):
    parser = subparser(name)
    found = options(parser)
    assert parser.allow_abbrev is False
    for spelling, action in found.items():
        assert "_" not in spelling, f"{name} {spelling}: options are spelt with dashes"
        if spelling in LIST_OPTIONS:  # a list option says so, and a singular spelling never takes a list
            assert action.metavar in ("LIST", "PATHS"), f"{name} {spelling}"
            assert "comma-separated" in action.help, f"{name} {spelling}"
        else:
            assert "comma-separated" not in (action.help or ""), f"{name} {spelling}"
    if "--out" in found:
        help_text = found["--out"].help
        if name == "sample":
            assert "never overwritten" in help_text  # the one file-valued result
        else:
            assert "numbered" in help_text, f"{name} --out must be the parent of a new numbered folder"
    if "--device" in found:
        device = found["--device"]
        assert list(device.choices or []) == choices("devices") or device.metavar == "{auto,cpu,cuda}"
    if name in LONG_COMMANDS:
        assert {"--dry-run", "--quiet", "--threads"} <= set(found), name
    assert "--no-progress" not in found and "--seed" not in found or "--seeds" not in found


@pytest.mark.parametrize("name, spelling, kind", [
    ("train", "--objective", "objectives"), ("train", "--data", "datasets"),
    ("compare", "--objectives", "labels"), ("compare", "--datasets", "datasets"),
    ("sweep", "--objectives", "labels"), ("sweep", "--datasets", "datasets"),
    ("sweep", "--lambda-dists", "lambda_dists"), ("train", "--lambda-dist", "lambda_dists"),
])
def test_names_come_from_the_registries(name, spelling, kind):
    action = options(subparser(name))[spelling]
    shown = f"{action.metavar} {action.help}"
    for entry in choices(kind):
        assert entry in shown, f"{name} {spelling} does not offer {entry}"


@pytest.mark.parametrize("argv, message", [
    (["compare", "--seeds", "3", "--dry-run"], None),  # one seed, seed 3: a list of one
    (["compare", "--seeds", "0,x"], "--seeds expects comma-separated whole numbers"),
    (["sweep", "--seeds", "0,0"], "--seeds names an entry twice"),
    (["sweep", "--objectives", "standard-ns,bogus"], "unknown objective 'bogus'"),
    (["compare", "--seed", "3"], "unrecognized arguments: --seed"),
    (["sweep", "--seed", "3"], "unrecognized arguments: --seed"),
    (["plot", "run", "--landscape"], "unrecognized arguments: --landscape"),
    (["train", "--no-progress"], "unrecognized arguments: --no-progress"),
    (["train", "--threads", "0"], "--threads must be a whole number >= 1"),
])
def test_one_meaning_of_each_spelling(tmp_path, capsys, argv, message):
    code = main([*argv, "--out", str(tmp_path / "o")] if argv[0] != "plot" else argv)
    err = capsys.readouterr().err
    if message is None:
        assert code == 0 and not (tmp_path / "o").exists()
    else:
        assert code == 2 and message in err and err.count("\n") == 1
        assert not (tmp_path / "o").exists()


def test_seeds_is_a_list_in_compare_and_sweep(tmp_path, capsys):
    tiny = ["--iterations", "4", "--width", "8", "--depth", "1", "--batch-size", "8", "--snapshot-size", "16",
            "--snapshots", "4", "--quiet"]
    assert main(["compare", "--objectives", "standard", "--datasets", "ring", "--seeds", "3,5",
                 "--out", str(tmp_path / "c"), *tiny]) == 0
    assert main(["sweep", "--objectives", "standard-ns", "--datasets", "ring", "--seeds", "3,5",
                 "--out", str(tmp_path / "s"), *tiny]) == 0
    import json
    for kind in ("c", "s"):
        folder = next((tmp_path / kind).iterdir())
        configs = [json.loads((p / "config.json").read_text()) for p in sorted(folder.iterdir())
                   if (p / "config.json").is_file()]
        assert sorted(c["seed"] for c in configs) == [3, 5]
        assert all(c["g_loss"] == ("nonsaturating" if kind == "s" else "saturating") for c in configs)


def test_from_takes_run_folders_and_folders_of_runs(tmp_path, capsys):
    from test_figures import four_runs
    runs = four_runs(tmp_path / "runs")
    assert main(["figure5", "--from", str(tmp_path / "runs"), "--out", str(tmp_path / "a")]) == 0
    assert main(["figure5", "--from", ",".join(map(str, runs)), "--out", str(tmp_path / "b")]) == 0
    drawn = [next((tmp_path / k).iterdir()) / "figure5.json" for k in "ab"]
    import json
    assert [sorted(json.loads(p.read_text())["from"]) for p in drawn] == [sorted(map(str, runs))] * 2
    assert main(["figure5", "--from", str(tmp_path / "runs"), "--seeds", "7", "--out", str(tmp_path / "c")]) == 2
    assert "missing" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_resume_of_something_else_is_one_line(tmp_path, capsys):
    assert main(["compare", "--resume", str(tmp_path)]) == 2
    assert "is not a comparison folder" in capsys.readouterr().err
    (tmp_path / "plan.json").write_text("{broken")
    assert main(["compare", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and err.count("\n") == 1


def test_figure5_dry_run_prints_the_plan_and_creates_nothing(tmp_path, capsys, monkeypatch):
    from mixgan.experiments import figure5
    monkeypatch.setattr(figure5, "QUICK", dict(width=8, depth=1, batch_size=16, snapshot_size=32, iterations=12,
                                               snapshots=(3, 12)))
    assert main(["figure5", "--quick", "--dry-run", "--device", "cpu", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "figure5: 4 run(s) × 12 iterations" in out and "ms/iteration" in out and "CPU thread" in out
    assert not (tmp_path / "o").exists()


def test_resume_takes_how_it_runs_but_no_training_option(tmp_path, capsys):
    tiny = ["--iterations", "2", "--width", "8", "--depth", "1", "--batch-size", "8", "--snapshot-size", "16",
            "--snapshots", "2", "--quiet"]
    assert main(["compare", "--objectives", "standard", "--datasets", "ring", "--seeds", "0", "--out", str(tmp_path),
                 *tiny]) == 0
    folder = next(tmp_path.iterdir())
    assert main(["compare", "--resume", str(folder), "--jobs", "2", "--threads", "1", "--quiet"]) == 0
    assert main(["compare", "--resume", str(folder), "--width", "4"]) == 2
    assert "cannot be combined with --resume" in capsys.readouterr().err
    assert main(["compare", "--resume", str(folder), "--jobs", "0"]) == 2
