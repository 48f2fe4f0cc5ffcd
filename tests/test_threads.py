"""The thread policy: the CPUs a process may use, the work's size, other load, and --threads."""
import json

import pytest
import torch

from conftest import tiny_config
from mixgan.commands.main import main
from mixgan.config import make_config
from mixgan.training import threads


@pytest.fixture(autouse=True)
def fresh_policy(monkeypatch):
    """Each test starts from the policy's defaults and leaves torch's threads as it found them."""
    saved = torch.get_num_threads()
    monkeypatch.setattr(threads, "_requested", None)
    monkeypatch.setattr(threads, "_cap", None)
    monkeypatch.delenv("MIXGAN_THREADS", raising=False)
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize("files, expected", [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "150000 100000\n"}, 2),
    ({"cpu.max": "50000 100000\n"}, 1),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
    ({}, None),
    ({"cpu.max": "garbage"}, None),
])
def test_cgroup_quota_in_cpus(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert threads.cgroup_cpus(tmp_path) == expected


def test_usable_cpus_is_the_smallest_limit(monkeypatch):
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 8)
    monkeypatch.setattr(threads, "cgroup_cpus", lambda: 3)
    assert threads.usable_cpus() == 3
    threads.limit_to(2)
    assert threads.usable_cpus() == 2
    monkeypatch.setattr(threads, "cgroup_cpus", lambda: None)
    with threads.capped(1):
        assert threads.usable_cpus() == 1
    assert threads.usable_cpus() == 2  # the cap of the worker is back after the timing


@pytest.mark.parametrize("width, busy, usable, expected", [
    (32, 0, 4, 1),    # too small for threads, even idle
    (128, 0, 4, 1),
    (512, 0, 4, 4),   # large enough: every usable CPU when idle
    (512, 2, 4, 2),   # beside two busy processes: the CPUs left
    (512, 6, 4, 1),   # never fewer than one
    (512, 0, 1, 1),
])
def test_policy_from_size_cpus_and_load(monkeypatch, width, busy, usable, expected):
    monkeypatch.setattr(threads, "usable_cpus", lambda: usable)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: busy)
    chosen, reason = threads.choose(make_config(dict(data="ring", width=width, batch_size=128)))
    assert chosen == expected and reason


def test_batched_runs_share_their_work(monkeypatch):
    """Many small runs stacked make one large matrix product, where threads pay again."""
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 0)
    config = make_config(dict(data="ring", width=64, batch_size=128))
    assert threads.choose(config)[0] == 1 and threads.choose(config, runs=64)[0] == 2


def test_requested_threads_win_and_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 0)
    threads.request(1)
    from mixgan.training import train
    run = train(tiny_config(out=str(tmp_path), width=512, iterations=2, snapshots=(2,)), progress=False)
    recorded = json.loads((run / "config.json").read_text())["recorded"]
    assert recorded["threads"] == 1 and recorded["threads_reason"] == "as requested"
    assert torch.get_num_threads() == 1
    threads.request(None)
    run = train(tiny_config(out=str(tmp_path), width=8, iterations=2, snapshots=(2,)), progress=False)
    recorded = json.loads((run / "config.json").read_text())["recorded"]
    assert recorded["threads"] == 1 and "too small" in recorded["threads_reason"]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_requests_are_refused(value):
    from mixgan.errors import UsageError
    with pytest.raises(UsageError, match="--threads must be a whole number >= 1"):
        threads.request(value)


def test_compare_workers_stay_within_their_share(tmp_path, monkeypatch):
    monkeypatch.setattr("mixgan.experiments.compare.cpu_cores", lambda: 2)
    assert main(["compare", "--objectives", "standard", "--datasets", "ring", "--seeds", "0,1", "--jobs", "2",
                 "--iterations", "2", "--width", "256", "--depth", "1", "--batch-size", "128", "--snapshot-size", "16",
                 "--snapshots", "2", "--out", str(tmp_path), "--quiet"]) == 0
    folder = next(tmp_path.iterdir())
    recorded = [json.loads((p / "config.json").read_text())["recorded"] for p in folder.iterdir()
                if (p / "config.json").is_file()]
    # large enough for threads, so only the share of two CPUs between two workers holds them at one
    assert len(recorded) == 2 and all(r["threads"] == 1 and "1 usable CPU" in r["threads_reason"] for r in recorded)


def test_the_environment_requests_threads_and_resumed_runs_keep_theirs(tmp_path, monkeypatch):
    config = make_config(dict(data="ring", width=512, batch_size=128))
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 0)
    monkeypatch.setenv("MIXGAN_THREADS", "3")
    assert threads.choose(config) == (3, "as MIXGAN_THREADS requests")
    monkeypatch.setenv("MIXGAN_THREADS", "many")
    from mixgan.errors import UsageError
    with pytest.raises(UsageError, match="MIXGAN_THREADS must be a whole number >= 1"):
        threads.choose(config)
    monkeypatch.delenv("MIXGAN_THREADS")
    (tmp_path / "config.json").write_text(json.dumps({"recorded": {"threads": 1}}))
    assert threads.choose(config, recorded=threads.recorded_threads(tmp_path))[0] == 1  # not the 2 it would take
    assert threads.choose(config)[0] == 2
    (tmp_path / "config.json").write_text("{damaged")
    assert threads.recorded_threads(tmp_path) is None
