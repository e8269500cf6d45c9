"""A daemon module's transfer log: one line per file, in the module's ``log format``.

The line is built from rsync's ``%`` escapes (with their ``-`` and width modifiers and
``'`` for digit grouping) and logged at INFO on the ``rsync_wire.xferlog`` logger; the
daemon decides where that logger writes (its log file, or syslog). Pure formatting plus
one ``logging`` call: no other I/O. Names go into the line raw (bytes that are not UTF-8
as ``surrogateescape`` characters): as in rsync, the writer of the log escapes the whole
line (:func:`rsync_wire.proto.escape.escape_text`), so nothing is escaped twice.

rsync: log.c log_formatted(), log_item(); loadparm.c (the default ``log format``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
from typing import Final

import msgspec

from rsync_wire.proto.constants import Item

__all__ = [
    "DEFAULT_LOG_FORMAT",
    "ServerLog",
    "XferItem",
    "format_line",
    "itemize",
    "log_item",
    "permstring",
    "server_log",
    "set_server_log",
]

log = logging.getLogger("rsync_wire.xferlog")

DEFAULT_LOG_FORMAT: Final = "%o %h [%a] %m (%u) %f %l"
"""rsync's default ``log format``."""

_MISSING_DATA: Final = 1 << 16  # ITEM_MISSING_DATA (local to a process, never on the wire)
_DELETED: Final = 1 << 17  # ITEM_DELETED (local)
_ESCAPE = re.compile(r"%('*)(-?)(\d*)('*)(.)", re.DOTALL)


class XferItem(msgspec.Struct, kw_only=True):
    """What one log line may show about a file.

    Attributes:
        name: the name as listed (``%n``).
        path: the path relative to the module (``%f``).
        mode: the mode listed.
        size: the size listed (``%l``).
        mtime: the modification time listed (``%M``).
        uid: the owner sent (``%U``), or ``None`` when owners are not sent.
        gid: the group sent (``%G``), or ``None`` when groups are not sent.
        link_target: a symlink's target (``%L``).
        iflags: the item flags of the transfer record (``%i``, ``%b``, ``%c``).
        sent: file data bytes written for it (``%b`` for a sender).
        received: bytes read for it (``%c`` for a sender: the block checksums).
        checksum: the whole-file checksum sent (``%C``), or ``b""``.
    """

    name: bytes
    path: bytes
    mode: int
    size: int
    mtime: int
    uid: int | None = None
    gid: int | None = None
    link_target: bytes | None = None
    iflags: int = int(Item.TRANSFER)
    sent: int = 0
    received: int = 0
    checksum: bytes = b""


def permstring(mode: int) -> str:
    """``ls -l``'s permission string, without the type letter (``%B``).

    rsync: lib/permstring.c permstring().
    """
    chars = []
    for shift, special, low, high in ((6, stat.S_ISUID, "s", "S"), (3, stat.S_ISGID, "s", "S")):
        bits = (mode >> shift) & 7
        chars += ["r" if bits & 4 else "-", "w" if bits & 2 else "-"]
        if mode & special:
            chars.append(low if bits & 1 else high)
        else:
            chars.append("x" if bits & 1 else "-")
    bits = mode & 7
    chars += ["r" if bits & 4 else "-", "w" if bits & 2 else "-"]
    if mode & stat.S_ISVTX:
        chars.append("t" if bits & 1 else "T")
    else:
        chars.append("x" if bits & 1 else "-")
    return "".join(chars)


def itemize(item: XferItem, *, op: str = "send", preserve_mtimes: bool = True) -> str:
    """The ``%i`` string of an item.

    rsync: log.c log_formatted() (case 'i').
    """
    f = item.iflags
    if f & _DELETED:
        return "*deleting  "
    if f & Item.LOCAL_CHANGE:
        first = "h" if f & Item.XNAME_FOLLOWS else "c"
    elif not f & Item.TRANSFER:
        first = "."
    else:
        first = "<" if op.startswith("s") else ">"
    mode = item.mode
    c = [first, "f", ".", ".", ".", ".", ".", ".", ".", ".", "."]
    if stat.S_ISLNK(mode):
        c[1] = "L"
        c[4] = "." if not f & Item.REPORT_TIME else "T" if not preserve_mtimes else "t"
    else:
        if stat.S_ISDIR(mode):
            c[1] = "d"
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            c[1] = "S"
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            c[1] = "D"
        c[3] = "s" if f & Item.REPORT_SIZE else "."
        c[4] = "." if not f & Item.REPORT_TIME else "t" if preserve_mtimes else "T"
    c[2] = "c" if f & Item.REPORT_CHANGE else "."
    c[5] = "p" if f & Item.REPORT_PERMS else "."
    c[6] = "o" if f & Item.REPORT_OWNER else "."
    c[7] = "g" if f & Item.REPORT_GROUP else "."
    both = Item.REPORT_ATIME | Item.REPORT_CRTIME
    if not f & both:
        c[8] = "."
    elif f & both == both:
        c[8] = "b"
    else:
        c[8] = "u" if f & Item.REPORT_ATIME else "n"
    c[9] = "a" if f & Item.REPORT_ACL else "."
    c[10] = "x" if f & Item.REPORT_XATTR else "."
    if f & (Item.IS_NEW | _MISSING_DATA):
        ch = "+" if f & Item.IS_NEW else "?"
        c[2:] = [ch] * 9
    elif first in ".hc" and all(x == "." for x in c[2:]):
        c[2:] = [" "] * 9
    return "".join(c)


