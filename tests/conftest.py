"""Shared test helpers: services that are missing skip their tests, or fail them under CI."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("WINOPRUNE_REQUIRE_SERVICES") == "1"


def service_missing(name: str, why: str) -> None:
    """Skip (or, with WINOPRUNE_REQUIRE_SERVICES=1, fail) a test whose service is unreachable."""
    message = f"{name} is not reachable ({why})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}; WINOPRUNE_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(f"{message}; set it up or see README 'Tests'")


# Markers follow what a test uses, so that `-m postgres` (redis, browser, gpu) selects every
# test that needs the service and `-m "not postgres"` none of them: from the fixtures it
# requests and from parametrised fixture values (marks written on a module apply as usual).
FIXTURE_MARKS = {"browser": "browser", "live_server": "browser"}
PARAM_MARKS = {"postgresql": "postgres", "cuda": "gpu"}


def needed_marks(item: pytest.Item) -> set[str]:
    """The service markers a collected test needs."""
    marks = {
        FIXTURE_MARKS[name] for name in getattr(item, "fixturenames", ()) if name in FIXTURE_MARKS
    }
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec is not None else ():
        if isinstance(value, str) and value in PARAM_MARKS:
            marks.add(PARAM_MARKS[value])
    return marks


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        for name in sorted(needed_marks(item) - present):
            item.add_marker(name)
