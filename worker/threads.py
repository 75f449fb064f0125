"""Each training process's CPU thread pool: its share of the cores, not all of them.

PyTorch starts one intra-op thread per core in every process; two workers on one host then
run 2 x cores threads that take turns on the cores (measured 4.6x slower than one worker on
two cores). ``WINOPRUNE_WORKER_THREADS`` sets the pool size; by default it is the cores this
process may use divided by ``WINOPRUNE_WORKER_PROCESSES_PER_HOST`` (the training processes that
share the host, 1 by default), at least 1.
"""

from __future__ import annotations

import logging
import os

import torch

from server.config import Settings

logger = logging.getLogger("winoprune.worker")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset limit)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def training_threads(settings: Settings, cores: int | None = None) -> int:
    """The thread-pool size of one training process (see the module docstring)."""
    if settings.worker_threads is not None:
        return settings.worker_threads
    share = (usable_cores() if cores is None else cores) // settings.worker_processes_per_host
    return max(1, share)


def apply_thread_budget(settings: Settings) -> int:
    """Size torch's intra-op pool (and OpenMP's, for libraries started later) to the share."""
    threads = training_threads(settings)
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    logger.info("training threads: %d", threads)
    return threads
