"""Regenerate what README.md and docs/*.md show from running mixgan: the text between
``<!-- generated: NAME -->`` and ``<!-- /generated -->`` and the pictures in docs/.

Tables of options come from the code alone; captions and pictures come from runs this script
trains on the CPU (the quick Figure 5 with frames and landscapes, about 3 minutes on 2 cores;
a 1000-iteration digits run, about 1 minute) or, for the full-length Figure 5, from a finished
``mixgan figure5`` folder given with ``--figure5-runs`` (without it that caption and picture are
left as they are: the full figure takes 40 minutes on a CPU). Only the regions and pictures are
rewritten; the script prints what changed and how long it took.

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/regenerate_docs.py            # all, writes
    PYTHONPATH=. python scripts/regenerate_docs.py --check --only option-defaults,presets
    PYTHONPATH=. python scripts/regenerate_docs.py --figure5-runs outputs/00003-figure5-s0

``--check`` writes nothing and exits 1 naming every region or picture that would change.
"""
import argparse
import json
import os
import platform
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = "docs"
REGION = re.compile(r"<!-- generated: (?P<name>[a-z0-9-]+) -->\n(?P<body>.*?)<!-- /generated -->", re.S)
MARKER = re.compile(r"<!-- (generated: [a-z0-9-]+|/generated) -->")

# Every generated region and picture, with the job that produces it: "code" needs no training,
# "quick" trains the quick Figure 5 (with frames and landscapes), "digits" a short digits run,
# "full" reads the runs given by --figure5-runs.
REGIONS = {
    "option-defaults": "code",
    "presets": "code",
    "quick-setting": "code",
    "sweep-options": "code",
    "quick-figure-caption": "quick",
    "animation-caption": "quick",
    "animation-note": "quick",
    "digits-caption": "digits",
    "full-figure-caption": "full",
}
PICTURES = {
    "figure5-quick.png": "quick",
    "animation-frame.png": "quick",
    "digits-samples.png": "digits",
    "figure5-full.png": "full",
}
ANIMATION_FRAMES = 100  # frames saved per run for the animation (as docs/FIGURES.md's example)
ANIMATION_LANDSCAPE = 64  # grid size of D's saved map
ANIMATION_FRAME = 85  # which saved frame (0-based) the picture shows: late enough that the runs differ
DIGITS = dict(objective="mixup", data="digits", preset="dcgan", iterations=1000)


def markdown_files(root=ROOT):
    """README.md and docs/*.md: the files whose regions this script owns."""
    return [root / "README.md", *sorted((root / DOCS).glob("*.md"))]


def regions_in(text):
    """[(name, body)] of the well-formed regions of ``text``, in order."""
    return [(m["name"], m["body"]) for m in REGION.finditer(text)]


def marker_problems(text):
    """What is wrong with the markers of ``text``: unpaired, nested or unknown ones ([] if none)."""
    problems, open_name = [], None
    for m in MARKER.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group(1).startswith("generated: "):
            name = m.group(1)[len("generated: "):]
            if open_name is not None:
                problems.append(f"line {line}: region {name!r} starts inside region {open_name!r}")
            if name not in REGIONS:
                problems.append(f"line {line}: unknown region {name!r}")
            if not text.endswith("\n", 0, m.start()) and m.start() != 0:
                problems.append(f"line {line}: region {name!r} must start on a line of its own")
            open_name = name
        else:
            if open_name is None:
                problems.append(f"line {line}: an end marker with no region open")
            open_name = None
    if open_name is not None:
        problems.append(f"region {open_name!r} is never closed")
    return problems


def prose(text):
    """A paragraph wrapped as the hand-written Markdown around it is (lines of at most 96 characters)."""
    return textwrap.fill(text, 96, break_long_words=False, break_on_hyphens=False)


def replace_regions(text, new):
    """``text`` with the body of every region named in ``new`` (name -> body) replaced."""
    def body(m):
        name = m["name"]
        if name not in new:
            return m.group(0)
        return f"<!-- generated: {name} -->\n{new[name].rstrip(chr(10))}\n<!-- /generated -->"
    return REGION.sub(body, text)


