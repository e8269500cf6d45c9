"""A stand-in for systemd's socket activation and for inetd, to start a daemon under test.

Run as a script (``python harness/activate.py MODE HOST:PORT -- COMMAND...``):

- ``listen``: bind and listen on HOST:PORT, then exec COMMAND with the listening socket
  at descriptor 3 and ``LISTEN_FDS=1``, ``LISTEN_PID=<its pid>`` (``Accept=no``).
- ``accept``: accept connections; for each, fork and exec COMMAND with the connection at
  descriptor 3 and ``LISTEN_FDS=1`` (``Accept=yes``).
- ``inetd``: accept connections; for each, fork and exec COMMAND with the connection on
  standard input and output (inetd, ``StandardInput=socket``).

``--fdname NAME`` sets ``LISTEN_FDNAMES``. This is what ``systemd-socket-activate`` does,
for machines without it (the package ``systemd``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from typing import NoReturn


def _bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(16)
    return sock


def _exec_with_fd(fd: int, command: list[str], fdname: str | None) -> NoReturn:
    os.dup2(fd, 3)
    os.set_inheritable(3, True)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    if fdname:
        os.environ["LISTEN_FDNAMES"] = fdname
    os.execvp(command[0], command)  # noqa: S606


def main() -> None:
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: activate.py MODE HOST:PORT [--fdname NAME] -- COMMAND...")
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["listen", "accept", "inetd"])
    parser.add_argument("address")
    parser.add_argument("--fdname")
    ns = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    sock = _bind(ns.address)
    if ns.mode == "listen":
        _exec_with_fd(sock.fileno(), command, ns.fdname)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        conn, _ = sock.accept()
        if os.fork() == 0:
            # SIGCHLD stays ignored across the exec, as some inetd leave it: the daemon
            # must not depend on the disposition it inherits.
            sock.close()
            if ns.mode == "accept":
                _exec_with_fd(conn.fileno(), command, ns.fdname)
            os.dup2(conn.fileno(), 0)
            os.dup2(conn.fileno(), 1)
            conn.close()
            os.execvp(command[0], command)  # noqa: S606
        conn.close()


if __name__ == "__main__":
    main()
