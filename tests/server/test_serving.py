"""`serve(workers=N)`: N processes on their own SO_REUSEPORT sockets, stopped together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.serving import check_port_free, free_port, listening_sockets

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")


def _serve(tmp_path: Path, port: int, workers: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "WINOPRUNE_DATA_DIR": str(tmp_path),
        "WINOPRUNE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "WINOPRUNE_SECRET_KEY": "s" * 48,
    }
    env.pop("WINOPRUNE_BROKER_URL", None)
    command = f"from server.main import serve; serve('127.0.0.1', {port}, {workers})"
    return subprocess.Popen(
        [sys.executable, "-c", command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_workers_each_listen_and_stop_together_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    server = _serve(tmp_path, port, workers=2)
    try:
        deadline = time.monotonic() + 60
        while listening_sockets(port) < 2 and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.2)
        assert listening_sockets(port) == 2, "two worker processes, two listening sockets"
        for _ in range(20):  # fresh connections, spread over both sockets by the kernel
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        with pytest.raises(SystemExit, match=r"--port: .* is not free"):
            check_port_free("127.0.0.1", port)
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0, output
    assert "with 2 worker processes" in output
    assert listening_sockets(port) == 0


def test_a_port_in_use_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _serve(tmp_path, port, workers=2)
        output, _ = server.communicate(timeout=120)
    assert server.returncode != 0
    assert f"--port: 127.0.0.1:{port} is not free" in output
    assert "worker processes" not in output