# ---------------------------------------------------------------- from the code alone
def shown_default(name, value):
    """A TrainConfig default as the table shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def option_defaults():
    """The table of every TrainConfig field: its option, its default and its one-line doc."""
    from mixgan.config import FIELDS
    rows = ["| option | default | what it sets |", "|---|---|---|"]
    for name, f in FIELDS.items():
        doc = f.metadata["doc"].replace("|", "\\|")
        rows.append(f"| `--{name.replace('_', '-')}` | {shown_default(name, f.default)} | {doc} |")
    return "\n".join(rows)


def presets():
    """The table of PRESETS: the options each sets (options given beside a preset win)."""
    from mixgan.config import PRESETS
    rows = ["| preset | sets |", "|---|---|"]
    for name, values in PRESETS.items():
        shown = ", ".join(f"{k.replace('_', '-')} {shown_default(k, v)}" for k, v in values.items())
        rows.append(f"| `{name}` | {shown} |")
    return "\n".join(rows)


def quick_setting():
    """What ``figure5 --quick`` changes in the figure5 preset."""
    from mixgan.config import make_config
    from mixgan.experiments.figure5 import QUICK
    full = make_config(dict(preset="figure5"))
    quick = make_config(dict(preset="figure5", **QUICK))
    iterations = [str(i) for i in quick.snapshot_iterations]
    return prose(f"`--quick` keeps everything from the `figure5` preset except: width {quick.width} (instead of "
            f"{full.width}), {quick.iterations} iterations (instead of {full.iterations}), snapshots at "
            f"{', '.join(iterations[:-1])} and {iterations[-1]} (instead of "
            f"{', '.join(map(str, full.snapshot_iterations))}).")


def sweep_options():
    """The table of ``mixgan sweep``'s own options, from its parser's help."""
    from mixgan.commands.main import build_parser
    from mixgan.commands.sweep import GRID_FIELDS
    from mixgan.config import FIELDS
    parser = build_parser("sweep")
    sweep = next(a for a in parser._actions if a.dest == "command").choices["sweep"]
    rows = ["| option | meaning |", "|---|---|"]
    for action in sweep._actions:
        if action.dest in FIELDS or action.dest in ("help", "config") or not action.option_strings:
            continue
        metavar = f" {action.metavar}" if action.metavar else ""
        rows.append(f"| `{action.option_strings[0]}{metavar}` | {action.help} |")
    skipped = ", ".join(f"`--{n.replace('_', '-')}`" for n in GRID_FIELDS)
    rows.append(f"| every `mixgan train` option but {skipped} | shared by all runs (`--preset`, `--iterations`, "
                "`--width`, `--device`, `--config`, …) |")
    return "\n".join(rows)


# ---------------------------------------------------------------- from runs
def machine():
    """The CPU this script runs on, in words, and the load when it started."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()}-core {model}, load average {load:.1f} at the start"


def snapshot_table(cells, iterations):
    """Per run (rows) and snapshot (columns): points outside the frame and modes covered."""
    from mixgan.evaluation.toy_metrics import frame_limits
    from mixgan.viz.plots import outside_count
    names = {"standard": "ERM", "mixup": "mixup"}
    rows = ["| run | " + " | ".join(map(str, iterations)) + " |", "|---" * (len(iterations) + 1) + "|"]
    for (data, objective), run in cells.items():
        records = {r["iteration"]: r for r in run.metrics() if r.get("kind") == "snapshot"}
        shown = []
        for it in iterations:
            a = run.arrays(it)
            outside = outside_count(a["fake"], *frame_limits(a["real"]))
            r = records.get(it, {})
            modes = f"{r['modes_covered']}/{r['modes_total']}" if "modes_covered" in r else "—"
            shown.append(f"{outside} · {modes}")
        rows.append(f"| {data} · {names.get(objective, objective)} | " + " | ".join(shown) + " |")
    return "\n".join(rows)


def ordered_cells(cells):
    from mixgan.viz.figures import FIGURE5_DATA, FIGURE5_OBJECTIVES
    return {(d, o): cells[(d, o)] for d in FIGURE5_DATA for o in FIGURE5_OBJECTIVES}


def figure_png(cells, work, name):
    """Figure 5 of ``cells`` without landscapes, as PNG bytes (drawn as ``mixgan figure5`` draws it)."""
    from mixgan.experiments.figure5 import reduced_note
    from mixgan.viz.figures import figure5_figure, save_both
    fig, iterations = figure5_figure(cells, reduced_note(cells.values()), landscape=False)
    path = Path(work) / name
    save_both(fig, [path])
    return path.read_bytes(), iterations


