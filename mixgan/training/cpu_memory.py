"""Keep freed tensor memory in the process during CPU training, instead of handing it back to
the operating system after every operation.

torch's CPU tensors come from the C library's malloc. glibc serves a large request (from
128 KiB, a threshold it moves up as it goes, to 32 MiB at most) with a fresh ``mmap`` and
unmaps it when the tensor is freed, so the next tensor of that size starts as untouched
pages, each one a page fault on first write. A training step allocates and frees the same
activations and gradients over and over: 32 runs batched at width 64 (2 MiB activations) took
about 4,000 page faults per iteration. Serving every request under 32 MiB from the heap and
keeping up to 1 GiB of freed heap brings that to about none, and the iteration from about
40 to about 34 ms on the 2-core CPU (docs/BENCHMARKS.md).

The setting is process-wide and stays after training (glibc cannot be put back to its moving
threshold): the process keeps up to 1 GiB of freed memory for reuse instead of returning it.
Elsewhere than glibc (macOS, musl) this does nothing.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers, from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # glibc's own upper limit for the moving threshold
TRIM_THRESHOLD = 1 << 30

_done = []


def keep_freed_memory():
    """Apply the setting once per process; True where glibc accepted it."""
    if not _done:
        _done.append(_apply())
    return _done[0]


def _apply():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu_libc = libc.gnu_get_libc_version  # only glibc has mallopt with these meanings
    except (OSError, AttributeError):
        return False
    del gnu_libc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
