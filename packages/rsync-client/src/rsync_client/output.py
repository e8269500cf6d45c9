"""rsync-compatible text: ``-v`` lines, itemized changes, ``--list-only``, ``--stats``, errors.

Everything a user or a script reads on stdout/stderr is formatted here, the way
rsync's ``log.c``, ``main.c`` (``output_summary``) and ``generator.c``
(``list_file_entry``) format it, so that output can be compared with rsync's.
The pure formatting functions (numbers, permission strings, itemize strings, name
escaping) take values and return ``str``; :class:`Output` is the
:class:`~rsync_wire.roles.receiving.Reporter` of a transfer and decides, as rsync
does, which events print at which verbosity.
"""

from __future__ import annotations

import codecs
import functools
import io
import locale
import os
import stat
import sys
import time
from typing import IO, TYPE_CHECKING, Final

from rsync_client.logformat import FMT_WIDTH_MAX, log_format_has
from rsync_wire.errors import EXIT_NAMES, exit_line
from rsync_wire.proto.constants import Item, Msg
from rsync_wire.proto.escape import escape_text
from rsync_wire.roles.decide import SIGNIFICANT_ITEM_FLAGS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_client.logfile import LogFile
    from rsync_client.options import ClientOptions
    from rsync_client.progress import ProgressDisplay
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.roles.receiving import ReceiveStats

__all__ = [
    "ERROR_NAMES",
    "Output",
    "child_argv_line",
    "comma_dnum",
    "escape_name",
    "human_dnum",
    "human_num",
    "itemize_string",
    "list_line",
    "permstring",
    "rsync_error_line",
    "summary_lines",
]

ERROR_NAMES: Final = EXIT_NAMES
"""rsync's exit-code texts (rsync_wire.errors.EXIT_NAMES)."""


def rsync_error_line(code: int, *, role: str = "client") -> str:
    """The last line rsync prints when it exits with ``code`` (a warning for 24).

    rsync: log.c log_exit().
    """
    return exit_line(code, program="pyrsync", role=role, version=client_version())


_PLAIN_ARG: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.-_=+@/"
)


def child_argv_line(prefix: str, argv: Sequence[str]) -> str:
    """``--debug=CMD`` (``-vv``): a command or argument list, quoted as rsync quotes it.

    Words with characters other than letters, digits and ``,.-_=+@/`` are put in double
    quotes (rsync: "not a great quoting algorithm, but sufficient for a log message").

    rsync: util1.c print_child_argv().
    """
    words = "".join(w + " " if set(w) <= _PLAIN_ARG else f'"{w}" ' for w in argv)
    return f"{prefix} {words} ({len(argv)} args)"


@functools.cache
def client_version() -> str:
    """The installed version of rsync-client (read once: ``--copy-as`` reads it early)."""
    from importlib.metadata import version

    return version("rsync-client")


# -- numbers -------------------------------------------------------------------------------------


def _commas(digits: str) -> str:
    neg = digits.startswith("-")
    body = digits[1:] if neg else digits
    groups = []
    while len(body) > 3:
        groups.append(body[-3:])
        body = body[:-3]
    groups.append(body)
    return ("-" if neg else "") + ",".join(reversed(groups))


def human_num(num: int, human: int = 1) -> str:
    """A count as rsync prints it, at a ``--human-readable`` level.

    ``1,234`` at level 1 (the default), ``1234`` at 0, ``1.23K`` at 2 (powers of 1000) and 3
    (powers of 1024).

    rsync: lib/compat.c do_big_num().
    """
    if human > 1:
        mult = 1000 if human == 2 else 1024
        if abs(num) >= mult:
            dnum = abs(num) / mult
            units = "K"
            for unit in "MGTP":
                if dnum < mult:
                    break
                dnum /= mult
                units = unit
            if num < 0:
                dnum = -dnum
            return f"{dnum:.2f}{units}"
    if human:
        return _commas(str(num))
    return str(num)


def comma_dnum(value: float, digits: int) -> str:
    """A float with thousands separators: ``6,002,236.00``.

    rsync: lib/compat.c do_big_dnum() (comma_dnum).
    """
    text = f"{value:.{digits}f}"
    if -1000.0 < value < 1000.0:
        return text
    whole, _, fract = text.partition(".")
    return _commas(whole) + ("." + fract if fract else "")


