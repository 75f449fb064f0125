"""The sweeper's part for sensitivity scans on SQLite and PostgreSQL: a stale scan is planned
again and only its missing points are computed; a fresh one, or one whose queue still holds
messages, is left alone; after the runs' attempt limit it fails; a stale cancel request is
settled; final scans are never touched; of two sweepers racing for a scan one re-sends it; a
point merged twice is stored, and announced, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from server.db.base import utcnow
from server.db.migrate import upgrade_to_head
from server.db.models import Event, User
from server.db.sensitivity_models import SensitivityPoint, SensitivityScan
from server.sensitivity.schemas import ScanCreate
from server.sensitivity.service import create_scan
from tests.server.conftest import create_pg_database, drop_pg_database, recipe
from tests.worker.conftest import owned_project
from tests.worker.stack import make_settings
from winoprune.training.sensitivity import ScanPoint
from worker.context import WorkerContext, get_context
from worker.sensitivity_runner import _merge, plan, scan_points
from worker.sweeper import sweep

Task = tuple[int, str, list[int]]


@pytest.fixture(params=["sqlite", "postgresql"])
def ctx(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WorkerContext]:
    """A worker context on a fresh database of each backend (overrides the conftest's)."""
    url = None if request.param == "sqlite" else create_pg_database("wp_scan_sweep")
    try:
        settings = make_settings(tmp_path, **({"database_url": url} if url else {}))
        upgrade_to_head(settings.resolved_database_url)
        monkeypatch.setattr("worker.context._contexts", {})
        # the runner caches loaded scans by id, per process: other tests' scan 1 is not ours
        monkeypatch.setattr("worker.sensitivity_runner._loaded", {})
        context = get_context(settings)
        yield context
        context.session_factory.kw["bind"].dispose()
    finally:
        if url:
            drop_pg_database(url)


@pytest.fixture
def new_scan(ctx: WorkerContext) -> Callable[[], int]:
    """Create a queued scan of a tiny digits recipe (random weights, 2 grid points)."""
    user_id, project_id = owned_project(ctx, "sam", "scans")

    def make() -> int:
        body = ScanCreate(project=project_id, source="recipe", recipe=recipe(device="cpu"),
                          method="native-winograd", grid=[0.0, 0.6], val_size=64)  # fmt: skip
        with ctx.session() as session:
            user = session.get(User, user_id)
            assert user is not None
            return create_scan(session, user, body).id

    return make


def row(ctx: WorkerContext, scan_id: int) -> SensitivityScan:
    with ctx.session() as session:
        scan = session.get(SensitivityScan, scan_id)
        assert scan is not None
        return scan


def go_stale(ctx: WorkerContext, scan_id: int, **values: Any) -> None:
    """Move the scan's heartbeat (and last change) to twice the lease TTL ago."""
    past = utcnow() - timedelta(seconds=2 * ctx.settings.worker_lease_s)
    with ctx.session() as session:
        session.execute(
            update(SensitivityScan)
            .where(SensitivityScan.id == scan_id)
            .values(heartbeat_at=past, updated_at=past, **values)
        )
        session.commit()


def points(ctx: WorkerContext, scan_id: int) -> dict[tuple[str, int], int]:
    with ctx.session() as session:
        rows = session.scalars(select(SensitivityPoint).where(SensitivityPoint.scan_id == scan_id))
        return {(p.layer, p.grid_index): p.id for p in rows}


def notices(ctx: WorkerContext, scan_id: int) -> list[tuple[str, dict[str, Any]]]:
    with ctx.session() as session:
        rows = session.execute(
            select(Event.kind, Event.data).where(Event.scan_id == scan_id).order_by(Event.id)
        ).all()
    return [(kind, data) for kind, data in rows]


def sweeper(ctx: WorkerContext, sent: list[int], waiting: int = 0) -> Any:
    """One sweep (runs and scans) with a queue holding ``waiting`` messages."""

    def no_run(_run_id: int, token: str | None = None) -> None:
        raise AssertionError("no run to re-queue")

    return sweep(ctx, no_run, lambda _r: "cpu", lambda _q: waiting, enqueue_scan=sent.append)


def test_a_stale_scan_is_planned_again_and_only_its_missing_points_computed(
    ctx: WorkerContext, new_scan: Callable[[], int]
) -> None:
    stale, fresh = new_scan(), new_scan()
    tasks: list[Task] = []
    assert plan(ctx, stale, lambda *a: tasks.append(a)).startswith("sent")
    plan(ctx, fresh, lambda *a: None)
    scan_points(ctx, *tasks[0])  # one layer done, then its worker "dies"
    before = points(ctx, stale)
    assert len(before) == 2 and row(ctx, stale).attempt_count == 1
    sent: list[int] = []
    assert sweeper(ctx, sent).scans_requeued == []  # both beat just now

    go_stale(ctx, stale)
    assert sweeper(ctx, sent, waiting=3).scans_requeued == []  # its tasks may be waiting
    report = sweeper(ctx, sent)
    assert report.scans_requeued == [stale] and report.scans_failed == [] and sent == [stale]
    assert sweeper(ctx, sent).scans_requeued == []  # just re-sent: its heartbeat is new
    scan = row(ctx, stale)
    assert (scan.status, scan.attempt_count) == ("running", 2)
    assert row(ctx, fresh).attempt_count == 1  # the fresh scan is not touched
    kind, data = notices(ctx, stale)[-1]
    assert kind == "scan.updated" and "planned again" in data["message"]

    again: list[Task] = []
    plan(ctx, stale, lambda *a: again.append(a))  # what the re-sent message does
    assert {t[1] for t in again} == {t[1] for t in tasks[1:]}  # the missing layers only
    for task in again:
        scan_points(ctx, *task)
    after = points(ctx, stale)
    scan = row(ctx, stale)
    assert scan.status == "succeeded" and len(after) == scan.points_total
    assert {k: after[k] for k in before} == before  # kept, not recomputed
    assert notices(ctx, stale)[-1] == (
        "scan.finished",
        {"scan_id": stale, "status": "succeeded", "error": None},
    )


def test_out_of_attempts_fails_stale_cancels_settle_and_final_scans_stay(
    ctx: WorkerContext, new_scan: Callable[[], int]
) -> None:
    lost, asked, never_planned = new_scan(), new_scan(), new_scan()
    final = {status: new_scan() for status in ("succeeded", "failed", "cancelled")}
    limit = ctx.settings.worker_max_attempts
    go_stale(ctx, lost, status="running", attempt_count=limit)
    go_stale(ctx, asked, status="running", attempt_count=1, cancel_requested=True)
    go_stale(ctx, never_planned)  # queued, its message lost: attempt 0 -> 1
    for status, scan_id in final.items():
        go_stale(ctx, scan_id, status=status, attempt_count=limit)
    sent: list[int] = []
    report = sweeper(ctx, sent)
    assert sorted(report.scans_failed) == sorted([lost, asked])
    assert report.scans_requeued == sent == [never_planned]
    failed = row(ctx, lost)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.error is not None and "no heartbeat" in failed.error
    assert f"gave up after {limit} attempt(s)" in failed.error
    assert notices(ctx, lost)[-1][1]["status"] == "failed"
    cancelled = row(ctx, asked)
    assert cancelled.status == "cancelled" and "cancelled on request" in (cancelled.error or "")
    assert notices(ctx, asked)[-1] == (
        "scan.finished",
        {"scan_id": asked, "status": "cancelled", "error": cancelled.error},
    )
    assert (row(ctx, never_planned).status, row(ctx, never_planned).attempt_count) == ("queued", 1)
    for status, scan_id in final.items():
        scan = row(ctx, scan_id)
        assert (scan.status, scan.attempt_count, scan.error) == (status, limit, None)
        assert notices(ctx, scan_id) == []


def test_of_two_sweepers_racing_for_a_stale_scan_one_sends_it(
    ctx: WorkerContext, new_scan: Callable[[], int]
) -> None:
    scan_id = new_scan()
    plan(ctx, scan_id, lambda *a: None)
    go_stale(ctx, scan_id)
    first: list[int] = []
    second: list[int] = []

    def no_run(_run_id: int, token: str | None = None) -> None:
        raise AssertionError("no run to re-queue")

    def size_then_rival(_queue: str) -> int:
        # the first sweeper has read the stale scan; a second one sweeps before it writes
        assert sweeper(ctx, second).scans_requeued == [scan_id]
        return 0

    report = sweep(ctx, no_run, lambda _r: "cpu", size_then_rival, enqueue_scan=first.append)
    assert report.scans_requeued == [] and first == [] and second == [scan_id]
    assert row(ctx, scan_id).attempt_count == 2


def test_a_point_merged_twice_is_stored_once_with_one_notice(
    ctx: WorkerContext, new_scan: Callable[[], int]
) -> None:
    scan_id = new_scan()
    plan(ctx, scan_id, lambda *a: None)
    point = ScanPoint("features.conv0", 0, 0.0, 0.0, 0.5, 1.2, 100, 0)
    scan = row(ctx, scan_id)
    assert _merge(ctx, scan, point) is True
    assert _merge(ctx, scan, point) is False  # a concurrent task stored it: nothing written
    assert list(points(ctx, scan_id)) == [("features.conv0", 0)]
    assert [kind for kind, _ in notices(ctx, scan_id)] == ["scan.updated", "scan.points"]


def test_a_never_beaten_queued_scan_waits_for_the_queued_threshold_then_is_sent(
    ctx: WorkerContext, new_scan: Callable[[], int]
) -> None:
    waiting, lost = new_scan(), new_scan()  # queued, never beaten: heartbeat_at is NULL
    past = utcnow() - timedelta(
        seconds=2 * max(ctx.settings.worker_lease_s, ctx.settings.worker_requeue_after_s)
    )
    with ctx.session() as session:
        session.execute(
            update(SensitivityScan).where(SensitivityScan.id == lost).values(updated_at=past)
        )
        session.commit()
    assert row(ctx, lost).heartbeat_at is None and row(ctx, waiting).heartbeat_at is None
    sent: list[int] = []
    assert sweeper(ctx, sent).scans_requeued == [lost] and sent == [lost]
    assert (row(ctx, waiting).status, row(ctx, waiting).attempt_count) == ("queued", 0)


@pytest.mark.parametrize("busy_queue, resent", [("cpu", False), ("gpu", True)])
def test_the_sweeper_looks_at_the_scans_own_queue(
    ctx: WorkerContext, new_scan: Callable[[], int], busy_queue: str, resent: bool
) -> None:
    scan_id, other = new_scan(), new_scan()  # cpu recipes: their tasks go to the cpu queue
    plan(ctx, scan_id, lambda *a: None)
    go_stale(ctx, scan_id)
    gpu_recipe = {**row(ctx, other).recipe, "device": "auto"}  # the other scan: the gpu queue
    go_stale(ctx, other, recipe=gpu_recipe)
    other_resent = busy_queue == "cpu"  # a busy queue of one scan holds back no other scan
    asked: list[str] = []

    def queue_of(recipe: dict[str, Any]) -> str:
        return "cpu" if recipe.get("device") == "cpu" else "gpu"

    def size(queue: str) -> int:
        asked.append(queue)
        return 1 if queue == busy_queue else 0  # one waiting message is enough to wait

    def no_run(_run_id: int, token: str | None = None) -> None:
        raise AssertionError("no run to re-queue")

    sent: list[int] = []
    report = sweep(ctx, no_run, queue_of, size, enqueue_scan=sent.append)
    assert "cpu" in asked
    expected = [i for i, yes in ((scan_id, resent), (other, other_resent)) if yes]
    assert report.scans_requeued == sent == expected


def test_of_two_sweepers_giving_up_on_a_scan_one_reports_it(
    ctx: WorkerContext, new_scan: Callable[[], int]
) -> None:
    scan_id = new_scan()
    go_stale(ctx, scan_id, status="running", attempt_count=ctx.settings.worker_max_attempts)

    def no_run(_run_id: int, token: str | None = None) -> None:
        raise AssertionError("no run to re-queue")

    def size_then_rival(_queue: str) -> int:
        assert sweeper(ctx, []).scans_failed == [scan_id]  # the rival settles it first
        return 0

    report = sweep(ctx, no_run, lambda _r: "cpu", size_then_rival, enqueue_scan=[].append)
    assert report.scans_failed == [] and row(ctx, scan_id).status == "failed"
    assert [kind for kind, _ in notices(ctx, scan_id)] == ["scan.finished"]
