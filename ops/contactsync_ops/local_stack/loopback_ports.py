"""Loopback ports: pick a free one, or fail early and clearly when a wanted one is taken."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


class PortInUseError(RuntimeError):
    """A port the local stack wants is taken, most likely by a local stack already running."""


def pick_free_port() -> int:
    """Ask the kernel for a free loopback port (port 0 in the options means this)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def claim_port(port: int, purpose: str) -> int:
    """Return the port to use: a free one for 0, else ``port`` once it is known to be free."""
    if port == 0:
        return pick_free_port()
    if not port_is_free(port):
        raise PortInUseError(
            f"port {port} ({purpose}) is already in use on {LOOPBACK}: a local stack (`contactsync dev` / "
            f"`make run`) probably already runs; stop it, or pick another port (0 = any free port)"
        )
    return port