def human_dnum(value: float, digits: int, human: int = 1) -> str:
    """A float at a human-readable level (units from level 2 on).

    rsync: lib/compat.c do_big_dnum().
    """
    if human > 1 and abs(value) >= 1000:
        return human_num(int(value), human)
    if human:
        return comma_dnum(value, digits)
    return f"{value:.{digits}f}"


# -- names and modes -------------------------------------------------------------------------------


def locale_charset() -> str:
    """The charset of the locale, as Python names it (``ascii`` when it has none Python knows).

    rsync: rsync.c setup_iconv() (the locale's ``nl_langinfo(CODESET)``).
    """
    try:
        return codecs.lookup(locale.nl_langinfo(locale.CODESET) or "ascii").name
    except LookupError:
        return "ascii"


_CHARSET: Final = locale_charset()


def escape_name(data: bytes, *, eight_bit: bool = False) -> str:
    r"""Text for the terminal: control bytes (and bytes the locale cannot show) as ``\#ooo``.

    A byte that is not valid in the locale's charset is escaped unless ``eight_bit``
    (``-8``); so is the backslash of a literal ``\#ddd``.
    See :func:`rsync_wire.proto.escape.escape_text`.

    rsync: log.c rwrite(), filtered_fwrite().
    """
    return escape_text(data, charset=None if eight_bit else _CHARSET)


def permstring(mode: int) -> str:
    """``ls -l``-style permissions: ``drwxr-xr-x``.

    rsync: lib/permstring.c permstring().
    """
    kinds = {
        stat.S_IFDIR: "d",
        stat.S_IFLNK: "l",
        stat.S_IFCHR: "c",
        stat.S_IFBLK: "b",
        stat.S_IFIFO: "p",
        stat.S_IFSOCK: "s",
    }
    chars = [kinds.get(stat.S_IFMT(mode), "-")]
    bits = "rwxrwxrwx"
    for i, ch in enumerate(bits):
        chars.append(ch if mode & (0o400 >> i) else "-")
    if mode & stat.S_ISUID:
        chars[3] = "s" if mode & 0o100 else "S"
    if mode & stat.S_ISGID:
        chars[6] = "s" if mode & 0o010 else "S"
    if mode & stat.S_ISVTX:
        chars[9] = "t" if mode & 0o001 else "T"
    return "".join(chars)


def timestring(seconds: int) -> str:
    """``YYYY/MM/DD HH:MM:SS`` in local time.

    rsync: util1.c timestring().
    """
    try:
        tm = time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        return "(time out of range)"
    return (
        f"{tm.tm_year:4d}/{tm.tm_mon:02d}/{tm.tm_mday:02d} "
        f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
    )


_ITEM_MISSING_DATA: Final = 1 << 16
"""rsync.h ITEM_MISSING_DATA: a sender below protocol 29 has no iflags (``?????????``)."""


