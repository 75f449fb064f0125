"""Project endpoints: create, list, get, update, and member management (owners)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from server.auth.deps import CurrentUser, DbSession
from server.db.models import Membership, Project
from server.errors import not_found
from server.params import IdPath
from server.projects import service
from server.projects.schemas import (
    MemberAdd,
    MemberOut,
    MemberUpdate,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)

router = APIRouter(prefix="/projects", tags=["projects"])


def _project_out(project: Project, role: str) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        created_at=project.created_at,
        role=role,  # type: ignore[arg-type]
    )


def _member_out(membership: Membership) -> MemberOut:
    return MemberOut(
        user_id=membership.user_id,
        username=membership.user.username,
        role=membership.role,  # type: ignore[arg-type]
        created_at=membership.created_at,
    )


@router.post("", response_model=ProjectOut, status_code=201)
def create_project(session: DbSession, user: CurrentUser, body: ProjectCreate) -> ProjectOut:
    """Create a project; the caller becomes its owner."""
    project = service.create_project(session, user, body.name, body.description)
    return _project_out(project, "owner")


@router.get("", response_model=list[ProjectOut])
def list_projects(session: DbSession, user: CurrentUser) -> list[ProjectOut]:
    """The caller's projects with the caller's role."""
    return [_project_out(p, role) for p, role in service.list_projects(session, user)]


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(session: DbSession, user: CurrentUser, project_id: IdPath) -> ProjectOut:
    """One project the caller is a member of."""
    role = service.require_role(session, user, project_id, "viewer")
    project = session.get(Project, project_id)
    if project is None:
        raise not_found("project")
    return _project_out(project, role)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(
    session: DbSession, user: CurrentUser, project_id: IdPath, body: ProjectUpdate
) -> ProjectOut:
    """Change a project's description (owners)."""
    role = service.require_role(session, user, project_id, "owner")
    project = session.get(Project, project_id)
    if project is None:
        raise not_found("project")
    if body.description is not None:
        project.description = body.description
    session.commit()
    return _project_out(project, role)


@router.get("/{project_id}/members", response_model=list[MemberOut])
def list_members(session: DbSession, user: CurrentUser, project_id: IdPath) -> list[MemberOut]:
    """The project's members and roles."""
    service.require_role(session, user, project_id, "viewer")
    return [_member_out(m) for m in service.list_members(session, project_id)]


@router.post("/{project_id}/members", response_model=MemberOut, status_code=201)
def add_member(
    session: DbSession, user: CurrentUser, project_id: IdPath, body: MemberAdd
) -> MemberOut:
    """Invite a user by name with a role (owners)."""
    service.require_role(session, user, project_id, "owner")
    return _member_out(service.add_member(session, project_id, body.username, body.role))


@router.patch("/{project_id}/members/{user_id}", response_model=MemberOut)
def change_member_role(
    session: DbSession, user: CurrentUser, project_id: IdPath, user_id: IdPath, body: MemberUpdate
) -> MemberOut:
    """Change a member's role (owners; a project keeps at least one owner)."""
    service.require_role(session, user, project_id, "owner")
    return _member_out(service.change_role(session, project_id, user_id, body.role))


@router.delete("/{project_id}/members/{user_id}", status_code=204)
def remove_member(
    session: DbSession, user: CurrentUser, project_id: IdPath, user_id: IdPath
) -> Response:
    """Remove a member (owners; any member may remove themselves)."""
    minimum = "viewer" if user_id == user.id else "owner"
    service.require_role(session, user, project_id, minimum)
    service.remove_member(session, project_id, user_id)
    return Response(status_code=204)
