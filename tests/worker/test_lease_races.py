"""Races on the runs table, forced with barriers on SQLite and PostgreSQL: two workers that both
read a queued run before either writes; a sweeper that reads an expired lease just before the
heartbeat renews it; and what a sweeper's give-up leaves in the stages table."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from server.db.base import utcnow
from server.db.migrate import upgrade_to_head
from server.db.models import Event, Run, Stage
from tests.server.conftest import create_pg_database, drop_pg_database
from tests.worker.stack import make_settings
from worker import leases
from worker.context import WorkerContext, get_context
from worker.sweeper import sweep

LEASE_S, MAX_ATTEMPTS, TIMEOUT_S = 30.0, 3, 20.0


@pytest.fixture(params=["sqlite", "postgresql"])
def ctx(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkerContext]:
    """A worker context on a fresh database of each backend (overrides the conftest's)."""
    url = None if request.param == "sqlite" else create_pg_database("wp_race")
    try:
        settings = make_settings(tmp_path, **({"database_url": url} if url else {}))
        upgrade_to_head(settings.resolved_database_url)
        monkeypatch.setattr("worker.context._contexts", {})
        context = get_context(settings)
        yield context
        context.session_factory.kw["bind"].dispose()
    finally:
        if url:
            drop_pg_database(url)


def engine_of(ctx: WorkerContext) -> Engine:
    return ctx.session_factory.kw["bind"]


class PauseBeforeUpdate:
    """Calls ``pause()`` before the first ``UPDATE runs`` of each thread named in ``threads``
    (after that thread's SELECT): the window in which another writer can interleave."""

    def __init__(self, engine: Engine, threads: set[str], pause: Callable[[], Any]) -> None:
        self.engine, self.threads, self.pause = engine, threads, pause
        self.paused: set[str] = set()
        event.listen(engine, "before_cursor_execute", self.hook)

    def hook(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        name = threading.current_thread().name
        first = name in self.threads and name not in self.paused
        if first and statement.lstrip().upper().startswith("UPDATE RUNS"):
            self.paused.add(name)
            self.pause()

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.hook)


def in_threads(targets: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each target in a thread of that name; returns {name: result or exception}."""
    results: dict[str, Any] = {}

    def wrap(name: str, target: Callable[[], Any]) -> None:
        try:
            results[name] = target()
        except Exception as exc:  # reported by the caller's assertion
            results[name] = exc

    threads = [threading.Thread(target=wrap, args=item, name=item[0]) for item in targets.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    return results


def claimer(ctx: WorkerContext, run_id: int, owner: str) -> Callable[[], Any]:
    def claim() -> Any:
        with ctx.session() as session:
            return leases.claim(session, run_id, owner, None, LEASE_S, MAX_ATTEMPTS)

    return claim


def run_row(ctx: WorkerContext, run_id: int) -> Run:
    with ctx.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def set_run(ctx: WorkerContext, run_id: int, **values: Any) -> None:
    with ctx.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(**values))
        session.commit()


def expire(ctx: WorkerContext, run_id: int, **values: Any) -> None:
    set_run(ctx, run_id, lease_expires_at=utcnow() - timedelta(seconds=5), **values)


@pytest.mark.parametrize("state", ["queued", "expired"])
def test_two_workers_that_both_read_the_run_first_never_both_win(
    ctx: WorkerContext, new_run: Callable[..., int], state: str
) -> None:
    run_id = new_run()
    if state == "expired":  # a takeover race: the first owner stopped beating
        assert claimer(ctx, run_id, "w0")() is not None
        expire(ctx, run_id)
    barrier = threading.Barrier(2, timeout=TIMEOUT_S)
    pause = PauseBeforeUpdate(engine_of(ctx), {"w1", "w2"}, barrier.wait)
    try:
        results = in_threads({"w1": claimer(ctx, run_id, "w1"), "w2": claimer(ctx, run_id, "w2")})
    finally:
        pause.remove()
    assert pause.paused == {"w1", "w2"}  # both read the row before either wrote
    errors = [r for r in results.values() if isinstance(r, Exception)]
    assert errors == []
    winners = [r for r in results.values() if r is not None]
    assert len(winners) == 1, results
    run = run_row(ctx, run_id)
    assert (run.status, run.lease_owner) == ("running", winners[0].owner)
    assert run.attempt_count == winners[0].attempt == (1 if state == "queued" else 2)


def claim_with_write_in_between(
    ctx: WorkerContext, run_id: int, write: Callable[[], None], token: str | None = None
) -> Any:
    """Claim (in this thread) with ``write`` committed after the claim's read, before its UPDATE."""
    pause = PauseBeforeUpdate(engine_of(ctx), {threading.current_thread().name}, write)
    try:
        with ctx.session() as session:
            return leases.claim(session, run_id, "w2", token, LEASE_S, MAX_ATTEMPTS)
    finally:
        pause.remove()
        assert pause.paused


def test_a_run_cancelled_while_being_claimed_is_not_started(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()

    def cancel() -> None:  # what the API's cancel does to a queued run
        set_run(ctx, run_id, status="cancelled")

    assert claim_with_write_in_between(ctx, run_id, cancel) is None
    run = run_row(ctx, run_id)
    assert (run.status, run.lease_owner, run.attempt_count) == ("cancelled", None, 0)


def test_a_handover_reissued_while_being_claimed_is_not_taken_with_the_old_token(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    assert claimer(ctx, run_id, "w1")() is not None
    with ctx.session() as session:
        old = leases.hand_over(session, run_id, "w1")
    new = leases.new_token()

    def reissue() -> None:  # the sweeper re-sends a lost handover with a fresh token
        set_run(ctx, run_id, lease_owner=leases.HANDOFF + new)

    assert claim_with_write_in_between(ctx, run_id, reissue, old) is None
    assert run_row(ctx, run_id).lease_owner == leases.HANDOFF + new


def test_a_claim_takes_only_its_own_run_and_records_the_device(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    first, second = new_run(), new_run()
    with ctx.session() as session:
        won = leases.claim(session, second, "w1", None, LEASE_S, MAX_ATTEMPTS, device="cuda:1")
    assert won is not None and won.run_id == second and won.owner == "w1"
    assert (run_row(ctx, second).status, run_row(ctx, second).device) == ("running", "cuda:1")
    untouched = run_row(ctx, first)
    assert (untouched.status, untouched.lease_owner, untouched.attempt_count) == ("queued", None, 0)
    assert untouched.device is None


def sweeper(ctx: WorkerContext, sent: list[int]) -> Callable[[], Any]:
    def once() -> Any:
        return sweep(ctx, lambda rid, token=None: sent.append(rid), lambda _r: "cpu", lambda _q: 1)

    return once


def test_a_heartbeat_between_the_sweepers_read_and_write_keeps_the_lease(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    assert claimer(ctx, run_id, "w1")() is not None
    expire(ctx, run_id)  # late, but the worker is alive: its next beat is on the way
    selected, renewed = threading.Event(), threading.Event()
    held: list[bool] = []

    def heartbeat() -> None:
        assert selected.wait(TIMEOUT_S)
        with ctx.session() as session:
            held.append(leases.renew(session, run_id, "w1", LEASE_S).held)
        renewed.set()

    def let_heartbeat_in() -> None:
        selected.set()
        assert renewed.wait(TIMEOUT_S)

    sent: list[int] = []
    pause = PauseBeforeUpdate(engine_of(ctx), {"sweeper"}, let_heartbeat_in)
    try:
        results = in_threads({"sweeper": sweeper(ctx, sent), "heartbeat": heartbeat})
    finally:
        pause.remove()
    assert pause.paused == {"sweeper"} and held == [True]
    assert not isinstance(results["sweeper"], Exception), results
    assert results["sweeper"].requeued == [] and results["sweeper"].failed == [] and sent == []
    run = run_row(ctx, run_id)
    assert (run.status, run.lease_owner, run.attempt_count) == ("running", "w1", 1)
    assert run.lease_expires_at is not None and run.lease_expires_at > utcnow()


def test_a_heartbeat_after_the_sweeper_requeued_finds_its_lease_lost(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id = new_run()
    assert claimer(ctx, run_id, "w1")() is not None
    expire(ctx, run_id)
    sent: list[int] = []
    assert sweeper(ctx, sent)().requeued == [run_id] and sent == [run_id]
    with ctx.session() as session:
        assert not leases.renew(session, run_id, "w1", LEASE_S).held
    run = run_row(ctx, run_id)
    assert run.lease_owner is not None and run.lease_owner.startswith(leases.HANDOFF)


def test_a_sweeper_give_up_fails_the_running_stage_and_skips_the_rest(
    ctx: WorkerContext, new_run: Callable[..., int]
) -> None:
    run_id, healthy = new_run(), new_run()
    assert claimer(ctx, run_id, "w1")() is not None
    assert claimer(ctx, healthy, "w2")() is not None
    with ctx.session() as session:  # pretraining finished, stage 0 was training when it died
        for rid in (run_id, healthy):
            for index, status in ((-1, "succeeded"), (0, "running")):
                session.execute(
                    update(Stage)
                    .where(Stage.run_id == rid, Stage.index == index)
                    .values(status=status)
                )
        session.commit()
    expire(ctx, run_id, attempt_count=MAX_ATTEMPTS)
    report = sweeper(ctx, [])()
    assert report.failed == [run_id]
    run = run_row(ctx, run_id)
    assert run.status == "failed" and run.lease_owner is None and run.finished_at is not None
    with ctx.session() as session:
        stages = session.execute(
            select(Stage.index, Stage.status, Stage.finished_at)
            .where(Stage.run_id == run_id)
            .order_by(Stage.index)
        ).all()
    assert [(i, s) for i, s, _ in stages] == [(-1, "succeeded"), (0, "failed"), (1, "skipped")]
    # the stage that ran stops with its finish time; the one that never started keeps none
    assert [finished is not None for i, _, finished in stages if i >= 0] == [True, False]
    with ctx.session() as session:  # the other run's stages are not touched
        others = session.scalars(
            select(Stage.status).where(Stage.run_id == healthy).order_by(Stage.index)
        ).all()
    assert others == ["succeeded", "running", "queued"]
    with ctx.session() as session:
        notices = session.execute(
            select(Event.run_id, Event.data).where(Event.kind == "run.finished")
        ).all()
    assert [(rid, data["status"]) for rid, data in notices] == [(run_id, "failed")]
