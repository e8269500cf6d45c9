"""Rsync's socket option list: ``SO_KEEPALIVE,SO_SNDBUF=8192 TCP_NODELAY ...``.

The names a client's ``--sockopts`` and a daemon's ``socket options`` take, and how a
client applies them to its socket before it connects.

rsync: socket.c socket_options[], set_socket_options().
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SOCKET_OPTIONS", "apply_socket_options"]

SOCKET_OPTIONS: Final[dict[str, tuple[int, int, int | None]]] = {
    "SO_KEEPALIVE": (socket.SOL_SOCKET, socket.SO_KEEPALIVE, None),
    "SO_REUSEADDR": (socket.SOL_SOCKET, socket.SO_REUSEADDR, None),
    "SO_BROADCAST": (socket.SOL_SOCKET, socket.SO_BROADCAST, None),
    "TCP_NODELAY": (socket.IPPROTO_TCP, socket.TCP_NODELAY, None),
    "IPTOS_LOWDELAY": (socket.IPPROTO_IP, socket.IP_TOS, 0x10),
    "IPTOS_THROUGHPUT": (socket.IPPROTO_IP, socket.IP_TOS, 0x08),
    "SO_SNDBUF": (socket.SOL_SOCKET, socket.SO_SNDBUF, None),
    "SO_RCVBUF": (socket.SOL_SOCKET, socket.SO_RCVBUF, None),
    "SO_SNDLOWAT": (socket.SOL_SOCKET, socket.SO_SNDLOWAT, None),
    "SO_RCVLOWAT": (socket.SOL_SOCKET, socket.SO_RCVLOWAT, None),
    "SO_SNDTIMEO": (socket.SOL_SOCKET, socket.SO_SNDTIMEO, None),
    "SO_RCVTIMEO": (socket.SOL_SOCKET, socket.SO_RCVTIMEO, None),
}
"""Name -> (level, option, fixed value or ``None``: the option takes ``=N``, default 1)."""


def _atoi(text: str) -> int:
    """C's atoi(): the leading decimal digits (after a sign), 0 if none."""
    text = text.lstrip(" \t\n\v\f\r")
    sign = -1 if text[:1] == "-" else 1
    digits = text[1:] if text[:1] in "+-" else text
    n = len(digits) - len(digits.lstrip("0123456789"))
    return sign * int(digits[:n]) if n else 0


def apply_socket_options(sock: socket.socket, text: str, say: Callable[[str], None]) -> None:
    """Set the options ``text`` names on ``sock``; ``say`` gets rsync's complaints.

    Tokens are separated by spaces, tabs or commas; ``NAME=N`` sets N (atoi, as rsync),
    ``NAME`` alone 1. An unknown name ("Unknown socket option X"), a value given to an
    option that takes none, and a failing ``setsockopt`` are reported and skipped.

    rsync: socket.c set_socket_options().
    """
    for token in text.replace("\t", " ").replace(",", " ").split():
        name, eq, raw = token.partition("=")
        if name not in SOCKET_OPTIONS:
            say(f"Unknown socket option {name}")
            continue
        level, option, fixed = SOCKET_OPTIONS[name]
        if fixed is not None and eq:
            say(f"syntax error -- {name} does not take a value")
        value = fixed if fixed is not None else (_atoi(raw) if eq else 1)
        try:
            sock.setsockopt(level, option, value)
        except OSError as exc:
            say(f"rsync: failed to set socket option {name}: {exc.strerror} ({exc.errno})")
