"""The ``mixgan`` command: one subcommand per entry of COMMANDS, each in its own module.

Only the chosen subcommand's module is imported and only its options are built, so
``mixgan --help`` loads neither torch nor matplotlib.
"""
import importlib
import signal
import sys
import threading

from mixgan.commands.options import Parser, one_line
from mixgan.errors import RunFailed, RunInterrupted, UsageError
from mixgan.system import EXIT_CODES

# name -> (module under mixgan.commands with add_arguments(parser) and run(args), one-line help)
COMMANDS = {
    "train": ("train", "train one GAN on a 2D toy distribution or an image data set"),
    "image-metrics": ("image_metrics", "offline image metrics of image runs' snapshots"),
    "figure5": ("figure5", "train the four runs of the paper's Figure 5 and draw it"),
    "plot": ("plot", "draw runs (rows) at their snapshot iterations (columns)"),
    "animate": ("animate", "PNG frames and a GIF or MP4 of runs side by side"),
    "sweep": ("sweep", "train a grid of runs (data × objectives × α × seeds) batched, then tabulate"),
    "compare": ("compare", "train or reuse runs over objectives, datasets and seeds; tabulate metrics"),
    "sample": ("sample", "draw new samples from a trained run's generator into a .npz or .png"),
}


def version():
    """The installed mixgan's version (from its package metadata; no torch needed)."""
    from importlib.metadata import PackageNotFoundError, version as installed
    try:
        return installed("mixgan")
    except PackageNotFoundError:
        return "(not installed)"


def command_module(name):
    return importlib.import_module(f"mixgan.commands.{COMMANDS[name][0]}")


def build_parser(chosen=None):
    """The parser, with the options of subcommand ``chosen`` (every subcommand still listed)."""
    parser = Parser(prog="mixgan", description="Train, see and compare GAN objectives (standard and mixup).")
    parser.add_argument("--version", action="version", version=f"mixgan {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            command_module(name).add_arguments(p)
    return parser


def _terminated(signum, frame):
    raise RunInterrupted("interrupted by SIGTERM", EXIT_CODES[signal.SIGTERM])


def main(argv=None):
    """The command line. A SIGTERM outside a training run (which checkpoints on it itself) stops the
    command as Ctrl-C does: one line and exit status 143, helper processes ended, not a silent death."""
    argv = sys.argv[1:] if argv is None else list(argv)
    saved = None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        saved = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(argv)
    finally:
        if saved is not None:
            signal.signal(signal.SIGTERM, saved)


def _main(argv):
    chosen = next((a for a in argv if not a.startswith("-")), None)  # the top level has no option with a value
    try:
        args = build_parser(chosen if chosen in COMMANDS else None).parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        if getattr(args, "threads", None) is None:
            return command_module(args.command).run(args)
        from mixgan.training import threads
        before = threads.requested()
        threads.request(args.threads)
        try:
            return command_module(args.command).run(args)
        finally:  # main() may be called again in this process (tests, notebooks)
            threads.request(before)
    except UsageError as e:
        if not getattr(e, "quiet", False):  # quiet: another process of a torchrun job reports it
            print(f"mixgan: error: {one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk or a read-only folder met outside a training run
        where = f" {e.filename}" if e.filename else ""
        print(f"mixgan: error: cannot write or read{one_line(where)}: {e.strerror or e}", file=sys.stderr)
        return 2
    except (RunInterrupted, RunFailed) as e:  # a run that stopped says how, in one line
        if not getattr(e, "quiet", False):
            print(f"mixgan: {one_line(e.message)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mixgan: interrupted", file=sys.stderr)
        return 130
