"""What a worker advertises (its data folders, never the artifacts) and what a live worker
is judged to have (a listed folder, or one below a listed one at full depth; a device)."""

from __future__ import annotations

from pathlib import Path

from server.config import Settings
from server.runs.capacity import LiveWorker, has_data, has_device
from worker.capabilities import data_folders, devices
from worker.system_figures import SystemSampler


def test_data_folders_are_listed_two_deep_without_the_artifacts(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    for folder in (
        "cifar10/train",
        "cifar10/test/cat",
        "imagenet",
    ):
        (root / folder).mkdir(parents=True)
    (root / "notes.txt").write_text("x")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", data_roots=[root, tmp_path])
    roots, folders = data_folders(settings)
    assert roots == [str(root), str(tmp_path)]
    assert str(root / "cifar10" / "train") in folders and str(root / "imagenet") in folders
    assert str(root / "cifar10" / "test" / "cat") not in folders  # deeper than two levels
    assert not any(f.startswith(str(settings.artifacts_dir)) for f in folders)
    assert devices()[0] == "cpu"


def test_a_worker_has_listed_folders_and_their_deep_children() -> None:
    worker = LiveWorker("w", ["cpu", "cuda:0 H200"], ["/d"], ["/d", "/d/c10", "/d/c10/train"])
    assert has_data(worker, None) and has_data(worker, "/d/c10")
    assert has_data(worker, "/d/c10/train/x/y")  # below a folder listed at full depth
    assert not has_data(worker, "/d/c100") and not has_data(worker, "/d/c10/test/x")
    assert not has_data(worker, "/elsewhere/c10")
    assert (
        has_device(worker, "auto") and has_device(worker, "cuda") and has_device(worker, "cuda:0")
    )
    assert not has_device(worker, "cuda:1")
    assert not has_device(LiveWorker("c", ["cpu"], [], []), "cuda")


def test_epoch_times_and_cpu_use_from_the_clocks() -> None:
    sampler = SystemSampler("cpu")
    first = sampler.sample(0, now=100.0, cpu=10.0)
    assert first["device"] == "cpu" and "epoch_s" not in first and first["rss_mib"] > 0
    second = sampler.sample(0, now=102.0, cpu=13.0)
    assert second["last_epoch_s"] == 2.0 and second["epoch_s"] == 2.0
    assert second["cpu_pct"] == 150.0  # 3 s of CPU in 2 s of wall time
    third = sampler.sample(0, now=106.0, cpu=14.0)
    assert third["epoch_s"] == 3.0  # mean of 2 s and 4 s
    other_stage = sampler.sample(1, now=200.0, cpu=20.0)  # no epoch spans two stages
    assert "last_epoch_s" not in other_stage and other_stage["epoch_s"] == 3.0
