"""Build the sender's file list from its path arguments, as rsync's sender does.

The scan walks the tree through :class:`~rsync_wire.fs.Root`, so nothing outside
the root is ever listed, followed or opened. It yields entries in rsync's
transmission order: the arguments in command-line order, each directory's
entries in ``readdir`` order, then its subdirectories one by one.

rsync: flist.c send_file_list(), send_directory(), send_file_name(), make_file().
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from typing import TYPE_CHECKING, Protocol

import msgspec

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.fs import (
    _RESOLVE_BENEATH,
    _RESOLVE_NO_MAGICLINKS,
    Root,
    _have_openat2,
    _openat2,
    split_path,
)
from rsync_wire.proto.constants import S_IFDIR, S_IFLNK, S_IFMT
from rsync_wire.roles.links import unsafe_symlink

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.daemon_rules import DaemonRules

__all__ = [
    "ERROR",
    "ERROR_PLAIN",
    "INFO",
    "WARNING",
    "ScanEntry",
    "ScanReport",
    "Selector",
    "list_dir_entries",
    "sanitize_path",
    "scan",
]

ERROR = "error"
"""A message rsync's sender writes as FERROR_XFER with rsyserr() (``rsync: [sender] ...``)."""
ERROR_PLAIN = "error-plain"
"""A message rsync's sender writes as FERROR_XFER with rprintf() (no prefix)."""
WARNING = "warning"
"""A message rsync's sender writes as FWARNING."""
INFO = "info"
"""A message rsync's sender writes as FINFO."""


class Selector(Protocol):
    """The filter rules as the scan needs them.

    Attributes:
        daemon: the daemon module's own rules (``None`` outside a daemon or without rules);
            :meth:`excluded` applies them too, the scan also checks arguments with them.
    """

    daemon: DaemonRules | None

    def start_arg(self, base: bytes) -> None:
        """A new argument starts; its names are relative to ``base`` (relative to the root)."""

    def excluded(self, name: bytes, path: bytes, *, is_dir: bool) -> bool:
        """Whether the sender leaves out ``name`` (transfer-root relative) found at ``path``."""

    def unreadable(self, path: bytes, st: os.stat_result) -> bool:
        """Whether the module leaves out ``path`` because the daemon cannot read it."""

    def enter_dir(self, name: bytes) -> object:
        """Load per-directory merge files of directory ``name``; returns a token for leave_dir."""

    def leave_dir(self, token: object) -> None:
        """Drop the rules that ``enter_dir`` added."""

    def take_io_error(self) -> int:
        """The IOERR_* bits of merge files ``enter_dir`` could not read since the last call."""


class ScanEntry(msgspec.Struct, kw_only=True, gc=False):
    """One file found by the scan.

    Attributes:
        name: the name sent in the file list (relative to the transfer root).
        path: where the file is, relative to the root given to the scan.
        st: its ``lstat`` (or ``stat`` when a link was followed).
        link_target: the symlink's target when the entry is a symlink.
        top_dir: a directory named on the command line (XMIT_TOP_DIR).
        base: the directory ``name`` is relative to (``path`` is ``base/name``).
        no_content: a directory whose contents are not part of the transfer.
    """

    name: bytes
    path: bytes
    st: os.stat_result
    base: bytes = b""
    link_target: bytes | None = None
    top_dir: bool = False
    no_content: bool = False


