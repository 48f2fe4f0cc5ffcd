"""Training batches of an image data set through ``torch.utils.data.DataLoader``: one batch per
training iteration, forever, so that iterations (not epochs) stay the unit of a run.

The indices of iteration ``i`` are drawn uniformly with replacement from a generator seeded by
the run's seed, its ``data`` stream and ``i`` (:class:`IterationSampler`). A batch therefore
depends on nothing but (seed, iteration): not on the number of worker processes, nor on where a
run resumed, so a resumed run draws the batches the uninterrupted one drew.

A run trained on several processes (DistributedDataParallel, ``shard=(rank, world_size)``) draws
from ``torch.utils.data.DistributedSampler`` instead (:class:`ShardBatches`): each epoch it deals
a permutation seeded by the run's seed and the epoch into one disjoint share per process, and a
process cuts its share into batches, epoch after epoch. Iteration ``i`` of rank ``r`` takes the
next ``size`` indices after the ``(i - 1) * size`` it has already used, so its batches depend on
(seed, world size, rank, iteration) alone, and a resumed run draws what the uninterrupted one drew.
"""
import signal

import torch

from mixgan.errors import UsageError
from mixgan.rng import STREAMS, derive_seed

# Worker processes that decode images beside a GPU. On a CPU the training threads need the cores
# themselves (docs/BENCHMARKS.md measures both), so CPU runs decode in the training process.
GPU_WORKERS = 4


def default_workers(device):
    """Loader worker processes for training on ``device``: 0 on a CPU, GPU_WORKERS beside a GPU."""
    return GPU_WORKERS if torch.device(device).type == "cuda" else 0


class IterationSampler(torch.utils.data.Sampler):
    """Index lists for ``DataLoader(batch_sampler=...)``: list ``k`` holds ``size`` indices of
    iteration ``start + k``, drawn with replacement from ``range(n)`` by that iteration's own
    generator. It never ends; the loop takes one list per iteration."""

    def __init__(self, n, size, seed, start=1):
        self.n, self.size, self.seed, self.start = n, size, seed, start

    def indices(self, iteration):
        g = torch.Generator().manual_seed(derive_seed(self.seed, STREAMS["data"], iteration))
        return torch.randint(self.n, (self.size,), generator=g)

    def __iter__(self):
        iteration = self.start
        while True:
            yield self.indices(iteration).tolist()
            iteration += 1


class ShardBatches(torch.utils.data.Sampler):
    """Index lists for ``DataLoader(batch_sampler=...)`` on one process of several: list ``k`` holds
    the ``size`` indices of iteration ``start + k`` from this process's share of each epoch of a
    ``DistributedSampler`` (shuffled, every index dealt once per epoch; a share shorter than
    ``size`` runs on into the next epoch). It never ends."""

    def __init__(self, n, size, seed, rank, world_size, start=1):
        self.size, self.start = size, start
        # drop_last: every process's share has the same length, so no index is dealt twice in an epoch
        self.shares = torch.utils.data.DistributedSampler(range(n), num_replicas=world_size, rank=rank,
                                                          shuffle=True, seed=derive_seed(seed, STREAMS["data"]),
                                                          drop_last=n >= world_size)

    def __iter__(self):
        share = len(self.shares)
        epoch, position = divmod((self.start - 1) * self.size, share)
        batch = []
        while True:
            self.shares.set_epoch(epoch)
            for i in list(self.shares)[position:]:
                batch.append(i)
                if len(batch) == self.size:
                    yield batch
                    batch = []
            epoch, position = epoch + 1, 0


class Failure:
    """A batch that could not be made: carries the one-line reason from a worker process to the
    training process (an exception raised in a worker reaches it wrapped in a traceback)."""

    def __init__(self, message):
        self.message = message


class Reporting(torch.utils.data.Dataset):
    """``dataset`` whose items that raise UsageError (a damaged file) come back as a Failure."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        try:
            return self.dataset[i]
        except UsageError as err:
            return Failure(str(err))


def collate(items):
    """Stack ``(image, label)`` items into ``(images [B, C, H, W], labels [B])``, or pass on the
    first Failure among them."""
    failed = next((item for item in items if isinstance(item, Failure)), None)
    if failed is not None:
        return failed
    return torch.utils.data.default_collate(items)


def ignore_interrupts(worker_id):
    """A worker's start: Ctrl-C reaches every process of the terminal, and the training process
    answers it (a checkpoint, then a clean stop; mixgan/runs/guard.py). A worker that died of it
    first would turn that stop into a DataLoader error, so workers leave it to the trainer, which
    shuts them down when it stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def training_batches(dataset, size, seed, start, device, workers=None, shard=None):
    """Real images [size, C, H, W] on ``device`` for iterations ``start``, ``start + 1``, ...
    ``shard``: ``(rank, world_size)`` of a run trained on several processes (:class:`ShardBatches`).

    ``dataset[i]`` is ``(image, label)``. Beside a GPU, batches are decoded by worker processes
    into pinned memory and copied without blocking, so decoding the next batch overlaps training
    on this one. A damaged file stops the run with UsageError (one line naming the file).
    """
    device = torch.device(device)
    workers = default_workers(device) if workers is None else workers
    batches = (IterationSampler(len(dataset), size, seed, start) if shard is None
               else ShardBatches(len(dataset), size, seed, *shard, start=start))
    loader = torch.utils.data.DataLoader(
        Reporting(dataset), batch_sampler=batches, num_workers=workers,
        collate_fn=collate, pin_memory=device.type == "cuda",
        # Seeds the workers' own random state; no transform draws from it, so batches do not depend on it.
        generator=torch.Generator().manual_seed(derive_seed(seed, STREAMS["data"])),
        persistent_workers=workers > 0, worker_init_fn=ignore_interrupts if workers > 0 else None)
    for batch in loader:
        if isinstance(batch, Failure):
            raise UsageError(batch.message)
        yield batch[0].to(device, non_blocking=True)
