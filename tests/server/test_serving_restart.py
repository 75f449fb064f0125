"""Restarts: the free-port check ignores TIME_WAIT leftovers; web children die with `serve`."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from server.serving import check_port_free, free_port, listening_sockets
from tests.server.test_serving import _serve

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")


def _wait_for(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def test_time_wait_connections_do_not_block_a_restart() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end goes to TIME_WAIT
        time.sleep(0.1)
        client.close()
    time.sleep(0.1)
    check_port_free("127.0.0.1", port)  # no SystemExit: nothing listens any more


@pytest.mark.slow
def test_sigkill_of_serve_ends_its_web_children_and_a_restart_works(tmp_path: Path) -> None:
    port = free_port()
    first = _serve(tmp_path, port, workers=2)
    second = None
    try:
        assert _wait_for(lambda: listening_sockets(port) == 2, 60), "two workers listening"
        with httpx.Client() as keep_alive:  # a connected keep-alive client during the kill
            assert keep_alive.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert _wait_for(lambda: listening_sockets(port) == 0, 20), "children outlived serve"
        second = _serve(tmp_path, port, workers=2)
        assert _wait_for(lambda: listening_sockets(port) == 2, 60), "restart refused"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 0, output
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