class ScanReport(msgspec.Struct, kw_only=True):
    """What went wrong during the scan, as rsync reports it.

    Attributes:
        io_error: the IOERR_* bits.
        messages: ``(kind, text)`` pairs for the client; kind is ERROR, WARNING or INFO.
        module: the daemon module's name (names in messages say ``(in module)``).
        prefix: outside a daemon, the root's absolute path (names in messages start there).
        cwd: the directory of the argument being scanned (rsync's working directory).
    """

    io_error: int = 0
    messages: list[tuple[str, str]] = msgspec.field(default_factory=list)
    module: str = ""
    prefix: bytes = b""
    cwd: bytes = b""

    def full(self, path: bytes) -> str:
        """A name as rsync's messages show it.

        In a daemon ``"dir/name" (in module)``, else ``"/abs/dir/name"``.

        rsync: util1.c full_fname().
        """
        rel = b"/".join(split_path(path))
        if self.module:
            # rsync prints the working directory relative to the module with its leading
            # slash: names below an argument's directory show as "/dir/name".
            shown = b"/" + rel if self.cwd and rel else rel or b"."
            return f'"{_show(shown)}" (in {self.module})'
        shown = self.prefix.rstrip(b"/") + b"/" + rel if self.prefix else rel or b"."
        return f'"{_show(shown)}"'

    def fork(self) -> ScanReport:
        """An empty report showing names as this one does."""
        return ScanReport(module=self.module, prefix=self.prefix, cwd=self.cwd)


def _show(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


def _is_unsafe_link(target: bytes, name: bytes) -> bool:
    """rsync: util1.c unsafe_symlink() — does the link climb out of the transfer?"""
    return unsafe_symlink(target, name)


def scan(
    root: Root,
    args: list[bytes],
    opts: TransferOptions,
    selector: Selector | None,
    report: ScanReport,
    *,
    descend: bool = True,
    held: list[object] | None = None,
    protocol: int = 32,
    top: bytes = b"",
) -> Iterator[ScanEntry]:
    """Yield the file list for ``args`` (paths relative to ``root``) in transmission order.

    With ``-R`` the directories a path implies are listed before it, flagged as implied;
    at protocol 30 and later always (the receiver skips them with ``--no-implied-dirs``),
    before only without ``--no-implied-dirs``. A path starting ``./`` also lists the
    directory it is relative to, as an implied ``.``. ``top`` (``--files-from``) is the
    directory every argument is relative to.

    With ``descend`` false (incremental recursion) only the arguments and the immediate
    contents of ``dir/`` arguments are listed; the caller sends deeper directories later,
    one list each (see :func:`list_dir_entries`). The merge-file token of a ``dir/``
    argument's directory is then appended to ``held`` for the caller to leave once its
    last sub-list is sent.
    """
    if not args:
        args = [b"."]
    seen_dirs: set[tuple[int, int]] = set()
    implied = opts.relative and (opts.implied_dirs or protocol >= 30)
    dot_sent = False
    for arg in args:
        base = _split_arg(arg, opts, top)[0]
        if opts.relative and not dot_sent and _dot_prefixed(arg):
            dot_sent = True  # rsync: send_file_list() (implied_dot_dir)
            dot = _implied_dot(root, base)
            if dot is not None:
                yield dot
        for entry in _scan_arg(
            root,
            arg,
            opts,
            selector,
            report,
            seen_dirs,
            descend=descend,
            held=held,
            send_implied=implied,
            top=top,
        ):
            entry.base = base  # the entry's path is always base/name
            yield entry


def _dot_prefixed(arg: bytes) -> bool:
    """Whether a ``-R`` path's named part starts ``./`` (it then sends the ``.`` too)."""
    marker = arg.find(b"/./")
    rest = arg[marker + 3 :] if marker >= 0 else arg
    return rest.startswith(b"./") and bool(rest[2:].strip(b"/"))


def _implied_dot(root: Root, base: bytes) -> ScanEntry | None:
    try:
        st = root.stat(base or b".")
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return ScanEntry(name=b".", path=base or b".", st=st, base=base, top_dir=True, no_content=True)


def _split_arg(arg: bytes, opts: TransferOptions, top: bytes = b"") -> tuple[bytes, bytes, bool]:
    """Return ``(base, name, contents)`` for one argument.

    ``base`` is the directory the names are relative to (below ``top``); ``name`` the first
    entry's name; ``contents`` whether a trailing slash asked for the directory's contents.
    """
    if top:
        base, name, contents = _split_arg(arg, opts)
        return _join(top, base) if base else top, name.lstrip(b"/") or b".", contents
    contents = arg.endswith((b"/", b"/.")) or arg == b"."
    if opts.relative:
        marker = arg.find(b"/./")
        if marker >= 0:
            base, rest = arg[:marker], arg[marker + 3 :]
        else:
            base, rest = b"", arg
        parts = split_path(rest)
        lead = b"/" if rest.startswith(b"/") and parts else b""  # rsync keeps it in the name
        return base, lead + b"/".join(parts) or b".", contents
    parts = split_path(arg)
    if contents:
        return b"/".join(parts), b".", True
    if not parts:
        return b"", b".", True
    return b"/".join(parts[:-1]), parts[-1], False


def _join(base: bytes, name: bytes) -> bytes:
    if name == b".":
        return base or b"."
    return base + b"/" + name if base else name


def _hidden() -> OSError:
    """What a name hidden by the module's rules looks like: a name that does not exist."""
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))


