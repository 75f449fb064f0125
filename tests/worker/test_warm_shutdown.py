"""A deploy's SIGTERM to a real Celery worker (the main process, a warm shutdown) mid-slice:
the worker exits on its own long before the slice would end, the run is handed back without
spending an attempt, and the next worker finishes it with every metric and layer row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.stack import Stack, assert_complete_results, make_settings, slow_recipe, wait_for
from worker.launcher import stop_worker

pytestmark = pytest.mark.slow
DONE = ("succeeded", "failed", "cancelled")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # one slice would train for 30 minutes: only the shutdown path can end it early
    stack = Stack(make_settings(tmp_path, worker_slice_minutes=30), tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def test_sigterm_of_a_real_worker_hands_the_run_back_without_an_attempt(stack: Stack) -> None:
    recipe = slow_recipe(epochs=16)
    worker = stack.start_worker()
    run_id = stack.submit(recipe)
    wait_for(lambda: stack.epochs_done(run_id, 0) >= 2, 120, "stage 0 to be under way")

    # SIGTERM to the main process only; SIGKILL of the group only if it does not exit by itself
    code = stop_worker(worker, timeout_s=60)
    assert code == 0, f"the worker did not end its warm shutdown by itself (exit {code})"
    handed_back = stack.run(run_id)
    assert handed_back["status"] in ("queued", "running"), handed_back
    assert handed_back["attempt_count"] == 1, (handed_back, stack.log_tail())
    assert stack.epochs_done(run_id, 0) < 16  # it stopped mid-stage, not at the slice's end

    stack.start_worker()
    run = stack.wait_status(run_id, DONE, 300)
    assert run["status"] == "succeeded", run
    assert run["attempt_count"] == 1, run  # the deploy spent none of the run's attempts
    assert_complete_results(stack, run_id, recipe)
