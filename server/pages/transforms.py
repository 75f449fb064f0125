"""The transforms page: the error table of every named point set (computed by the core), and
the error of the tile a run uses (for its run page)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from server.auth.deps import DbSession
from server.db.models import User
from server.errors import ApiError
from server.pages.context import not_found_page, page_user, render, to_login, user_projects
from server.params import INT32_MAX
from server.runs.service import get_run
from winoprune.recipes import Recipe
from winoprune.recipes.tile import (
    serialize_tile,
    tile_points_label,
    tile_summation,
    tile_transform,
    validate_tile,
)
from winoprune.winograd.error_table import PROTOCOL, error_table, tile_row
from winoprune.winograd.points import named_sets

router = APIRouter(include_in_schema=False)
PAGE_TRIALS = 300  # per cell; the benchmark uses 5000 (benchmarks/winograd_error.py)
RUN_TRIALS = 500
SEED = 0


@lru_cache(maxsize=1)
def page_table() -> tuple[dict[str, Any], ...]:
    """The error table of every named set, computed once per process."""
    return tuple(error_table(trials=PAGE_TRIALS, seed=SEED))


@lru_cache(maxsize=64)
def _tile_summary(tile_json: str) -> dict[str, Any]:
    tile = validate_tile(json.loads(tile_json))
    tf = tile_transform(tile)
    row = tile_row(tf, RUN_TRIALS, SEED, variants=("natural", "huffman"))
    names = [s.name for s in named_sets(tf.m, tf.r) if s.transform().points == tf.points]
    summation = tile_summation(tile)
    return {
        **row,
        "points_label": tile_points_label(tile),
        "set_names": names,
        "channel_sum": summation.channel_sum,
        "order": summation.order,
        "trials": RUN_TRIALS,
    }


def run_tile_error(session: Session, user: User, run_id: int) -> dict[str, Any] | None:
    """The measured error and bound of the run's tile (None when the recipe no longer parses
    or the run is not visible: the page then shows nothing)."""
    try:
        run = get_run(session, user, run_id)
        recipe = Recipe.model_validate(run.recipe)
    except (ApiError, ValueError):
        return None
    return _tile_summary(json.dumps(serialize_tile(recipe.tile), sort_keys=True))


@router.get("/transforms", response_class=HTMLResponse)
def transforms_page(
    request: Request,
    session: DbSession,
    project: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
) -> Response:
    """Winograd transforms: error per tile and point set in float32, bfloat16 and float16."""
    user = page_user(request, session)
    if user is None:
        return to_login(request)
    projects = user_projects(session, user)
    current = next((p for p in projects if p["id"] == project), None)
    if project is not None and current is None:
        return not_found_page(request, user, projects, "project")
    return render(
        request,
        "transforms.html",
        user,
        projects,
        project=current,
        page="transforms",
        rows=list(page_table()),
        trials=PAGE_TRIALS,
        seed=SEED,
        protocol=PROTOCOL,
    )
