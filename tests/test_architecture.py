"""The house keeps its shape: rooms import downward only (import-linter's contracts in
pyproject.toml), ``import mixgan`` and ``mixgan --help`` stay light, every module says its job,
and the public API documents itself."""
import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "mixgan").rglob("*.py")) + sorted((ROOT / "toy_data").rglob("*.py"))


def lint_imports(cwd, config=None, env_path=None):
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())"]
    if config:
        command += ["--config", str(config)]
    env = {"PYTHONPATH": str(env_path or cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_the_import_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    """The same kind of contract, on a tiny package with one wrong arrow, fails."""
    package = tmp_path / "house"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("X = 1\n")
    (package / "low.py").write_text("from house.high import X\n")
    (tmp_path / "contracts.toml").write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["house"]
        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        layers = ["house.high", "house.low"]
    """))
    done = lint_imports(tmp_path, tmp_path / "contracts.toml")
    assert done.returncode != 0 and "BROKEN" in done.stdout.upper()


def loaded_after(code):
    """Which of torch, matplotlib and mixgan's training loop ``code`` loads, in a fresh interpreter."""
    probe = code + "\nimport sys\nprint(sorted(m for m in ('torch', 'matplotlib', 'mixgan.training.loop') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_import_mixgan_and_the_top_level_help_load_neither_torch_nor_matplotlib():
    assert loaded_after("import mixgan") == "[]"
    help_text = ("from mixgan.commands.main import main\nimport contextlib, io\n"
                 "with contextlib.redirect_stdout(io.StringIO()):\n"
                 "    try:\n        main(['--help'])\n    except SystemExit:\n        pass")
    assert loaded_after(help_text) == "[]"
    assert loaded_after("import mixgan\nmixgan.TrainConfig") == "[]"
    assert loaded_after("import mixgan\nmixgan.TrainConfig()") == "['torch']"  # checks read the registries


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_says_its_job_stays_small_and_cites_no_issue(path):
    text = path.read_text()
    tree = ast.parse(text)
    if path.name != "__main__.py" or text.strip():
        assert ast.get_docstring(tree), f"{path} has no module docstring"
    assert len(text.splitlines()) <= 400, f"{path} has {len(text.splitlines())} lines"
    assert not re.search(r"#.*\bissues? ?#?\d+|\(issue \d+", text, re.I), f"{path} cites an issue number"


def test_the_public_api_is_documented_with_examples():
    import mixgan
    for name in mixgan.__all__:
        value = getattr(mixgan, name)
        doc = value.__doc__ or ""
        assert ">>>" in doc, f"mixgan.{name} has no example in its docstring"
    with pytest.raises(AttributeError):
        mixgan.no_such_thing  # noqa: B018


@pytest.mark.parametrize("module", sorted({m for m, _ in __import__("mixgan")._API.values()}))
def test_the_examples_in_the_public_docstrings_run(module):
    """Every example of the public API that does not train (those say ``+SKIP``) gives what it shows."""
    import doctest
    import importlib
    failed, _ = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert failed == 0
