"""HTML pages: login, runs, new run, run detail, compare, Pareto, team; and plotly.js."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from server.auth.deps import DbSession
from server.db.models import User
from server.errors import ApiError
from server.pages.assets import compressed_file
from server.pages.context import (
    not_found_page,
    page_user,
    render,
    to_login,
    user_projects,
)
from server.pages.forms import form_options
from server.pages.paths import PLOTLY_JS
from server.pages.transforms import run_tile_error
from server.params import INT32_MAX
from server.runs.service import get_run

router = APIRouter(include_in_schema=False)
ProjectParam = Annotated[int | None, Query(ge=1, le=INT32_MAX)]
MAX_COMPARED = 8


def _safe_next(target: str | None) -> str:
    """Only same-origin relative paths are followed after login (no open redirect).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so any control
    character, whitespace or backslash is refused along with `//host` and `scheme:` targets.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
    ):
        return "/runs"
    parts = urlsplit(target)
    return "/runs" if parts.scheme or parts.netloc else target


def _project_page(
    request: Request,
    session: DbSession,
    template: str,
    project_id: int | None,
    **context: Any,
) -> Response:
    """A page scoped to one project: login first, default to the first project, 404 outsiders."""
    user = page_user(request, session)
    if user is None:
        return to_login(request)
    projects = user_projects(session, user)
    if project_id is None:
        if not projects:
            return render(request, template, user, projects, **context)
        query = dict(request.query_params) | {"project": str(projects[0]["id"])}
        return RedirectResponse(f"{request.url.path}?{urlencode(query)}", status_code=303)
    project = next((p for p in projects if p["id"] == project_id), None)
    if project is None:
        return not_found_page(request, user, projects, "project")
    return render(request, template, user, projects, project=project, **context)


@router.get("/")
def home() -> RedirectResponse:
    """The runs list is the start page."""
    return RedirectResponse("/runs", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: DbSession, next: str | None = None) -> Response:
    """The login form (already logged in: go on)."""
    target = _safe_next(next)
    if page_user(request, session) is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, "login.html", None, next_url=target)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, session: DbSession, project: ProjectParam = None) -> Response:
    """The runs table of a project."""
    return _project_page(request, session, "runs.html", project, page="runs")


@router.get("/runs/new", response_class=HTMLResponse)
def new_run_page(request: Request, session: DbSession, project: ProjectParam = None) -> Response:
    """The new-run form (presets, clone, YAML view)."""
    return _project_page(
        request, session, "run_new.html", project, page="new", options=form_options()
    )


@router.get("/pareto", response_class=HTMLResponse)
def pareto_page(request: Request, session: DbSession, project: ProjectParam = None) -> Response:
    """Accuracy against Winograd-domain sparsity over a project's finished stages."""
    return _project_page(request, session, "pareto.html", project, page="pareto")


@router.get("/team", response_class=HTMLResponse)
def team_page(request: Request, session: DbSession, project: ProjectParam = None) -> Response:
    """Members and roles of a project, personal API tokens, new projects."""
    return _project_page(request, session, "team.html", project, page="team")


def _run_page_context(
    request: Request, session: DbSession, run_ids: list[int]
) -> tuple[User, list[dict[str, Any]], dict[str, Any] | None] | Response:
    """(user, projects, project of the first run) when every run is visible, else a response."""
    user = page_user(request, session)
    if user is None:
        return to_login(request)
    projects = user_projects(session, user)
    project_ids = []
    for run_id in run_ids:
        if not 0 <= run_id <= INT32_MAX:  # no such row can exist (and PostgreSQL would refuse it)
            return not_found_page(request, user, projects, f"run {run_id}")
        try:
            project_ids.append(get_run(session, user, run_id).project_id)
        except ApiError:
            return not_found_page(request, user, projects, f"run {run_id}")
    project = next((p for p in projects if project_ids and p["id"] == project_ids[0]), None)
    return user, projects, project


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, session: DbSession, run_id: int) -> Response:
    """One run, live while it executes."""
    found = _run_page_context(request, session, [run_id])
    if isinstance(found, Response):
        return found
    user, projects, project = found
    tile_error = run_tile_error(session, user, run_id)
    return render(
        request, "run_detail.html", user, projects, project=project, run_id=run_id,
        tile_error=tile_error,
    )  # fmt: skip


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, session: DbSession, runs: str = "") -> Response:
    """Two or more runs overlaid, with a diff of their recipes."""
    ids = [int(part) for part in runs.split(",") if part.strip().isdigit()][:MAX_COMPARED]
    found = _run_page_context(request, session, ids)
    if isinstance(found, Response):
        return found
    user, projects, project = found
    return render(
        request, "compare.html", user, projects, project=project, page="compare", run_ids=ids
    )


@router.get("/ui/plotly-{version}.min.js")
def plotly_js(request: Request, version: str) -> Response:
    """plotly.js from the installed `plotly` package (the version in the URL busts caches),
    gzip-compressed (4.8 MB -> about 1.4 MB)."""
    return compressed_file(request, PLOTLY_JS, "text/javascript")
