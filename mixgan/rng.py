"""Seeding in one place: every random number a run draws comes from a named stream of its seed.

Each stream is its own ``torch.Generator``, derived from the seed and the stream's number with
numpy's SeedSequence, so streams never overlap and, for example, the snapshot noise is the same
for every objective at one seed. Nothing in mixgan draws from torch's global generator except
weight initialisation, which runs inside :func:`seeded_global_rng`.
"""
import contextlib

import numpy as np
import torch

# The streams of one run. Measuring uses a number far from these (METRICS_STREAM), so a run
# trains identically with or without its snapshot metrics.
STREAMS = {"weights": 0, "snapshot": 1, "data": 2, "noise": 3, "objective": 4}
METRICS_STREAM = 1001


def derive_seed(*entropy):
    """A 63-bit seed from any sequence of non-negative integers (SeedSequence mixing)."""
    state = np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0]
    return int(state) & (2**63 - 1)


def stream_generator(seed, stream, device="cpu"):
    """The ``torch.Generator`` of stream number ``stream`` of a run seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, stream))


def run_generators(seed, device):
    """Every stream a training loop draws from (all but ``weights``), by name."""
    return {name: stream_generator(seed, number, device) for name, number in STREAMS.items() if name != "weights"}


# Streams that differ between the processes of one run trained with DistributedDataParallel: each
# process generates its own fakes and draws its own λ. The others (snapshot) are the same on all.
PER_RANK_STREAMS = ("noise", "objective")


def rank_generators(seed, rank, device):
    """The streams of process ``rank`` of a run trained on several processes: as
    :func:`run_generators`, except that ``noise`` and ``objective`` come from (seed, stream, rank),
    so no two processes draw the same noise or λ."""
    gens = run_generators(seed, device)
    for name in PER_RANK_STREAMS:
        gens[name] = torch.Generator(device=device).manual_seed(derive_seed(seed, STREAMS[name], rank))
    return gens


def metrics_generator(seed, iteration):
    """A CPU generator for one snapshot's measurements, from the run's seed and the iteration."""
    return torch.Generator().manual_seed(derive_seed(seed, METRICS_STREAM, iteration))


@contextlib.contextmanager
def seeded_global_rng(seed):
    """Run the block with torch's global CPU generator seeded from the run's ``weights`` stream
    (``nn.Module`` initialisation draws from it), then put the caller's generator state back."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, STREAMS["weights"]))
        yield
