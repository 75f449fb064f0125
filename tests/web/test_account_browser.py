"""The account screens: an admin creates a user (weak passwords refused at the field with the
API's rule), the new user logs in and changes the password; non-admins get no users screen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.server.conftest import PASSWORD
from tests.web.conftest import WebEnv, login, open_page

pytestmark = pytest.mark.browser
NEW_PASSWORD = "violet tram oxford lantern 42"


def test_admin_creates_a_user_who_changes_the_password(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    web_env.user("ada-admin", is_admin=True)
    page = open_page(browser, page_errors, width=1280)
    login(page, live_server, "ada-admin", "/admin/users")
    page.wait_for_selector("#users-table tbody[data-loaded]")
    assert "at least 8 characters" in page.get_by_test_id("password-rules").first.inner_text()
    page.get_by_label("User name").fill("bruno")
    page.get_by_label("Password", exact=True).fill("bruno1234")
    page.get_by_role("button", name="Create user").click()
    error = page.locator("#new-user-password-error")
    error.wait_for()
    assert "must not contain the user name" in error.inner_text()
    assert page.get_by_label("Password", exact=True).get_attribute("aria-invalid") == "true"
    page.get_by_label("Password", exact=True).fill("qwertyui")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_function(
        "() => /too easy to guess/.test("
        "document.getElementById('new-user-password-error').textContent)"
    )
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    page.locator("tr[data-user='bruno']").wait_for()
    page.screenshot(path=shots / "16-users-1280.png", full_page=True)

    other = open_page(browser, page_errors, width=390)
    login(other, live_server, "bruno", "/account")
    other.get_by_label("Current password").fill("wrong password here")
    other.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    other.get_by_label("New password again").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Change password").click()
    other.locator("#current-password-error:has-text('incorrect')").wait_for()
    other.get_by_label("Current password").fill(PASSWORD)
    other.get_by_label("New password again").fill(NEW_PASSWORD + "x")
    other.get_by_role("button", name="Change password").click()
    other.locator("#repeat-password-error:has-text('differ')").wait_for()
    other.get_by_label("New password again").fill(NEW_PASSWORD)
    other.screenshot(path=shots / "16-account-390.png", full_page=True)
    other.get_by_role("button", name="Change password").click()
    other.wait_for_url(lambda url: "/login" in url)
    # the new password works through the API; the old one does not
    client = web_env.anonymous()
    old = client.post("/api/v1/auth/login", data={"username": "bruno", "password": PASSWORD})
    new = client.post("/api/v1/auth/login", data={"username": "bruno", "password": NEW_PASSWORD})
    assert old.status_code == 401 and new.status_code == 200
    # a non-admin has no users screen and no link to it
    assert other.evaluate("() => document.body.scrollWidth") <= 390
    other.goto(f"{live_server}/login?next=/admin/users")
    other.get_by_label("User name").fill("bruno")
    other.get_by_label("Password").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Log in").click()
    other.wait_for_url(lambda url: urlparse(url).path == "/admin/users")
    assert other.get_by_role("link", name="Users").count() == 0
    assert "not found" in other.locator("main").inner_text().lower()
    time.sleep(0.2)
    assert page_errors == []
