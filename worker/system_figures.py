"""Per-run system figures measured by the worker process that trains it: the device, CPU use,
resident memory, GPU memory (and use where the driver reports it) and the time an epoch takes.

``SystemSampler.sample`` is called at every epoch report; the result is stored in
``runs.system`` (the run page shows it, the queue's ETA uses ``epoch_s``).
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

EPOCH_WINDOW = 20  # epoch times averaged over the last this many epochs


def resident_mib() -> float:
    """The process's resident memory in MiB (/proc on Linux, else the peak from getrusage)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def gpu_figures(device: str) -> dict[str, Any]:
    """GPU memory in use (MiB) and utilisation (%; needs the NVML bindings) on a CUDA device."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return {}
    figures: dict[str, Any] = {"gpu_mem_mib": round(torch.cuda.memory_allocated() / 2**20, 1)}
    with contextlib.suppress(Exception):  # no pynvml / driver query: leave it out, not a guess
        figures["gpu_util_pct"] = float(torch.cuda.utilization())
    return figures


class SystemSampler:
    """Measures between epoch reports: wall time per epoch and the CPU time the process used."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.last: tuple[int, float, float] | None = None  # (stage, wall, cpu) at the last report
        self.epoch_times: list[float] = []

    def sample(
        self, stage: int, now: float | None = None, cpu: float | None = None
    ) -> dict[str, Any]:
        """The figures at an epoch report of ``stage`` (clock values injectable for tests)."""
        wall = time.monotonic() if now is None else now
        used = time.process_time() if cpu is None else cpu
        figures: dict[str, Any] = {"device": self.device, "rss_mib": round(resident_mib(), 1)}
        if self.last is not None and self.last[0] == stage and wall > self.last[1]:
            elapsed = wall - self.last[1]
            self.epoch_times = [*self.epoch_times, elapsed][-EPOCH_WINDOW:]
            # CPU use as a share of one core (above 100 with several training threads)
            figures["cpu_pct"] = round(100 * (used - self.last[2]) / elapsed, 1)
            figures["last_epoch_s"] = round(elapsed, 3)
        if self.epoch_times:
            figures["epoch_s"] = round(sum(self.epoch_times) / len(self.epoch_times), 3)
        self.last = (stage, wall, used)
        return figures | gpu_figures(self.device)
