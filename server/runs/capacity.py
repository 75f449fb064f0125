"""Can a live worker run this recipe? Workers advertise their devices and data folders (the
``workers`` table, renewed by each worker's main process); a recipe that names a data folder or
a device no live worker has is refused at submit time, by field. With no live worker registered
(tests, a service whose workers have not started yet) nothing is checked: the worker's own
checks still fail such a run with the message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.base import utcnow
from server.db.models import WorkerInfo
from server.errors import field_errors
from winoprune.recipes import Recipe

LISTED_DEPTH = 2  # workers list the folders under each data root this deep


def advertise_every_s(settings: Settings) -> float:
    """How often a worker renews its row."""
    return max(5 * settings.worker_heartbeat_s, 1.0)


def live_after(settings: Settings) -> timedelta:
    """A row older than this is a worker that is gone."""
    return timedelta(seconds=3 * advertise_every_s(settings))


@dataclass(frozen=True)
class LiveWorker:
    """What a live worker offers."""

    name: str
    devices: list[str]
    data_roots: list[str]
    datasets: list[str]


def live_workers(session: Session, settings: Settings) -> list[LiveWorker]:
    """Workers seen within the liveness window."""
    rows = session.scalars(
        select(WorkerInfo).where(WorkerInfo.seen_at >= utcnow() - live_after(settings))
    )
    return [LiveWorker(r.name, r.devices, r.data_roots, r.datasets) for r in rows]


def has_data(worker: LiveWorker, root: str | None) -> bool:
    """``root`` is a folder the worker listed, or lies below one it listed at full depth."""
    if root is None:
        return True
    path = PurePosixPath(root)
    if str(path) in worker.datasets:
        return True
    for base in map(PurePosixPath, worker.data_roots):
        if base in path.parents:
            depth = len(path.relative_to(base).parts)
            if depth > LISTED_DEPTH:
                listed = base.joinpath(*path.relative_to(base).parts[:LISTED_DEPTH])
                return str(listed) in worker.datasets
    return False


def has_device(worker: LiveWorker, requested: str) -> bool:
    """``requested`` (auto, cpu, cuda, cuda:N) is one the worker has."""
    if requested in ("auto", "cpu"):
        return True
    cuda = [d.split(" ", 1)[0] for d in worker.devices if d.startswith("cuda")]
    return bool(cuda) if requested == "cuda" else requested in cuda


def check_runnable(
    session: Session, settings: Settings, recipe: Recipe, loc: tuple[str, ...]
) -> None:
    """422 naming ``data.root`` or ``device`` when no live worker could run ``recipe``."""
    workers = live_workers(session, settings)
    if not workers:
        return
    with_data = [w for w in workers if has_data(w, recipe.data.root)]
    if not with_data:
        roots = sorted({r for w in workers for r in w.data_roots}) or ["none"]
        msg = (
            f"no live worker has the data folder {recipe.data.root} "
            f"({len(workers)} live worker(s); their data roots: {', '.join(roots)})"
        )
        raise field_errors([{"loc": "data.root", "msg": msg, "type": "unavailable"}], loc)
    if not any(has_device(w, recipe.device) for w in with_data):
        devices = sorted({d for w in with_data for d in w.devices})
        msg = (
            f"no live worker with this data has device {recipe.device!r} "
            f"(their devices: {', '.join(devices)})"
        )
        raise field_errors([{"loc": "device", "msg": msg, "type": "unavailable"}], loc)
