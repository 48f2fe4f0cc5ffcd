"""mixgan sweep --executor ray on a local Ray: the same runs as the in-process sweep, bit for bit,
after a worker death and after a killed driver. Skipped where Ray is not installed."""
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from mixgan.commands.main import main  # noqa: E402
from mixgan.config import read_run_config  # noqa: E402
from mixgan.experiments.sweep import grid_configs, resume_sweep, sweep  # noqa: E402
from mixgan.experiments.workers import config_key  # noqa: E402

TINY = dict(iterations=6, width=8, depth=1, batch_size=16, snapshot_size=48, log_every=3, checkpoint_every=2)
TINY_ARGS = [a for k, v in TINY.items() for a in (f"--{k.replace('_', '-')}", str(v))]
GRID = (["ring"], ["standard", "mixup"], [0.2], ["beta"], [0, 1])  # 4 runs: a standard batch and a mixup batch


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one takes seconds), on the loopback address only.
    Its workers inherit MIXGAN_THREADS=1 from conftest, as the driver passes it on anyway."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR")
    # The tasks below wrap the real one; Ray's workers cannot import this test module, so it travels by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def configs(out, **overrides):
    return grid_configs({**TINY, **overrides, "out": str(out)}, *GRID)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The in-process sweeps the Ray sweeps must equal, by ``max_runs``, made once each."""
    made = {}

    def reference(max_runs=None):
        if max_runs not in made:
            made[max_runs] = sweep(configs(tmp_path_factory.mktemp("in-process")), max_runs, progress=False,
                                   log=lambda *a: None)
        return made[max_runs]
    return reference


def runs_of(folder):
    return {config_key(read_run_config(run)): run
            for run in sorted(Path(folder).iterdir()) if (run / "config.json").is_file()}


def assert_same_runs(ray_sweep, reference):
    """Every run of the two sweeps holds the same weights, snapshots and metrics, bit for bit."""
    ours, theirs = runs_of(ray_sweep), runs_of(reference)
    assert len(ours) == len(theirs) == 4 and ours.keys() == theirs.keys()
    assert len([p for p in Path(ray_sweep).iterdir() if (p / "config.json").is_file()]) == 4  # no run made twice
    for key, run in ours.items():
        other = theirs[key]
        assert json.loads((run / "status.json").read_text())["state"] == "finished"
        for name in ("generator.pt", "discriminator.pt"):
            a, b = torch.load(run / name), torch.load(other / name)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{run.name}/{name}"
        snapshots = sorted(p.name for p in (run / "snapshots").glob("*.npz"))
        assert snapshots and snapshots == sorted(p.name for p in (other / "snapshots").glob("*.npz"))
        for name in snapshots:
            with np.load(run / "snapshots" / name) as x, np.load(other / "snapshots" / name) as y:
                assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files), f"{run.name}/{name}"
        lines = [[{k: v for k, v in json.loads(line).items() if not k.endswith("_s")}  # wall times
                  for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (run, other)]
        assert lines[0] == lines[1], run.name


def summary_rows(folder):
    return sorted(json.dumps(r, sort_keys=True) for r in json.loads((Path(folder) / "summary.json").read_text())["rows"])


def test_ray_sweep_equals_the_in_process_sweep(local_ray, in_process, tmp_path, capsys):
    assert main(["sweep", "--executor", "ray", "--datasets", "ring", "--objectives", "standard,mixup",
                 "--seeds", "0,1", "--out", str(tmp_path), *TINY_ARGS]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "00000-sweep"
    assert len([line for line in out.splitlines() if line.startswith("  ring/")]) == 4  # a line per run
    assert f"summary:      {folder / 'summary.md'}" in out
    assert_same_runs(folder, in_process())
    assert summary_rows(folder) == summary_rows(in_process())
    assert ray.is_initialized()  # a Ray the process had joined already is left as it was


def dying_task(folder, configs, threads, environment_threads):
    """The real task, whose process dies (as on a crash) the first time a mixup run would write a
    checkpoint at iteration 4 or later, leaving its earlier checkpoints; a marker file makes that once."""
    from mixgan.experiments.ray_sweep import run_task
    from mixgan.runs import checkpoints
    marker = Path(folder) / f"died-{configs[0].objective}"
    if configs[0].objective == "mixup" and not marker.exists():
        save = checkpoints.save

        def save_or_die(run, ckpt):
            if ckpt["iteration"] >= 4:
                marker.write_text(str(os.getpid()))
                os._exit(1)
            save(run, ckpt)
        checkpoints.save = save_or_die
    return run_task(folder, configs, threads, environment_threads)


def test_a_task_whose_worker_dies_is_retried_and_goes_on_from_its_checkpoints(local_ray, in_process, tmp_path):
    from mixgan.experiments.ray_sweep import RayExecutor
    folder = sweep(configs(tmp_path), progress=False, log=lambda *a: None, executor=RayExecutor(task=dying_task))
    assert (folder / "died-mixup").is_file() and not (folder / "died-standard").exists()
    assert_same_runs(folder, in_process())


class StopAfterFirstRun:
    """A driver's log that is interrupted (as by Ctrl-C) when the first run is reported finished."""

    def __init__(self):
        self.lines = []

    def __call__(self, line):
        self.lines.append(line)
        if "→" in line:
            raise KeyboardInterrupt


@pytest.mark.slow  # its own in-process reference and a resume: the longest of these tests
def test_a_killed_ray_sweep_resumes_only_what_is_unfinished(local_ray, in_process, tmp_path, capsys):
    from mixgan.errors import RunInterrupted
    from mixgan.experiments.ray_sweep import RayExecutor
    with pytest.raises(RunInterrupted, match=r"resume with: mixgan sweep --resume .* --executor ray"):
        sweep(configs(tmp_path), max_runs=1, progress=False, log=StopAfterFirstRun(), executor=RayExecutor())
    folder = tmp_path / "00000-sweep"
    said = []
    resume_sweep(folder, progress=False, log=said.append, executor=RayExecutor())
    finished, planned = [int(w) for w in said[0].split()[1:4:2]]  # "sweep: F of P runs finished; ..."
    assert planned == 4 and 1 <= finished < 4, said[0]
    assert_same_runs(folder, in_process(max_runs=1))


def test_an_unreachable_address_is_one_line_and_exit_2(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    was = ray.is_initialized()
    assert main(["sweep", "--executor", "ray", "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "o"),
                 *TINY_ARGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mixgan: error: cannot reach a Ray cluster at 127.0.0.1:{port}") and err.count("\n") == 1
    assert not (tmp_path / "o").exists() and ray.is_initialized() == was  # nothing made, no Ray started


def test_a_task_no_node_could_run_is_refused_before_anything_is_made(local_ray, tmp_path, capsys):
    assert main(["sweep", "--executor", "ray", "--threads", "3", "--seeds", "0", "--out", str(tmp_path / "o"),
                 *TINY_ARGS]) == 2  # the module's Ray has 2 CPUs
    err = capsys.readouterr().err
    assert "asks Ray for 3 CPU" in err and "no node of the cluster has" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
