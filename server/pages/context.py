"""Page plumbing: who is logged in (cookie), the caller's projects, rendering with headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from server.auth.service import user_from_jwt
from server.db.models import User
from server.pages.assets import STATIC_URL
from server.pages.paths import PLOTLY_URL, TEMPLATES_DIR
from server.projects.service import list_projects

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["static"] = STATIC_URL  # content-hash prefix of /static (pages.assets)

# No inline scripts anywhere: scripts only from this origin. Plotly sets inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page_user(request: Request, session: Session) -> User | None:
    """The user of the session cookie, or None (not logged in, expired, logged out)."""
    cookie = request.cookies.get(request.app.state.settings.cookie_name)
    return user_from_jwt(session, request.app.state.settings, cookie) if cookie else None


def to_login(request: Request) -> RedirectResponse:
    """Redirect to the login page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def user_projects(session: Session, user: User) -> list[dict[str, Any]]:
    """The caller's projects as {id, name, role}, in the API's order."""
    return [
        {"id": project.id, "name": project.name, "role": role}
        for project, role in list_projects(session, user)
    ]


def render(
    request: Request,
    template: str,
    user: User | None,
    projects: list[dict[str, Any]] | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with the common context (user, projects, plotly URL) and security headers."""
    context.setdefault("project", None)
    return templates.TemplateResponse(
        request,
        template,
        {"user": user, "projects": projects or [], "plotly_url": PLOTLY_URL, **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


def not_found_page(
    request: Request, user: User, projects: list[dict[str, Any]], what: str
) -> HTMLResponse:
    """404 page: a missing resource and one in a project the caller is not in look the same."""
    return render(request, "not_found.html", user, projects, status_code=404, what=what)
