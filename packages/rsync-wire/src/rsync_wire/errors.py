"""Errors of the rsync protocol engine, with rsync's exit codes.

Every error that can end a session carries the exit code rsync would use for it
(``errcode.h``), so that ``main()`` functions can turn any of them into the same
``rsync error: ... (code N)`` line and process exit status as rsync.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "EXIT_NAMES",
    "LOG_TEXT_LIMIT",
    "AllocationLimitError",
    "ConnectionLost",
    "ExitCode",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteError",
    "RemoteProtocolError",
    "RsyncError",
    "StreamError",
    "UnsupportedError",
    "clip_text",
    "exit_line",
]

LOG_TEXT_LIMIT: Final = 1024
"""Characters of peer-supplied text kept in one error message or log line."""


class ExitCode(IntEnum):
    """rsync's exit codes.

    rsync: errcode.h (RERR_*).
    """

    OK = 0
    SYNTAX = 1
    PROTOCOL = 2
    FILESELECT = 3
    UNSUPPORTED = 4
    STARTCLIENT = 5
    SOCKETIO = 10
    FILEIO = 11
    STREAMIO = 12
    MESSAGEIO = 13
    IPC = 14
    CRASHED = 15
    TERMINATED = 16
    SIGNAL1 = 19
    SIGNAL = 20
    WAITCHILD = 21
    MALLOC = 22
    PARTIAL = 23
    VANISHED = 24
    DEL_LIMIT = 25
    TIMEOUT = 30
    CONTIMEOUT = 35
    CMD_FAILED = 124
    CMD_KILLED = 125
    CMD_RUN = 126
    CMD_NOTFOUND = 127


def clip_text(text: str, limit: int = LOG_TEXT_LIMIT) -> str:
    """``text`` cut to at most about ``limit`` characters, saying how much was cut.

    For log lines and error messages that quote what a peer sent: one hostile argument
    must not become one 18 MB log line.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


class RsyncError(Exception):
    """Base of every error that ends a session; carries rsync's exit code.

    The message is cut to :data:`LOG_TEXT_LIMIT` characters (plus a note of how much was
    cut): messages often quote peer bytes, and they end up in log lines.
    """

    exit_code: ExitCode = ExitCode.PROTOCOL

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(clip_text(message, 4 * LOG_TEXT_LIMIT))
        if exit_code is not None:
            self.exit_code = exit_code


class ProtocolError(RsyncError):
    """The byte stream broke the protocol's rules."""

    exit_code = ExitCode.PROTOCOL


class LocalProtocolError(ProtocolError):
    """We were asked to produce something the protocol cannot express (a bug or bad input)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol (malformed, hostile or out of range)."""


class AllocationLimitError(RemoteProtocolError):
    """The peer asked for more memory than ``--max-alloc`` allows (rsync's my_alloc check).

    rsync: util2.c my_alloc() ("exceeded --max-alloc=N setting"), exit code RERR_MALLOC.
    """

    exit_code = ExitCode.MALLOC


class StreamError(RemoteProtocolError):
    """A multiplexed frame no peer may send: an unknown tag, a bad length, an overflow.

    Its text is rsync's own line, printed without the ``rsync:`` prefix (``bare``).

    rsync: io.c read_a_msg() ("unexpected tag", "invalid multi-message", "multiplexing
    overflow", each exit_cleanup(RERR_STREAMIO)).
    """

    exit_code = ExitCode.STREAMIO
    bare = True


class RemoteError(RsyncError):
    """The peer reported an error (``@ERROR`` line or ``MSG_ERROR``) and the session ends."""

    exit_code = ExitCode.STARTCLIENT


class UnsupportedError(RsyncError):
    """An option, protocol version or feature that we refuse or do not implement."""

    exit_code = ExitCode.UNSUPPORTED


class ConnectionLost(RsyncError):  # noqa: N818 - the name says what happened, as in anyio
    """The connection closed or broke in the middle of the protocol."""

    exit_code = ExitCode.STREAMIO


EXIT_NAMES: Final = {
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files, dirs",
    4: "requested action not supported",
    5: "error starting client-server protocol",
    10: "error in socket IO",
    11: "error in file IO",
    12: "error in rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    15: "sibling process crashed",
    16: "sibling process terminated abnormally",
    19: "received SIGUSR1",
    20: "received SIGINT, SIGTERM, or SIGHUP",
    21: "waitpid() failed",
    22: "error allocating core memory buffers",
    23: "some files/attrs were not transferred (see previous errors)",
    24: "some files vanished before they could be transferred",
    25: "the --max-delete limit stopped deletions",
    30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
    124: "remote shell failed",
    125: "remote shell killed",
    126: "remote command could not be run",
    127: "remote command not found",
}
"""rsync's exit-code texts. rsync: log.c rerr_names."""


def exit_line(code: int, *, program: str, role: str, version: str) -> str:
    """The last line rsync prints when it exits with ``code`` (a warning for 24).

    ``role`` is rsync's who_am_i(): ``client``, ``server``, ``sender``, ``receiver``,
    ``generator``, or ``Receiver`` (a server receiver before it forks its generator).

    rsync: log.c log_exit().
    """
    name = EXIT_NAMES.get(code, "unexplained error")
    kind = "warning" if code == 24 else "error"
    return f"rsync {kind}: {name} (code {code}) at {program} [{role}={version}]"
