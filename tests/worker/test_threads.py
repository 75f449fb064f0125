"""A training process's thread pool is its share of the host's cores (configurable)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from server.config import Settings
from worker.threads import apply_thread_budget, training_threads, usable_cores


def test_threads_are_the_share_of_the_cores(tmp_path: Path) -> None:
    def settings(**fields: object) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path, **fields)  # type: ignore[arg-type]

    assert training_threads(settings(), cores=8) == 8
    assert training_threads(settings(worker_processes_per_host=2), cores=8) == 4
    assert training_threads(settings(worker_processes_per_host=2), cores=2) == 1
    assert training_threads(settings(worker_processes_per_host=4), cores=2) == 1  # at least 1
    assert training_threads(settings(worker_threads=3), cores=8) == 3
    assert training_threads(settings()) == usable_cores()


def test_the_budget_is_applied_to_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # restored after the test
    before = torch.get_num_threads()
    try:
        settings = Settings(_env_file=None, data_dir=tmp_path, worker_threads=1)
        assert apply_thread_budget(settings) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
