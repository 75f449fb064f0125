"""The command line, run as a user would: a subprocess of the installed `winoprune` script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WINOPRUNE = [sys.executable, "-m", "winoprune.cli.main"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # rich tables wrap at 80 columns in a pipe
    proc = subprocess.run(
        [*WINOPRUNE, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_digits_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = cli("run", "recipes/digits-demo.yaml", "--out", str(out))
    assert "succeeded" in proc.stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in records} == {-1, 0, 1, 2, 3}
    assert records[-1]["winograd_sparsity"] > 0.55 and records[-1]["top1"] > 0.85
    header = (out / "layers.csv").read_text().splitlines()[0].split(",")
    assert {"stage", "epoch", "layer", "domain", "nnz", "sparsity"} <= set(header)
    html = (out / "report.html").read_text()
    assert "Plotly.newPlot" in html and not re.search(r"<script[^>]*\bsrc=", html)  # offline
    final = sorted((out / "checkpoints").glob("stage+003-*.safetensors"))[-1]
    table = cli("inspect", str(final)).stdout
    assert "features.conv1" in table and "%" in table


def test_recipes_validate_names_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "recipes" / "digits-demo.yaml").read_text()
    bad.write_text(text.replace("target: 0.3", "target: 1.5"))
    proc = cli("recipes", "validate", str(bad), check=False)
    assert proc.returncode == 1
    assert "stages.0.target" in proc.stdout
    assert "ok" in cli("recipes", "validate", "recipes/digits-demo.yaml").stdout


def test_run_with_invalid_recipe_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    proc = cli("run", str(bad), "--out", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "invalid recipe" in proc.stdout