def itemize_string(
    mode: int,
    iflags: int,
    *,
    preserve_times: bool,
    receiver_symlink_times: bool = True,
    sending: bool = False,
) -> str:
    """The eleven characters of ``%i`` (``>f+++++++++``, ``.d..t......``...).

    ``sending``: the line is a sender's (a push), whose transfers show ``<``.

    rsync: log.c log_formatted() (case 'i').
    """
    if iflags & Item.LOCAL_CHANGE:
        c0 = "h" if iflags & Item.XNAME_FOLLOWS else "c"
    elif not iflags & Item.TRANSFER:
        c0 = "."
    else:
        c0 = "<" if sending else ">"
    c = [c0, "", "", "", "", "", "", "", "", "", ""]
    if stat.S_ISLNK(mode):
        c[1] = "L"
        c[3] = "."
        if not iflags & Item.REPORT_TIME:
            c[4] = "."
        elif not preserve_times or not receiver_symlink_times or iflags & Item.REPORT_TIMEFAIL:
            c[4] = "T"
        else:
            c[4] = "t"
    else:
        if stat.S_ISDIR(mode):
            c[1] = "d"
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            c[1] = "S"
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            c[1] = "D"
        else:
            c[1] = "f"
        c[3] = "s" if iflags & Item.REPORT_SIZE else "."
        if not iflags & Item.REPORT_TIME:
            c[4] = "."
        else:
            c[4] = "t" if preserve_times else "T"
    c[2] = "c" if iflags & Item.REPORT_CHANGE else "."
    c[5] = "p" if iflags & Item.REPORT_PERMS else "."
    c[6] = "o" if iflags & Item.REPORT_OWNER else "."
    c[7] = "g" if iflags & Item.REPORT_GROUP else "."
    atime = iflags & Item.REPORT_ATIME
    crtime = iflags & Item.REPORT_CRTIME
    c[8] = "b" if atime and crtime else "u" if atime else "n" if crtime else "."
    c[9] = "a" if iflags & Item.REPORT_ACL else "."
    c[10] = "x" if iflags & Item.REPORT_XATTR else "."
    if iflags & (Item.IS_NEW | _ITEM_MISSING_DATA):
        fill = "+" if iflags & Item.IS_NEW else "?"
        for i in range(2, 11):
            c[i] = fill
    elif c0 in ".hc" and all(ch == "." for ch in c[2:]):
        for i in range(2, 11):
            c[i] = " "
    return "".join(c)


def list_line(entry: FileEntry, name: bytes, *, human: int = 1, links: bool = True) -> str:
    """One ``--list-only`` line.

    rsync: generator.c list_file_entry().
    """
    width = 14 if human else 11
    size = entry.size if not (entry.is_device or entry.is_special) else 0
    line = (
        f"{permstring(entry.mode)} {human_num(size, human):>{width}} "
        f"{timestring(entry.mtime)} {escape_name(name)}"
    )
    if links and entry.is_symlink and entry.link_target is not None:
        line += " -> " + escape_name(entry.link_target)
    return line


def _counts(prefix: str, total: int, dirs: int, links: int, devs: int, specials: int) -> str:
    reg = total - dirs - links - devs - specials
    parts = [
        f"{label}: {human_num(n)}"
        for label, n in (
            ("reg", reg),
            ("dir", dirs),
            ("link", links),
            ("dev", devs),
            ("special", specials),
        )
        if n
    ]
    extra = f" ({', '.join(parts)})" if total and parts else ""
    return f"{prefix}: {human_num(total)}{extra}"


def summary_lines(
    stats: ReceiveStats,
    *,
    protocol: int,
    full: bool,
    brief: bool,
    human: int = 1,
    dry_run: bool = False,
    batch_only: bool = False,
) -> list[str]:
    """The ``--stats`` block (``full``) and the two closing lines (``brief``).

    ``batch_only`` (``--only-write-batch``) marks the last line as rsync does.

    rsync: main.c output_summary(), output_itemized_counts().
    """
    lines: list[str] = []
    written = stats.total_written
    read = stats.total_read
    if full:
        lines.append("")
        lines.append(
            _counts(
                "Number of files",
                stats.num_files,
                stats.num_dirs,
                stats.num_symlinks,
                stats.num_devices,
                stats.num_specials,
            )
        )
        if protocol >= 29:
            lines.append(
                _counts(
                    "Number of created files",
                    stats.created_files,
                    stats.created_dirs,
                    stats.created_symlinks,
                    stats.created_devices,
                    stats.created_specials,
                )
            )
        if protocol >= 31:
            lines.append(
                _counts(
                    "Number of deleted files",
                    stats.deleted_files,
                    stats.deleted_dirs,
                    stats.deleted_symlinks,
                    stats.deleted_devices,
                    stats.deleted_specials,
                )
            )
        lines.append(f"Number of regular files transferred: {human_num(stats.xferred_files)}")
        lines.append(f"Total file size: {human_num(stats.total_size, human)} bytes")
        lines.append(
            f"Total transferred file size: {human_num(stats.total_transferred_size, human)} bytes"
        )
        lines.append(f"Literal data: {human_num(stats.literal_data, human)} bytes")
        lines.append(f"Matched data: {human_num(stats.matched_data, human)} bytes")
        lines.append(f"File list size: {human_num(stats.flist_size, human)}")
        if stats.flist_buildtime_ms:
            lines.append(
                f"File list generation time: {comma_dnum(stats.flist_buildtime_ms / 1000, 3)}"
                " seconds"
            )
            lines.append(
                f"File list transfer time: {comma_dnum(stats.flist_xfertime_ms / 1000, 3)} seconds"
            )
        lines.append(f"Total bytes sent: {human_num(written, human)}")
        lines.append(f"Total bytes received: {human_num(read, human)}")
    if brief:
        lines.append("")
        elapsed = int(stats.elapsed)
        rate = (written + read) / (0.5 + elapsed)
        lines.append(
            f"sent {human_num(written, human)} bytes  received {human_num(read, human)} bytes  "
            f"{human_dnum(rate, 2, human)} bytes/sec"
        )
        total = written + read
        speedup = stats.total_size / total if total else 0.0
        lines.append(
            f"total size is {human_num(stats.total_size, human)}  speedup is "
            f"{comma_dnum(speedup, 2)}"
            f"{' (BATCH ONLY)' if batch_only else ' (DRY RUN)' if dry_run else ''}"
        )
    return lines


