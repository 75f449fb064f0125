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
