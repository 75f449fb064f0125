"""Loopback helpers shared by the tests that start servers."""

from __future__ import annotations

import socket


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (Linux /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return sum(1 for row in table if row.split()[1:2] == [local] and row.split()[3] == "0A")
