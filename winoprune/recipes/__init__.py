"""The job recipe: pydantic models (``model``), field types (``fields``), cross-field rules
(``rules``) and reading from YAML/JSON (``loading``). Import the public names from here."""

from winoprune.recipes.fields import AUTO_LR, Method, StageType
from winoprune.recipes.loading import (
    RecipeError,
    load_recipe,
    parse_recipe,
    recipe_json_schema,
    validation_errors,
)
from winoprune.recipes.model import (
    DataSpec,
    DistillSpec,
    LayersSpec,
    LRFinderSpec,
    ModelSpec,
    OptimizerSpec,
    PretrainSpec,
    Recipe,
    ScheduleSpec,
    SparsityScheduleSpec,
    Stage,
)
from winoprune.recipes.safe_text import TextLimitError, load_yaml

__all__ = [
    "AUTO_LR",
    "DataSpec",
    "DistillSpec",
    "LRFinderSpec",
    "LayersSpec",
    "Method",
    "ModelSpec",
    "OptimizerSpec",
    "PretrainSpec",
    "Recipe",
    "RecipeError",
    "ScheduleSpec",
    "SparsityScheduleSpec",
    "Stage",
    "StageType",
    "TextLimitError",
    "load_recipe",
    "load_yaml",
    "parse_recipe",
    "recipe_json_schema",
    "validation_errors",
]
