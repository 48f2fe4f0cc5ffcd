"""What every subcommand parses the same way: the argparse class that reports errors in one line,
value parsers, the ``--option`` per TrainConfig field, comma-separated lists and shared flags.

docs/CLI.md states the grammar these helpers implement; tests/test_cli_grammar.py walks every
subcommand's parser to check it.
"""
import argparse
from pathlib import Path

from mixgan.config import FIELDS, choices, make_config
from mixgan.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line on stderr, exit status 2, and takes options
    only as spelt: an abbreviation (``--seed`` for ``--seeds``) is an error, not a guess."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)


def whole_number(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")


def number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")


def at_least_zero(name):
    """A parser of whole numbers >= 0 for option ``name``."""
    def parse(text):
        value = whole_number(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be >= 0, got {value}")  # argparse adds the option name
        return value
    return parse


def whole_numbers(text):
    """Comma-separated whole numbers as a tuple."""
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")


def true_or_false(text):
    """Flags: ``--download`` or ``--spectral-norm`` alone mean true; ``false`` is allowed too."""
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


PARSE = {int: whole_number, float: number, str: str, tuple: whole_numbers, bool: true_or_false}


def split_list(text, what, kind=str, unique=False):
    """A comma-separated option value as a list of ``kind``; one-line UsageError when it is empty,
    malformed, or (``unique``) names an entry twice."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise UsageError(f"{what} must name at least one entry")
    if unique and len(set(items)) != len(items):
        raise UsageError(f"{what} names an entry twice: {text!r}")
    try:
        return [kind(v) for v in items]
    except ValueError:
        noun = {float: "numbers", int: "whole numbers"}.get(kind, "names")
        raise UsageError(f"{what} expects comma-separated {noun}, got {text!r}")


def positive_count(text, what):
    """A whole number >= 1 given as text; one-line UsageError otherwise."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what} expects a whole number, got {text!r}")
    if value < 1:
        raise UsageError(f"{what} must be >= 1, got {value}")
    return value


def add_config_arguments(parser, skip=(), defaults=None):
    """One ``--option`` per TrainConfig field, with its doc and default as help, and ``--config``.
    ``defaults``: fields whose default differs in this command (shown in the help; the command
    applies them)."""
    for name, f in FIELDS.items():
        if name in skip:
            continue
        meta = f.metadata
        shown = (defaults or {}).get(name, f.default)
        default = "" if shown is None else f" (default: {_show(shown)})"
        extra = {}
        if "choices" in meta:
            extra["metavar"] = "{" + ",".join(choices(meta["choices"])) + "}"
        if f.type is tuple:
            extra["metavar"] = "LIST"
        if f.type is bool:  # a flag: --name alone means true
            extra.update(nargs="?", const=True, metavar="{true,false}")
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=PARSE[f.type], default=None,
                            help=meta["doc"] + default, **extra)
    parser.add_argument("--config", metavar="FILE", help="TOML or JSON file of options; command-line options win")


def _show(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def given_options(args, skip=()):
    """The TrainConfig options given on the command line, as a dict."""
    return {name: getattr(args, name) for name in FIELDS if name not in skip and getattr(args, name, None) is not None}


def config_from_args(args, skip=()):
    return make_config(given_options(args, skip), args.config)


def refuse_with_resume(args, extra=(), what="run"):
    """``--resume`` takes every option from the run folders: refuse any option given beside it."""
    given = [name for name in [*FIELDS, *extra] if getattr(args, name, None) is not None]
    if getattr(args, "config", None):
        given.append("config")
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} cannot be combined with --resume: a resumed {what} "
                         f"keeps the options its runs were made with")


def seed_list(text):
    """``--seeds``: comma-separated seeds (whole numbers >= 0), each once, e.g. ``0,1,2``."""
    seeds = split_list(text, "--seeds", int, unique=True)
    if min(seeds) < 0:
        raise UsageError(f"--seeds must be >= 0, got {min(seeds)}")
    return seeds


def path_list(text, what):
    """A comma-separated list of paths; a path that exists as written is one entry even with a comma."""
    if Path(text).exists():
        return [text]
    return split_list(text, what)


def add_quiet_argument(parser):
    """The one flag that silences plans and progress: only the result line and errors are printed."""
    parser.add_argument("--quiet", action="store_true", help="print only the result line (and errors): "
                                                            "no plan, no progress")


def add_threads_argument(parser):
    """``--threads N``: exactly N CPU threads per run instead of the thread policy's choice."""
    parser.add_argument("--threads", type=whole_number, default=None, metavar="N",
                        help="CPU threads per run (default: chosen from the work's size, the CPUs this process "
                             "may use and how busy they are; see docs/BENCHMARKS.md)")


def add_device_argument(parser, default="auto"):
    parser.add_argument("--device", default=default, choices=choices("devices"),
                        help=f"auto (cuda when present), cpu or cuda (default: {default})")


def add_allow_unfinished_argument(parser):
    """The one flag every run-reading command offers to accept unfinished runs."""
    parser.add_argument("--allow-unfinished", action="store_true",
                        help="use runs that are not finished (running, interrupted or failed) as they are")


def add_ema_argument(parser):
    """The one flag every command that draws a run's generator offers for its weight average."""
    parser.add_argument("--ema", action="store_true",
                        help="draw the generator's weight average (runs trained with --ema)")


def one_line(message):
    """A message as one line even when it quotes a path with a line break in it."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")
