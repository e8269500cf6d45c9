"""conn_sandbox.connection_policy: what a connection process confines itself to, per mode.

The confinement itself runs in real processes in tests-integration/test_daemon_conn_confine.py.
"""

from __future__ import annotations

import logging
import logging.handlers
import socket
from typing import TYPE_CHECKING

from rsync_daemon.conn_sandbox import connection_policy

if TYPE_CHECKING:
    from pathlib import Path


def test_modes() -> None:
    assert connection_policy("off") is None
    auto = connection_policy("auto")
    assert auto is not None
    assert auto.landlock
    assert auto.seccomp
    assert not auto.tcp_bind
    assert not auto.tcp_connect
    assert auto.socket_families == frozenset()
    landlock = connection_policy("landlock")
    assert landlock is not None
    assert landlock.landlock
    namespace = connection_policy("namespace")  # that mode means no Landlock
    assert namespace is not None
    assert not namespace.landlock
    assert namespace.seccomp


def test_syslog_handler_keeps_unix_datagram_sockets(tmp_path: Path) -> None:
    """A SysLogHandler on a local socket reconnects after an error: it needs socket()."""
    path = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    handler = logging.handlers.SysLogHandler(address=path)
    root = logging.getLogger()
    try:
        before = connection_policy("auto")
        assert before is not None
        assert not before.unix_datagram
        root.addHandler(handler)
        with_syslog = connection_policy("auto")
        assert with_syslog is not None
        assert with_syslog.unix_datagram
    finally:
        root.removeHandler(handler)
        handler.close()
        server.close()
