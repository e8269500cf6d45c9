"""From any exception to rsync's error lines and exit code: one place for the CLI and the API.

A transfer runs as concurrent tasks (generator, receiver, a local copy's sender, the
transport), so one real failure, say a full disk, usually arrives wrapped: in an
exception group, beside the broken pipe or cancelled read it caused in a sibling task,
or as the ``__context__`` of such a secondary error raised while cleaning up.
:func:`root_cause` digs out the first real error; :func:`describe_failure` turns it
into the lines rsync prints before its ``rsync error: ... (code N)`` line, and the
exit code. Nothing escapes as a traceback: an exception that is not one of rsync's
errors is a bug, reported as rsync reports a crashed sibling process (code 15), or as
its out-of-memory error (code 22) for a ``MemoryError``.

rsync: log.c rsyserr(), log_exit(); cleanup.c exit_cleanup().
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Final

from rsync_wire.errors import ConnectionLost, ExitCode, RemoteError, RsyncError

__all__ = ["Failure", "describe_failure", "failure_traceback", "root_cause"]

# errno values of a write that failed for lack of room or a broken device (rsync reports
# these as 'write failed on "NAME"', exit code 11).
_WRITE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})
_PIPE_ERRNOS: Final = frozenset({errno.EPIPE, errno.ECONNRESET})


class Failure:
    """What a failed run prints and exits with.

    Attributes:
        lines: the messages before rsync's ``rsync error:`` line (may be empty: the peer
            already said why, as after ``MSG_ERROR_EXIT``).
        exit_code: rsync's exit code (never 0).
        cause: the exception the lines describe (the root cause of what was raised).
    """

    __slots__ = ("cause", "exit_code", "lines")

    def __init__(self, lines: list[str], exit_code: int, cause: BaseException) -> None:
        self.lines = lines
        self.exit_code = exit_code
        self.cause = cause


def _leaves(exc: BaseException) -> list[BaseException]:
    """Every exception in ``exc``'s groups, and their contexts, in the order raised."""
    out: list[BaseException] = []
    seen: set[int] = set()

    def walk(e: BaseException | None, depth: int) -> None:
        if e is None or id(e) in seen or depth > 16:
            return
        seen.add(id(e))
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub, depth + 1)
            return
        # A secondary error raised while handling the real one keeps it as its context:
        # the context goes first, it happened first.
        if _secondary(e) or isinstance(e, ConnectionLost):
            walk(e.__cause__ or e.__context__, depth + 1)
        out.append(e)

    walk(exc, 0)
    return out


def _receiver_gone(exc: BaseException) -> bool:
    """``exc`` is the receiving side's ReceiverGone (its module is loaded only for a transfer)."""
    state = sys.modules.get("rsync_wire.roles.receive_state")
    return state is not None and isinstance(exc, state.ReceiverGone)


def _secondary(exc: BaseException) -> bool:
    """An error that only follows another: a closed or broken stream, a cancellation."""
    import anyio  # here: ``pyrsync --version`` does without it

    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError | anyio.EndOfStream):
        return True
    if _receiver_gone(exc):
        return True  # the generator saw the receiver task end: the receiver's error counts
    if not isinstance(exc, Exception) and not isinstance(exc, KeyboardInterrupt | SystemExit):
        return True  # a cancellation (asyncio's CancelledError, trio's Cancelled), GeneratorExit
    # A write to a pipe or socket whose reader is gone (asyncio raises ConnectionResetError
    # "Connection lost" without an errno for a subprocess pipe).
    if isinstance(exc, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
        return True
    return isinstance(exc, OSError) and exc.errno in _PIPE_ERRNOS


def root_cause(exc: BaseException) -> BaseException:
    """The error that started the failure, among ``exc``'s groups and contexts.

    In order of preference: an interrupt (Ctrl-C), one of rsync's errors other than a lost
    connection (a protocol error, the peer's error, a typed file error) or running out of
    memory, an operating-system error
    other than a broken pipe (a full disk), a lost connection, anything else that is not
    a secondary error, and only then a broken stream or a cancellation.
    """
    leaves = _leaves(exc)
    if not leaves:
        return exc
    return min(leaves, key=_rank)  # min() keeps the first of equals: the earliest


def _rank(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return -1  # the user stopped it: what follows (a remote shell gone too) is its effect
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RsyncError)
        and not isinstance(exc, ConnectionLost)
        and not _receiver_gone(exc)
    ):
        return 0
    if isinstance(exc, OSError) and not _secondary(exc):
        return 1
    if isinstance(exc, ConnectionLost):
        return 2
    if not _secondary(exc):
        return 4
    return 5