def _enter_base(root: Root, base: bytes, rules: DaemonRules | None, report: ScanReport) -> bool:
    """Check the directory an argument's names are relative to, as rsync enters it.

    rsync: flist.c change_pathname() (its path_is_daemon_excluded() check and chdir).
    """
    try:
        if rules is not None and rules.hidden_dir(base) is not None:
            raise _hidden()
        st = root.stat(base)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    except OSError as exc:
        report.io_error |= 1
        report.messages.append(
            (ERROR, f"change_dir {report.full(base)} failed: {exc.strerror} ({exc.errno})")
        )
        return False
    return True


def _scan_arg(
    root: Root,
    arg: bytes,
    opts: TransferOptions,
    selector: Selector | None,
    report: ScanReport,
    seen_dirs: set[tuple[int, int]],
    *,
    descend: bool,
    held: list[object] | None,
    send_implied: bool,
    top: bytes,
) -> Iterator[ScanEntry]:
    base, name, contents = _split_arg(arg, opts, top)
    path = _join(base, name)
    if selector is not None:
        selector.start_arg(base)
    if b".." in split_path(name) and opts.relative:
        # rsync: flist.c send_file_list() ("Reject a '..' dir in the active part")
        msg = f'found ".." dir in relative path: {_show(name)}'
        raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
    rules = selector.daemon if selector is not None else None
    report.cwd = b""
    if base and not _enter_base(root, base, rules, report):
        return
    report.cwd = base
    try:
        if rules is not None and opts.relative and rules.hidden_dir(path, include_last=False):
            raise _hidden()  # rsync: path_is_daemon_excluded(fbuf, 1)
        # A "dir/" argument names the directory even through a symlink (rsync: link_stat
        # with follow for a DOTDIR_NAME); the link is still resolved inside the root.
        st = root.stat(path) if opts.copy_links or contents else root.lstat(path)
        if (
            rules is not None
            and name != b"."
            and rules.hides(path, is_dir=stat.S_ISDIR(st.st_mode))
        ):
            raise _hidden()  # rsync: is_excluded(fbuf, ..., SERVER_FILTERS)
    except OSError as exc:
        if exc.errno == errno.ENOENT and opts.delete_missing_args:
            # listed with mode 0: the receiver deletes it (rsync: missing_args == 2)
            st = os.stat_result((0,) * 10, {"st_mtime_ns": 0, "st_atime_ns": 0})
        elif exc.errno == errno.ENOENT and opts.ignore_missing_args:
            return
        else:
            if exc.errno != errno.ENOENT:
                report.io_error |= 1  # rsync inhibits deletions only for a file that may exist
            report.messages.append(
                (ERROR, f"link_stat {report.full(path)} failed: {exc.strerror} ({exc.errno})")
            )
            return
    if send_implied and name != b".":
        parts = split_path(name)
        lead = b"/" if name.startswith(b"/") else b""
        for i in range(1, len(parts)):
            implied = lead + b"/".join(parts[:i])
            try:
                ist = root.stat(_join(base, implied))
            except OSError:
                continue
            if stat.S_ISDIR(ist.st_mode):
                yield ScanEntry(
                    name=implied, path=_join(base, implied), st=ist, top_dir=True, no_content=True
                )
    is_dir = stat.S_ISDIR(st.st_mode)
    if not st.st_mode:
        yield ScanEntry(name=name, path=path, st=st)
        return
    if (
        selector is not None
        and name != b"."
        and (selector.excluded(name, path, is_dir=is_dir) or selector.unreadable(path, st))
    ):
        return
    if is_dir and not (opts.recursive or opts.dirs):
        report.messages.append((INFO, f"skipping directory {_show(name)}"))
        return
    entry = _make_entry(root, name, path, st, opts, report)
    if entry is None:
        return
    if is_dir:
        if opts.recursive or contents:
            entry.top_dir = True
        else:
            entry.no_content = True
    yield entry
    if not (is_dir and (opts.recursive or contents)):
        return
    if descend:
        yield from _scan_dir(
            root, name, path, st, opts, selector, report, seen_dirs, recurse=opts.recursive
        )
    elif contents:
        if selector is not None:
            token = selector.enter_dir(name)
            if held is not None:
                held.append(token)
        yield from list_dir_entries(
            root, name, path, st.st_dev, opts, selector, report, recurse=opts.recursive
        )


