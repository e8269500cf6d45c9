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
import gc
import logging
import os
import selectors
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

import anyio

from rsync_daemon.conn_sandbox import announce, confine_connection_process
from rsync_daemon.connection import PROBE_EXIT, Opening, handle_connection, open_quietly
from rsync_daemon.logsetup import adopt_host_pid, set_peer
from rsync_wire.pipes import SocketByteStream

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
        for level, option, value in config.socket_options:  # inherited by accepted sockets
            with contextlib.suppress(OSError):  # rsync reports and goes on; so do we
                sock.setsockopt(level, option, value)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            sock.close()
            msg = f"cannot listen on {host}:{port}: {exc.strerror}"
            raise OSError(exc.errno, msg) from None
        sock.listen(config.listen_backlog)
        sock.set_inheritable(False)
        socks.append(sock)
    return socks


def format_peer(addr: object) -> str:
    """``host:port``, or ``[v6]:port``, of a socket address."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


def serve_socket(
    conn: socket.socket, config: DaemonConfig, peer: str, *, opening: Opening | None = None
) -> int:
    """Serve one accepted connection to its end in this process; returns the exit code.

    ``opening``: what :func:`~rsync_daemon.connection.open_quietly` did already.
    """

    async def main() -> int:
        stream = SocketByteStream(conn)
        return await handle_connection(stream, stream, config, peer=peer, opening=opening)

    return anyio.run(main)


def _serve_accepted(
    conn: socket.socket,
    config: DaemonConfig,
    peer: str,
    ssh: SshSettings | None,
    opening: Opening | None = None,
) -> int:
    """Serve one accepted connection: the daemon protocol, or SSH carrying it."""
    if ssh is None:
        return serve_socket(conn, config, peer, opening=opening)
    from rsync_daemon.anonssh import serve_ssh_socket

    return serve_ssh_socket(conn, config, peer, ssh)


def _prepare_to_fork() -> None:
    """Keep the collector off the objects every connection process inherits.

    ``gc.freeze()`` moves every object that exists (the modules the supervisor preloaded
    among them) into the collector's permanent generation: a full collection in a
    connection process then never writes to those objects' headers, so their pages stay
    shared with the listener instead of being copied into each connection (Python's
    documentation of ``gc.freeze``).
    """
    gc.collect()
    gc.freeze()


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
    if fork:
        _prepare_to_fork()
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
    busy = _BusyRefusals(sel, config.max_connections)
    try:
        while not stopping:
            _reap(children)
            busy.expire()
            for key, _ in sel.select(timeout=1.0):
                if key.fileobj == wake_r:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 4096)
                    continue
                if key.data == _BUSY:
                    assert isinstance(key.fileobj, socket.socket)  # noqa: S101
                    busy.readable(key.fileobj)
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
                    _reap(children)  # one may have ended since the loop last looked
                if config.max_connections and len(children) >= config.max_connections:
                    if conn_ssh is not None or not busy.add(conn):
                        conn.close()
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
                        adopt_host_pid()
                        set_peer(peer)
                        if conn_ssh is not None:
                            log.info("[%s] connect (ssh)", peer)
                        else:  # "connect from" follows the greeting; a health check has none
                            log.debug("[%s] connect", peer)
                        # an idle client waits here, before the event loop and the
                        # confinement have touched (and copied) the listener's pages;
                        # no byte of it is read before the process is confined
                        opening = open_quietly(conn, config) if conn_ssh is None else None
                        refused = confine_connection_process(config, peer)
                        if refused is None:
                            code = _serve_accepted(conn, config, peer, conn_ssh, opening)
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
        busy.close_all()
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
        rss = usage.ru_maxrss / 1024
        log.log(
            logging.DEBUG if code == PROBE_EXIT else logging.INFO,  # a health check: debug
            "[%s] done: exit %d, peak RSS %.1f MiB",
            peer,
            code,
            rss,
            extra={"peer": peer, "exit_code": code, "child_pid": pid, "peak_rss_mib": rss},
        )


_BUSY = "busy"
_busy_sockets: set[socket.socket] = set()


def _close_busy_in_child() -> None:
    """A connection process must not keep the parent's refused connections open."""
    for conn in _busy_sockets:
        with contextlib.suppress(OSError):
            conn.close()
    _busy_sockets.clear()


os.register_at_fork(after_in_child=_close_busy_in_child)


class _BusyRefusals:
    """Connections over the global limit, refused the way rsync's client understands.

    A client that gets no greeting reports "Broken pipe" (exit 12). So the accept loop
    sends the greeting, reads the client's greeting line (at most `LIMIT` bytes, for
    at most `TIMEOUT` seconds, without blocking the loop), then answers
    ``@ERROR: max connections (N) reached -- try again later`` and closes: the client
    prints it and exits 5. At most `PENDING` refusals wait at once; beyond that a
    connection is closed at once.

    rsync: clientserver.c rsync_module() (the claim_connection() refusal).
    """

    LIMIT = 1024
    TIMEOUT = 10.0
    PENDING = 64

    def __init__(self, sel: selectors.BaseSelector, limit: int) -> None:
        self._sel = sel
        self._limit = limit
        self._pending: dict[socket.socket, tuple[float, bytearray]] = {}

    def add(self, conn: socket.socket) -> bool:
        """Start refusing ``conn``; False when too many refusals are pending already."""
        if len(self._pending) >= self.PENDING:
            return False
        from rsync_wire.proto.constants import AUTH_DIGESTS, PROTOCOL_VERSION
        from rsync_wire.proto.handshake import format_greeting

        try:
            conn.settimeout(0.0)
            conn.send(format_greeting(PROTOCOL_VERSION, AUTH_DIGESTS))
        except OSError:
            return False
        self._pending[conn] = (time.monotonic() + self.TIMEOUT, bytearray())
        _busy_sockets.add(conn)
        self._sel.register(conn, selectors.EVENT_READ, data=_BUSY)
        return True

    def readable(self, conn: socket.socket) -> None:
        """Read what the client sent; answer once its greeting line is complete."""
        entry = self._pending.get(conn)
        if entry is None:
            return
        try:
            data = conn.recv(self.LIMIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        entry[1].extend(data)
        if not data or b"\n" in entry[1] or len(entry[1]) >= self.LIMIT:
            self._finish(conn, answer=bool(data))

    def expire(self) -> None:
        """Answer the refusals whose client never finished its greeting."""
        now = time.monotonic()
        for conn, (deadline, _) in list(self._pending.items()):
            if now >= deadline:
                self._finish(conn, answer=True)

    def close_all(self) -> None:
        for conn in list(self._pending):
            self._finish(conn, answer=False)

    def _finish(self, conn: socket.socket, *, answer: bool) -> None:
        self._pending.pop(conn, None)
        _busy_sockets.discard(conn)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn)
        if answer:
            message = f"@ERROR: max connections ({self._limit}) reached -- try again later\n"
            with contextlib.suppress(OSError):
                conn.send(message.encode())
        conn.close()
