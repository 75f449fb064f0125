"""Handing scan ids to the workers, after the commit: ``app.state.enqueue_scan`` (tests), or
the run dispatcher's module's ``enqueue_scan`` (WINOPRUNE_DISPATCHER=worker.tasks:enqueue_run
gives worker.tasks:enqueue_scan); without one, scans stay queued."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from fastapi import FastAPI

logger = logging.getLogger("winoprune.server.sensitivity")
EnqueueScan = Callable[[int], None]


def scan_hook(app: FastAPI) -> EnqueueScan | None:
    """The scan dispatch hook of this app, or None."""
    hook: EnqueueScan | None = getattr(app.state, "enqueue_scan", None)
    if hook is not None:
        return hook
    dispatcher = app.state.settings.dispatcher
    if not dispatcher:
        return None
    module = importlib.import_module(dispatcher.partition(":")[0])
    hook = getattr(module, "enqueue_scan", None)
    app.state.enqueue_scan = hook
    return hook


def enqueue_scan(app: FastAPI, scan_id: int) -> bool:
    """Send the scan's planning task; False (logged) when there is no hook or it failed (the
    scan stays queued; POST .../resume sends it again)."""
    try:
        hook = scan_hook(app)
        if hook is None:
            return False
        hook(scan_id)
    except Exception as exc:
        logger.warning("could not enqueue scan %s (%s); it stays queued", scan_id, exc)
        return False
    return True
