"""Plain-text lines about a service run for `status`, `watch` and `submit --watch`: where it
is (only what is known), its place in the queue and ETA, and, once it ended, the time it
waited in the queue and trained, with its final metrics and the measured speed of its export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def stage_name(index: int) -> str:
    """ "pretrain" for -1, else "stage N"."""
    return "pretrain" if index == -1 else f"stage {index}"


def hms(seconds: float) -> str:
    """0:01:05 style."""
    return str(timedelta(seconds=round(max(seconds, 0.0))))


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00"))


def status_line(run: dict[str, Any]) -> str:
    """ "run 3 name: failed (stage 1, epoch 4, attempt 1, device cpu)" without unknown parts."""
    progress = run.get("progress") or {}
    parts = []
    if progress.get("stage") is not None:
        where = stage_name(int(progress["stage"]))
        if progress.get("epoch") is not None:
            where += f", epoch {progress['epoch']}"
        parts.append(where)
    elif run["status"] not in ("queued", "running"):
        parts.append("before its first epoch")
    parts.append(f"attempt {run['attempt_count']}")
    parts.append(f"device {run.get('device') or '-'}")
    status = (
        "cancelling"
        if run.get("cancel_requested") and run["status"] == "running"
        else run["status"]
    )
    return f"run {run['id']} {run['name']}: {status} ({', '.join(parts)})"


def queue_line(run: dict[str, Any]) -> str | None:
    """Queue position and ETA of an active run; None for finished runs."""
    if run["status"] not in ("queued", "running"):
        return None
    parts = []
    if run.get("queue_position"):
        parts.append(f"position {run['queue_position']} in the queue")
    if run.get("eta_s") is not None:
        parts.append(f"ETA {hms(run['eta_s'])} of training ({run['epoch_s']:.2f} s per epoch)")
    else:
        parts.append("ETA unknown until an epoch is measured")
    return "; ".join(parts)


def timing_line(run: dict[str, Any], now: datetime | None = None) -> str:
    """Queue time and training time, kept apart (a retried run counts from its first start)."""
    created, started, finished = (
        _time(run.get(k)) for k in ("created_at", "started_at", "finished_at")
    )
    if started is None:
        waited = ((finished or now or datetime.now(created.tzinfo)) - created) if created else None
        return "never started" + (f" (queued {hms(waited.total_seconds())})" if waited else "")
    end = finished or now or datetime.now(started.tzinfo)
    text = f"training {hms((end - started).total_seconds())}"
    if created is not None:
        text += f", queued {hms((started - created).total_seconds())} before it"
    return text


def metrics_line(run: dict[str, Any]) -> str | None:
    """Final top-1, Winograd sparsity and multiplication reduction (what is known)."""
    final = dict(run.get("final") or {})
    done = [s for s in run.get("stages", []) if s.get("accuracy") is not None]
    if done:
        final.setdefault("top1", done[-1]["accuracy"])
        if final.get("top1") is None:
            final["top1"] = done[-1]["accuracy"]
        if final.get("winograd_sparsity") is None:
            final["winograd_sparsity"] = done[-1].get("sparsity")
    if final.get("mult_reduction") is None:
        final["mult_reduction"] = run.get("mult_reduction")
    parts = []
    if final.get("top1") is not None:
        parts.append(f"top-1 {100 * final['top1']:.2f} %")
    if final.get("winograd_sparsity") is not None:
        parts.append(f"Winograd sparsity {100 * final['winograd_sparsity']:.1f} %")
    if final.get("mult_reduction") is not None:
        parts.append(f"{final['mult_reduction']:.2f}x fewer multiplications")
    return ", ".join(parts) or None


def speed_line(measurement: dict[str, Any]) -> str:
    """ "measured: 2.31x conv2d at batch 32, 2 threads (host, 2026-12-02)" of a stored speed."""
    day = str(measurement["measured_at"])[:10]
    return (
        f"measured: {measurement['speedup']:.2f}x conv2d at batch {measurement['batch']}, "
        f"{measurement['threads']} thread{'' if measurement['threads'] == 1 else 's'} "
        f"({measurement['machine']}, {day})"
    )
