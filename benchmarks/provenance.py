"""Which code a benchmark measured: the commit, and whether tracked files had changes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def commit() -> str:
    """$WINOPRUNE_COMMIT (for a copy of the tree whose .git is missing or stale, e.g. on a GPU
    machine), else git HEAD, else "unknown"."""
    return os.environ.get("WINOPRUNE_COMMIT") or _git("rev-parse", "HEAD") or "unknown"


def dirty() -> bool:
    """True when tracked files differ from the commit."""
    return bool(_git("status", "--porcelain", "--untracked-files=no"))
