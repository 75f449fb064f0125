"""The runs list's substring search (`q`) and tile filter, and the tile every list row carries."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Env, recipe


def _ids(client: Any, **params: Any) -> list[int]:
    response = client.get("/api/v1/runs", params=params)
    assert response.status_code == 200, response.text
    return sorted(r["id"] for r in response.json()["items"])


def test_search_matches_substrings_of_method_name_tile_and_tags(
    env: Env, team: dict[str, Any]
) -> None:
    editor, alpha = team["editor"], team["alpha"]
    paper = env.submit(editor, alpha, tags=["Baseline-A"])["id"]
    structured = env.submit(
        editor,
        alpha,
        recipe=recipe(name="only_50.structured", method="spatial-structured",
                      pretrain=recipe()["pretrain"], stages=[recipe()["stages"][0]],
                      tile="F(2,3)"),
    )["id"]  # fmt: skip
    outsiders = env.submit(team["outsider"], team["beta"], recipe=recipe(name="theirs.structured"))
    assert _ids(editor, q="struct") == [structured]  # a substring of the method
    assert _ids(editor, q="WINOGRAD") == [paper]  # case-insensitive ("spatial-winograd")
    assert _ids(editor, q="baseline") == [paper]  # tags too
    assert _ids(editor, q="F(2,3)") == [structured]  # the tile
    assert _ids(editor, q="digits") == [paper, structured]  # model and data set
    # LIKE's wildcards match only themselves
    assert _ids(editor, q="_50.") == [structured]
    assert _ids(editor, q="%") == [] and _ids(editor, q="_") == [structured]
    assert _ids(editor, q="no such run") == []
    # the outsider's project stays invisible to the search
    assert outsiders["id"] not in _ids(editor, q="theirs", limit=200)
    assert _ids(team["outsider"], q="theirs") == [outsiders["id"]]


def test_tile_is_listed_and_filtered(env: Env, team: dict[str, Any]) -> None:
    editor, alpha = team["editor"], team["alpha"]
    default = env.submit(editor, alpha)
    small = env.submit(editor, alpha, recipe=recipe(tile={"m": 2, "r": 3}))
    items = {r["id"]: r for r in editor.get("/api/v1/runs").json()["items"]}
    assert items[small["id"]]["tile"] == "F(2,3)"
    assert items[default["id"]]["tile"] == default["recipe"]["tile"]
    assert _ids(editor, tile="F(2,3)") == [small["id"]]


def test_overlong_search_is_422_naming_q(env: Env, team: dict[str, Any]) -> None:
    response = team["editor"].get("/api/v1/runs", params={"q": "x" * 65})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]


def test_sorts_by_model_and_tile_page_with_the_keyset(env: Env, team: dict[str, Any]) -> None:
    editor, alpha = team["editor"], team["alpha"]
    tiles = [{"m": 2, "r": 3}, "F(4,3)", {"m": 6, "r": 3}, {"m": 2, "r": 3}, "F(4,3)"]
    made = [env.submit(editor, alpha, recipe=recipe(tile=t))["id"] for t in tiles]
    for sort in ("tile", "model", "method", "dataset", "name"):
        for order in ("asc", "desc"):
            seen, cursor = [], None
            while True:
                params: dict[str, Any] = {"sort": sort, "order": order, "limit": 2}
                if cursor:
                    params["cursor"] = cursor
                page = editor.get("/api/v1/runs", params=params)
                assert page.status_code == 200, page.text
                seen += page.json()["items"]
                cursor = page.json()["next_cursor"]
                if cursor is None:
                    break
            assert sorted(r["id"] for r in seen) == sorted(made)  # each run once
            keys = [(r[sort], r["id"]) for r in seen]
            assert keys == sorted(keys, reverse=order == "desc")
