"""Run uvicorn in one process, or in N worker processes that each listen on their own socket.

uvicorn's own ``--workers`` shares one listening socket between the processes; whichever process
wakes first accepts a whole burst of connections, so a few keep-alive clients can pin one core
while the others idle. Here every worker binds its own ``SO_REUSEPORT`` socket and the kernel
spreads new connections evenly over them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from multiprocessing.process import BaseProcess
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def check_port_free(host: str, port: int) -> None:
    """Bind a non-reuse-port socket once, so that a port in use fails loudly here.

    SO_REUSEADDR, as every server sets it: a listener still refuses the bind, but the
    TIME_WAIT connections a stopped server leaves behind do not (a restart works at once).
    """
    with socket.socket(_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"--port: {host}:{port} is not free ({exc.strerror})") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` now (for tests and benchmarks)."""
    with socket.socket(_family(host)) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (Linux /proc/net/tcp): one per worker."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return sum(1 for row in table if row.split()[1:2] == [local] and row.split()[3] == "0A")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other workers of this server can bind to as well."""
    sock = socket.socket(_family(host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def die_with_parent(parent_pid: int) -> None:
    """End this process (SIGTERM: uvicorn's graceful stop) when its parent dies, even by
    SIGKILL: Linux's PR_SET_PDEATHSIG, plus a check for a parent already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the call above
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(host: str, port: int, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    import uvicorn

    from server.main import create_app

    sock = reuse_port_socket(host, port)
    config = uvicorn.Config(create_app(), proxy_headers=False, log_level="info")
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(host: str, port: int, workers: int) -> None:
    """Start ``workers`` server processes on host:port; stop them all on SIGTERM / SIGINT or
    when one of them dies (exiting non-zero then)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("--workers: more than 1 needs SO_REUSEPORT (Linux, macOS, BSD)")
    check_port_free(host, port)
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = [
        context.Process(target=_worker, args=(host, port, os.getpid()), name=f"winoprune-web-{i}")
        for i in range(workers)
    ]
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        for process in processes:
            process.start()
        print(f"winoprune: serving on http://{host}:{port} with {workers} worker processes")
        while not stopping and all(p.is_alive() for p in processes):
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.5)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for process in processes:
            process.join(timeout=30)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stopping:
        dead = [p.name for p in processes if p.exitcode not in (0, None)]
        sys.exit(f"winoprune: worker process stopped unexpectedly: {', '.join(dead) or '?'}")