def _group(value: int, humanize: int) -> str:
    if humanize <= 0:
        return str(value)
    if humanize == 1:
        return f"{value:,}"
    units = 1000 if humanize == 2 else 1024  # rsync: do_big_num() levels 2 and 3
    n = float(value)
    for suffix in ("", "K", "M", "G", "T", "P"):
        if n < units or suffix == "P":
            return f"{n:.2f}{suffix}" if suffix else str(value)
        n /= units
    return str(value)  # pragma: no cover - the loop always returns


def _timestring(t: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t))


def format_line(
    fmt: str,
    item: XferItem,
    *,
    op: str = "send",
    module: str = "",
    module_path: str = "",
    host: str = "",
    addr: str = "",
    user: str = "",
    now: float | None = None,
    pid: int | None = None,
) -> str:
    """``fmt`` with rsync's escapes replaced for ``item``.

    Unknown escapes stay as written, as in rsync.

    rsync: log.c log_formatted().
    """

    def show(b: bytes) -> str:
        # Raw, as rsync's log_formatted() puts names in the line: the log writer escapes
        # the whole line (rsync_wire.proto.escape, rsync: log.c logit()).
        return b.decode("utf-8", "surrogateescape")

    def repl(m: re.Match[str]) -> str:
        humanize = len(m.group(1)) + len(m.group(4))
        left, width, code = m.group(2), m.group(3), m.group(5)
        n: str | None
        if code == "h":
            n = host or "UNDETERMINED"  # rsync: without reverse lookup, undetermined_hostname
        elif code == "a":
            n = addr
        elif code == "l":
            n = _group(item.size, humanize)
        elif code == "U":
            n = str(item.uid or 0)
        elif code == "G":
            n = "DEFAULT" if item.gid is None else str(item.gid)
        elif code == "p":
            n = str(os.getpid() if pid is None else pid)
        elif code == "M":
            n = _timestring(item.mtime).replace(" ", "-")
        elif code == "B":
            n = permstring(item.mode)
        elif code == "o":
            n = op
        elif code == "f":
            n = show(item.path).lstrip("/")
        elif code == "n":
            n = show(item.name) + ("/" if stat.S_ISDIR(item.mode) else "")
        elif code == "L":
            if stat.S_ISLNK(item.mode) and item.link_target is not None:
                n = " -> " + show(item.link_target)
            else:
                n = ""
        elif code == "m":
            n = module
        elif code == "t":
            n = _timestring(time.time() if now is None else now)
        elif code == "P":
            n = module_path
        elif code == "u":
            n = user
        elif code in "bc":
            if not item.iflags & Item.TRANSFER:
                b = 0
            else:
                b = item.sent if (op.startswith("s")) != (code == "c") else item.received
            n = _group(b, humanize)
        elif code == "C":
            n = item.checksum.hex() if item.checksum else " " * 32
        elif code == "i":
            n = itemize(item, op=op)
        elif code == "%":
            n = "%"
        else:
            return m.group(0)
        if width:
            n = n.ljust(int(width)) if left else n.rjust(int(width))
        return n

    return _ESCAPE.sub(repl, fmt)


def log_item(
    fmt: str,
    item: XferItem,
    *,
    op: str = "send",
    module: str = "",
    module_path: str = "",
    host: str = "",
    addr: str = "",
    user: str = "",
) -> None:
    """Log one transfer line on ``rsync_wire.xferlog`` (INFO), cut at 4096 characters."""
    line = format_line(
        fmt or DEFAULT_LOG_FORMAT,
        item,
        op=op,
        module=module,
        module_path=module_path,
        host=host,
        addr=addr,
        user=user,
    )
    log.info("%s", line[:4096])


class ServerLog:
    """A remote-shell server's ``--log-file`` (given with the client's ``-M``).

    Lines are ``YYYY/MM/DD HH:MM:SS [PID] TEXT``, escaped as rsync's log writer escapes
    them; items go in ``--log-file-format`` (default ``%i %n%L``).

    Args:
        fd: the file, opened for appending (the log owns it).
        fmt: the item format (``""``: no item lines).
        dry_run: ``-n``: no item is logged.

    rsync: log.c logit(), log_item(), maybe_log_item() (the am_server branches).
    """

    def __init__(self, fd: int, fmt: str, *, dry_run: bool = False) -> None:
        self.fd = fd
        self.format = fmt
        self.dry_run = dry_run
        self.has_i = _has_escape(fmt, "i")
        self.pid = os.getpid()

    def line(self, text: str | bytes) -> None:
        """Append one line."""
        from rsync_wire.proto.escape import escape_text

        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        body = escape_text(raw.rstrip(b"\n"), charset=None, c1=True)
        stamp = _timestring(time.time())
        data = f"{stamp} [{self.pid}] {body}\n".encode("utf-8", "surrogateescape")
        with contextlib.suppress(OSError):  # a failing log does not stop the transfer
            os.write(self.fd, data)

    def item(self, item: XferItem, *, op: str, significant: bool) -> None:
        """An item: a transfer, or a change the generator itemized.

        rsync: log.c maybe_log_item() (am_server: only with %i in the format, and
        significant), log_item() after a transfer; nothing in a dry run.
        """
        if self.dry_run or not self.format:
            return
        if not item.iflags & Item.TRANSFER and not (self.has_i and significant):
            return
        self.line(format_line(self.format, item, op=op))

    def close(self) -> None:
        """Close the file."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def _has_escape(fmt: str, letter: str) -> bool:
    return any(m.group(5) == letter for m in _ESCAPE.finditer(fmt))


_server_log: ServerLog | None = None


def set_server_log(log: ServerLog | None) -> None:
    """Install (or remove) this process's server log.

    A remote-shell server serves one session per process; the roles that see its items
    reach the log here.
    """
    global _server_log
    _server_log = log


def server_log() -> ServerLog | None:
    """The server log of this process, if a ``--log-file`` was given to the server."""
    return _server_log
