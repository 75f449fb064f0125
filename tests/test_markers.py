"""Markers select what they say: `-m postgres` picks every PostgreSQL test (parametrised by the
backend fixture or marked) and `-m "not postgres"` none of them; the same for browser. `-m`
matches the names of a test's markers after collection, which is what this reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = [
    "tests/server/test_migrations.py",
    "tests/server/test_health.py",
    "tests/worker/test_lease_races.py",
    "tests/web/test_browser.py",
]
# collects SAMPLE and prints {test id: its marker names} once every hook has added its marks
REPORT = """
import json, sys, pytest
class Report:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        marks = {i.nodeid: sorted({m.name for m in i.iter_markers()}) for i in items}
        print("MARKS" + json.dumps(marks))
sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]],
                     plugins=[Report()]))
"""


@pytest.mark.slow
def test_markers_follow_the_services_a_test_uses() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REPORT, *SAMPLE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("MARKS"))
    marks: dict[str, list[str]] = json.loads(line[len("MARKS") :])
    postgres = {t for t, names in marks.items() if "postgres" in names}
    uses_pg = {t for t in marks if "postgresql" in t}  # parametrised ids and test names
    assert len(uses_pg) >= 8 and uses_pg == postgres
    browser = {t for t, names in marks.items() if "browser" in names}
    assert browser == {t for t in marks if t.startswith("tests/web/test_browser.py")}
    assert browser
