"""Pretrained-weight uploads: safetensors only, checked against the model, size-limited."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from tests.server.conftest import Env, recipe
from winoprune.models import build_model


def _weights(**overrides: torch.Tensor) -> bytes:
    state = {k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()}
    state.update(overrides)
    return save(state)


def _upload(client: Any, project: int, data: bytes, model: str = "digits-cnn", **form: str) -> Any:
    return client.post(
        f"/api/v1/projects/{project}/artifacts",
        files={"file": ("w.safetensors", data, "application/octet-stream")},
        data={"model": model, **form},
    )


def test_upload_validate_download_and_use_in_a_recipe(env: Env, team: dict[str, Any]) -> None:
    before = _stored(env)
    data = _weights()
    response = _upload(team["editor"], team["alpha"], data)
    assert response.status_code == 201, response.text
    artifact = response.json()
    assert (
        artifact["kind"] == "pretrained" and artifact["sha256"] == hashlib.sha256(data).hexdigest()
    )
    download = team["viewer"].get(f"/api/v1/artifacts/{artifact['id']}/download")
    assert download.status_code == 200 and download.content == data
    listed = team["viewer"].get(f"/api/v1/projects/{team['alpha']}/artifacts").json()
    assert [a["id"] for a in listed] == [artifact["id"]]
    run = team["editor"].post(
        "/api/v1/runs",
        json={
            "project": team["alpha"],
            "recipe": recipe(pretrain=None, init_checkpoint=f"artifact:{artifact['id']}"),
        },
    )
    assert run.status_code == 201
    elsewhere = team["outsider"].post(
        "/api/v1/runs",
        json={
            "project": team["beta"],
            "recipe": recipe(pretrain=None, init_checkpoint=f"artifact:{artifact['id']}"),
        },
    )
    assert elsewhere.status_code == 422  # an artifact of another project is not visible
    assert team["editor"].delete(f"/api/v1/artifacts/{artifact['id']}").status_code == 204
    assert _stored(env) == before


def test_pickles_and_garbage_are_rejected_without_unpickling(
    env: Env, team: dict[str, Any]
) -> None:
    class Boom:
        def __reduce__(self) -> Any:
            return (exec, ("raise SystemExit('unpickled!')",))

    before = _stored(env)
    for payload in (pickle.dumps(Boom()), b"not a checkpoint", b""):
        response = _upload(team["editor"], team["alpha"], payload)
        assert response.status_code == 422
        assert response.json()["field"] == "file"
    assert _stored(env) == before


def _stored(env: Env) -> set[Path]:
    """The artifact files on disk (the data folder lives as long as the test session)."""
    return set(env.settings.artifacts_dir.rglob("*.safetensors"))


def _messages(response: Any) -> str:
    """The 422 body's messages (its `detail` is always the documented list)."""
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    return " ".join(item["msg"] for item in detail)


def test_names_and_shapes_must_match_the_model(team: dict[str, Any]) -> None:
    wrong_shape = _weights(**{"classifier.weight": torch.zeros(3, 32)})
    response = _upload(team["editor"], team["alpha"], wrong_shape)
    assert response.status_code == 422 and "classifier.weight" in _messages(response)
    extra = _weights(**{"sneaky": torch.zeros(1)})
    assert "sneaky" in _messages(_upload(team["editor"], team["alpha"], extra))
    unknown = _upload(team["editor"], team["alpha"], _weights(), model="no-such-net")
    assert unknown.status_code == 422 and unknown.json()["field"] == "model"


def test_num_classes_builds_the_model_the_weights_are_checked_against(
    team: dict[str, Any],
) -> None:
    seven = {
        k: v.contiguous() for k, v in build_model("digits-cnn", num_classes=7).state_dict().items()
    }
    editor, project = team["editor"], team["alpha"]
    assert _upload(editor, project, save(seven), num_classes="7").status_code == 201
    for data, form in ((save(seven), {}), (_weights(), {"num_classes": "7"})):
        response = _upload(editor, project, data, **form)  # 7 against 10, and 10 against 7
        assert response.status_code == 422 and "shape of classifier." in _messages(response)


def test_an_upload_missing_a_tensor_is_422_and_stores_nothing(
    env: Env, team: dict[str, Any]
) -> None:
    state = {k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()}
    before = _stored(env)
    for left_out in [k for k in state if not k.endswith("num_batches_tracked")][::3]:
        partial = save({k: v for k, v in state.items() if k != left_out})
        response = _upload(team["editor"], team["alpha"], partial)
        assert response.status_code == 422, left_out
        assert left_out in _messages(response) and "missing" in _messages(response)
    assert _stored(env) == before
    # counters are optional: a file without them is complete
    counters = save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    assert _upload(team["editor"], team["alpha"], counters).status_code == 201


def test_uploads_over_the_limit_are_413(team: dict[str, Any]) -> None:
    big = save({"x": torch.zeros(400_000)})  # 1.6 MB > the 1 MB test limit
    response = _upload(team["editor"], team["alpha"], big)
    assert response.status_code == 413
    assert "MAX_UPLOAD_MB" in response.text


def test_viewers_cannot_upload(team: dict[str, Any]) -> None:
    assert _upload(team["viewer"], team["alpha"], _weights()).status_code == 403
