"""A worker advertises what it can run: its devices and the data folders under its data roots
(a row in ``workers``, renewed every few seconds by the worker's main process and removed at
shutdown). The service refuses recipes no live worker could run (server.runs.capacity)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import torch
from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.base import utcnow
from server.db.models import WorkerInfo
from server.runs.capacity import LISTED_DEPTH, advertise_every_s
from worker.data_roots import allowed_data_roots

logger = logging.getLogger("winoprune.worker.capabilities")
MAX_LISTED = 1000  # folders per worker row


def devices() -> list[str]:
    """ "cpu" and every visible CUDA device as "cuda:N <name>"."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [
            f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
        ]
    return found


def data_folders(settings: Settings) -> tuple[list[str], list[str]]:
    """(existing data roots, folders under them up to LISTED_DEPTH deep), never the artifacts."""
    artifacts = Path(os.path.realpath(settings.artifacts_dir))
    roots = [r for r in allowed_data_roots(settings) if r.is_dir()]
    folders: list[str] = []
    level = list(roots)
    for _ in range(LISTED_DEPTH):
        below = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            below += [c for c in children if c != artifacts and artifacts not in c.parents]
        folders += [str(p) for p in below]
        level = below
    return [str(r) for r in roots], [*map(str, roots), *folders][:MAX_LISTED]


def advertise(session: Session, name: str, settings: Settings) -> None:
    """Insert or renew this worker's row."""
    roots, folders = data_folders(settings)
    row = session.get(WorkerInfo, name)
    if row is None:
        row = WorkerInfo(name=name, started_at=utcnow())
        session.add(row)
    row.devices, row.data_roots, row.datasets = devices(), roots, folders
    row.seen_at = utcnow()
    session.commit()


def withdraw(session: Session, name: str) -> None:
    """Remove this worker's row (at shutdown)."""
    session.execute(delete(WorkerInfo).where(WorkerInfo.name == name))
    session.commit()


def worker_name() -> str:
    """The host and main process id."""
    return f"{socket.gethostname()[:150]}:{os.getpid()}"


class Advertiser(threading.Thread):
    """Renews the row every ``advertise_every_s``; removes it when stopped."""

    def __init__(self, session_factory: Callable[[], Session], settings: Settings) -> None:
        super().__init__(name="worker-advertiser", daemon=True)
        self.session_factory, self.settings = session_factory, settings
        self.name_ = worker_name()
        self._stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                with self.session_factory() as session:
                    advertise(session, self.name_, self.settings)
            except Exception:  # a database blip: try again next time
                logger.exception("advertising worker %s failed", self.name_)
            if self._stopped.wait(advertise_every_s(self.settings)):
                return

    def stop(self) -> None:
        """End the thread and withdraw the row."""
        self._stopped.set()
        self.join(timeout=10)
        try:
            with self.session_factory() as session:
                withdraw(session, self.name_)
        except Exception:
            logger.exception("withdrawing worker %s failed", self.name_)
