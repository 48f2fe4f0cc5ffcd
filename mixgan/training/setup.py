"""What every training run does before its first iteration, in one place for the single-run
loop (``loop.py``) and the batched engine (``batched.py``), so that the two cannot drift apart."""
import functools
import platform
import shlex
import sys
from pathlib import Path

import torch

from mixgan.config import RECORDED, config_label
from mixgan.data import data_label
from mixgan.errors import UsageError
from mixgan.nets import make_networks, spectral_norm_layers
from mixgan.rng import seeded_global_rng
from mixgan.runs import folders
from mixgan.training.cpu_memory import keep_freed_memory


def resolve_device(name):
    """``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda`` as a ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    return torch.device(name)


def prepare_device(name):
    """The device a run trains on, with the CPU's allocator set up for training on it."""
    device = resolve_device(name)
    if device.type == "cpu":
        keep_freed_memory()  # re-allocated activations without page faults (cpu_memory.py)
    return device


def build_models(config, event_shape=2):
    """G and D with weights drawn from the run's seed, leaving the global RNG as it was.
    ``event_shape``: the shape of one example (an int for points; [C, H, W] gives conv nets)."""
    with seeded_global_rng(config.seed):
        G, D = make_networks(event_shape, config)
        if config.spectral_norm:  # inside the seeded block: its power-iteration vectors are random
            spectral_norm_layers(D)
    return G, D


def adam_options(config, device, graph=False):
    """Adam as the paper uses it, fused: one kernel per update instead of about ten elementwise
    ones (on 2 CPU cores its step is over 10x cheaper than the for-loop version), the same
    update rule. ``graph``: keep the step counter on the device so the update can be captured
    in a CUDA graph."""
    options = dict(lr=config.lr, betas=(config.beta1, config.beta2), fused=device.type in ("cpu", "cuda"))
    if device.type == "cuda" and graph:
        options["capturable"] = True
    return options


def run_label(config):
    """The name part of a run folder: ``ring-mixup-s0``, or the variant's label where the options
    match one (``ring-standard-ns-s0``), as ``compare`` tables name it."""
    return f"{data_label(config.data)}-{config_label(config.to_dict())}-s{config.seed}"


def create_run(config, device, recorded=None):
    """A new numbered run folder with its ``config.json`` (the options, and under ``recorded`` how
    the run is made: see :func:`provenance`, plus ``recorded``) and an empty ``snapshots/``."""
    run = folders.create_run_folder(config.out, run_label(config))
    folders.atomic_write_json(run / "config.json", {**config.to_dict(), RECORDED: {**provenance(device),
                                                                                   **(recorded or {})}})
    (run / "snapshots").mkdir()
    return run


def provenance(device):
    """The device a run trains on (``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``), the versions of
    mixgan, torch and Python, and the command line that started it."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        mixgan_version = version("mixgan")
    except PackageNotFoundError:
        mixgan_version = "(not installed)"
    name = str(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        name = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return {"device": name, "mixgan": mixgan_version, "torch": torch.__version__,
            "python": platform.python_version(), "command": command_line()}


def command_line():
    """The command that started this process, as one would type it again."""
    first = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    program = "mixgan" if first in ("mixgan", "__main__.py") else sys.argv[0]
    return shlex.join([program, *sys.argv[1:]])


def snapshot_batch(config, data, generator, device):
    """The fixed noise and real points every snapshot of a run shows, drawn once, as in Figure 5."""
    fixed_z = torch.randn(config.snapshot_size, config.z_dim, generator=generator, device=device)
    fixed_real = data.sample(config.snapshot_size, generator).cpu().numpy()
    return fixed_z, fixed_real


def flushing_denormals(train_fn):
    """Run ``train_fn`` with denormal floats treated as zero on the CPU, then restore the
    caller's setting. A saturated discriminator (the ERM runs of Figure 5) fills gradients and
    Adam's moments with values below 1e-38, and x86 arithmetic on them is many times slower:
    with this, the figure5 ERM run on ring took 41 ms per iteration over its first 100 instead
    of 54, and the gap grows as D saturates. Values that small carry no information here."""
    @functools.wraps(train_fn)
    def wrapper(*args, **kwargs):
        was_on = (torch.tensor([1e-40]) * 1.0).item() == 0.0  # torch has no getter for the flag
        torch.set_flush_denormal(True)
        try:
            return train_fn(*args, **kwargs)
        finally:
            torch.set_flush_denormal(was_on)
    return wrapper


def warn(message):
    """A warning about a run, one line on stderr (a damaged checkpoint set aside, say)."""
    print(f"mixgan: warning: {message}", file=sys.stderr)
