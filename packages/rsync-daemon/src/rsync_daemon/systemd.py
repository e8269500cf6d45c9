"""Sockets handed over by systemd (socket activation), and by inetd on standard input.

systemd's protocol (sd_listen_fds(3)): the service manager opens the sockets of a
``.socket`` unit and starts the daemon with them at descriptors 3, 4, ... and sets
``LISTEN_FDS`` (how many), ``LISTEN_PID`` (the pid they are meant for; a process that
is not that pid must ignore them) and ``LISTEN_FDNAMES`` (``FileDescriptorName=`` of each,
``:``-separated). With ``Accept=no`` the descriptors are listening sockets; with
``Accept=yes`` each connection starts a daemon instance that gets the connection itself,
at descriptor 3 or, with ``StandardInput=socket``, on standard input (inetd style,
which is also how rsync's own daemon runs from inetd).

Nothing here binds or serves; the callers decide what to do with the sockets.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import Final

__all__ = [
    "LISTEN_FDS_START",
    "SSH_FD_NAME",
    "ActivatedSocket",
    "is_listening",
    "listen_fds",
    "stdin_socket",
]

LISTEN_FDS_START: Final = 3
"""SD_LISTEN_FDS_START: the first descriptor systemd passes."""

SSH_FD_NAME: Final = "anonssh"
"""A socket named so (``FileDescriptorName=anonssh``) serves the anonymous SSH listener."""


@dataclass(frozen=True)
class ActivatedSocket:
    """One socket received from systemd.

    Attributes:
        sock: the socket (close-on-exec set).
        name: its ``FileDescriptorName=`` ("" when none was given).
        listening: a listening socket (``Accept=no``), else one accepted connection.
    """

    sock: socket.socket
    name: str
    listening: bool


def is_listening(sock: socket.socket) -> bool:
    """Whether ``sock`` is a listening socket (``SO_ACCEPTCONN``)."""
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False


def listen_fds(*, unset_environment: bool = True) -> list[ActivatedSocket]:
    """Return the sockets systemd passed to this process (none when not activated).

    rsync: none (systemd's sd_listen_fds_with_names()).

    Args:
        unset_environment: remove ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES``
            so that no child process takes them for its own.

    Raises:
        OSError: a passed descriptor is not a socket.
        ValueError: ``LISTEN_FDS`` is not a number.
    """
    pid = os.environ.get("LISTEN_PID", "")
    count = os.environ.get("LISTEN_FDS", "")
    names = os.environ.get("LISTEN_FDNAMES", "")
    if unset_environment:
        for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(var, None)
    if not count or not pid.isdigit() or int(pid) != os.getpid():
        return []
    n = int(count)
    labels = names.split(":") if names else []
    found: list[ActivatedSocket] = []
    for index in range(n):
        fd = LISTEN_FDS_START + index
        sock = socket.socket(fileno=fd)
        sock.set_inheritable(False)
        name = labels[index] if index < len(labels) else ""
        found.append(ActivatedSocket(sock=sock, name=name, listening=is_listening(sock)))
    return found


def stdin_socket() -> socket.socket | None:
    """Standard input as a socket, when it is one (inetd, ``StandardInput=socket``).

    The socket gets a descriptor of its own; descriptors 0 and 1 then point to
    ``/dev/null``, so that nothing written to standard output can ever reach the client
    outside the protocol.

    rsync: main.c (``am_daemon && is_a_socket(STDIN_FILENO)`` serves one client on it).
    """
    try:
        fd = os.dup(0)
    except OSError:
        return None
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        os.close(fd)
        return None
    sock.set_inheritable(False)
    devnull = os.open(os.devnull, os.O_RDWR)
    with contextlib.suppress(OSError):
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
    os.close(devnull)
    return sock
