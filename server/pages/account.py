"""Account pages: change one's own password (/account) and, for admins, create and manage
users (/admin/users). Both forms call the REST API; the rules shown are the API's
(server.auth.passwords)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server.auth.deps import DbSession
from server.auth.passwords import MIN_PASSWORD_LENGTH
from server.pages.context import not_found_page, page_user, render, to_login, user_projects

router = APIRouter(include_in_schema=False)


def password_rules(request: Request) -> list[str]:
    """The password rules the API enforces, as sentences."""
    score = request.app.state.settings.password_min_score
    return [
        f"at least {MIN_PASSWORD_LENGTH} characters",
        "must not contain the user name",
        f"hard to guess: a zxcvbn strength of at least {score} of 4 (long passphrases of "
        "unrelated words pass; names, dates, keyboard runs and common words do not)",
    ]


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: DbSession) -> Response:
    """Change one's own password."""
    user = page_user(request, session)
    if user is None:
        return to_login(request)
    projects = user_projects(session, user)
    return render(
        request, "account.html", user, projects, page="account", rules=password_rules(request)
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: DbSession) -> Response:
    """Create users and (de)activate them (admins; others see a 404 page)."""
    user = page_user(request, session)
    if user is None:
        return to_login(request)
    projects = user_projects(session, user)
    if not user.is_admin:
        return not_found_page(request, user, projects, "page")
    return render(
        request, "users.html", user, projects, page="users", rules=password_rules(request)
    )
