"""`winoprune sensitivity` locally: files written, and `winoprune run` resolving a scan file."""

from __future__ import annotations

import json

import yaml

from tests.core.cli.test_cli import cli

RECIPE = {
    "name": "digits-sens",
    "model": {"name": "digits-cnn", "width": 0.5},
    "device": "cpu",
    "method": "native-winograd",
    "pretrain": {"epochs": 1, "optimizer": {"lr": 0.05}},
    "stages": [{"type": "native-winograd", "target": 0.5, "epochs": 1, "optimizer": {"lr": 0.001}}],
}


def test_local_scan_writes_json_csv_html_and_feeds_a_recipe(tmp_path):
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "scan"
    done = cli("sensitivity", str(recipe_file), "--method", "native-winograd", "--grid",
               "0:0.8:0.4", "--val-size", "120", "--out", str(out))  # fmt: skip
    assert "wrote" in done.stdout
    result = json.loads((out / "sensitivity.json").read_text())
    layers = [layer["name"] for layer in result["layers"]]
    assert len(result["points"]) == 3 * len(layers) and result["spec"]["grid"] == [0.0, 0.4, 0.8]
    assert len((out / "sensitivity.csv").read_text().splitlines()) == 1 + 3 * len(layers)
    assert "<svg" in (out / "sensitivity.html").read_text()
    bad = cli("sensitivity", str(recipe_file), "--grid", "0.5,0.2", "--out", str(out), check=False)
    assert bad.returncode == 2 and "grid" in bad.stdout
    # a recipe naming the scan file runs with the resolved per-layer targets
    allocated = {**RECIPE, "layers": {"allocation": "sensitivity", "scan": "scan/sensitivity.json"}}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(allocated))
    cli("run", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "run"))
    sidecar = sorted((tmp_path / "run" / "checkpoints").glob("*.json"))[-1]
    layers_section = json.loads(sidecar.read_text())["recipe"]["layers"]
    assert set(layers_section["overrides"]) == set(layers)
    assert layers_section["allocated_from"] == "sensitivity.json"
