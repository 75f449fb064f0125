"""Pretrained weights of Winograd-ReLU models: checked against the model built with the tile
and input layer the recipe will use (Q is (K, C, a, a), a = m + 2)."""

from __future__ import annotations

from typing import Any

from safetensors.torch import save

from tests.server.conftest import Env
from winoprune.models import build_model


def _weights(tile: str, **options: str) -> bytes:
    model = build_model("digits-cnn-wrelu", tile=tile, **options)
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def _upload(client: Any, project: int, data: bytes, **form: str) -> Any:
    response = client.post(
        f"/api/v1/projects/{project}/artifacts",
        files={"file": ("w.safetensors", data, "application/octet-stream")},
        data={"model": form.pop("model", "digits-cnn-wrelu"), **form},
    )
    if response.status_code == 201:  # the artifacts folder is shared by the session's tests
        client.delete(f"/api/v1/artifacts/{response.json()['id']}")
    return response


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.text


def test_f43_and_f23_weights_upload_with_their_tile(env: Env, team: dict[str, Any]) -> None:
    editor, project = team["editor"], team["alpha"]
    f43, f23 = _weights("F(4,3)"), _weights("F(2,3)")
    ok = _upload(editor, project, f43, tile="F(4,3)")
    assert ok.status_code == 201, ok.text
    assert ok.json()["meta"]["tile"] == "F(4,3)"
    # no tile: the recipe's default tile, F(4,3), as a recipe without `tile` builds the model
    assert _upload(editor, project, f43).status_code == 201
    assert _upload(editor, project, f23, tile="F(2,3)").status_code == 201
    status, text = _error(_upload(editor, project, f23))
    assert status == 422 and "expects [" in text and "tile F(4,3)" in text
    spatial = _weights("F(2,3)", input_layer="spatial")  # first layer a plain 3x3 conv
    assert _upload(editor, project, spatial, tile="F(2,3)").status_code == 422
    good = _upload(editor, project, spatial, tile="F(2,3)", input_layer="spatial")
    assert good.status_code == 201, good.text


def test_bad_options_name_their_field(env: Env, team: dict[str, Any]) -> None:
    editor, project = team["editor"], team["alpha"]
    wrong_tile = _upload(editor, project, _weights("F(2,3)"), tile="F(2,5)")
    assert wrong_tile.status_code == 422 and "tile" in wrong_tile.json()["detail"][0]["loc"]
    plain = _upload(editor, project, b"x", model="digits-cnn", input_layer="spatial")
    assert plain.status_code == 422 and "input_layer" in plain.text