def _make_entry(
    root: Root,
    name: bytes,
    path: bytes,
    st: os.stat_result,
    opts: TransferOptions,
    report: ScanReport,
) -> ScanEntry | None:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            target = root.readlink(path)
        except OSError as exc:
            report.io_error |= 1
            report.messages.append(
                (ERROR, f"readlink_stat({report.full(path)}) failed: {exc.strerror} ({exc.errno})")
            )
            return None
        unsafe = not opts.copy_links and opts.copy_unsafe_links and _is_unsafe_link(target, name)
        if unsafe and opts.verbose:  # rsync's --info=symsafe
            report.messages.append(
                (INFO, f'copying unsafe symlink "{_show(name)}" -> "{_show(target)}"')
            )
        if opts.copy_links or unsafe:
            if report.module and _leaves_root(root, path):
                return _escaped_dir(name, path, st, report)
            try:
                st = root.stat(path)
            except OSError:
                report.io_error |= 1
                report.messages.append(
                    (ERROR_PLAIN, f"symlink has no referent: {report.full(path)}")
                )
                return None
            if stat.S_ISDIR(st.st_mode) and not (
                opts.copy_links or opts.copy_dirlinks or opts.copy_unsafe_links
            ):
                return None
            return ScanEntry(name=name, path=path, st=st)
        if opts.copy_dirlinks:
            if report.module and _leaves_root(root, path):
                return _escaped_dir(name, path, st, report)
            try:
                tst = root.stat(path)
            except OSError:
                tst = None
            if tst is not None and stat.S_ISDIR(tst.st_mode):
                return ScanEntry(name=name, path=path, st=tst)
        if not opts.preserve_links:
            # Listed without its target: the receiving side skips it ("skipping
            # non-regular file") and counts its size (rsync: flist.c make_file()).
            return ScanEntry(name=name, path=path, st=st, link_target=None)
        # --safe-links: the receiving generator ignores unsafe links (rsync: generator.c)
        if not target:
            report.io_error |= 1
            return None
        return ScanEntry(name=name, path=path, st=st, link_target=target)
    # Files, directories, devices and specials are all listed, with or without -D: the
    # receiving side decides what it skips (rsync: flist.c make_file()).
    return ScanEntry(name=name, path=path, st=st)


