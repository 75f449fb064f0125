"""Small JSON helpers for the UI: preset recipes, importance factors, YAML -> JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from server.auth.deps import CurrentUser
from server.errors import ApiError
from server.pages.forms import TILES
from winoprune.recipes import TextLimitError, load_yaml
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.transforms import standard_transform

router = APIRouter(prefix="/ui/api", tags=["ui"], include_in_schema=False)
MAX_YAML_CHARS = 200_000


class YamlText(BaseModel):
    """Recipe text typed into the YAML view."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_YAML_CHARS)


def read_presets(folder: Path) -> list[dict[str, Any]]:
    """Every `*.yaml` recipe of `folder` as {id, name, description, yaml, recipe}, by file name.

    Files that do not parse to a mapping are left out (the form could not show them).
    """
    presets = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        try:
            data = load_yaml(text)
        except (yaml.YAMLError, TextLimitError):
            continue
        if isinstance(data, dict):
            name, description = data.get("name", path.stem), data.get("description", "")
            presets.append(
                {
                    "id": path.stem,
                    "name": name,
                    "description": description,
                    "yaml": text,
                    "recipe": data,
                }
            )
    return presets


@router.get("/recipes")
def recipes(request: Request, _user: CurrentUser) -> list[dict[str, Any]]:
    """The repository's preset recipes (recipes/*.yaml)."""
    return read_presets(request.app.state.recipes_dir)


@router.get("/importance")
def importance(_user: CurrentUser, tile: str = "F(4,3)") -> dict[str, Any]:
    """F_hat (a x a) of a standard tile: the importance factors of each Winograd position."""
    if tile not in TILES:
        raise ApiError(422, f"tile: must be one of {', '.join(TILES)}, got {tile!r}", "tile")
    transform = standard_transform(tile)
    return {
        "tile": transform.name,
        "alpha": transform.alpha,
        "f_hat": importance_factors(transform).tolist(),
    }


@router.post("/yaml")
def yaml_to_json(_user: CurrentUser, body: YamlText) -> dict[str, Any]:
    """Parse the YAML view's text (safe loader) so the form can show it; no validation here."""
    try:
        data = load_yaml(body.text)
    except TextLimitError as exc:
        raise ApiError(422, f"text: {exc}", field="text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ApiError(422, f"text: not valid YAML{where}", field="text") from None
    if not isinstance(data, dict):
        raise ApiError(422, "text: a recipe must be a mapping", field="text")
    return {"recipe": data}