# -- --out-format ----------------------------------------------------------------------------------


def _timestring(t: int) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t))


def format_line(
    fmt: str,
    entry: FileEntry,
    name: str,
    *,
    op: str,
    flags: str,
    path: str,
    link: str,
    owners: tuple[bool, bool],
    uid: int,
    gid: int,
    checksum: str = "xxh128",
) -> str:
    """A client's ``--out-format`` line: rsync's escapes, widths, ``-`` and ``'``.

    ``name`` is ``%n`` (escaped for the terminal, ``/`` after a directory), ``path``
    ``%f``, ``link`` the ``%L`` text (`` -> TARGET``, `` => NAME`` or empty), ``flags``
    ``%i``. Escapes only a daemon fills (``%h``, ``%a``, ``%P``, ``%u``) and unknown ones
    stay as written; ``%m`` is empty. ``checksum`` names the file-list checksum (``%C``:
    xxh digests are shown most significant byte first, md4 before protocol 30 as spaces).

    rsync: log.c log_formatted().
    """
    out: list[str] = []
    i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        k = j + 1
        humanize = 0
        while k < n and fmt[k] == "'":
            humanize += 1
            k += 1
        left = k < n and fmt[k] == "-"
        if left:
            k += 1
        w0 = k
        while k < n and fmt[k].isdigit() and k - w0 < FMT_WIDTH_MAX:
            k += 1
        width = fmt[w0:k]
        while k < n and fmt[k] == "'":
            humanize += 1
            k += 1
        if k >= n:
            out.append(fmt[j:])
            break
        code = fmt[k]
        value: str | None
        if code == "l":
            value = human_num(entry.size, humanize) if humanize else str(entry.size)
        elif code == "U":
            value = str(uid if owners[0] else 0)
        elif code == "G":
            value = str(gid) if owners[1] else "DEFAULT"
        elif code == "p":
            value = str(os.getpid())
        elif code == "M":
            value = _timestring(entry.mtime).replace(" ", "-")
        elif code == "B":
            value = permstring(entry.mode)[1:]
        elif code == "o":
            value = op
        elif code == "f":
            value = path.lstrip("/")
        elif code == "n":
            value = name
        elif code == "L":
            value = link
            if not value and width:
                value = ""
        elif code == "m":
            value = ""
        elif code == "t":
            value = _timestring(int(time.time()))
        elif code == "C":
            canonical = checksum not in ("md4-old", "none")
            if entry.checksum and stat.S_ISREG(entry.mode) and canonical:
                digest = entry.checksum
                value = (digest[::-1] if checksum.startswith("xxh") else digest).hex()
            else:  # rsync: spaces as wide as a digest (the 16 bytes of md4/md5/xxh128)
                value = " " * 2 * (len(entry.checksum) if entry.checksum else 16)
        elif code == "i":
            value = flags
        elif code == "%":
            value = "%"
        else:
            value = None
        if value is None:
            out.append(fmt[j : k + 1])  # left as written (rsync: n == NULL)
        else:
            if width:
                value = value.ljust(int(width)) if left else value.rjust(int(width))
            out.append(value)
        i = k + 1
    return "".join(out)