def quick_job(work):
    """Train ``mixgan figure5 --quick --frames 100 --landscape 64`` (seed 0, CPU) and draw from it."""
    import numpy as np
    from mixgan.experiments.figure5 import make_figure5
    from mixgan.runs.reader import load_run
    from mixgan.viz.animate import render_frame
    from mixgan.viz.figures import figure5_runs
    where = machine()
    group = make_figure5(seed=0, device="cpu", out=work, quick="on", frames=ANIMATION_FRAMES,
                         landscape=ANIMATION_LANDSCAPE, log=lambda *a: None)
    info = json.loads((group / "figure5.json").read_text())
    cells = ordered_cells(figure5_runs(info["runs"]))
    picture, iterations = figure_png(cells, work, "figure5-quick.png")
    workers = min(info["cpu_cores"], 4) if info["cpu_cores"] >= 2 else 1
    caption = (prose(
        f"*`mixgan figure5 --quick`, seed 0, drawn by `scripts/regenerate_docs.py` on the CPU: "
        f"{info['wall_seconds']:.0f} s of training ({workers} runs at a time; {where}). The runs also saved "
        f"{ANIMATION_FRAMES} frames and D's landscape (`--frames {ANIMATION_FRAMES} --landscape "
        f"{ANIMATION_LANDSCAPE}`), which do not change training; the figure leaves the landscape out. "
        f"Each cell: generated points outside the frame (of {cells[('ring', 'mixup')].config['snapshot_size']}) · "
        f"modes covered (a mode counts when a point lies within 3σ of its centre):*")
        + "\n\n" + snapshot_table(cells, iterations)
        + "\n\n*Other CPUs round differently and can give other counts.*")

    ring = [load_run(cells[("ring", o)].path) for o in ("standard", "mixup")]
    frame_its = ring[0].iterations("frames")
    it = frame_its[ANIMATION_FRAME]
    frame, _ = render_frame(ring, it, "frames", True)
    stats = []
    for run in ring:
        a = run.arrays(it, "frames")
        grey = float(np.mean((a["landscape"] > 0.05) & (a["landscape"] < 0.95)))
        stats.append(grey)
    animation_caption = prose(
        f"*Frame {ANIMATION_FRAME + 1} of {len(frame_its)} (iteration {it}) of `mixgan animate` on the ring runs "
        f"above: "
        f"D's probability lies strictly between 0.05 and 0.95 on {stats[0]:.0%} of the ERM map and on "
        f"{stats[1]:.0%} of the mixup map, the smoothness §3.7 of the paper points to.*")
    animation_note = prose(
        f"(Frame {ANIMATION_FRAME + 1} of {len(frame_its)}, iteration {it}, of the ring runs of "
        f"`mixgan figure5 --quick --frames {ANIMATION_FRAMES} --landscape {ANIMATION_LANDSCAPE}`, seed 0, drawn "
        f"by `scripts/regenerate_docs.py`: D's probability lies strictly between 0.05 and 0.95 on "
        f"{stats[0]:.0%} of the ERM map and on {stats[1]:.0%} of the mixup map.)")
    return ({"quick-figure-caption": caption, "animation-caption": animation_caption,
             "animation-note": animation_note},
            {"figure5-quick.png": picture, "animation-frame.png": frame})


def digits_job(work):
    """Train the digits run of the Images section for 1000 iterations and take its last snapshot picture."""
    from mixgan.config import make_config
    from mixgan.training import train
    where = machine()
    start = time.perf_counter()
    run = train(make_config(dict(DIGITS, device="cpu", out=str(work))), progress=False)
    seconds = time.perf_counter() - start
    last = DIGITS["iterations"]
    picture = (run / "snapshots" / f"iter_{last:06d}.png").read_bytes()
    options = " ".join(f"--{k} {v}" for k, v in DIGITS.items())
    caption = prose(f"*`mixgan train {options}`, seed 0, iteration {last}: real digits left, generated right "
               f"(drawn by `scripts/regenerate_docs.py`; {seconds:.0f} s of training on the CPU, {where}).*")
    return {"digits-caption": caption}, {"digits-samples.png": picture}


