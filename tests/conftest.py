import os
import signal

import pytest
import torch
from hypothesis import settings

# One thread for every run the suite trains, here and in the processes it starts: the thread policy
# would follow the machine's load, and a thread count changes float rounding, so same-seed
# comparisons would depend on what else runs. tests/test_threads.py tests the policy itself.
os.environ["MIXGAN_THREADS"] = "1"

# A shell that starts the suite in the background (`make test &`) hands it SIGINT ignored, and
# every process the tests start would inherit that. The suite runs as if started in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (make test-ray runs them)")


def pytest_collection_modifyitems(config, items):
    """Tests marked slow stay out of the default suite, which must finish in minutes on two cores."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

# Property tests draw their examples from a fixed seed, so a run of the suite is repeatable.
settings.register_profile("mixgan", derandomize=True)
settings.load_profile("mixgan")


class FirstCoordinate(torch.nn.Module):
    """A hand-checkable discriminator: the logit is the first coordinate of the point."""

    event_ndim = 1

    def forward(self, x):
        return x[..., 0]


@pytest.fixture
def first_coordinate():
    return FirstCoordinate()


def tiny_config(**overrides):
    from mixgan import TrainConfig
    base = dict(iterations=12, width=16, depth=2, batch_size=32, snapshot_size=64, log_every=4, seed=3)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture
def one_thread():
    """One torch thread for the test; the caller's setting is put back after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_refused(capsys, argv, words, out):
    """``mixgan argv`` exits 2 with one line on stderr holding ``words``, no traceback, and
    ``out`` (the folder runs would go to) never made."""
    from mixgan.commands.main import main
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def crash_at_generator_step(monkeypatch, objective, step):
    """Make ``objective``'s generator loss raise RuntimeError("simulated crash") at its ``step``-th call
    (a crash in the middle of a run, after some checkpoints). ``monkeypatch.undo()`` puts it back."""
    from mixgan import objectives
    build = objectives.OBJECTIVES[objective]
    calls = {"n": 0}

    def crashing(c):
        obj = build(c)
        inner = obj.g_loss

        def g_loss(D, fake):
            calls["n"] += 1
            if calls["n"] == step:
                raise RuntimeError("simulated crash")
            return inner(D, fake)
        obj.g_loss = g_loss
        return obj
    monkeypatch.setitem(objectives.OBJECTIVES, objective, crashing)