# -- the reporter ----------------------------------------------------------------------------------

_ITEM_DELETED: Final = 1 << 17
"""rsync.h ITEM_DELETED (local to a process): ``%i`` shows ``*deleting``."""


class _ClosableStdout(io.TextIOBase):
    """Standard output that goes quiet once its reader is gone (``pyrsync -v ... | head``).

    rsync carries on with the transfer when nobody reads its output any more; a broken
    pipe on standard output must not abort the copy.
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(text)
            except (BrokenPipeError, ValueError):  # ValueError: already closed
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                self.gone = True

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.stream, "encoding", "utf-8"))


class Output:
    """Prints a transfer's events as rsync's client does (a ``Reporter``).

    Args:
        opts: the client options (verbosity, itemize, quiet, stats, human-readable).
        stdout: where normal output goes.
        stderr: where errors and warnings go.
        progress: the progress display, if any.
    """

    def __init__(
        self,
        opts: ClientOptions,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        progress: ProgressDisplay | None = None,
    ) -> None:
        self.opts = opts
        self.to_stdout = stdout is None
        if stdout is None and opts.msgs2stderr:
            stdout = sys.stderr  # --msgs2stderr: every message goes to stderr (rsync: log.c)
        self.out: IO[str] = stdout if stdout is not None else _ClosableStdout(sys.stdout)  # type: ignore[assignment]
        self.err = stderr if stderr is not None else sys.stderr
        self.progress_display = progress
        self.quiet = opts.quiet
        itemize = opts.itemize_changes
        self.itemize = itemize
        name_level = opts.verbose
        if opts.progress and not itemize and not name_level:
            name_level = 1  # --progress shows names (rsync: "name" info word)
        self.name_level = name_level
        # the line of each item: --out-format, else "%i %n%L" with -i, else "%n%L" at -v
        # (rsync: options.c, stdout_format)
        fmt = opts.out_format
        if fmt is None and itemize:
            fmt = "%i %n%L"
        elif fmt is None and name_level:
            fmt = "%n%L"
        self.format = fmt
        if opts.out_format is not None:
            itemize = (itemize | 1) if log_format_has(opts.out_format, "i") else 0
        self.itemize = itemize
        self.has_format = fmt is not None
        self.source_dir = ""  # a sender's %f: the directory its names are in
        self.checksum = "xxh128"  # the file-list checksum's name (%C; set by the session)
        self.flist_progress = False
        self.flist_counting = False
        self.am_sender = False  # this side builds the file list (a local copy, a push)
        self.needs_newline = False
        self.human = opts.human_readable
        self.sending = False  # a push: this client is the sender (items show "<")
        self.receiver_symlink_times = True  # a push: whether the receiver sets symlink times
        self.log: LogFile | None = None  # --log-file (rsync_client.logfile)

    # -- low level ---------------------------------------------------------------------

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self.needs_newline:
            self.out.write("\n")
            self.needs_newline = False
        self.out.write(text + "\n")

    def _log(self, text: str | bytes) -> None:
        """A line for ``--log-file`` (rsync: log.c rwrite(): every message but FCLIENT's)."""
        if self.log is not None:
            self.log.write(text)

    def log_only(self, text: str) -> None:
        """A line only the ``--log-file`` gets (rsync's FLOG: "building file list", ...)."""
        self._log(text)

    def error(self, text: str) -> None:
        """An error or warning line on stderr (never silenced by ``-q``)."""
        self._log(text)
        self.out.flush()
        if self.needs_newline:  # rsync: log.c rwrite() ends the open line on stderr
            self.err.write("\n")
            self.needs_newline = False
        self.err.write(text if text.endswith("\n") else text + "\n")
        self.err.flush()

    def info(self, text: str) -> None:
        """An informational line on stdout (silenced by ``-q``)."""
        self._log(text)
        self._line(text)

    def client_only(self, text: str) -> None:
        """A line on stdout that ``--log-file`` does not get (rsync's FCLIENT)."""
        self._line(text)

    def flush(self) -> None:
        """Flush both streams."""
        self.out.flush()
        self.err.flush()

    # -- Reporter ----------------------------------------------------------------------

    def file_list_started(self, *, incremental: bool = False) -> None:
        """``receiving file list ... `` with ``-v``, or ``receiving incremental file list``.

        rsync: flist.c recv_file_list(), start_filelist_progress().
        """
        o = self.opts
        if self.quiet or not (o.verbose or o.progress):
            return
        if incremental:  # a local copy's client is its sender, as rsync's
            self._line(f"{'sending' if self.am_sender else 'receiving'} incremental file list")
            return
        if not (o.recursive or o.dirs or o.list_only_effective):
            return
        self.flist_progress = True
        self.out.write(f"{'building' if self.am_sender else 'receiving'} file list ... ")
        self.needs_newline = True
        self.out.flush()
        if self.am_sender:  # the sender counts before each entry: from 0 (rsync: flist.c)
            self.file_list_progress(0)

    def file_list_progress(self, count: int) -> None:
        """`` 100 files...`` with ``--progress`` (rsync: flist.c emit_filelist_progress())."""
        if not self.flist_progress or not self.opts.progress:  # rsync's FLIST2
            return
        if not self.flist_counting:  # the first ends "receiving file list ... " (rsync: rwrite())
            self.out.write("\n")
            self.flist_counting = True
        self.out.write(f" {count} files...\r")
        self.needs_newline = True
        self.out.flush()

    def sender_file_list_started(self, *, incremental: bool) -> None:
        """A pushing client's ``building file list ... `` or ``sending incremental file list``.

        rsync: flist.c send_file_list() (show_filelist_progress needs ``-v``, ``-r`` or
        ``-d``, and no incremental recursion).
        """
        o = self.opts
        if self.quiet or not (o.verbose or o.progress):
            return
        if incremental:
            self._line("sending incremental file list")
            return
        if not (o.recursive or o.dirs):
            return
        self.flist_progress = True
        self.out.write("building file list ... ")
        self.needs_newline = True
        self.out.flush()

    def file_list_done(self, count: int) -> None:
        """``done`` or ``N files to consider`` (rsync: finish_filelist_progress)."""
        if not self.flist_progress:
            return
        self.needs_newline = False
        if self.opts.progress:  # rsync's FLIST2: --progress (-vv does not give it)
            text = f"{count} file{' ' if count == 1 else 's '}to consider"
        else:
            text = "done"
        self._log(text)  # FINFO: the log has it too (rsync: finish_filelist_progress())
        self.out.write(text + "\n")

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        """A transferred file, or an itemize echo (rsync: maybe_log_item(), log_item())."""
        if not self.has_format and self.log is None:
            return
        if not iflags & Item.TRANSFER:
            significant = iflags & SIGNIFICANT_ITEM_FLAGS
            see = bool(self.itemize) and bool(
                significant or xname or self.itemize > 1 or self.name_level >= 2
            )
            local_change = iflags & Item.LOCAL_CHANGE and significant
            if not (see or local_change or xname or (entry.is_dir and significant)):
                return
            # rsync: FINFO (the log too) when significant or the log's format has %i
            if self.log is not None and (significant or log_format_has(self.log.format, "i")):
                self._log_item(entry, name, iflags, xname, op=self._op())
        elif self.log is not None and not self.opts.dry_run and not self.log_batch_only:
            # a transfer is logged once it is done, never in a dry run or a batch-only run
            # (rsync: receiver.c/sender.c log_item(), FCLIENT when !do_xfers)
            self._log_item(entry, name, iflags, xname, op=self._op())
        if self.has_format:
            self._line(self.format_item(entry, name, iflags, xname))

    @property
    def log_batch_only(self) -> bool:
        """``--only-write-batch``: transfers go to the batch only (rsync: write_batch < 0)."""
        return self.opts.only_write_batch is not None

    def _op(self) -> str:
        return "send" if self.am_sender or self.sending else "recv"

    def _log_item(
        self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None, *, op: str
    ) -> None:
        """The ``--log-file-format`` line of an item, names raw (the log escapes the line).

        rsync: log.c log_item() (FLOG with logfile_format), log_formatted().
        """
        assert self.log is not None  # noqa: S101 - the caller checked
        fmt = self.log.format
        if not fmt:
            return
        raw = name.decode("utf-8", "surrogateescape")
        shown = raw + ("/" if entry.is_dir and not raw.endswith("/") else "")
        if xname:
            tail = " => " + xname.decode("utf-8", "surrogateescape")
        elif entry.is_symlink and entry.link_target is not None:
            tail = " -> " + entry.link_target.decode("utf-8", "surrogateescape")
        else:
            tail = ""
        flags = ""
        if log_format_has(fmt, "i"):
            if iflags & _ITEM_DELETED:
                flags = "*deleting  "
            else:
                flags = itemize_string(
                    entry.mode,
                    iflags,
                    preserve_times=self.opts.times,
                    receiver_symlink_times=self.receiver_symlink_times,
                    sending=self.sending,
                )
        path = raw
        if op == "send" and self.source_dir:
            path = os.path.join(self.source_dir, path)
        self._log(
            format_line(
                fmt,
                entry,
                shown,
                op=op,
                flags=flags,
                path=path,
                link=tail,
                owners=(self.opts.owner, self.opts.group),
                uid=entry.uid,
                gid=entry.gid,
                checksum=self.checksum,
            )
        )

    def format_item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> str:
        """``%i %n%L`` (with ``-i``) or ``%n%L``."""
        eight = self.opts.eight_bit_output  # -8: high-bit bytes as they are
        shown = escape_name(name, eight_bit=eight)
        if entry.is_dir and not shown.endswith("/"):
            shown += "/"
        if xname:
            tail = " => " + escape_name(xname, eight_bit=eight)
        elif entry.is_symlink and entry.link_target is not None:
            tail = " -> " + escape_name(entry.link_target, eight_bit=eight)
        else:
            tail = ""
        if self.opts.out_format is not None:
            return self._formatted(entry, name, iflags, shown, tail)
        if self.itemize:
            flags = itemize_string(
                entry.mode,
                iflags,
                preserve_times=self.opts.times,
                receiver_symlink_times=self.receiver_symlink_times,
                sending=self.sending,
            )
            return f"{flags} {shown}{tail}"
        return shown + tail

    def _formatted(self, entry: FileEntry, name: bytes, iflags: int, shown: str, tail: str) -> str:
        """The ``--out-format`` line of an item (rsync: log.c log_formatted())."""
        fmt = self.opts.out_format or ""
        flags = ""
        if log_format_has(fmt, "i"):
            flags = itemize_string(
                entry.mode,
                iflags,
                preserve_times=self.opts.times,
                receiver_symlink_times=self.receiver_symlink_times,
                sending=self.sending,
            )
        path = escape_name(name, eight_bit=self.opts.eight_bit_output)
        if (self.am_sender or self.sending) and self.source_dir:
            path = os.path.join(self.source_dir, path)  # rsync: F_PATHNAME joined
        return format_line(
            fmt,
            entry,
            shown,
            op="send" if self.am_sender or self.sending else "recv",
            flags=flags,
            path=path,
            link=tail,
            owners=(self.opts.owner, self.opts.group),
            uid=entry.uid,
            gid=entry.gid,
            checksum=self.checksum,
        )

    def list_entry(self, entry: FileEntry, name: bytes) -> None:
        """One ``--list-only`` line."""
        line = list_line(entry, name, human=self.human, links=self.opts.links)
        self._log(line)
        self._line(line)

    def _info_del(self) -> bool:
        """``INFO_GTE(DEL, 1)``: ``--info=del`` (or ``-v``)."""
        known = self.__dict__.get("_del_level")
        if known is not None:
            return bool(known)
        opts = self.opts
        from rsync_wire.proto.outlevels import OutputLevels

        levels = OutputLevels.build(
            verbose=opts.verbose - opts.verbose_from_info,
            info=opts.info,
            debug=opts.debug,
            stats=opts.stats,
        )
        self._del_level = levels.info_gte("DEL")
        return self._del_level

    def deleted(self, name: bytes, mode: int) -> None:
        """``deleting NAME`` (``*deleting   NAME`` with ``-i``; rsync: log.c log_delete())."""
        log = self.log
        if log is not None and not self.opts.dry_run:
            # rsync: log_delete(): the log's format when it has %o or %i, else "deleting %n"
            # (an empty format too); a sending client knows only the type (MSG_DELETED)
            fmt = log.format
            if not (log_format_has(fmt, "i") or log_format_has(fmt, "o")):
                fmt = "deleting %n"
            from rsync_wire.proto.flist import FileEntry

            sender = self.am_sender or self.sending
            entry = FileEntry(name=name, mode=stat.S_IFMT(mode) if sender else mode)
            saved, log.format = log.format, fmt
            try:
                self._log_item(entry, name, _ITEM_DELETED, None, op="del.")
            finally:
                log.format = saved
        # rsync: log_delete() prints when INFO_GTE(DEL, 1) or an stdout format is set (-v
        # sets "%n%L", so --info=del0 does not silence -v)
        if not (self.opts.verbose or self.itemize or self._info_del()):
            return
        shown = escape_name(name) + ("/" if stat.S_ISDIR(mode) else "")
        if self.itemize:
            self._line(f"*deleting   {shown}")
        else:
            self._line(f"deleting {shown}")

    def message(self, code: int, text: bytes) -> None:
        """Text from the peer or from the roles: MSG_INFO on stdout, the rest on stderr."""
        shown = escape_name(text.rstrip(b"\n")) if text else ""
        if code == Msg.INFO:
            self._log(text)  # raw: the log escapes it its own way
            self._line(shown)
        else:
            if self.log is not None:
                self.log.write(text)
            self._error_unlogged(shown)

    def _error_unlogged(self, text: str) -> None:
        log, self.log = self.log, None
        try:
            self.error(text)
        finally:
            self.log = log

    def progress(
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
        xferred: int = 0,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        """Per-file progress, when ``--progress`` or ``--info=progress2`` is on."""
        if self.progress_display is not None and not self.quiet:
            self.progress_display.update(
                name,
                done,
                total,
                final=final,
                to_check=to_check,
                count=count,
                xferred=xferred,
                transferred_size=transferred_size,
                total_size=total_size,
                flist_eof=flist_eof,
            )

    def progress_phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool = True,
    ) -> None:
        """The end of a transfer phase (``--info=progress2`` shows its line again)."""
        if self.progress_display is not None and not self.quiet:
            self.progress_display.phase_done(
                to_check=to_check,
                count=count,
                xferred=xferred,
                transferred_size=transferred_size,
                total_size=total_size,
                flist_eof=flist_eof,
            )

    # -- the end -----------------------------------------------------------------------

    def log_totals(self, stats: ReceiveStats) -> None:
        """The ``--log-file``'s last line (rsync: log.c log_exit(), FLOG)."""
        self._log(
            f"sent {stats.total_written} bytes  received {stats.total_read} bytes  "
            f"total size {stats.total_size}"
        )

    def summary(self, stats: ReceiveStats, *, protocol: int, exit_code: int = 0) -> None:
        """``--stats`` and the two closing lines of ``-v`` (rsync: main.c output_summary()).

        The ``--log-file`` gets them too, and otherwise its own totals line (rsync:
        log.c log_exit(): without ``-v``/``--stats``).
        """
        o = self.opts
        full = o.stats
        brief = o.stats or bool(o.verbose)
        lines = summary_lines(
            stats,
            protocol=protocol,
            full=full,
            brief=brief,
            human=self.human,
            dry_run=o.dry_run,
            batch_only=o.only_write_batch is not None and not o.dry_run,
        )
        if self.log is not None:
            if full or brief:
                for line in lines:
                    if line:  # rsync's blank lines are FCLIENT's: not logged
                        self._log(line)
            elif exit_code == 0 or self.am_sender or self.sending:
                # only a sender's totals are final before a clean end (rsync: log_exit())
                self.log_totals(stats)
        if self.quiet:
            return
        for line in lines:
            self._line(line)
