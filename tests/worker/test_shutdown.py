"""A worker's SIGTERM: the pool process checkpoints at the next step and hands the run back
without spending one of its attempts; the next slice finishes it."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from tests.worker.stack import TINY_RECIPE, expected_points
from tests.worker.test_runner import Queue, load, metrics
from worker import runner, shutdown
from worker.context import WorkerContext
from worker.heartbeat import SHUTDOWN, StopControl

STEPS_BEFORE_SIGTERM = 25


class SignalledMidSlice(StopControl):
    """Delivers the shutdown signal to this process after some training steps, as the
    worker's main process does on SIGTERM (the slice deadline is far away)."""

    def should_stop(self) -> bool:
        self.checks = getattr(self, "checks", 0) + 1
        if self.checks == STEPS_BEFORE_SIGTERM:
            os.kill(os.getpid(), shutdown.SHUTDOWN_SIGNAL)
        return super().should_stop()


def test_sigterm_checkpoints_and_hands_over_without_an_attempt(
    ctx: WorkerContext, new_run: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = signal.getsignal(shutdown.SHUTDOWN_SIGNAL)
    shutdown.install_child_handler()
    try:
        run_id = new_run()
        monkeypatch.setattr(runner, "StopControl", SignalledMidSlice)
        queue = Queue()
        queue(run_id)
        first = queue.drain(ctx, limit=1)
        assert first == ["slice done"]
        assert shutdown.shutdown_requested()
        stopped = load(ctx, run_id)
        assert stopped.status == "running" and stopped.attempt_count == 1
        assert (stopped.lease_owner or "").startswith("handoff:")
        assert len(queue.sent) == 1 and queue.sent[0]["token"]  # the next slice, enqueued
        assert any(stage.checkpoint for stage in stopped.stages) or stopped.progress_epoch
        shutdown.install_child_handler()  # a fresh worker process: no stop requested
        monkeypatch.setattr(runner, "StopControl", StopControl)
        assert queue.drain(ctx) == ["succeeded"]
    finally:
        signal.signal(shutdown.SHUTDOWN_SIGNAL, previous)
    done = load(ctx, run_id)
    assert done.status == "succeeded" and done.attempt_count == 1
    assert {(s, e) for s, e, _ in metrics(ctx, run_id)} == expected_points(TINY_RECIPE)


def test_the_stop_reason_is_shutdown() -> None:
    previous = signal.getsignal(shutdown.SHUTDOWN_SIGNAL)
    shutdown.install_child_handler()
    try:
        control = StopControl(deadline=float("inf"))
        assert not control.should_stop()
        os.kill(os.getpid(), shutdown.SHUTDOWN_SIGNAL)
        assert control.should_stop() and control.reason == SHUTDOWN
    finally:
        shutdown.install_child_handler()
        signal.signal(shutdown.SHUTDOWN_SIGNAL, previous)
