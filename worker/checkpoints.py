"""The checkpoint store: where a run's pipeline checkpoints live between time slices.

The pipeline always writes into a local run folder, ``<artifacts dir>/project-<p>/run-<r>``
(checkpoints under its ``checkpoints/``); Artifact rows record each file by its key, the path
relative to the artifacts dir (the API serves them from there).

- ``LocalStore``: the folder is the store. On one machine it is the data dir; with many worker
  hosts, mount one shared file system (NFS, EFS, a CephFS volume) at the data dir everywhere.
- ``S3Store``: the folder is a cache; every checkpoint is uploaded to an S3-compatible bucket
  (``s3://<bucket>/<prefix>/<key>``) and a slice on another host downloads what it lacks. Needs
  boto3, which the project does not install: without it the store refuses to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from server.config import Settings
from winoprune.training import checkpoints as ckpt

CHECKPOINT_DIR = "checkpoints"


class CheckpointStore(Protocol):
    """Where checkpoints are kept; see the module docstring."""

    root: Path

    def run_dir(self, project_id: int, run_id: int) -> Path: ...
    def key(self, path: Path) -> str: ...
    def fetch(self, run_dir: Path) -> None: ...
    def publish(self, checkpoint: Path) -> None: ...
    def remove(self, keys: list[str]) -> None: ...


class LocalStore:
    """Checkpoints stay in the run folder under the artifacts dir (local or shared)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run_dir(self, project_id: int, run_id: int) -> Path:
        """The pipeline's output folder of a run."""
        return self.root / f"project-{project_id}" / f"run-{run_id}"

    def key(self, path: Path) -> str:
        """The Artifact key of a file in the store: its path relative to the root."""
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def fetch(self, run_dir: Path) -> None:
        """Nothing to do: the folder is the store."""

    def publish(self, checkpoint: Path) -> None:
        """Nothing to do: the pipeline wrote the file in place."""

    def remove(self, keys: list[str]) -> None:
        """Delete checkpoints (weights and sidecar) by key; missing files are ignored."""
        for key in keys:
            path = self.root / key
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)


class S3Store(LocalStore):
    """Checkpoints in an S3-compatible bucket, cached in the local run folder."""

    def __init__(self, root: Path, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        super().__init__(root)
        try:
            import boto3
        except ImportError:
            raise RuntimeError(
                "artifact_store: 's3' needs boto3, which is not installed "
                "(pip install boto3, or use WINOPRUNE_ARTIFACT_STORE=local with a shared path)"
            ) from None
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def fetch(self, run_dir: Path) -> None:
        """Download the run's checkpoints that the local cache lacks."""
        prefix = self._object(self.key(run_dir / CHECKPOINT_DIR)) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                target = run_dir / CHECKPOINT_DIR / item["Key"].removeprefix(prefix)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self.client.download_file(self.bucket, item["Key"], str(target))

    def publish(self, checkpoint: Path) -> None:
        """Upload a checkpoint's weights, then its sidecar (which marks it complete)."""
        for path in (checkpoint, checkpoint.with_suffix(".json")):
            self.client.upload_file(str(path), self.bucket, self._object(self.key(path)))

    def remove(self, keys: list[str]) -> None:
        """Delete checkpoints locally and in the bucket."""
        super().remove(keys)
        for key in keys:
            for name in (key, str(Path(key).with_suffix(".json"))):
                self.client.delete_object(Bucket=self.bucket, Key=self._object(name))


def build_store(settings: Settings) -> CheckpointStore:
    """The store the settings ask for (``artifact_store``: local or s3)."""
    root = settings.artifacts_dir
    if settings.artifact_store == "local":
        return LocalStore(root)
    if not settings.s3_bucket:
        raise ValueError("s3_bucket: required when artifact_store is 's3' (WINOPRUNE_S3_BUCKET)")
    return S3Store(root, settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url)


def checkpoint_files(run_dir: Path) -> list[tuple[ckpt.CheckpointMeta, Path]]:
    """The run's complete checkpoints, oldest first."""
    return ckpt.list_checkpoints(run_dir / CHECKPOINT_DIR)


def truncate_from_stage(run_dir: Path, first_stage: int) -> list[Path]:
    """Delete the checkpoints of stages >= ``first_stage`` (those after the final checkpoint of
    stage ``first_stage - 1``), so the pipeline resumes at the start of ``first_stage``;
    returns the removed weight files."""
    removed = []
    for meta, path in checkpoint_files(run_dir):
        if meta.stage >= first_stage:
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            removed.append(path)
    return removed
