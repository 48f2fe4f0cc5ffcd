"""Progress of several runs trained at once: one overall bar and one bar per run, on a terminal.

The runs may train in other processes, so the bars read what every run already writes: the
iteration of the last line of its ``metrics.jsonl``. A thread polls those files about once a
second; training itself is never slowed or synchronised for a bar. When standard error is not a
terminal (a log file, a batch job) no bar is drawn: the caller prints one line per finished run.
"""
import json
import sys
import threading
from pathlib import Path

from mixgan.config import read_run_config
from mixgan.errors import UsageError
from mixgan.experiments.workers import config_key

POLL_SECONDS = 1.0
TAIL_BYTES = 4096  # the last lines of metrics.jsonl: a few periodic records and snapshot records


def last_iteration(run):
    """The iteration of the last periodic record of ``run``'s metrics.jsonl (0 when none yet)."""
    try:
        with open(Path(run) / "metrics.jsonl", "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - TAIL_BYTES))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:  # the first line of the tail may be cut, the last still being written
            continue
        if isinstance(record, dict) and "kind" not in record and isinstance(record.get("iteration"), int):
            return record["iteration"]
    return 0


def bars_wanted(enabled, stream=None):
    """Bars only when asked for and standard error is a terminal."""
    stream = stream or sys.stderr
    return bool(enabled) and hasattr(stream, "isatty") and stream.isatty()


class RunBars:
    """``with RunBars(tasks, label, enabled) as bars:`` shows an overall bar and one bar per
    training run of ``tasks`` (``(config, resume folder or None)``), and ``bars.write`` prints a
    line above them. Without a terminal it does nothing and ``write`` is ``print``."""

    def __init__(self, tasks, label=str, enabled=True):
        self.tasks, self.label = list(tasks), label
        self.enabled = bars_wanted(enabled) and bool(self.tasks)
        self.write = print
        self._stop = threading.Event()
        self._runs = {}  # config key -> run folder, once it exists
        self._keys_of = {}  # folder -> config key (read once)

    def __enter__(self):
        if not self.enabled:
            return self
        from tqdm.auto import tqdm
        self.write = tqdm.write
        total = sum(c.iterations for c, _ in self.tasks)
        self.overall = tqdm(total=total, desc=f"{len(self.tasks)} runs", unit="it", dynamic_ncols=True, position=0)
        self.bars = {config_key(c.to_dict()): tqdm(total=c.iterations, desc=self.label(c), unit="it", leave=False,
                                                   dynamic_ncols=True, position=i + 1)
                     for i, (c, _) in enumerate(self.tasks)}
        for c, folder in self.tasks:
            if folder is not None:
                self._runs[config_key(c.to_dict())] = Path(folder)
        self._thread = threading.Thread(target=self._poll, daemon=True, name="mixgan-progress")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self._update()
            for bar in self.bars.values():
                bar.close()
            self.overall.close()
        return False

    def _find_runs(self):
        for out in {Path(c.out) for c, _ in self.tasks}:
            try:
                children = [p for p in out.iterdir() if p not in self._keys_of and (p / "config.json").is_file()]
            except OSError:
                continue
            for run in children:
                try:
                    self._keys_of[run] = config_key(read_run_config(run))
                except UsageError:
                    continue  # being written: seen at the next poll
                if self._keys_of[run] in self.bars:
                    self._runs.setdefault(self._keys_of[run], run)

    def _update(self):
        self._find_runs()
        done = 0
        for key, bar in self.bars.items():
            it = min(last_iteration(self._runs[key]), bar.total) if key in self._runs else 0
            bar.update(it - bar.n)
            done += it
        self.overall.update(done - self.overall.n)

    def _poll(self):
        while not self._stop.wait(POLL_SECONDS):
            self._update()
