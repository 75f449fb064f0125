"""Projects and members: owners manage members, roles gate actions, outsiders see nothing."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Env


def test_creator_owns_a_new_project_and_names_are_unique(env: Env) -> None:
    client = env.client(env.user("ann"))
    created = client.post("/api/v1/projects", json={"name": "vision", "description": "d"})
    assert created.status_code == 201 and created.json()["role"] == "owner"
    assert [p["name"] for p in client.get("/api/v1/projects").json()] == ["vision"]
    duplicate = client.post("/api/v1/projects", json={"name": "vision"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"


def test_owner_invites_changes_roles_and_removes_members(env: Env, team: dict[str, Any]) -> None:
    owner, alpha = team["owner"], team["alpha"]
    newcomer = env.user("nina")
    added = owner.post(
        f"/api/v1/projects/{alpha}/members", json={"username": "nina", "role": "viewer"}
    )
    assert added.status_code == 201
    nina = env.client(newcomer)
    assert nina.get(f"/api/v1/projects/{alpha}").json()["role"] == "viewer"
    changed = owner.patch(
        f"/api/v1/projects/{alpha}/members/{newcomer.id}", json={"role": "editor"}
    )
    assert changed.json()["role"] == "editor"
    assert owner.delete(f"/api/v1/projects/{alpha}/members/{newcomer.id}").status_code == 204
    assert nina.get(f"/api/v1/projects/{alpha}").status_code == 404
    unknown = owner.post(f"/api/v1/projects/{alpha}/members", json={"username": "ghost"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "username"


def test_only_owners_manage_members(team: dict[str, Any]) -> None:
    alpha, viewer_id = team["alpha"], team["users"]["viewer"].id
    for who in ("editor", "viewer"):
        response = team[who].patch(
            f"/api/v1/projects/{alpha}/members/{viewer_id}", json={"role": "owner"}
        )
        assert response.status_code == 403, who


def test_the_last_owner_cannot_leave_or_be_demoted(team: dict[str, Any]) -> None:
    alpha, owner_id = team["alpha"], team["users"]["owner"].id
    demote = team["owner"].patch(
        f"/api/v1/projects/{alpha}/members/{owner_id}", json={"role": "viewer"}
    )
    assert demote.status_code == 409
    assert team["owner"].delete(f"/api/v1/projects/{alpha}/members/{owner_id}").status_code == 409


def test_members_may_leave_by_themselves(team: dict[str, Any]) -> None:
    alpha, viewer_id = team["alpha"], team["users"]["viewer"].id
    assert team["viewer"].delete(f"/api/v1/projects/{alpha}/members/{viewer_id}").status_code == 204
    assert team["viewer"].get("/api/v1/projects").json() == []


def test_admins_are_not_members_of_every_project(env: Env, team: dict[str, Any]) -> None:
    admin = env.client(env.user("root", is_admin=True))
    assert admin.get(f"/api/v1/projects/{team['alpha']}").status_code == 404
    assert admin.get("/api/v1/projects").json() == []
