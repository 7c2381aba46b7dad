"""What the CPU is: its model name, usable cores and the flags that decide how fast the model runs.

Every speed figure the project reports is printed beside these, and the cached backend choice is
keyed by the model name, because the same code is 4x faster or slower from one machine to the next.
"""

from __future__ import annotations

import os
import platform

# flags that change which runtime or precision is fastest for a transformer encoder
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")


def _cpuinfo_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def speed_flags() -> list[str]:
    """The flags of SPEED_FLAGS this CPU advertises (empty where /proc/cpuinfo is not readable)."""
    present = set(_cpuinfo_field("flags").split())
    return [flag for flag in SPEED_FLAGS if flag in present]


def cores() -> int:
    """Cores this process may run on (its affinity, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def describe() -> str:
    """One line for reports: model name, cores, speed flags."""
    flags = " ".join(speed_flags()) or "none of " + " ".join(SPEED_FLAGS)
    return f"{cpu_model()}, {cores()} cores, flags: {flags}"
