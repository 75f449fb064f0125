"""`winoprune run` on a finished run prints its stage table again (from metrics.jsonl), and
`winoprune inspect` keeps layer names whole in an 80-column pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
WINOPRUNE = [sys.executable, "-m", "winoprune.cli.main"]
RECIPE = {
    "name": "tables",
    "method": "spatial-structured",
    "model": {"name": "digits-cnn"},
    "device": "cpu",
    "batch_size": 128,
    "pretrain": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.05}},
    "stages": [
        {"type": "spatial-structured", "target": 0.3, "epochs": 1,
         "optimizer": {"name": "sgd", "lr": 0.01}},
    ],
}  # fmt: skip


def cli(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # a pipe: rich's 80 columns
    proc = subprocess.run(
        [*WINOPRUNE, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def table_rows(text: str) -> dict[str, list[str]]:
    """{stage: cells} of the stage table in ``text``."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and re.fullmatch(r"-?\d+", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_a_finished_run_prints_its_table_and_inspect_keeps_names(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "out"
    first = table_rows(cli("run", str(recipe), "--out", str(out)))
    again = cli("run", str(recipe), "--out", str(out))
    second = table_rows(again)
    assert set(first) == {"-1", "0"} and set(second) == set(first)
    for stage in first:  # type, target, top-1, sparsity and reduction as the first run printed
        assert second[stage][:6] == first[stage][:6]
        assert second[stage][6] == "-"  # seconds were not recorded
    assert "succeeded" in again

    final = sorted((out / "checkpoints").glob("stage+000-*.safetensors"))[-1]
    shown = cli("inspect", str(final))
    assert "…" not in shown
    for name in ("features.conv0", "features.conv1", "features.conv2", "features.conv3"):
        assert re.search(rf"[│┃] {re.escape(name)} +[│┃]", shown), shown