def full_job(work, runs_dir):
    """Redraw the full-length Figure 5 and its caption from a finished ``mixgan figure5`` folder."""
    from mixgan.experiments.figure5 import figure_runs_in
    from mixgan.viz.figures import figure5_runs
    cells = ordered_cells(figure5_runs(figure_runs_in([runs_dir], 0)))
    picture, iterations = figure_png(cells, work, "figure5-full.png")
    info_path = Path(runs_dir) / "figure5.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    means = {r.config.get("g_loss_mean", "generated") for r in cells.values()}
    widths = {r.config["width"] for r in cells.values()}
    lengths = {r.config["iterations"] for r in cells.values()}
    timing = (f", trained on {info['device']} in {info['wall_seconds']:,.0f} s "
              f"({info['wall_seconds'] / 60:.1f} min)" if "wall_seconds" in info else "")
    caption = (prose(f"*`mixgan figure5`, seed 0, width {', '.join(map(str, sorted(widths)))}, "
               f"{', '.join(map(str, sorted(lengths)))} iterations, `--g-loss-mean {', '.join(sorted(means))}`"
               f"{timing}; redrawn by `scripts/regenerate_docs.py` "
               f"from `{Path(runs_dir).name}`. Each cell: generated points outside the frame "
               f"(of {cells[('ring', 'mixup')].config['snapshot_size']}) · modes covered:*")
               + "\n\n" + snapshot_table(cells, iterations))
    return {"full-figure-caption": caption}, {"figure5-full.png": picture}


CODE = {"option-defaults": option_defaults, "presets": presets, "quick-setting": quick_setting,
        "sweep-options": sweep_options}


# ---------------------------------------------------------------- the command
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming every region or picture that would change")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated region names and picture file names (default: all); one of "
                             + ", ".join([*REGIONS, *PICTURES]))
    parser.add_argument("--figure5-runs", metavar="DIR",
                        help="a finished full-length `mixgan figure5` folder (or the four run folders' parent) to "
                             "redraw docs/figure5-full.png and its caption from; without it they are left as they are")
    parser.add_argument("--work", metavar="DIR", help="where the runs are trained (default: a temporary folder, "
                                                      "removed at the end)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    chosen = [*REGIONS, *PICTURES]
    if args.only:
        chosen = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in REGIONS and n not in PICTURES]
        if unknown:
            print(f"regenerate_docs: unknown name {unknown[0]!r}; choose from: {', '.join([*REGIONS, *PICTURES])}",
                  file=sys.stderr)
            return 2
    jobs = {({**REGIONS, **PICTURES})[n] for n in chosen}
    if "full" in jobs and not args.figure5_runs:
        print("full-figure-caption, figure5-full.png: left as they are (give --figure5-runs DIR, a finished "
              "`mixgan figure5` folder, to redraw them)")
        jobs.discard("full")
        chosen = [n for n in chosen if ({**REGIONS, **PICTURES})[n] != "full"]

    texts = {name: make() for name, make in CODE.items() if name in chosen}
    pictures = {}
    with tempfile.TemporaryDirectory(prefix="mixgan-docs-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for job, run in (("quick", quick_job), ("digits", digits_job),
                         ("full", lambda w: full_job(w, args.figure5_runs))):
            if job in jobs:
                began = time.perf_counter()
                new_texts, new_pictures = run(work)
                texts.update({k: v for k, v in new_texts.items() if k in chosen})
                pictures.update({k: v for k, v in new_pictures.items() if k in chosen})
                print(f"{job}: {time.perf_counter() - began:.0f} s")

    changed, found = [], set()
    for path in markdown_files():
        text = path.read_text()
        problems = marker_problems(text)
        if problems:
            print(f"{path.relative_to(ROOT)}: {problems[0]}", file=sys.stderr)
            return 2
        names = {name for name, _ in regions_in(text)}
        found |= names
        new = replace_regions(text, {k: v for k, v in texts.items() if k in names})
        if new != text:
            old_bodies, new_bodies = dict(regions_in(text)), dict(regions_in(new))
            for name in sorted(n for n in names if old_bodies.get(n) != new_bodies.get(n)):
                changed.append(f"{path.relative_to(ROOT)}: region {name}")
            if not args.check:
                path.write_text(new)
    for name in sorted(set(texts) - found):
        print(f"warning: no region {name!r} in README.md or docs/*.md", file=sys.stderr)
    for name, data in pictures.items():
        path = ROOT / DOCS / name
        if not path.exists() or path.read_bytes() != data:
            changed.append(f"{DOCS}/{name}: picture")
            if not args.check:
                path.write_bytes(data)

    verb = "would change" if args.check else "changed"
    for line in changed:
        print(f"{verb}: {line}")
    if not changed:
        print("everything is up to date")
    print(f"regenerate_docs: {len(changed)} {verb} in {time.perf_counter() - start:.0f} s")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