def _reset_errno(exc: BaseException) -> int | None:
    """The errno of a connection reset or broken pipe behind ``exc``, if any."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if isinstance(cause, OSError) and cause.errno in _PIPE_ERRNOS:
            return cause.errno
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _show(name: object) -> str:
    if isinstance(name, bytes):
        return name.decode("utf-8", "surrogateescape")
    return str(name)


def _rsync_error(exc: RsyncError) -> tuple[str, int]:
    text = str(exc)
    code = int(exc.exit_code)
    # The remote shell's own status, when higher (ssh's 255: it never reached the host),
    # as rsync's exit_cleanup() takes its child's.
    status = getattr(exc, "child_status", None)
    if isinstance(status, int) and status > code:
        code = status
    if isinstance(exc, ConnectionLost):
        err = _reset_errno(exc)
        if err == errno.ECONNRESET:
            reason = f"{os.strerror(err)} ({err})"
            socket_code = int(ExitCode.SOCKETIO)
            if isinstance(status, int) and status > socket_code:
                socket_code = status
            return f"rsync: [Receiver] read error: {reason}", socket_code
        received = getattr(exc, "bytes_received", None)
        so_far = f" ({received} bytes received so far)" if received is not None else ""
        return f"rsync: connection unexpectedly closed{so_far} [Receiver]", code
    if isinstance(exc, RemoteError) and getattr(exc, "remote_exit", False):
        return "", code
    bare = getattr(exc, "bare", False) is True
    if (
        text
        and not bare
        and not text.startswith(("rsync", "ERROR", "@ERROR", "WARNING", "refusing"))
    ):
        text = "rsync: " + text
    return text, code


def _os_error(exc: OSError) -> tuple[str, int]:
    err = exc.errno or 0
    reason = (exc.strerror or os.strerror(err)) if err else str(exc)
    name = exc.filename
    if name is not None and err in _WRITE_ERRNOS:
        return f'rsync: [receiver] write failed on "{_show(name)}": {reason} ({err})', int(
            ExitCode.FILEIO
        )
    if name is not None:
        return f'rsync: [Receiver] "{_show(name)}": {reason} ({err})', int(ExitCode.FILEIO)
    return f"rsync: [Receiver] {reason} ({err})", int(ExitCode.FILEIO)


def describe_failure(exc: BaseException) -> Failure:
    """The lines and exit code rsync would give for ``exc`` (judged by its root cause)."""
    try:
        cause = root_cause(exc)
    except Exception:  # noqa: BLE001 - a broken exception chain still ends in rsync's line
        cause = exc
    if isinstance(cause, RsyncError) and not _receiver_gone(cause):
        text, code = _rsync_error(cause)
    elif isinstance(cause, KeyboardInterrupt):
        text, code = "", int(ExitCode.SIGNAL)  # rsync prints only its "rsync error:" line
    elif isinstance(cause, MemoryError):
        text, code = "ERROR: out of memory", int(ExitCode.MALLOC)
    elif isinstance(cause, OSError) and not _secondary(cause):
        text, code = _os_error(cause)
    elif isinstance(cause, OSError) and cause.errno == errno.ECONNRESET:
        err = cause.errno
        text, code = f"rsync: [Receiver] read error: {os.strerror(err)} ({err})", 10
    elif isinstance(cause, OSError) and cause.errno == errno.EPIPE:
        err = cause.errno
        text, code = f"rsync: [Receiver] write error: {os.strerror(err)} ({err})", 10
    elif _secondary(cause):
        # Only broken or closed streams: the peer went away without a word.
        text, code = "rsync: connection unexpectedly closed [Receiver]", int(ExitCode.STREAMIO)
    else:
        detail = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        text = f"rsync: [Receiver] internal error: {detail} (-vvvv shows where)"
        code = int(ExitCode.CRASHED)
    return Failure([text] if text else [], code or int(ExitCode.PROTOCOL), cause)


def failure_traceback(exc: BaseException) -> str:
    """The whole traceback of ``exc`` (for ``-vvvv``), groups and contexts included."""
    import traceback  # only at -vvvv: pyrsync --version does without it

    return "".join(traceback.format_exception(exc))
