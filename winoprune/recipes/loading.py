"""Reading recipes: YAML/JSON text or files to a validated ``Recipe``; errors flattened to
[{"loc": "stages.1.target", "msg": ...}]."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from winoprune.recipes.fields import RULES_ERROR
from winoprune.recipes.model import Recipe
from winoprune.recipes.safe_text import TextLimitError, check_depth, load_json, load_yaml


class RecipeError(ValueError):
    """An invalid recipe. ``errors``: [{"loc": "stages.1.target", "msg": "..."}, ...]."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        lines = [f"{e['loc']}: {e['msg']}" for e in errors]
        super().__init__("invalid recipe:\n  " + "\n  ".join(lines))


_FRIENDLY = {
    "extra_forbidden": "unknown key (not part of the recipe schema)",
    "missing": "required",
}


def validation_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Flatten a pydantic ValidationError into [{"loc": "a.b.0.c", "msg": ...}]."""
    errors: list[dict[str, str]] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        if err["type"] == RULES_ERROR:
            for rule in err.get("ctx", {}).get("rules", []):
                where = ".".join(p for p in (loc, rule["loc"]) if p)
                errors.append({"loc": where, "msg": rule["msg"], "type": RULES_ERROR})
            continue
        msg = _FRIENDLY.get(err["type"], err["msg"]).removeprefix("Value error, ")
        errors.append({"loc": loc or "(recipe)", "msg": msg, "type": err["type"]})
    return errors


def _load_text(text: str, source: str) -> Any:
    try:
        if text.lstrip().startswith("{"):
            return load_json(text)
        return load_yaml(text)
    except TextLimitError as exc:
        raise RecipeError([{"loc": "(recipe)", "msg": f"{source}: {exc}"}]) from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        msg = f"{source} is not valid YAML/JSON: {exc}"
        raise RecipeError([{"loc": "(recipe)", "msg": msg}]) from None


def parse_recipe(data: dict[str, Any] | str) -> Recipe:
    """Validate a recipe given as a dict or as YAML/JSON text; raises RecipeError."""
    if isinstance(data, str):
        data = _load_text(data, "the text")
    if not isinstance(data, dict):
        raise RecipeError([{"loc": "(recipe)", "msg": "must be a mapping of keys to values"}])
    try:
        check_depth(data)
    except TextLimitError as exc:
        raise RecipeError([{"loc": "(recipe)", "msg": str(exc)}]) from None
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(validation_errors(exc)) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file (.yaml, .yml or .json); raises RecipeError."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError([{"loc": "(file)", "msg": f"{path} does not exist or is not a file"}])
    text = path.read_text(encoding="utf-8")
    return parse_recipe(_load_text(text, str(path)))


def recipe_json_schema() -> dict[str, Any]:
    """JSON schema of the recipe (for forms and REST clients)."""
    return Recipe.model_json_schema()
