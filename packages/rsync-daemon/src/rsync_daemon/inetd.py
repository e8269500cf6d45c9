"""One connection per process, handed over already accepted (inetd, systemd ``Accept=yes``).

rsync runs this way when ``rsync --daemon`` finds a socket on standard input; so does
pyrsyncd (``--daemon`` or ``--inetd``), and also when systemd passes a single
accepted connection at descriptor 3 (``Accept=yes`` without ``StandardInput=socket``).
The process confines itself exactly as the listening daemon does (rsync_daemon.supervisor),
then to its own connection as each of the listener's connection processes does
(rsync_daemon.conn_sandbox), before it reads the client's first byte; then it serves that
one client and exits with the connection's rsync exit code.

rsync: main.c start_daemon() via daemon_main() when ``is_a_socket(STDIN_FILENO)``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rsync_daemon.conn_sandbox import confine_connection_process
from rsync_daemon.server import format_peer, serve_socket
from rsync_daemon.supervisor import confine

if TYPE_CHECKING:
    import socket

    from rsync_daemon.anonssh import SshSettings
    from rsync_daemon.config import DaemonConfig
    from rsync_sandbox import Mode

__all__ = ["peer_of", "serve_connection"]

log = logging.getLogger("rsync_daemon")


def peer_of(sock: socket.socket) -> str:
    """``host:port`` of the client, or ``0.0.0.0:0`` for a peer without an address.

    rsync: clientname.c client_addr() (which reports 0.0.0.0 when it cannot tell).
    """
    try:
        addr = sock.getpeername()
    except OSError:
        return "0.0.0.0:0"
    if isinstance(addr, tuple) and len(addr) >= 2:
        return format_peer(addr)
    return "0.0.0.0:0"


def serve_connection(
    config: DaemonConfig,
    sock: socket.socket,
    *,
    mode: Mode,
    ssh: SshSettings | None = None,
) -> int:
    """Confine, then serve the one client on ``sock``; returns its exit code.

    Args:
        config: the configuration.
        sock: the accepted connection.
        mode: the sandbox mode.
        ssh: serve SSH carrying the daemon protocol (anonymous SSH) instead.

    Raises:
        ConfigError: the uid/gid settings cannot be used.
        SandboxError: confinement failed or refused to start (the socket is closed).
    """
    peer = peer_of(sock)
    try:
        confine(config, mode=mode, ssh=ssh is not None)
    except BaseException:
        sock.close()  # the client sees the connection end; the caller reports why
        raise
    sock.settimeout(None)
    log.info("[%s] connect (inetd)", peer)
    refused = confine_connection_process(config, peer, announce_here=True)
    if refused is not None:
        sock.close()
        return refused
    if ssh is not None:
        from rsync_daemon.anonssh import serve_ssh_socket

        return serve_ssh_socket(sock, config, peer, ssh)
    return serve_socket(sock, config, peer)
