"""A run's data.root must lie inside the deployment's data roots (WINOPRUNE_DATA_ROOTS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from tests.server.conftest import recipe
from winoprune.recipes import Recipe, parse_recipe
from worker.data_roots import check_data_root


def _cifar(root: str) -> Recipe:
    return parse_recipe(
        recipe(model={"name": "cifar-tiny"}, data={"name": "cifar10", "root": root})
    )


def test_only_paths_inside_configured_roots_are_accepted(tmp_path: Path) -> None:
    allowed = tmp_path / "datasets"
    (allowed / "cifar10").mkdir(parents=True)
    secret = tmp_path / "data" / "artifacts" / "projects" / "2"
    secret.mkdir(parents=True)
    (allowed / "escape").symlink_to(secret)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", data_roots=[allowed])
    check_data_root(_cifar(str(allowed / "cifar10")), settings)
    for bad in (
        str(secret),
        str(allowed / ".." / "data" / "artifacts"),
        str(allowed / "escape"),
        "/etc",
        "relative/cifar",
    ):
        with pytest.raises(ValueError, match=r"^data\.root: ") as caught:
            check_data_root(_cifar(bad), settings)
        assert "projects" not in str(caught.value).replace(bad, "")  # says nothing of contents


def test_the_default_root_is_the_datasets_folder_and_never_the_artifacts(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    (tmp_path / "datasets" / "c10").mkdir(parents=True)
    check_data_root(_cifar(str(tmp_path / "datasets" / "c10")), settings)
    with pytest.raises(ValueError, match="WINOPRUNE_DATA_ROOTS"):
        check_data_root(_cifar(str(settings.artifacts_dir)), settings)
    inside = Settings(_env_file=None, data_dir=tmp_path, data_roots=[tmp_path])
    with pytest.raises(ValueError, match=r"data\.root"):
        check_data_root(_cifar(str(inside.artifacts_dir / "x")), inside)
