"""Local runs after a crash: a resume mid-stage, a repeated epoch, a folder that takes no more."""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.core.cli.test_cli import ROOT, cli
from winoprune.cli.main import CliCallbacks
from winoprune.training import pipeline as pl


@dataclass
class _Row:
    layer: str
    domain: str
    sparsity: float


def _report(stage: int, epoch: int) -> pl.EpochReport:
    rows = [_Row(f"conv{i}", "winograd", 0.1 * i) for i in range(2)]
    return pl.EpochReport(
        stage=stage,
        stage_type="winograd-direct",
        epoch=epoch,
        metrics={"top1": 0.5, "loss": 1.0},
        layers=rows,  # type: ignore[arg-type]
        summary={"winograd_sparsity": 0.3},
    )


def _plan(index: int) -> pl.StagePlan:
    return pl.StagePlan(
        index=index, type="winograd-direct", target=0.5, epochs=2, optimizer=None, schedule=None
    )


def test_resume_mid_stage_then_next_stage_and_no_duplicate_rows(tmp_path: Path) -> None:
    first = CliCallbacks(tmp_path)
    first.on_stage_start(_plan(0))
    first.on_epoch(_report(0, 0))
    first.on_epoch(_report(0, 1))
    first.close()
    # A crash after epoch 1 was written but before its checkpoint: the resume repeats epoch 1,
    # without an on_stage_start for the stage it resumes (its bar has total=None).
    resumed = CliCallbacks(tmp_path)
    resumed.on_epoch(_report(0, 1))
    resumed.on_epoch(_report(0, 2))
    resumed.on_stage_start(_plan(1))  # crashed here: bool() of a total=None tqdm bar
    resumed.on_epoch(_report(1, 0))
    resumed.close()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in records] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    lines = (tmp_path / "layers.csv").read_text().splitlines()
    assert lines[0].startswith("stage,epoch,layer") and lines.count(lines[0]) == 1
    assert len(lines) == 1 + 4 * 2  # four epochs x two layers, each once


def test_a_line_cut_short_by_a_full_disk_is_dropped_on_resume(tmp_path: Path) -> None:
    first = CliCallbacks(tmp_path)
    first.on_epoch(_report(0, 0))
    first.close()
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write('{"stage": 0, "epo')  # ENOSPC mid-write
    with (tmp_path / "layers.csv").open("a") as handle:
        handle.write("0,1,con")
    resumed = CliCallbacks(tmp_path)
    resumed.on_epoch(_report(0, 1))
    resumed.close()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in records] == [(0, 0), (0, 1)]
    assert len((tmp_path / "layers.csv").read_text().splitlines()) == 1 + 2 * 2


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("run", "recipes/digits-demo.yaml", "--out", str(blocker / "out"), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "cannot write" in proc.stdout


def test_disk_full_during_a_run_is_a_clear_error_and_keeps_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from winoprune.cli import main as cli_main
    from winoprune.cli.results_files import ResultFiles

    real = ResultFiles.write_epoch
    calls = {"n": 0}

    def full_after_two(self: ResultFiles, record: dict, rows: list) -> None:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.metrics_path))
        real(self, record, rows)

    monkeypatch.setattr(ResultFiles, "write_epoch", full_after_two)
    out = tmp_path / "full"
    result = CliRunner().invoke(
        cli_main.app, ["run", str(ROOT / "recipes" / "digits-demo.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "No space left on device" in result.output and "resume" in result.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
