"""Artifact endpoints: upload weights, list, metadata, streamed download, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse

from server.artifacts import service, storage
from server.artifacts.schemas import ArtifactOut
from server.auth.deps import CurrentUser, DbSession
from server.params import IdPath
from server.projects.service import require_role
from server.runs.service import get_run

# Multipart framing around the file; the file itself is checked against the exact limit.
MULTIPART_OVERHEAD = 64 * 1024
ArtifactKind = Literal["checkpoint", "pretrained", "export"]


def build_router(max_upload_bytes: int) -> APIRouter:
    """The artifact routes; the request-size limit comes from the settings."""
    router = APIRouter(tags=["artifacts"])
    router.add_api_route(
        "/projects/{project_id}/artifacts",
        upload_weights,
        methods=["POST"],
        response_model=ArtifactOut,
        status_code=201,
        max_body_size=max_upload_bytes + MULTIPART_OVERHEAD,
    )
    router.add_api_route(
        "/projects/{project_id}/artifacts", list_project_artifacts, response_model=list[ArtifactOut]
    )
    router.add_api_route(
        "/runs/{run_id}/artifacts", list_run_artifacts, response_model=list[ArtifactOut]
    )
    router.add_api_route("/artifacts/{artifact_id}", get_artifact, response_model=ArtifactOut)
    router.add_api_route(
        "/artifacts/{artifact_id}/download", download_artifact, response_class=FileResponse
    )
    router.add_api_route(
        "/artifacts/{artifact_id}", delete_artifact, methods=["DELETE"], status_code=204
    )
    return router


def upload_weights(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    project_id: IdPath,
    file: Annotated[UploadFile, File(description="a .safetensors state dict")],
    model: Annotated[str, Form(max_length=64)],
    width: Annotated[float, Form(gt=0, le=16)] = 1.0,
    num_classes: Annotated[int | None, Form(ge=1, le=100_000)] = None,
    name: Annotated[str | None, Form(max_length=200)] = None,
    tile: Annotated[
        str | None, Form(max_length=16, description="Winograd-ReLU models: the recipe's tile")
    ] = None,
    input_layer: Annotated[
        str | None, Form(max_length=32, description="Winograd-ReLU models: model.input_layer")
    ] = None,
) -> ArtifactOut:
    """Upload pretrained weights (safetensors, checked against the model) into a project."""
    artifact = service.upload_pretrained(
        session,
        request.app.state.settings,
        user,
        project_id,
        file.file,
        name or file.filename or "weights.safetensors",
        model,
        width,
        num_classes,
        tile,
        input_layer,
    )
    return ArtifactOut.model_validate(artifact)


def list_project_artifacts(
    session: DbSession, user: CurrentUser, project_id: IdPath, kind: ArtifactKind | None = None
) -> list[ArtifactOut]:
    """A project's artifacts (uploads and run checkpoints)."""
    require_role(session, user, project_id, "viewer")
    rows = service.list_artifacts(session, project_id=project_id, kind=kind)
    return [ArtifactOut.model_validate(a) for a in rows]


def list_run_artifacts(session: DbSession, user: CurrentUser, run_id: IdPath) -> list[ArtifactOut]:
    """A run's checkpoints and exports."""
    run = get_run(session, user, run_id)
    return [ArtifactOut.model_validate(a) for a in service.list_artifacts(session, run_id=run.id)]


def get_artifact(session: DbSession, user: CurrentUser, artifact_id: IdPath) -> ArtifactOut:
    """One artifact's metadata."""
    return ArtifactOut.model_validate(service.get_artifact(session, user, artifact_id))


def download_artifact(
    request: Request, session: DbSession, user: CurrentUser, artifact_id: IdPath
) -> FileResponse:
    """Stream an artifact's file (addressed by id only)."""
    artifact = service.get_artifact(session, user, artifact_id)
    path = storage.resolve_stored(request.app.state.settings, artifact.path)
    if not path.is_file():
        from server.errors import not_found

        raise not_found("artifact file")
    # a run's files are saved under names that carry the run id (files of many runs stay apart)
    name = artifact.name
    if artifact.run_id is not None and not name.startswith(f"run-{artifact.run_id}-"):
        name = f"run-{artifact.run_id}-{name}"
    return FileResponse(path, media_type="application/octet-stream", filename=name)


def delete_artifact(
    request: Request, session: DbSession, user: CurrentUser, artifact_id: IdPath
) -> Response:
    """Delete an uploaded artifact (editors)."""
    artifact = service.get_artifact(session, user, artifact_id, "editor")
    storage.remove_files(request.app.state.settings, [service.delete_artifact(session, artifact)])
    return Response(status_code=204)
