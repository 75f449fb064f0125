"""The result files of a local run, ``metrics.jsonl`` and ``layers.csv``, written so that a
resume never duplicates a row: each (stage, epoch) is appended once, and a last line cut short
(a full disk, a kill mid-write) is dropped before appending."""

from __future__ import annotations

import csv
import errno
import json
from pathlib import Path
from typing import Any

# The errors that mean "this folder cannot take more output" (reported without a traceback).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT})

EpochKey = tuple[int, int]


def drop_partial_line(path: Path) -> None:
    """Truncate ``path`` after its last newline (a line without one was never finished)."""
    if not path.is_file():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as handle:
            handle.truncate(end)


def _metric_keys(path: Path) -> set[EpochKey]:
    keys: set[EpochKey] = set()
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                keys.add((int(record["stage"]), int(record["epoch"])))
    return keys


def _layer_keys(path: Path) -> tuple[set[EpochKey], list[str] | None]:
    keys: set[EpochKey] = set()
    if not path.is_file() or path.stat().st_size == 0:
        return keys, None
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            keys.add((int(row["stage"]), int(row["epoch"])))
        return keys, list(reader.fieldnames or [])


class ResultFiles:
    """Append-once writer of ``out/metrics.jsonl`` and ``out/layers.csv``."""

    def __init__(self, out: Path) -> None:
        self.metrics_path, self.layers_path = out / "metrics.jsonl", out / "layers.csv"
        for path in (self.metrics_path, self.layers_path):
            drop_partial_line(path)
        self.metric_keys = _metric_keys(self.metrics_path)
        self.layer_keys, self._fieldnames = _layer_keys(self.layers_path)
        self.metrics_file = self.metrics_path.open("a", encoding="utf-8")
        self.layers_file = self.layers_path.open("a", newline="", encoding="utf-8")
        self._writer: Any = None

    def write_epoch(self, record: dict[str, Any], layer_rows: list[dict[str, Any]]) -> None:
        """One epoch's metrics record and per-layer rows, unless this (stage, epoch) is there."""
        key = (int(record["stage"]), int(record["epoch"]))
        if key not in self.metric_keys:
            self.metrics_file.write(json.dumps(record) + "\n")
            self.metrics_file.flush()
            self.metric_keys.add(key)
        if key in self.layer_keys or not layer_rows:
            return
        if self._writer is None:
            new = self._fieldnames is None
            self._fieldnames = self._fieldnames or list(layer_rows[0])
            self._writer = csv.DictWriter(self.layers_file, fieldnames=self._fieldnames)
            if new:
                self._writer.writeheader()
        self._writer.writerows(layer_rows)
        self.layers_file.flush()
        self.layer_keys.add(key)

    def close(self) -> None:
        """Close both files (a failed flush of a full disk is left to the caller to report)."""
        try:
            self.metrics_file.close()
        finally:
            self.layers_file.close()
