"""CPU training keeps freed tensor memory in the process (mixgan/training/cpu_memory.py)."""
import platform
import subprocess
import sys

import pytest

from mixgan.training import cpu_memory

# What a training step does to memory: hold a few 2 MiB tensors (activations), free them all,
# again and again. Prints the page faults taken over 50 such steps.
PROBE = """
import ctypes, resource, sys, torch
from mixgan.training import cpu_memory
if sys.argv[1] == "on":
    assert cpu_memory.keep_freed_memory()
else:  # glibc's starting threshold, held still: its moving threshold depends on what ran before
    ctypes.CDLL("libc.so.6").mallopt(cpu_memory.M_MMAP_THRESHOLD, 128 << 10)

def step():
    held = [torch.empty(1 << 19).fill_(1.0) for _ in range(4)]
    del held

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting exists only with glibc's malloc")
def test_reallocated_tensors_take_no_page_faults():
    """Without the setting (glibc's 128 KiB starting threshold) every 2 MiB tensor is a fresh
    mmap, unmapped when freed and faulted in again on the next step (2,048 pages a step); with
    it the memory is reused. glibc moves its threshold up after some frees, which is why the
    probe holds it at its starting value: how far it has moved depends on what ran before."""
    off, on = page_faults("off"), page_faults("on")
    assert off > 20_000  # measured: about 100,000 without the setting, about 1,000 with it
    assert on < off / 20


def test_applied_once_and_answers_the_same():
    first = cpu_memory.keep_freed_memory()
    assert cpu_memory.keep_freed_memory() is first
