"""Refuse runs that cannot fit in memory before anything is allocated or written.

Each option has its own upper limit in ``config.LIMITS``, but limits multiply: a batch size
and a number of discriminator steps that are each fine can together ask for terabytes.
``estimate_bytes`` is the one estimate of a run's memory, deliberately generous: the training
loop's peak use (weights, gradients, Adam moments, the fakes drawn for all D steps of an
iteration, the activations kept for backward, the snapshot batch; with ``ema``, the copy of G's
weights that is averaged and the snapshot batch it generates). ``check_memory`` compares it
with the memory the device has free and raises UsageError with the numbers; the sweep sizes its
batches with it (a run in a batch needs what it needs alone).
"""
import os

import torch

from mixgan.errors import UsageError

FLOAT_BYTES = 4
HEADROOM = 2.0  # allocator slack, temporary copies, the framework's own use


def mlp_parameters(n_in, n_out, width, depth):
    return n_in * width + width + (depth - 1) * (width * width + width) + width * n_out + n_out


def estimate_bytes(config, event_shape=2, d_batches=2):
    """Peak bytes of one training iteration of a run whose examples have ``event_shape`` (an int
    for points, [C, H, W] for images); ``d_batches``: real batches per D step, at most 2."""
    if not isinstance(event_shape, int):
        return _conv_bytes(config, event_shape, d_batches)
    c, event_dim = config, event_shape
    g_params = mlp_parameters(c.z_dim, event_dim, c.width, c.depth)
    params = g_params + mlp_parameters(event_dim, 1, c.width, c.depth)
    weights = 4 * params + (g_params if c.ema else 0)  # weights, gradients, two Adam moments; the average
    chunk = d_batches * c.batch_size
    fakes = c.d_steps * chunk * (c.z_dim + 2 * c.width + 2 * event_dim)  # one no-grad G pass for all D steps
    d_step = 2 * chunk * (2 * c.width * c.depth + event_dim + 1) * 2  # activations kept for backward, and grads
    g_step = c.batch_size * (2 * c.width * c.depth + c.z_dim + event_dim) * 4  # through G and frozen D
    snapshot = c.snapshot_size * (c.z_dim + 2 * c.width + 2 * event_dim) * (2 if c.ema else 1)
    return int(HEADROOM * FLOAT_BYTES * (weights + fakes + d_step + g_step + snapshot))


def _conv_bytes(config, event_shape, d_batches):
    """Peak bytes for the convolutional nets on images [C, H, W]: a generous bound that counts,
    per image, its pixels and four full-resolution feature maps of ``width`` channels (the
    DCGAN stacks halve the resolution as they double the channels, so their maps sum to less)."""
    c = config
    C, H, W = event_shape
    per_image = C * H * W + 4 * c.width * H * W
    g_params = 16 * (8 * c.width) ** 2 * 4 + c.z_dim * 16 * 8 * c.width  # its deepest layers
    params = 2 * g_params  # both nets
    chunk = d_batches * c.batch_size
    snapshots = 2 if c.ema else 1  # G's and the average's
    floats = (4 * params + (g_params if c.ema else 0) + c.d_steps * chunk * per_image + 4 * chunk * per_image
              + 4 * c.batch_size * per_image + snapshots * c.snapshot_size * per_image)
    return int(HEADROOM * FLOAT_BYTES * floats)


def available_bytes(device):
    """Free memory on ``device`` (for the CPU: MemAvailable, else physical memory), or None if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config, device, event_shape=2):
    """``event_shape``: 2 for points, [C, H, W] for images (convolutional nets)."""
    need = estimate_bytes(config, event_shape)
    have = available_bytes(device)
    if have is not None and need > have:
        raise UsageError(f"this run needs about {_gib(need)} of memory on {torch.device(device).type} "
                         f"(width {config.width}, depth {config.depth}, batch size {config.batch_size}, "
                         f"d-steps {config.d_steps}) but only {_gib(have)} is free; use smaller values")


def _gib(n):
    return f"{n / 2**30:.1f} GiB"


CPU_BATCH_BYTES = 2 << 30  # what one batch of runs may use on a CPU; on CUDA: half the free memory


def batch_budget(device):
    """Bytes a batch of runs may use on ``device`` (see CPU_BATCH_BYTES)."""
    device = torch.device(device)
    if device.type == "cuda":
        return available_bytes(device) // 2
    return CPU_BATCH_BYTES
