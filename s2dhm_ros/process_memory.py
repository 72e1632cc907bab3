"""This process's resident memory, now and at its peak, from Linux /proc (0 elsewhere): what the benchmarks report."""
from __future__ import annotations

import os


def resident_bytes() -> int:
    """Resident set size now (/proc/self/statm; it counts the file pages read through memory maps)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_resident_bytes() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux keeps that across exec, so a spawned child
    reports its parent's peak when the parent's was higher."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, ValueError, StopIteration):
        return 0
