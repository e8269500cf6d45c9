"""Looking at a confined daemon from outside: its processes, ids, namespaces and root.

Everything here reads ``/proc`` (as root, a test can see another process's mounts through
``/proc/PID/root``). The daemon under test runs in its own process group; its connection
processes are its descendants (below the waiter of the PID namespace, when there is one).

Not here: starting the daemon (see ``ourd``), or the daemon's own code.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class ProcStatus:
    """The fields of ``/proc/PID/status`` that confinement changes."""

    pid: int
    uids: tuple[int, ...]
    gids: tuple[int, ...]
    groups: tuple[int, ...]
    cap_eff: int
    cap_prm: int
    cap_bnd: int
    no_new_privs: bool
    nspid: tuple[int, ...]


def proc_status(pid: int) -> ProcStatus:
    """Parse ``/proc/PID/status``."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.strip()

    def ints(key: str) -> tuple[int, ...]:
        return tuple(int(v) for v in fields.get(key, "").split())

    return ProcStatus(
        pid=pid,
        uids=ints("Uid"),
        gids=ints("Gid"),
        groups=ints("Groups"),
        cap_eff=int(fields["CapEff"], 16),
        cap_prm=int(fields["CapPrm"], 16),
        cap_bnd=int(fields["CapBnd"], 16),
        no_new_privs=fields.get("NoNewPrivs") == "1",
        nspid=ints("NSpid"),
    )


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return int(text.rpartition(")")[2].split()[1])


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, parents before children."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            parent = _parent(int(name))
            if parent is not None:
                parents[int(name)] = parent
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop(0)
        children = sorted(p for p, parent in parents.items() if parent == current)
        found.extend(children)
        frontier.extend(children)
    return found


def wait_for(predicate: Callable[[], int | None], *, timeout: float = 10.0) -> int:
    """Poll ``predicate`` until it returns a pid.

    Raises:
        AssertionError: nothing after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            msg = f"no process found after {timeout:g} s"
            raise AssertionError(msg)
        time.sleep(0.05)


def open_daemon_connection(host: str, port: int) -> socket.socket:
    """Connect to an rsync daemon, read its greeting and greet it: a connection process,
    confined once the client has spoken, now waits for the module's name.

    Close the socket to let that process go.
    """
    sock = socket.create_connection((host, port), timeout=10)
    greeting = b""
    while not greeting.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            msg = f"daemon closed the connection; greeting so far {greeting!r}"
            raise AssertionError(msg)
        greeting += chunk
    assert greeting.startswith(b"@RSYNCD: "), greeting
    sock.sendall(b"@RSYNCD: 31.0\n")
    return sock


def _socket_inodes_with_peer_port(port: int) -> set[str]:
    """Inodes of the TCP sockets on this host whose remote port is ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _holds_socket(pid: int, inodes: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def connection_process(service_pid: int, client: socket.socket) -> int:
    """The descendant of ``service_pid`` serving ``client`` (the deepest one holding its
    socket: below a PID namespace's waiter, the process inside).

    Raises:
        AssertionError: none within 10 seconds.
    """
    port = client.getsockname()[1]

    def serving() -> int | None:
        inodes = _socket_inodes_with_peer_port(port)
        holders = [p for p in descendants(service_pid) if _holds_socket(p, inodes)]
        return holders[-1] if holders else None

    return wait_for(serving)


def root_entries(pid: int) -> set[str]:
    """What the process sees at its ``/``."""
    return set(os.listdir(f"/proc/{pid}/root/"))


def same_namespace(pid: int, kind: str, other: int | str = "self") -> bool:
    """Whether ``pid`` shares the ``kind`` namespace (``mnt``, ``pid``, ...) with ``other``."""
    return os.readlink(f"/proc/{pid}/ns/{kind}") == os.readlink(f"/proc/{other}/ns/{kind}")
