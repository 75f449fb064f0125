"""GET /runs/{id}/patterns of a DWM run: one zero map per DWM piece, from the stage's checkpoint
(spatial stage: the masked spatial weights; Winograd stage: the packed Q of each DWM layer)."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Env
from tests.server.dwm_checkpoints import save_dwm_checkpoint
from winoprune.winograd.dwm import DWMConv2d


def _checkpoint(env: Env, team: dict[str, Any], stage: int, winograd: bool) -> tuple[int, Any]:
    run_id = int(env.submit(team["editor"], team["alpha"])["id"])
    model = save_dwm_checkpoint(env, run_id, stage, winograd)
    assert isinstance(model.conv1, DWMConv2d) == winograd
    return run_id, model


def _patterns(team: dict[str, Any], run_id: int, stage: int, **params: Any) -> dict[str, Any]:
    response = team["viewer"].get(
        f"/api/v1/runs/{run_id}/patterns", params={"stage": stage, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_winograd_stage_gives_a_map_per_piece_of_every_dwm_layer(
    env: Env, team: dict[str, Any]
) -> None:
    run_id, model = _checkpoint(env, team, stage=4, winograd=True)
    body = _patterns(team, run_id, 4)
    pieces = body["pieces"]
    assert sorted(pieces) == sorted(
        ["conv1", *(f"layer{s}.0.{c}" for s in (2, 3, 4) for c in ("conv1", "downsample.0"))]
    )
    conv1 = pieces["conv1"]
    assert len(conv1) == 9 and conv1[0]["label"] == "2x2 at (0, 0), phase (0, 0)"
    q = model.conv1.weight.detach()
    for entry, piece in zip(conv1, model.conv1.layout.pieces, strict=True):
        assert [len(entry["zeros"]), len(entry["zeros"][0])] == list(piece.tile)
        expected = (q[:, :, piece.positions] == 0).double().mean(dim=(0, 1))
        assert [v for row in entry["zeros"] for v in row] == expected.tolist()
        assert min(v for row in entry["zeros"] for v in row) >= 0.5  # half the kernels are zero
    assert len(pieces["layer2.0.downsample.0"]) == 1  # 1x1 stride 2: one 2x2 identity piece
    # the stride-1 3x3 convs keep their a x a map (F(2,3): 4x4) and have no pieces
    assert len(body["layers"]["layer1.0.conv1"]) == 4 and "layer1.0.conv1" not in pieces
    one = _patterns(team, run_id, 4, layer="conv1")
    assert one["pieces"] == conv1 and len(one["zeros"]) == 1  # the packed (1, P) row
    plain = _patterns(team, run_id, 4, layer="layer1.0.conv2")
    assert plain["pieces"] is None and len(plain["zeros"]) == 4


def test_a_spatial_stage_maps_the_masked_spatial_weights_per_piece(
    env: Env, team: dict[str, Any]
) -> None:
    run_id, _ = _checkpoint(env, team, stage=1, winograd=False)
    entry = _patterns(team, run_id, 1, layer="layer2.0.conv1")
    labels = [p["label"] for p in entry["pieces"]]
    assert labels == [
        "2x2 at (0, 0), phase (0, 0)",
        "2x1 at (0, 0), phase (0, 1)",
        "1x2 at (0, 0), phase (1, 0)",
        "1x1 at (0, 0), phase (1, 1)",
    ]
    # the zeroed middle kernel row is the odd row phase: pieces of phase (1, *) are all zero
    for piece in entry["pieces"]:
        values = [v for row in piece["zeros"] for v in row]
        assert (min(values) == 1.0) == (piece["phase"][0] == 1)
