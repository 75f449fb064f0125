"""The FastAPI application factory and `serve` (migrate, bootstrap the admin, run uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from server.artifacts.limits import UploadLimitMiddleware
from server.artifacts.router import MULTIPART_OVERHEAD
from server.artifacts.router import build_router as build_artifacts_router
from server.auth.ratelimit import AttemptLimiter
from server.auth.router import router as auth_router
from server.auth.service import password_hasher
from server.config import Settings
from server.db.session import (
    create_db_engine,
    create_read_session_factory,
    create_session_factory,
)
from server.errors import API_ERROR_RESPONSES, install_error_handlers
from server.events.router import router as events_router
from server.health.checks import broker_check_for
from server.health.router import router as health_router
from server.pages import install as install_pages
from server.projects.router import router as projects_router
from server.results.router import router as results_router
from server.runs.dispatch import load_enqueue
from server.runs.queue_router import router as queue_router
from server.runs.router import router as runs_router
from server.sensitivity.router import router as sensitivity_router
from server.speed.router import router as speed_router
from server.tracking.router import build_router as build_tracking_router
from server.users.router import router as users_router

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: settings, database engine, auth helpers, routers, error handlers."""
    settings = settings or Settings()
    _ = settings.jwt_secret  # refuse a weak secret in production now, not at first login
    engine = create_db_engine(settings.resolved_database_url, settings.db_pool_size)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="winoprune",
        version="1",
        description="Spatial-Winograd pruning experiments: runs, results, artifacts.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = create_session_factory(engine)
    app.state.read_session_factory = create_read_session_factory(engine)
    app.state.password_hasher = password_hasher(settings)
    app.state.login_limiter = AttemptLimiter(
        app.state.session_factory, settings.login_max_failures, settings.login_window_s
    )
    app.state.password_limiter = AttemptLimiter(
        app.state.session_factory, settings.password_max_failures, settings.login_window_s
    )
    app.state.enqueue_run = load_enqueue(settings.dispatcher)
    app.state.broker_check = broker_check_for(settings.resolved_broker_url)

    api = APIRouter(prefix=API_PREFIX, responses=API_ERROR_RESPONSES)
    for router in (
        auth_router,
        users_router,
        projects_router,
        runs_router,
        sensitivity_router,
        speed_router,
        queue_router,
        results_router,
        events_router,
        build_artifacts_router(settings.max_upload_bytes),
        build_tracking_router(settings.max_upload_bytes),
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(health_router)
    install_error_handlers(app)
    install_pages(app)
    app.add_middleware(
        UploadLimitMiddleware,
        max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD,
        limit_mb=settings.max_upload_mb,
    )
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Migrate the database to head, create the admin on first start, and run uvicorn (in
    ``workers`` processes, each on its own SO_REUSEPORT socket, when more than one)."""
    import uvicorn

    from server.db.migrate import upgrade_to_head
    from server.users.service import bootstrap_admin

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.resolved_database_url)
    app = create_app(settings)
    with app.state.session_factory() as session:
        password = bootstrap_admin(session, app.state.password_hasher, settings)
    if password:
        # Printed once: it is stored only as an argon2 hash.
        print(
            f"winoprune: created user {settings.admin_username!r} with password {password}\n"
            "winoprune: this is shown only once; log in and change it at /account "
            "(create more users at /admin/users)",
            flush=True,
        )
    if workers > 1:
        from server.serving import run_workers

        app.state.engine.dispose()  # each worker process builds its own app and engine
        run_workers(host, port, workers)
        return
    uvicorn.run(app, host=host, port=port, proxy_headers=False)
