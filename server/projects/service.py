"""Projects, memberships and the access rule: non-members get 404, low roles 403."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import Membership, Project, User
from server.errors import ApiError, not_found

ROLE_RANK = {"viewer": 0, "editor": 1, "owner": 2}


def token_project(user: User) -> int | None:
    """The one project a project-scoped API token limits this request to (None: no limit)."""
    scope: int | None = getattr(user, "token_project_id", None)
    return scope


def member_project_ids(user: User) -> Select[int]:
    """SELECT of the ids of the projects the user is a member of (for scoping queries)."""
    query = select(Membership.project_id).where(Membership.user_id == user.id)
    scope = token_project(user)
    return query if scope is None else query.where(Membership.project_id == scope)


def role_in(session: Session, user: User, project_id: int) -> str | None:
    """The user's role in the project, or None when not a member (or when the request's token
    is scoped to another project)."""
    scope = token_project(user)
    if scope is not None and scope != project_id:
        return None
    return session.scalar(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == user.id
        )
    )


def require_role(
    session: Session, user: User, project_id: int, minimum: str, what: str = "project"
) -> str:
    """The user's role; 404 when not a member (existence stays secret), 403 when too low.

    `what` names the resource looked up, so the 404 reads exactly like a missing id's.
    """
    role = role_in(session, user, project_id)
    if role is None:
        raise not_found(what)
    return check_rank(role, minimum)


def check_rank(role: str, minimum: str) -> str:
    """`role` when it is at least `minimum`, else 403."""
    if ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise ApiError(403, f"role: this needs the {minimum} role in the project (you: {role})")
    return role


def create_project(session: Session, user: User, name: str, description: str) -> Project:
    """Create a project owned by `user`; 409 when the name is taken."""
    project = Project(name=name, description=description)
    session.add(project)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "name: a project with this name exists", field="name") from None
    session.add(Membership(project_id=project.id, user_id=user.id, role="owner"))
    session.commit()
    return project


def list_projects(session: Session, user: User) -> list[tuple[Project, str]]:
    """The user's projects with their role, by name."""
    query = (
        select(Project, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == user.id)
        .order_by(Project.name)
    )
    if (scope := token_project(user)) is not None:
        query = query.where(Project.id == scope)
    return [(project, role) for project, role in session.execute(query)]


def list_members(session: Session, project_id: int) -> list[Membership]:
    """The project's members, by user name."""
    query = (
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(User.username)
    )
    return list(session.scalars(query))


def add_member(session: Session, project_id: int, username: str, role: str) -> Membership:
    """Invite a user by name; 422 for an unknown user, 409 when already a member."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise ApiError(422, "username: no such user", field="username")
    if role_in(session, user, project_id) is not None:
        raise ApiError(409, "username: already a member", field="username")
    membership = Membership(project_id=project_id, user_id=user.id, role=role)
    session.add(membership)
    session.commit()
    return membership


def _membership(session: Session, project_id: int, user_id: int) -> Membership:
    membership = session.get(Membership, (project_id, user_id))
    if membership is None:
        raise not_found("member")
    return membership


def _ensure_not_last_owner(session: Session, membership: Membership) -> None:
    owners = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.project_id == membership.project_id, Membership.role == "owner")
    )
    if membership.role == "owner" and (owners or 0) <= 1:
        raise ApiError(409, "role: a project needs at least one owner", field="role")


def change_role(session: Session, project_id: int, user_id: int, role: str) -> Membership:
    """Change a member's role (the last owner cannot be demoted)."""
    membership = _membership(session, project_id, user_id)
    if role != "owner":
        _ensure_not_last_owner(session, membership)
    membership.role = role
    session.commit()
    return membership


def remove_member(session: Session, project_id: int, user_id: int) -> None:
    """Remove a member (not the last owner)."""
    membership = _membership(session, project_id, user_id)
    _ensure_not_last_owner(session, membership)
    session.delete(membership)
    session.commit()
