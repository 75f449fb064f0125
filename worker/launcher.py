"""Start workers as subprocesses: the embedded one next to `winoprune serve`, or one per GPU.

``spawn_worker(settings)`` starts ``celery -A worker.celery_app worker`` (concurrency 1, prefork:
the training runs in a pool process that a crash or a time limit can replace) with the
settings passed through WINOPRUNE_* variables; ``stop_worker`` ends it. ``python -m worker``
runs one worker in the foreground, or one per GPU with ``--gpus 0,1``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import SecretStr

from server.config import Settings
from server.runs.dispatch import CELERY_DISPATCHER

STOP_TIMEOUT_S = 10.0


def settings_env(settings: Settings) -> dict[str, str]:
    """WINOPRUNE_* variables that reproduce ``settings`` in a child process."""
    env = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"WINOPRUNE_{name.upper()}"] = str(value)
    return env


def worker_command(queues: Sequence[str], name: str, loglevel: str = "INFO") -> list[str]:
    """The celery command line of one worker (one training process)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--loglevel",
        loglevel,
        "--concurrency",
        "1",
        "--pool",
        "prefork",
        "--queues",
        ",".join(dict.fromkeys(queues)),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def default_queues(settings: Settings) -> list[str]:
    """Both queues: a worker with a GPU also takes CPU runs."""
    return [settings.worker_queue_gpu, settings.worker_queue_cpu]


def spawn_worker(
    settings: Settings,
    queues: Sequence[str] | None = None,
    name: str = "winoprune",
    extra_env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start one worker process (its own process group, so ``stop_worker`` ends its children)."""
    env = {**os.environ, **settings_env(settings), **(extra_env or {})}
    repo_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH")) if p)
    output = log_file.open("ab") if log_file is not None else None
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            worker_command(queues or default_queues(settings), name),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )
    finally:
        if output is not None:
            output.close()


def stop_worker(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Warm shutdown (SIGTERM), then kill the process group after ``timeout_s``.

    A slice cut short this way is picked up again by the sweeper once its lease expires.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)  # the main process only: a warm shutdown
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)
    return process.wait(timeout=timeout_s)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def prepare_broker(settings: Settings) -> None:
    """Create the queues once (the SQLite broker's tables) before several processes race."""
    from worker.celery_app import create_celery_app

    app = create_celery_app(settings)
    with app.connection_for_write() as connection:
        for queue in dict.fromkeys(default_queues(settings)):
            connection.default_channel.queue_declare(queue=queue, passive=False)


def wants_embedded_worker(settings: Settings) -> bool:
    """Whether `winoprune serve` starts a worker: the setting, else iff the broker is embedded."""
    if settings.worker_embedded is not None:
        return settings.worker_embedded
    return settings.broker_is_embedded


def serve_with_worker(host: str = "127.0.0.1", port: int = 8000, web_workers: int = 1) -> None:
    """`winoprune serve`: the API plus, with an embedded broker, one worker beside it."""
    from server.db.migrate import upgrade_to_head
    from server.main import serve

    os.environ.setdefault("WINOPRUNE_DISPATCHER", CELERY_DISPATCHER)
    settings = Settings()
    worker = None
    if wants_embedded_worker(settings):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_to_head(settings.resolved_database_url)
        prepare_broker(settings)
        worker = spawn_worker(settings, log_file=settings.data_dir / "worker.log")
        print(
            f"winoprune: worker started (pid {worker.pid}, log {settings.data_dir / 'worker.log'})"
        )
    # uvicorn re-raises SIGTERM/SIGINT after its shutdown: turn them into SystemExit so that
    # the `finally` below still stops the worker
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    try:
        serve(host=host, port=port, workers=web_workers)
    finally:
        if worker is not None:
            stop_worker(worker)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m worker [--queues gpu,cpu] [--gpus 0,1] [--name NAME] [--loglevel INFO]`."""
    parser = argparse.ArgumentParser(prog="python -m worker", description=main.__doc__)
    parser.add_argument("--queues", help="comma-separated queues (default: the GPU and CPU ones)")
    parser.add_argument("--gpus", help="comma-separated GPU ids: one worker per GPU")
    parser.add_argument("--name", default="winoprune", help="worker name (hostname prefix)")
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    settings = Settings()
    queues = args.queues.split(",") if args.queues else default_queues(settings)
    if not args.gpus:
        os.execv(sys.executable, worker_command(queues, args.name, args.loglevel))  # noqa: S606
    workers = [
        spawn_worker(settings, queues, f"{args.name}-gpu{gpu}", {"CUDA_VISIBLE_DEVICES": gpu})
        for gpu in args.gpus.split(",")
    ]
    try:
        while all(w.poll() is None for w in workers):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in workers:
            stop_worker(process)
