"""`winoprune watch` rides out an API restart: it retries with back-off and says so."""

from __future__ import annotations

import httpx
import pytest
import typer

from winoprune.cli import watching
from winoprune.cli.client import Client, ClientConfig

RUN = {
    "id": 7,
    "status": "running",
    "error": None,
    "progress": {"stage": None, "epoch": None},
    "recipe": {"stages": [{"epochs": 1}]},
    "stages": [{"index": 0, "type": "winograd-direct", "status": "running"}],
}
FINISHED = {"id": 5, "kind": "run.finished", "data": {"status": "succeeded"}}


def test_watch_retries_while_the_api_restarts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    down = {"changes": 0}
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/events"):  # the stream breaks: the service is restarting
            raise httpx.ConnectError("connection refused", request=request)
        if path.endswith("/changes"):
            if request.url.params.get("after") == "0":
                return httpx.Response(200, json={"events": [], "cursor": 4})
            down["changes"] += 1
            if down["changes"] <= 3:  # down for three polls, then back
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200, json={"events": [FINISHED], "cursor": 5})
        return httpx.Response(
            200, json={**RUN, "status": "succeeded"} if down["changes"] > 3 else RUN
        )

    monkeypatch.setattr(watching.time, "sleep", sleeps.append)
    client = Client(
        ClientConfig(server="http://api.test", token="t"), transport=httpx.MockTransport(handler)
    )
    watching.watch_run(client, 7, timeout=600)
    output = capsys.readouterr().out
    assert "run 7: succeeded" in output
    assert output.count("retrying in") == 3
    assert sleeps[:3] == [1.0, 2.0, 4.0]  # exponential back-off


def test_watch_gives_up_on_a_real_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/changes") and request.url.params.get("after") != "0":
            return httpx.Response(404, json={"detail": "run not found"})
        if request.url.path.endswith("/events"):
            raise httpx.ConnectError("refused", request=request)
        if request.url.path.endswith("/changes"):
            return httpx.Response(200, json={"events": [], "cursor": 4})
        return httpx.Response(200, json=RUN)

    monkeypatch.setattr(watching.time, "sleep", lambda _s: None)
    client = Client(
        ClientConfig(server="http://api.test", token="t"), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(typer.Exit):
        watching.watch_run(client, 7, timeout=600)
