"""A small REST client of the winoprune service (used by `winoprune submit|status|watch|...`).

Configuration, first match wins: command-line options, the environment (WINOPRUNE_SERVER,
WINOPRUNE_TOKEN, WINOPRUNE_PROJECT), then ``~/.config/winoprune/config.toml`` (or
``config.json``; another file with WINOPRUNE_CONFIG) holding ``server``, ``token``, ``project``.
httpx is imported lazily: the core library does not need it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"
API = "/api/v1"
CONFIG_DIR = Path("~/.config/winoprune")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")


class ClientError(Exception):
    """A request the service refused (``status`` 0: the service could not be reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class ClientConfig:
    """Where the service is and who calls it."""

    server: str = DEFAULT_SERVER
    token: str | None = None
    project: str | None = None


def config_file() -> Path | None:
    """The config file in use, if any (WINOPRUNE_CONFIG, else config.toml, else config.json)."""
    given = os.environ.get("WINOPRUNE_CONFIG")
    if given:
        return Path(given).expanduser()
    for name in ("config.toml", "config.json"):
        path = (CONFIG_DIR / name).expanduser()
        if path.is_file():
            return path
    return None


def read_config_file(path: Path | None) -> dict[str, Any]:
    """The settings in a TOML or JSON config file ({} when there is none)."""
    if path is None or not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"config: {path} is not valid {path.suffix[1:]}: {exc}") from None
    return dict(data)


def resolve_config(
    server: str | None = None, token: str | None = None, project: str | None = None
) -> ClientConfig:
    """Options, then environment, then the config file, then defaults."""
    stored = read_config_file(config_file())

    def pick(option: str | None, env: str, key: str) -> str | None:
        value = option or os.environ.get(env) or stored.get(key)
        return None if value is None else str(value)

    return ClientConfig(
        server=(pick(server, "WINOPRUNE_SERVER", "server") or DEFAULT_SERVER).rstrip("/"),
        token=pick(token, "WINOPRUNE_TOKEN", "token"),
        project=pick(project, "WINOPRUNE_PROJECT", "project"),
    )


def error_message(response: httpx.Response) -> str:
    """The service's error text ({"detail": ...}; 422 lists name each field)."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg', '')}"
            for item in detail
        )
    return str(detail)


class Client:
    """Calls the service's REST API v1 with a bearer token."""

    def __init__(self, config: ClientConfig, timeout_s: float = 30.0, transport: Any = None):
        import httpx

        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self.config = config
        self.http = httpx.Client(
            base_url=config.server + API, headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """JSON of a successful response; ClientError otherwise."""
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ClientError(0, f"cannot reach {self.config.server}: {exc}") from None
        if response.status_code >= 400:
            raise ClientError(response.status_code, error_message(response))
        return response.json() if response.content else None

    # -- resources ----------------------------------------------------------------------------
    def project_id(self, name_or_id: str) -> int:
        """A project's id from its name (or its id as text)."""
        projects = self.request("GET", "/projects")
        for project in projects:
            if project["name"] == name_or_id or str(project["id"]) == name_or_id:
                return int(project["id"])
        names = ", ".join(p["name"] for p in projects) or "none"
        raise ClientError(404, f"project: no project {name_or_id!r} (yours: {names})")

    def submit(self, project: int, recipe: str, tags: list[str], notes: str, key: str) -> Any:
        """Queue a run; ``key`` (Idempotency-Key) makes a retried submit return the same run."""
        body = {"project": project, "recipe": recipe, "tags": tags, "notes": notes}
        return self.request("POST", "/runs", json=body, headers={"Idempotency-Key": key})

    def run(self, run_id: int) -> Any:
        """A run with its stages."""
        return self.request("GET", f"/runs/{run_id}")

    def changes(self, run_id: int, after: int) -> Any:
        """Polling: {"events": [...], "cursor": id} after ``after``."""
        return self.request("GET", f"/runs/{run_id}/changes", params={"after": after})

    def events(self, run_id: int, after: int, read_timeout_s: float = 60.0) -> Iterator[Any]:
        """Server-sent events of a run after ``after``: a dict per notice, None per keep-alive
        (so the caller can check its clock); ClientError when the stream cannot be read."""
        import httpx

        timeout = httpx.Timeout(10.0, read=read_timeout_s)
        path = f"/runs/{run_id}/events"
        try:
            with self.http.stream("GET", path, params={"after": after}, timeout=timeout) as reply:
                if reply.status_code >= 400:
                    reply.read()
                    raise ClientError(reply.status_code, error_message(reply))
                for line in reply.iter_lines():
                    yield json.loads(line[5:].strip()) if line.startswith("data:") else None
        except httpx.HTTPError as exc:
            raise ClientError(0, f"event stream of run {run_id} broke: {exc}") from None

    # -- tracking API (external runs; winoprune.cli.tracker) ----------------------------------
    def create_external(self, body: dict[str, Any], key: str) -> Any:
        """Create an external run (``key``: Idempotency-Key, so a retry returns the same run)."""
        return self.request("POST", "/tracking/runs", json=body, headers={"Idempotency-Key": key})

    def post_batch(self, run_id: int, batch: dict[str, Any]) -> Any:
        """Stages, metrics and layer rows of an external run (rows already stored are skipped)."""
        return self.request("POST", f"/tracking/runs/{run_id}/batches", json=batch)

    def upload_checkpoint(self, run_id: int, path: Path, stage: int, epoch: int, done: bool) -> Any:
        """A safetensors checkpoint of an external run (the same file again is kept once)."""
        form = {"stage": str(stage), "epoch": str(epoch), "stage_done": str(done).lower()}
        with path.open("rb") as handle:
            files = {"file": (path.name, handle, "application/octet-stream")}
            return self.request(
                "POST", f"/tracking/runs/{run_id}/checkpoints", files=files, data=form
            )

    def finish(self, run_id: int, status: str, error: str | None = None) -> Any:
        """End an external run: succeeded, failed or cancelled."""
        body = {"status": status, "error": error}
        return self.request("POST", f"/tracking/runs/{run_id}/finish", json=body)

    # -- measured speed of exports (winoprune.cli.speed_publish) -------------------------------
    def post_speed(self, run_id: int, body: dict[str, Any]) -> Any:
        """Store an export's measured speed (the same weights/batch/threads/machine: one row)."""
        return self.request("POST", f"/runs/{run_id}/speed", json=body)

    def speeds(self, run_id: int) -> Any:
        """A run's measured speeds, newest first."""
        return self.request("GET", f"/runs/{run_id}/speed")

    def list_runs(self, params: list[tuple[str, Any]]) -> Any:
        """One page of GET /runs (filters, sort, cursor as query parameters)."""
        return self.request("GET", "/runs", params=params)

    def artifacts(self, run_id: int) -> Any:
        """A run's checkpoints."""
        return self.request("GET", f"/runs/{run_id}/artifacts")

    def download(self, path: str, target: Path, params: dict[str, str] | None = None) -> Path:
        """Stream a GET response into ``target`` (written under a temporary name first)."""
        partial = target.with_name(target.name + ".part")
        with self.http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise ClientError(response.status_code, error_message(response))
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        partial.replace(target)
        return target