@functools.cache
def cvsignore_sources(*, daemon: bool) -> tuple[bytes | None, bytes | None]:
    """What a ``-C`` rule adds besides rsync's list: ``$HOME/.cvsignore``, ``$CVSIGNORE``.

    A daemon's connection cannot read its user's home (it is confined to its modules).
    Read once: a client calls it before it confines itself, which may leave the home
    directory unreadable.

    rsync: exclude.c get_cvs_excludes().
    """
    home = os.environ.get("HOME")
    data = None
    if home and not daemon:
        try:
            with open(os.path.join(home, ".cvsignore"), "rb") as f:
                data = f.read(1 << 20)
        except OSError:
            data = None
    env = os.environ.get("CVSIGNORE")
    return data, env.encode("utf-8", "surrogateescape") if env else None


def _leaves_root(root: Root, path: bytes) -> bool:
    """Whether following the symlink at ``path`` leads out of the root (a daemon module).

    The root's own lookups resolve such a link inside the root, as a chroot would; rsync
    3.5 opens beneath its module instead, and a link out of it fails with ELOOP. Outside
    a daemon (a local copy, ``--server`` over a remote shell), or in a module with
    ``insecure links = yes``, links are followed anywhere.
    """
    if root.insecure_links or not _have_openat2():
        return False
    try:
        fd = _openat2(root.fd, path, os.O_PATH, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    except OSError as exc:
        return exc.errno in (errno.EXDEV, errno.ELOOP)
    os.close(fd)
    return False


def _escaped_dir(name: bytes, path: bytes, lst: os.stat_result, report: ScanReport) -> ScanEntry:
    """A followed link out of the root: an empty directory and rsync's error.

    rsync's sender stats the link's target (with ``-k``, a directory), lists it, and its
    confined ``opendir`` then fails with ELOOP (exit 23). The target cannot be looked at
    from inside the root, so the directory has the link's own times and mode 0755; with
    ``-L`` and a link to a file out of the module, rsync lists a file and fails to open
    it, where this lists the empty directory (the client gets no data either way).

    rsync: flist.c make_file() (copy_dirlinks), send_directory() (the opendir error).
    """
    report.io_error |= 1
    report.messages.append(
        (
            ERROR,
            f"opendir {report.full(path)} failed: {os.strerror(errno.ELOOP)} ({errno.ELOOP})",
        )
    )
    fields = list(lst[: os.stat_result.n_sequence_fields])
    fields[0] = stat.S_IFDIR | 0o755
    extra = {
        key: getattr(lst, key)
        for key in ("st_atime", "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")
    }
    return ScanEntry(name=name, path=path, st=os.stat_result(fields, extra), no_content=True)


def list_dir_entries(
    root: Root,
    name: bytes,
    path: bytes,
    dir_dev: int,
    opts: TransferOptions,
    selector: Selector | None,
    report: ScanReport,
    *,
    recurse: bool,
) -> list[ScanEntry]:
    """The entries of one directory (not below it), filtered, in ``readdir`` order.

    Subdirectories whose contents will not be sent (no recursion, or another file system
    with ``-x``) are marked ``no_content``. Per-directory merge files must already be loaded
    (``selector.enter_dir``) by the caller.

    rsync: flist.c send_directory().
    """
    prefix = b"" if name == b"." else name + b"/"
    if selector is not None:
        report.io_error |= selector.take_io_error()
    try:
        listing = root.list_dir(path)
    except OSError as exc:
        report.io_error |= 1
        report.messages.append(
            (ERROR, f"opendir {report.full(path)} failed: {exc.strerror} ({exc.errno})")
        )
        return []
    out: list[ScanEntry] = []
    add = out.append
    # the names below ``path``, as _join() makes them (scandir never gives "." or "..")
    path_prefix = path + b"/" if path else b""
    copy_links = opts.copy_links
    one_file_system = opts.one_file_system
    for dname, lst in listing:
        ename = prefix + dname
        epath = path_prefix + dname
        if copy_links or isinstance(lst, OSError):
            try:
                if isinstance(lst, OSError):
                    raise lst
                est = lst
                if stat.S_ISLNK(lst.st_mode) and not _leaves_root(root, epath):
                    try:
                        est = root.stat(epath)
                    except OSError:
                        est = lst  # _make_entry reports the missing referent
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    report.io_error |= 2
                    report.messages.append((WARNING, f"file has vanished: {report.full(epath)}"))
                else:
                    report.io_error |= 1
                    report.messages.append(
                        (
                            ERROR,
                            f"readlink_stat({report.full(epath)}) failed: "
                            f"{exc.strerror} ({exc.errno})",
                        )
                    )
                continue
        else:
            est = lst
        fmt = est.st_mode & S_IFMT
        is_dir = fmt == S_IFDIR
        if selector is not None and (
            selector.excluded(ename, epath, is_dir=is_dir) or selector.unreadable(epath, est)
        ):
            continue
        if one_file_system and is_dir and est.st_dev != dir_dev:
            if one_file_system > 1:
                continue
            entry = _make_entry(root, ename, epath, est, opts, report)
            if entry is not None:
                entry.no_content = True
                add(entry)
            continue
        if fmt != S_IFLNK:
            # what _make_entry() lists for anything but a symlink, without the call
            entry = ScanEntry(name=ename, path=epath, st=est)
            if is_dir and not recurse:
                entry.no_content = True
            add(entry)
            continue
        link = _make_entry(root, ename, epath, est, opts, report)
        if link is None:
            continue
        if not recurse and stat.S_ISDIR(link.st.st_mode):
            link.no_content = True  # -k, -L: a link to a directory is one
        add(link)
    return out


def _scan_dir(
    root: Root,
    name: bytes,
    path: bytes,
    st: os.stat_result,
    opts: TransferOptions,
    selector: Selector | None,
    report: ScanReport,
    seen_dirs: set[tuple[int, int]],
    *,
    recurse: bool,
) -> Iterator[ScanEntry]:
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs and opts.copy_links:
        return  # a directory loop through followed links
    seen_dirs.add(key)
    token = None
    if selector is not None:
        token = selector.enter_dir(name)
    try:
        entries = list_dir_entries(
            root, name, path, st.st_dev, opts, selector, report, recurse=recurse
        )
        yield from entries
        if recurse:
            for sub in entries:
                if stat.S_ISDIR(sub.st.st_mode) and not sub.no_content:
                    yield from _scan_dir(
                        root,
                        sub.name,
                        sub.path,
                        sub.st,
                        opts,
                        selector,
                        report,
                        seen_dirs,
                        recurse=True,
                    )
    finally:
        if selector is not None:
            selector.leave_dir(token)


def sanitize_path(path: bytes, *, keep_dot_dirs: bool = False) -> bytes:
    """A daemon path argument made to stay inside the module, as rsync's daemon does.

    A leading ``/`` is dropped, ``//`` collapses, ``.`` components go (unless
    ``keep_dot_dirs``: ``-R`` keeps its ``/./`` marker), ``..`` removes the component
    before it and never climbs above the module; a trailing slash stays, and an empty
    result is ``.``.

    rsync: util1.c sanitize_path() (rootdir "", depth 0), as glob_expand() applies it.
    """
    out = bytearray()
    i, n = 0, len(path)
    drop = not keep_dot_dirs
    if drop:
        while path[i : i + 2] == b"./":
            i += 2
    while i < n:
        if path[i] == 0x2F:  # "/"
            i += 1
            continue
        rest = path[i : i + 3]
        if drop and (rest[:2] == b"./" or path[i:] == b"."):
            i += 1
            continue
        if rest == b"../" or path[i:] == b"..":
            i += 2
            if out:
                del out[-1]  # the slash after the previous component
                while out and out[-1] != 0x2F:
                    del out[-1]
            continue
        while i < n:
            out.append(path[i])
            i += 1
            if out[-1] == 0x2F:
                break
    return bytes(out) or b"."
