"""Tracking API routes: create an external run, post batches and checkpoints, finish it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from server.artifacts.router import MULTIPART_OVERHEAD
from server.artifacts.schemas import ArtifactOut
from server.auth.deps import CurrentUser, DbSession
from server.params import IdPath
from server.runs.router import IdempotencyKey
from server.runs.schemas import RunDetail, run_detail
from server.tracking import ingest, service
from server.tracking.schemas import Batch, BatchResult, EpochIndex, ExternalRunCreate, FinishBody

PREFIX = "/tracking/runs"


def create_external_run(
    response: Response,
    session: DbSession,
    user: CurrentUser,
    body: ExternalRunCreate,
    idempotency_key: IdempotencyKey = None,
) -> RunDetail:
    """Create an external run (editors): no worker takes it; its client feeds and ends it."""
    run, replayed = service.create_external_run(session, user, body, idempotency_key)
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return run_detail(run)


def post_batch(session: DbSession, user: CurrentUser, run_id: IdPath, body: Batch) -> BatchResult:
    """Store stage states, epoch metrics and per-layer rows, whole or not at all (editors)."""
    run = service.external_run(session, user, run_id)
    return ingest.store_batch(session, run, body)


def post_checkpoint(
    request: Request,
    response: Response,
    session: DbSession,
    user: CurrentUser,
    run_id: IdPath,
    file: Annotated[UploadFile, File(description="a .safetensors checkpoint")],
    stage: Annotated[int, Form(ge=-1, le=10_000)],
    epoch: Annotated[EpochIndex, Form()],
    stage_done: Annotated[bool, Form()] = False,
    name: Annotated[str | None, Form(max_length=200, pattern=r"^[^\x00/\\]+$")] = None,
) -> ArtifactOut:
    """Upload a checkpoint of the run (editors); the same file again returns the stored one."""
    run = service.external_run(session, user, run_id)
    artifact, replayed = service.store_checkpoint(
        session,
        request.app.state.settings,
        run,
        file.file,
        name or file.filename or "checkpoint.safetensors",
        stage,
        epoch,
        stage_done,
    )
    if replayed:
        response.status_code = 200
    return ArtifactOut.model_validate(artifact)


def finish_external_run(
    session: DbSession, user: CurrentUser, run_id: IdPath, body: FinishBody
) -> RunDetail:
    """Mark the run succeeded, failed or cancelled (editors)."""
    run = service.external_run(session, user, run_id)
    return run_detail(service.finish_run(session, run, body))


def build_router(max_upload_bytes: int) -> APIRouter:
    """The tracking routes (the checkpoint upload's size limit comes from the settings)."""
    router = APIRouter(prefix=PREFIX, tags=["tracking"])
    router.add_api_route(
        "", create_external_run, methods=["POST"], response_model=RunDetail, status_code=201
    )
    router.add_api_route(
        "/{run_id}/batches", post_batch, methods=["POST"], response_model=BatchResult
    )
    router.add_api_route(
        "/{run_id}/checkpoints",
        post_checkpoint,
        methods=["POST"],
        response_model=ArtifactOut,
        status_code=201,
        max_body_size=max_upload_bytes + MULTIPART_OVERHEAD,
    )
    router.add_api_route(
        "/{run_id}/finish", finish_external_run, methods=["POST"], response_model=RunDetail
    )
    return router
