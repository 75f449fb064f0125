"""The same bounded schemathesis run as test_fuzz_api.py, over issue 16's operations only
(queue, report, retry modes, PATCH with archived, the run list's archived filter): a quick
check while the whole-API run takes minutes on a loaded machine."""

from __future__ import annotations

import pytest

from server.db.base import utcnow
from server.db.models import WorkerInfo
from tests.server.conftest import Env, recipe
from tests.server.test_fuzz_api import _fuzz, _operations

PATHS = {
    ("GET", "/api/v1/queue"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/runs/{run_id}/report"),
    ("PATCH", "/api/v1/runs/{run_id}"),
    ("POST", "/api/v1/runs/{run_id}/retry"),
    ("POST", "/api/v1/runs"),
}


@pytest.mark.timeout(600)
def test_issue_16_operations_never_answer_5xx(env: Env) -> None:
    admin = env.user("root", is_admin=True)
    project = env.project("alpha", {admin: "owner"})
    env.submit(env.client(admin), project)
    env.submit(env.client(admin), project, recipe=recipe(name="second"))
    with env.session() as session:  # a live worker: POST /runs checks against it
        now = utcnow()
        folders = ["/srv", "/srv/c10"]
        worker = WorkerInfo(name="w:1", devices=["cpu"], data_roots=["/srv"], datasets=folders)
        session.add(worker)
        worker.started_at = worker.seen_at = now
        session.commit()
    operations = [op for op in _operations(env.app) if (op.method.upper(), op.path) in PATHS]
    assert len(operations) == len(PATHS)
    failures: list[str] = []
    for operation in operations:
        failures += _fuzz(env.app, operation, admin.id)
    assert not failures, "\n".join(failures)
