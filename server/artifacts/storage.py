"""Files under the artifacts root, addressed by database id only (no client-given paths)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from server.config import Settings
from server.errors import ApiError

CHUNK = 1024 * 1024
logger = logging.getLogger("winoprune.server.artifacts")


def resolve_stored(settings: Settings, relative: str | Path) -> Path:
    """The absolute path of a stored file; refuses anything outside the artifacts root."""
    root = settings.artifacts_dir
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ApiError(404, "artifact file not found")
    return path


def relative_key(settings: Settings, path: Path) -> str:
    """The key (path relative to the artifacts root) under which a file is recorded."""
    resolved = path.resolve()
    if not resolved.is_relative_to(settings.artifacts_dir):
        raise ValueError(f"path: {path} is outside the artifacts root {settings.artifacts_dir}")
    return resolved.relative_to(settings.artifacts_dir).as_posix()


def new_upload_path(settings: Settings, project_id: int, suffix: str = ".safetensors") -> Path:
    """A fresh, unguessable file name in the project's folder."""
    folder = settings.artifacts_dir / f"project-{project_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}{suffix}"


def save_limited(source: BinaryIO, target: Path, limit: int) -> tuple[int, str]:
    """Copy a stream to `target`, 413 past `limit` bytes; returns (size, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise ApiError(
                    413,
                    f"file: larger than the upload limit of {limit // (1024 * 1024)} MB "
                    "(WINOPRUNE_MAX_UPLOAD_MB)",
                    field="file",
                )
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def remove_files(settings: Settings, keys: Sequence[Path | str]) -> None:
    """Delete stored files (after their rows were deleted); missing files are ignored."""
    for key in keys:
        try:
            resolve_stored(settings, key).unlink(missing_ok=True)
        except (ApiError, OSError):
            logger.warning("could not remove artifact file %s", key)


def move_into_place(source: Path, target: Path) -> None:
    """Move a validated upload to its final name."""
    shutil.move(source, target)
