"""A real Celery worker subprocess on the embedded broker (kombu SQLAlchemy on SQLite)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import pytest

from tests.worker.stack import (
    TINY_RECIPE,
    Stack,
    assert_complete_results,
    make_settings,
    slow_recipe,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("embedded")
    settings = make_settings(tmp)
    assert settings.broker_is_embedded
    stack = Stack(settings, tmp)
    try:
        stack.start_worker()
        yield stack
    finally:
        stack.close()


def test_digits_run_succeeds_and_bad_data_path_fails_once(stack: Stack) -> None:
    missing = copy.deepcopy(TINY_RECIPE)
    missing["model"] = {"name": "cifar-tiny"}
    missing["data"] = {"name": "cifar10", "root": str(stack.tmp / "no-such-folder")}
    good_id = stack.submit(TINY_RECIPE)
    bad_id = stack.submit(missing)

    good = stack.wait_status(good_id, ("succeeded", "failed", "cancelled"), 90)
    bad = stack.wait_status(bad_id, ("succeeded", "failed", "cancelled"), 30)

    assert good["status"] == "succeeded", good
    assert good["device"] == "cpu" and good["attempt_count"] == 1
    assert [s["status"] for s in good["stages"]] == ["succeeded"] * 3
    assert all(s["checkpoint"] and s["accuracy"] is not None for s in good["stages"])
    assert_complete_results(stack, good_id, TINY_RECIPE)
    assert_zero_maps_follow_the_checkpoint(stack, good_id, good["stages"][-1]["index"])
    assert bad["status"] == "failed"
    assert "data.root" in bad["error"] and "no-such-folder" in bad["error"]
    time.sleep(2 * stack.settings.worker_sweep_interval_s)  # a retry would have started by now
    assert stack.run(bad_id)["attempt_count"] == 1
    assert stack.run(bad_id)["status"] == "failed"


def assert_zero_maps_follow_the_checkpoint(stack: Stack, run_id: int, stage: int) -> None:
    """/patterns gives each layer's a x a zero fractions; they average to its Winograd sparsity."""
    body = stack.client.get(f"/api/v1/runs/{run_id}/patterns", params={"stage": stage}).json()
    layers = stack.client.get(
        f"/api/v1/runs/{run_id}/layers", params={"stage": stage, "domain": "winograd"}
    ).json()
    last = max(layers["epoch"])
    sparsity = {
        name: value
        for name, value, epoch in zip(
            layers["layer"], layers["sparsity"], layers["epoch"], strict=True
        )
        if epoch == last
    }
    assert body["stage"] == stage and set(sparsity) <= set(body["layers"])
    for name, value in sparsity.items():
        zeros = body["layers"][name]
        mean = sum(map(sum, zeros)) / (len(zeros) * len(zeros[0]))
        assert mean == pytest.approx(value, abs=1e-6), name
    one = stack.client.get(
        f"/api/v1/runs/{run_id}/patterns", params={"stage": stage, "layer": name}
    ).json()
    assert one["zeros"] == body["layers"][name]
    missing = stack.client.get(f"/api/v1/runs/{run_id}/patterns", params={"stage": 99})
    assert missing.status_code == 404 and missing.json()["field"] == "stage"


def test_cancel_in_the_middle_of_a_stage(stack: Stack) -> None:
    recipe = slow_recipe(epochs=30)
    run_id = stack.submit(recipe)
    wait_for(lambda: stack.epochs_done(run_id, 0) >= 2, 60, "stage 0 to be under way")

    reply = stack.client.post(f"/api/v1/runs/{run_id}/cancel")
    assert reply.status_code == 200, reply.text
    # a hang guard, not a latency claim (benchmarks/latency.py measures the cancel latency)
    run = stack.wait_status(run_id, ("cancelled", "succeeded", "failed"), 120)

    assert run["status"] == "cancelled"
    stage0 = next(s for s in run["stages"] if s["index"] == 0)
    assert stage0["status"] == "cancelled"
    artifacts = stack.client.get(f"/api/v1/runs/{run_id}/artifacts").json()
    latest = max(
        artifacts, key=lambda a: (a["meta"]["stage"], a["meta"]["epoch"], a["meta"]["step"])
    )
    assert latest["meta"]["stage"] == 0 and latest["meta"]["epoch"] >= 1
    key = f"project-{stack.project_id}/run-{run_id}/checkpoints/{latest['name']}"
    assert (stack.settings.artifacts_dir / key).is_file()
    assert stack.epochs_done(run_id, 0) < 31  # it really stopped early


def test_sigkill_mid_stage_resumes_from_the_last_checkpoint(stack: Stack) -> None:
    recipe = slow_recipe(epochs=8)
    run_id = stack.submit(recipe)
    wait_for(lambda: stack.epochs_done(run_id, 0) >= 3, 60, "stage 0 to be under way")
    before = stack.run(run_id)
    assert before["status"] == "running"

    stack.kill_workers()
    done_when_killed = stack.epochs_done(run_id, 0)
    stack.start_worker()
    run = stack.wait_status(run_id, ("succeeded", "failed", "cancelled"), 120)

    assert run["status"] == "succeeded", run
    assert run["attempt_count"] == 2  # the takeover after the lost worker
    assert_complete_results(stack, run_id, recipe)
    log = stack.log_tail(100_000)
    assert "resuming from stage+000-epoch" in _events_text(stack, run_id), log
    assert done_when_killed < 9


def _events_text(stack: Stack, run_id: int) -> str:
    events = stack.client.get(f"/api/v1/runs/{run_id}/changes", params={"after": 0}).json()
    return "\n".join(str(e["data"]) for e in events["events"])
