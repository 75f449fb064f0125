"""`winoprune watch` and `submit --watch`: one progress bar per stage, fed by the run's
server-sent events (polling the change feed when the stream fails), riding out a restart of
the service with exponential back-off."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from winoprune.cli import run_summary as summary
from winoprune.cli.client import TERMINAL_STATES, Client, ClientError
from winoprune.cli.remote_base import _fail, console


class StageBars:
    """One progress bar per stage: epoch 0 (after pruning) plus every training epoch."""

    def __init__(self, progress: Progress, run: dict[str, Any]) -> None:
        recipe = run["recipe"]
        epochs = {i: int(s["epochs"]) for i, s in enumerate(recipe.get("stages", []))}
        if recipe.get("pretrain"):
            epochs[-1] = int(recipe["pretrain"]["epochs"])
        self.progress = progress
        self.tasks = {
            stage["index"]: progress.add_task(
                f"stage {stage['index']:>2} {stage['type']}",
                total=epochs.get(stage["index"], 0) + 1,
                info="",
                start=False,  # the clock runs from the stage's first epoch, not while queued
            )
            for stage in run["stages"]
        }
        for stage in run["stages"]:
            if stage["status"] == "succeeded":
                self.complete(stage["index"])
        where = run.get("progress") or {}
        if where.get("stage") is not None and where.get("epoch") is not None:
            self.at(where["stage"], where["epoch"])

    def at(self, stage: int, epoch: int, info: str = "") -> None:
        """Epoch ``epoch`` of ``stage`` is done."""
        if stage in self.tasks:
            self.progress.start_task(self.tasks[stage])
            self.progress.update(self.tasks[stage], completed=epoch + 1, info=info)

    def complete(self, stage: int) -> None:
        """The stage is finished."""
        if stage in self.tasks:
            task = self.tasks[stage]
            self.progress.update(task, completed=self.progress.tasks[task].total)

    def apply(self, event: dict[str, Any]) -> str | None:
        """Move the bars for one change notice; returns the run's final status when it ended."""
        data, kind = event.get("data") or {}, event.get("kind")
        if kind == "run.progress" and data.get("epoch") is not None:
            info = _progress_info(data)
            self.at(int(data["stage"]), int(data["epoch"]), info)
        elif kind == "stage.finished" and data.get("status") == "succeeded":
            self.complete(int(data["stage"]))
        elif kind == "run.started":
            self.progress.console.print("[dim]started on a worker[/dim]")
        elif kind == "log" and data.get("message"):
            self.progress.console.print(f"[dim]{data['message']}[/dim]")
        elif kind in ("run.finished", "run.cancelled") and data.get("status") in TERMINAL_STATES:
            return str(data["status"])
        return None


def _progress_info(data: dict[str, Any]) -> str:
    parts = []
    if data.get("top1") is not None:
        parts.append(f"top-1 {data['top1']:.3f}")
    if data.get("winograd_sparsity") is not None:
        parts.append(f"sparsity {data['winograd_sparsity']:.3f}")
    return ", ".join(parts)


POLL_S = 2.0
SSE_ATTEMPTS = 3  # stream failures before falling back to polling
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # back-off while the service is unreachable
TRANSIENT = frozenset({0, 502, 503, 504})  # unreachable, or a proxy/database outage
FINAL_RETRY_S = 300.0  # how long the last status read may wait for the service


def _with_retry(call: Callable[[], Any], deadline: float | None) -> Any:
    """``call()``, retried with exponential back-off while the service is unreachable (a
    restart, a database outage); other errors, and the deadline, end the retries."""
    delay = RETRY_FIRST_S
    while True:
        try:
            return call()
        except ClientError as exc:
            late = deadline is not None and time.monotonic() + delay >= deadline
            if exc.status not in TRANSIENT or late:
                raise
            console.print(f"[yellow]{exc.message}; retrying in {delay:.0f} s[/yellow]")
            time.sleep(delay)
            delay = min(2 * delay, RETRY_MAX_S)


def watch_run(client: Client, run_id: int, timeout: float | None) -> None:
    """Follow the run until it ends or ``timeout`` seconds pass; exit 1 unless it succeeded."""
    try:
        run = client.run(run_id)
        cursor = int(client.changes(run_id, 0)["cursor"])
    except ClientError as exc:
        _fail(exc.message)
    final = run["status"] if run["status"] in TERMINAL_STATES else None
    deadline = None if timeout is None else time.monotonic() + timeout
    queued = summary.queue_line(run)
    if queued:
        console.print(queued, highlight=False)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console) as progress:
        bars = StageBars(progress, run)
        if final is None:
            final = _follow(client, run_id, cursor, bars, deadline)
    try:
        run = _with_retry(partial(client.run, run_id), time.monotonic() + FINAL_RETRY_S)
    except ClientError as exc:
        _fail(exc.message)
    error = f" ({run['error']})" if run.get("error") else ""
    console.print(f"run {run_id}: {final or run['status']}{error}")
    for line in (summary.timing_line(run), summary.metrics_line(run)):
        if line:
            console.print(line, highlight=False)
    if final is None:
        _fail(f"timeout: run {run_id} is still {run['status']} after {timeout} s")
    if final != "succeeded":
        raise typer.Exit(1)


def _follow(
    client: Client, run_id: int, cursor: int, bars: StageBars, deadline: float | None
) -> str | None:
    """Apply change notices until the run ends (its status) or the deadline passes (None)."""
    failures = 0
    while deadline is None or time.monotonic() < deadline:
        if failures < SSE_ATTEMPTS:
            try:
                for event in client.events(run_id, cursor):
                    if event is not None:
                        cursor = max(cursor, int(event["id"]))
                        final = bars.apply(event)
                        if final is not None:
                            return final
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
            except ClientError:
                pass
            failures += 1  # the stream ended or broke: reconnect from the cursor
            continue
        try:
            batch = _with_retry(partial(client.changes, run_id, cursor), deadline)
        except ClientError as exc:
            if exc.status in TRANSIENT:
                return None  # still unreachable at the deadline
            _fail(exc.message)
        for event in batch["events"]:
            final = bars.apply(event)
            if final is not None:
                return final
        cursor = int(batch["cursor"])
        time.sleep(POLL_S)
    return None
