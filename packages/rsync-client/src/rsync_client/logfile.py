r"""``--log-file=FILE``: the client's own log, line for line as rsync's client writes it.

Each line is ``YYYY/MM/DD HH:MM:SS [PID] TEXT``. What goes in (rsync: log.c rwrite(),
log_item(), log_delete(), log_exit(); flist.c):

- every informational, warning and error message the client shows (not the lines only
  a terminal needs: "sending incremental file list", the ``-v`` name lines, progress);
- ``building file list`` (a sending client) or ``receiving file list`` (a receiving
  one) when the file list starts;
- a line per transferred or changed item in ``--log-file-format`` (default
  ``%i %n%L``; an empty format logs no items), and ``deleting NAME`` or the format's
  line per deletion (none in a dry run);
- at the end, unless ``-v``/``--stats`` already wrote the totals:
  ``sent N bytes  received N bytes  total size N``.

The whole line is escaped as rsync's log writer does: control bytes, the bytes 0x80 to
0x9f, and the backslash of a literal ``\#ddd`` (:func:`rsync_wire.proto.escape.escape_text`).

The file is opened for appending (created ``0644`` less the umask), without following a
symbolic link another user planted on the way (unless ``--insecure-links``). When it
cannot be opened, rsync carries on without it: "failed to open log-file" and
``Ignoring "log file" setting.``.

rsync: log.c logfile_open(), logit(), filtered_fwrite().
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Final

from rsync_client.safeopen import open_no_attacker_symlinks
from rsync_wire.proto.escape import escape_text

__all__ = ["DEFAULT_LOG_FILE_FORMAT", "LogFile", "open_log_file"]

DEFAULT_LOG_FILE_FORMAT: Final = "%i %n%L"
"""The client's ``--log-file-format`` when none is given (rsync: options.c)."""


class LogFile:
    """An open ``--log-file``.

    Args:
        fd: the descriptor, opened for appending (the log owns it).
        fmt: the ``--log-file-format`` (``""``: no item lines).
    """

    def __init__(self, fd: int, fmt: str) -> None:
        self.fd = fd
        self.format = fmt
        self.pid = os.getpid()

    def write(self, text: str | bytes) -> None:
        """Append one line (without its newline; a trailing one is dropped).

        rsync: log.c logit() (the time, the pid, then filtered_fwrite() with C1 escapes).
        """
        if self.fd < 0:
            return
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        if raw.endswith((b"\n", b"\r")):
            raw = raw[:-1]
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime())
        body = escape_text(raw, charset=None, c1=True).encode("utf-8", "surrogateescape")
        line = f"{stamp} [{self.pid}] ".encode() + body + b"\n"
        # a log that fails does not stop the transfer
        with contextlib.suppress(OSError):
            os.write(self.fd, line)

    def close(self) -> None:
        """Close the file (further lines are dropped)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def open_log_file(path: str, fmt: str | None) -> tuple[LogFile | None, list[str]]:
    """Open ``path`` for appending; returns the log (or ``None``) and what to say.

    A log that cannot be opened is not fatal: the messages rsync prints then are
    returned (an error line and an informational one), and the run goes on without it.

    rsync: log.c logfile_open() (umask 022 on top of the user's, 0644).
    """
    old = os.umask(0o022)
    os.umask(old | 0o022)
    try:
        fd = open_no_attacker_symlinks(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        from rsync_client.safeopen import UNTRUSTED_SYMLINK_MESSAGE, UntrustedSymlinkError

        lines = [UNTRUSTED_SYMLINK_MESSAGE] if isinstance(exc, UntrustedSymlinkError) else []
        lines.append(
            f"rsync: [client] failed to open log-file {path}: {exc.strerror} ({exc.errno})"
        )
        return None, [*lines, 'Ignoring "log file" setting.']
    finally:
        os.umask(old)
    return LogFile(fd, DEFAULT_LOG_FILE_FORMAT if fmt is None else fmt), []
