"""The ``mixgan`` command line: one sub-command per entry of COMMANDS, options built from TrainConfig."""
import argparse
import json
import sys

from mixgan import compare  # the compare command (issue 4)
from mixgan.config import FIELDS, choices, make_config
from mixgan.errors import RunFailed, RunInterrupted, UsageError
from mixgan.image_commands import add_image_metrics, run_image_metrics_command  # issue 5: image metrics
from mixgan import figure_commands as figures  # figure5, plot, animate (issue 3)
from mixgan import sweep  # issue 6: mixgan sweep (its heavy imports are lazy)


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line on stderr, exit status 2."""

    def error(self, message):
        raise UsageError(message)


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")


def _int_list(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")


def _bool(text):  # flags: `--download` or `--spectral-norm` alone mean true; `false` is allowed too
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


PARSE = {int: _int, float: _float, str: str, tuple: _int_list, bool: _bool}


def add_config_arguments(parser, skip=()):
    """One ``--option`` per TrainConfig field, with its doc and default as help."""
    for name, f in FIELDS.items():
        if name in skip:
            continue
        meta = f.metadata
        default = "" if f.default is None else f" (default: {_show(f.default)})"
        extra = {}
        if "choices" in meta:
            extra["metavar"] = "{" + ",".join(choices(meta["choices"])) + "}"
        if f.type is bool:  # a flag: --name alone means true (issue 8)
            extra.update(nargs="?", const=True, metavar="{true,false}")
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=PARSE[f.type], default=None,
                            help=meta["doc"] + default, **extra)
    parser.add_argument("--config", metavar="FILE", help="TOML or JSON file of options; command-line options win")


def _show(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def config_from_args(args, skip=()):
    overrides = {name: getattr(args, name) for name in FIELDS
                 if name not in skip and getattr(args, name, None) is not None}
    return make_config(overrides, args.config)


def add_train(parser):
    add_config_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder from its last checkpoint "
                        "(its config.json gives every option)")  # issue 7


def run_train(args):
    if args.resume is not None:  # issue 7: continue a stopped run instead of starting one
        from mixgan.resume import run_resume
        return run_resume(args)
    config = config_from_args(args)
    if args.dry_run:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    from mixgan.train import train
    run = train(config, progress=not args.no_progress)
    print(f"run folder: {run}")
    print(f"snapshots:  {run / 'snapshots'} (iter_NNNNNN.png pictures, .npz arrays)")
    return 0


# name -> (add_arguments, run, one-line help)
COMMANDS = {
    "train": (add_train, run_train, "train one GAN on a 2D toy distribution or an image data set"),
    "image-metrics": (add_image_metrics, run_image_metrics_command, "offline image metrics of image runs' snapshots"),
    "figure5": (figures.add_figure5, figures.run_figure5, "train the four runs of the paper's Figure 5 and draw it"),
    "plot": (figures.add_plot, figures.run_plot, "draw runs (rows) at their snapshot iterations (columns)"),
    "animate": (figures.add_animate, figures.run_animate, "PNG frames and a GIF or MP4 of runs side by side"),
    "sweep": (sweep.add_arguments, sweep.run, "train a grid of runs (data × objectives × α × seeds) batched, then tabulate"),
    "compare": (compare.add_arguments, compare.run, "train or reuse runs over objectives, datasets and seeds; tabulate metrics"),
}


def one_line(message):
    """A message as one line even when it quotes a path with a line break in it (issue 7)."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def main(argv=None):
    parser = Parser(prog="mixgan", description="Train, see and compare GAN objectives (standard and mixup).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (add, _, help_text) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return COMMANDS[args.command][1](args)
    except UsageError as e:
        print(f"mixgan: error: {one_line(e)}", file=sys.stderr)
        return 2
    except (RunInterrupted, RunFailed) as e:  # issue 7: a run that stopped says how, in one line
        print(f"mixgan: {one_line(e.message)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mixgan: interrupted", file=sys.stderr)
        return 130
