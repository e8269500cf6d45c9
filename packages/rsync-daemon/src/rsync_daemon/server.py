"""The listener: accept connections and serve each one in its own process.

How this works: the parent binds every listening socket, then loops on ``accept``
(with ``selectors``, no event loop) and forks one child per connection, as rsync's
daemon does. The child closes the listeners, runs the connection under
``anyio.run`` and exits with the connection's rsync exit code. A crash, a hang or
hostile input therefore only ever ends one process; connections run on every
core; and a finished child returns all of its memory. The parent reaps children
and enforces ``max connections``.

rsync: socket.c start_accept_loop(), clientserver.c daemon_main().
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import socket
import sys
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from rsync_daemon.conn_sandbox import announce, confine_connection_process
from rsync_daemon.connection import handle_connection

if TYPE_CHECKING:
    from rsync_daemon.anonssh import SshSettings
    from rsync_daemon.config import DaemonConfig

__all__ = ["bind_listeners", "format_peer", "serve_forever", "serve_socket"]

log = logging.getLogger("rsync_daemon")


def bind_listeners(
    config: DaemonConfig, addresses: list[tuple[str, int]] | None = None
) -> list[socket.socket]:
    """Bind and listen on every configured address (port 0 picks a free port).

    Args:
        config: the configuration; its ``listen`` addresses are bound.
        addresses: bind these instead (for example the SSH listener's).

    Raises:
        OSError: an address cannot be bound (the message names it).
    """
    socks: list[socket.socket] = []
    for host, port in config.listen if addresses is None else addresses:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, socktype, proto, _, addr = infos[0]
        sock = socket.socket(family, socktype, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            sock.close()
            msg = f"cannot listen on {host}:{port}: {exc.strerror}"
            raise OSError(exc.errno, msg) from None
        sock.listen(128)
        sock.set_inheritable(False)
        socks.append(sock)
    return socks


def format_peer(addr: object) -> str:
    """``host:port``, or ``[v6]:port``, of a socket address."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


def serve_socket(conn: socket.socket, config: DaemonConfig, peer: str) -> int:
    """Serve one accepted connection to its end in this process; returns the exit code."""

    async def main() -> int:
        stream = await anyio.abc.SocketStream.from_socket(conn)
        return await handle_connection(stream, stream, config, peer=peer)

    return anyio.run(main)


def _serve_accepted(
    conn: socket.socket, config: DaemonConfig, peer: str, ssh: SshSettings | None
) -> int:
    """Serve one accepted connection: the daemon protocol, or SSH carrying it."""
    if ssh is None:
        return serve_socket(conn, config, peer)
    from rsync_daemon.anonssh import serve_ssh_socket

    return serve_ssh_socket(conn, config, peer, ssh)


def serve_forever(
    config: DaemonConfig,
    listeners: list[socket.socket],
    *,
    fork: bool = True,
    ssh_listeners: list[socket.socket] | None = None,
    ssh: SshSettings | None = None,
) -> int:
    """Accept connections forever, one child process each; returns on SIGTERM/SIGINT.

    Args:
        config: the configuration.
        listeners: listening sockets of the daemon protocol.
        fork: serve each connection in its own process (off only for debugging).
        ssh_listeners: listening sockets of the anonymous SSH listener (needs ``ssh``).
        ssh: the SSH listener's keys.
    """
    announce(config, fork=fork)
    sel = selectors.DefaultSelector()
    ssh_socks = list(ssh_listeners or [])
    for sock in [*listeners, *ssh_socks]:
        sock.settimeout(0.0)
        sel.register(sock, selectors.EVENT_READ, data=sock in ssh_socks)
    children: dict[int, str] = {}
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    sel.register(wake_r, selectors.EVENT_READ)
    with contextlib.suppress(AttributeError):
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)
    try:
        while not stopping:
            _reap(children)
            for key, _ in sel.select(timeout=1.0):
                if key.fileobj == wake_r:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 4096)
                    continue
                assert isinstance(key.fileobj, socket.socket)  # noqa: S101
                try:
                    conn, addr = key.fileobj.accept()
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EINTR):
                        log.warning("accept failed: %s", exc.strerror)
                    continue
                peer = format_peer(addr)
                conn_ssh = ssh if key.data else None
                if config.max_connections and len(children) >= config.max_connections:
                    if conn_ssh is not None:
                        conn.close()
                    else:
                        _refuse_busy(conn, config.max_connections)
                    log.warning(
                        "[%s] refused: max connections (%d) reached", peer, config.max_connections
                    )
                    continue
                if not fork:
                    _serve_accepted(conn, config, peer, conn_ssh)
                    continue
                pid = os.fork()
                if pid == 0:  # child
                    code = 1
                    try:
                        signal.set_wakeup_fd(-1)
                        signal.signal(signal.SIGTERM, signal.SIG_DFL)
                        signal.signal(signal.SIGINT, signal.SIG_DFL)
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        for s in [*listeners, *ssh_socks]:
                            s.close()
                        os.close(wake_r)
                        os.close(wake_w)
                        conn.settimeout(None)
                        log.info("[%s] connect%s", peer, " (ssh)" if conn_ssh else "")
                        refused = confine_connection_process(config, peer)
                        if refused is None:
                            code = _serve_accepted(conn, config, peer, conn_ssh)
                        else:
                            code = refused
                    except BaseException:
                        log.exception("[%s] connection process failed", peer)
                    finally:
                        with contextlib.suppress(Exception):
                            sys.stderr.flush()
                        os._exit(code)
                children[pid] = peer
                conn.close()
    finally:
        signal.set_wakeup_fd(-1)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for sock in [*listeners, *ssh_socks]:
            sock.close()
    return 0


def _reap(children: dict[int, str]) -> None:
    """Collect finished connection processes and log how each ended."""
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        peer = children.pop(pid, "?")
        code = os.waitstatus_to_exitcode(status)
        log.info("[%s] done: exit %d, peak RSS %.1f MiB", peer, code, usage.ru_maxrss / 1024)


def _refuse_busy(conn: socket.socket, limit: int) -> None:
    with contextlib.suppress(OSError):
        conn.settimeout(2)
        conn.sendall(
            b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"
            + f"@ERROR: max connections ({limit}) reached -- try again later\n".encode()
        )
    conn.close()
