"""What the operating system gives a mixgan process: the CPUs it may use, the exit status of a
signal, and a helper process's tie to its parent. The bottom room: it imports nothing of mixgan,
so every room may use it (data's header readers as well as the training engines)."""
import ctypes
import math
import os
import signal
from pathlib import Path

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + signal number, as shells report it
PR_SET_PDEATHSIG = 1  # prctl option, from linux/prctl.h


def affinity_cpus():
    """The CPUs in this process's affinity mask (the host's count where there are no masks)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity masks
        return os.cpu_count() or 1


def cgroup_cpus(root="/sys/fs/cgroup"):
    """The CPU quota of this process's cgroup in CPUs (rounded up), or None when unlimited or unknown."""
    root = Path(root)
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        return None


def signal_when_parent_dies(sig):
    """Ask the kernel to send this process ``sig`` when its parent ends, however it ends (a SIGKILL
    included), so a helper process never outlives the command that started it. False where the
    platform has no such request (not Linux): there a helper ends when its work does."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig) == 0
    except (OSError, AttributeError):
        return False
