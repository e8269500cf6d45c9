"""``RSYNC_CONNECT_PROG``: reach a daemon through a program instead of a TCP connection.

When the variable is set, rsync does not connect to ``host:port`` for ``rsync://`` and
``host::`` sources: it runs the command through the shell with its standard input and
output on one end of a loopback TCP socket pair and speaks the daemon protocol over the
other end. ``%H`` in the command becomes the host name (single-quoted for the shell, and
refused if it holds characters a nested shell could act on), ``%%`` becomes ``%``, and
any other ``%`` stays as it is. rsync's test suite runs its daemon this way
(``RSYNC_CONNECT_PROG='rsync --config=CONF --daemon'``); scripts use it for tunnels
(``ssh gateway nc %H 873``).

The pair is TCP, not a Unix socket pair, as rsync's is: the program sees a socket on its
standard input whose peer is 127.0.0.1, which is what a daemon started with ``--daemon``
on a socket (inetd mode) expects.

rsync: socket.c open_socket_out_wrapped(), shell_quote_connect_host(),
shell_unsafe_connect_host(), socketpair_tcp(), sock_exec(); main.c shell_exec().
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from typing import TYPE_CHECKING, Final

import anyio
from anyio.abc import ByteStream, SocketStream

from rsync_wire.errors import ExitCode, RsyncError

if TYPE_CHECKING:
    from anyio.abc import Process

__all__ = ["ProgramStream", "expand_connect_prog", "open_connect_prog", "socketpair_tcp"]

_HOST_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-%+~"
)
_ACCEPT_TIMEOUT: Final = 60.0  # rsync: socket.c SOCKETPAIR_ACCEPT_TIMEOUT
_EXIT_WAIT: Final = 10.0  # how long the program may take to exit once the socket is closed


def _unsafe_host(host: str) -> bool:
    """Whether ``host`` may not be put into the command (rsync's rule, see the module doc).

    rsync: socket.c shell_unsafe_connect_host().
    """
    return not host or host[0] in "-+~%" or any(ch not in _HOST_CHARS for ch in host)


def expand_connect_prog(template: str, host: str) -> str:
    """The command to run: ``%H`` replaced by the quoted host, ``%%`` by ``%``.

    A template without ``%`` is returned as it is (and the host is not checked), as rsync
    does.

    Raises:
        RsyncError: the host holds characters that are unsafe in a shell command (exit
            code 10, rsync's socket I/O error).

    rsync: socket.c open_socket_out_wrapped().
    """
    if "%" not in template:
        return template
    if _unsafe_host(host):
        msg = "unsafe host characters for RSYNC_CONNECT_PROG"
        raise RsyncError(msg, exit_code=ExitCode.SOCKETIO)
    quoted = "'" + host.replace("'", "'\\''") + "'"
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch == "%" and i + 1 < n and template[i + 1] == "%":
            out.append("%")
            i += 2
        elif ch == "%" and i + 1 < n and template[i + 1] == "H":
            out.append(quoted)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def socketpair_tcp() -> tuple[socket.socket, socket.socket]:
    """Two connected loopback TCP sockets: (ours, the program's).

    A listener on 127.0.0.1 and an ephemeral port accepts our own connection; if another
    local process raced in first, the accepted peer is not our socket and the pair is
    refused (EPERM), as rsync refuses it.

    Raises:
        OSError: the pair could not be made.

    rsync: socket.c socketpair_tcp().
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(_ACCEPT_TIMEOUT)
        theirs = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            theirs.connect(listener.getsockname())
            ours, peer = listener.accept()
        except BaseException:
            theirs.close()
            raise
        if peer != theirs.getsockname():
            ours.close()
            theirs.close()
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        ours.settimeout(None)
        return ours, theirs


def _shell_argv(command: str) -> list[str]:
    """``$RSYNC_SHELL -c COMMAND``, or ``/bin/sh -c COMMAND`` as ``system(3)`` runs it.

    rsync: main.c shell_exec().
    """
    shell = os.environ.get("RSYNC_SHELL") or "/bin/sh"
    return [shell, "-c", command]


class ProgramStream(ByteStream):
    """Our end of the socket pair; closing it also waits for the program to exit.

    The program normally ends by itself when the connection closes (a daemon serving one
    connection does); one that does not is stopped after a while, so that pyrsync never
    leaves it behind.
    """

    def __init__(self, stream: SocketStream, process: Process) -> None:
        self._stream = stream
        self.process = process

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Read from the program (see :meth:`anyio.abc.ByteReceiveStream.receive`)."""
        return await self._stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        """Write to the program."""
        await self._stream.send(item)

    async def send_eof(self) -> None:
        """Shut down our writing half: the program reads end of file."""
        await self._stream.send_eof()

    async def aclose(self) -> None:
        """Close the connection and wait for the program (see the class docstring)."""
        with anyio.CancelScope(shield=True):
            try:
                await self._stream.aclose()
            finally:
                await _reap(self.process)


async def _reap(process: Process) -> None:
    """Wait for the program; stop it if it is still there after a while."""
    with anyio.move_on_after(_EXIT_WAIT):
        await process.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    with anyio.move_on_after(2.0):
        await process.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


async def open_connect_prog(command: str) -> ProgramStream:
    """Run ``command`` through the shell on a socket pair; returns our end.

    The program's standard error stays ours; its exit status is not looked at (rsync
    does not either): a program that fails shows up as a connection that closes.

    Raises:
        RsyncError: the socket pair could not be made (exit code 10) or the shell could
            not be started (exit code 14, rsync's failed fork).

    rsync: socket.c sock_exec().
    """
    try:
        ours, theirs = await anyio.to_thread.run_sync(socketpair_tcp)
    except OSError as exc:
        msg = f"rsync: socketpair_tcp failed: {exc.strerror or exc} ({exc.errno})"
        raise RsyncError(msg, exit_code=ExitCode.SOCKETIO) from None
    argv = _shell_argv(command)
    try:
        with theirs:
            process = await anyio.open_process(
                argv, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=None
            )
    except OSError as exc:
        ours.close()
        msg = f"rsync: Failed to exec {argv[0]}: {exc.strerror} ({exc.errno})"
        raise RsyncError(msg, exit_code=ExitCode.IPC) from None
    try:
        stream = await SocketStream.from_socket(ours)
    except BaseException:
        ours.close()
        with anyio.CancelScope(shield=True):
            await _reap(process)
        raise
    return ProgramStream(stream, process)
