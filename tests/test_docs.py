"""The docs against the code, without training: generated regions are present and well formed,
every ``mixgan ...`` line of a ```sh block parses with today's parser, and the option-defaults
table in docs/OBJECTIVES.md is TrainConfig's."""
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from mixgan.commands.main import COMMANDS, build_parser
from mixgan.config import FIELDS, PRESETS
from mixgan.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("regenerate_docs", ROOT / "scripts" / "regenerate_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regen = load_script()
MARKDOWN = regen.markdown_files(ROOT)
# A line with one of these names a thing for the reader to fill in, not a literal command.
PLACEHOLDERS = ("RUN_DIR", "SWEEP_DIR", "COMPARE_DIR", "...", "[", "$", "<", "NNNNN", "PATH", "FILE")


def sh_commands(text):
    """Every ``mixgan ...`` command in the ```sh blocks of ``text``, continuation lines joined and
    comments dropped, as (line number, command)."""
    commands, in_block, pending, start = [], False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_block = line.strip() == "```sh" if not in_block else False
            continue
        if not in_block:
            continue
        if not pending:
            start = number
        code = line.split(" #", 1)[0].rstrip()
        if code.endswith("\\"):
            pending += code[:-1] + " "
            continue
        command, pending = " ".join((pending + code).split()), ""
        if command.startswith("mixgan "):
            commands.append((start, command))
    return commands


DOC_COMMANDS = [(f"{path.relative_to(ROOT)}:{line}", command)
                for path in MARKDOWN for line, command in sh_commands(path.read_text())]


def test_every_markdown_file_has_well_formed_markers():
    for path in MARKDOWN:
        assert regen.marker_problems(path.read_text()) == [], path.name


def test_every_region_the_script_makes_is_in_the_docs():
    found = [name for path in MARKDOWN for name, _ in regen.regions_in(path.read_text())]
    assert set(found) == set(regen.REGIONS)
    for path in MARKDOWN:
        for name, body in regen.regions_in(path.read_text()):
            assert body.strip(), f"{path.name}: region {name} is empty"


def test_marker_problems_are_found():
    assert regen.marker_problems("<!-- generated: presets -->\nx\n") == ["region 'presets' is never closed"]
    assert "unknown region" in regen.marker_problems("<!-- generated: nonsense -->\n<!-- /generated -->")[0]
    assert "no region open" in regen.marker_problems("x\n<!-- /generated -->\n")[0]
    nested = "<!-- generated: presets -->\n<!-- generated: presets -->\n<!-- /generated -->\n"
    assert "inside" in regen.marker_problems(nested)[0]


def test_replace_regions_rewrites_only_the_region():
    text = "before\n<!-- generated: presets -->\nold\n<!-- /generated -->\nafter\n"
    assert regen.replace_regions(text, {"presets": "new"}) == text.replace("old", "new")
    assert regen.replace_regions(text, {"quick-setting": "new"}) == text


def test_the_docs_quote_commands():
    assert len(DOC_COMMANDS) >= 20
    assert {c.split()[1] for _, c in DOC_COMMANDS} >= {"train", "figure5", "compare", "sweep", "plot", "animate",
                                                      "sample", "image-metrics"}


def test_sh_commands_join_lines_and_drop_comments():
    text = "```sh\nmixgan plot a \\\n    --out b   # c\n```\nmixgan train --nope\n"
    assert sh_commands(text) == [(2, "mixgan plot a --out b")]


@pytest.mark.parametrize("where, command", DOC_COMMANDS, ids=[w for w, _ in DOC_COMMANDS])
def test_documented_command_parses(where, command):
    if any(p in command for p in PLACEHOLDERS):
        pytest.skip("a command with a placeholder")
    words = shlex.split(command)[1:]
    assert words[0] in COMMANDS, f"{where}: unknown command {words[0]!r}"
    try:
        build_parser(words[0]).parse_args(words)
    except UsageError as e:
        pytest.fail(f"{where}: `{command}` does not parse: {e}")


def test_an_old_spelling_does_not_parse():
    with pytest.raises(UsageError):
        build_parser("compare").parse_args(["compare", "--data", "ring,grid", "--seeds", "10"])


def default_cell(value):
    """TrainConfig's default as the table must show it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def region(name):
    for path in MARKDOWN:
        bodies = dict(regen.regions_in(path.read_text()))
        if name in bodies:
            return bodies[name]
    raise AssertionError(f"no region {name}")


def test_option_defaults_table_is_train_configs():
    rows = [line for line in region("option-defaults").splitlines() if line.startswith("| `--")]
    table = {}
    for row in rows:
        option, default = [cell.strip() for cell in row.strip("|").split(" | ")[:2]]
        table[option.strip("`")[2:].replace("-", "_")] = default
    assert list(table) == list(FIELDS)
    for name, f in FIELDS.items():
        assert table[name] == default_cell(f.default), name
    assert region("option-defaults").strip() == regen.option_defaults()


def test_presets_table_is_presets():
    assert region("presets").strip() == regen.presets()
    for name, values in PRESETS.items():
        row = next(line for line in region("presets").splitlines() if line.startswith(f"| `{name}` |"))
        for key, value in values.items():
            assert f"{key.replace('_', '-')} {default_cell(value)}" in row


@pytest.mark.parametrize("name", [n for n, job in regen.REGIONS.items() if job == "code"])
def test_regions_from_the_code_are_up_to_date(name):
    assert region(name).strip() == regen.CODE[name]().strip(), (
        f"region {name} is stale: run `python scripts/regenerate_docs.py --only {name}`")


def test_objectives_doc_states_the_generator_loss_means():
    text = (ROOT / "docs" / "OBJECTIVES.md").read_text()
    assert PRESETS["figure5"]["g_loss_mean"] == "batch" and PRESETS["paper"]["g_loss_mean"] == "generated"
    assert FIELDS["g_loss_mean"].default == "generated"
    assert re.search(r"`figure5`\s+preset sets `batch`", text)
    assert re.search(r"By default, and in the `paper`\s+preset, the generator loss is the mean over the "
                     r"generated points \(`generated`\)", text)
