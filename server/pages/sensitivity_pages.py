"""HTML pages of the sensitivity scans: a project's scans with the submit form, one scan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from server.auth.deps import DbSession
from server.errors import ApiError
from server.pages.context import not_found_page, page_user, render, to_login, user_projects
from server.pages.router import ProjectParam, _project_page
from server.params import INT32_MAX
from server.sensitivity.service import get_scan

router = APIRouter(include_in_schema=False)
RunParam = Annotated[int | None, Query(ge=1, le=INT32_MAX)]


@router.get("/sensitivity", response_class=HTMLResponse)
def scans_page(
    request: Request, session: DbSession, project: ProjectParam = None, run: RunParam = None
) -> Response:
    """A project's scans (or one run's) and the form that starts one."""
    return _project_page(
        request, session, "sensitivity_list.html", project, page="sensitivity", run_id=run
    )


@router.get("/sensitivity/{scan_id}", response_class=HTMLResponse)
def scan_page(request: Request, session: DbSession, scan_id: int) -> Response:
    """One scan's curves, filling in live, its table, exports and the Allocate form."""
    user = page_user(request, session)
    if user is None:
        return to_login(request)
    projects = user_projects(session, user)
    try:
        if not 0 <= scan_id <= INT32_MAX:
            raise ApiError(404, "scan not found")
        scan = get_scan(session, user, scan_id)
    except ApiError:
        return not_found_page(request, user, projects, f"scan {scan_id}")
    project = next((p for p in projects if p["id"] == scan.project_id), None)
    return render(request, "sensitivity.html", user, projects, project=project, scan_id=scan_id)
