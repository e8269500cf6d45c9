"""``--confine-root=DIR``: a remote-shell server whose paths stay inside one directory.

A wrapper that restricts an ssh forced command to one directory (rsync's
``support/rrsync``) validates the paths it sees on the command line and adds
``--confine-root=DIR``; the paths only the server sees (filter merge files named in the
protocol, a basis or backup directory reached through a symlink planted in the tree)
must not lead outside ``DIR`` either. Here that root becomes the server's tree: the
sender resolves its arguments and merge files inside it, and a receiving server's
destination, backup, partial, temporary and basis directories are resolved inside it
(``openat2(RESOLVE_IN_ROOT)``: neither ``..`` nor a symlink climbs above it).

The wrapper may hand over a path pinned to an open descriptor (``/proc/self/fd/N``,
``/proc/PID/fd/N``, ``/dev/fd/N``, with or without a tail): such a path is judged by
what the descriptor points at, read before anything else happens; one that points
outside the root is refused.

A daemon never honours the option: its module is the boundary (rsync ignores it there).

rsync: options.c (confine_root), syscall.c confinement_root(), fd_pin_tail(),
is_exact_fd_pin(), abspath_outside_confinement().
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.fs import split_path

if TYPE_CHECKING:
    from rsync_wire.fs import Root
    from rsync_wire.proto.options import TransferOptions

__all__ = [
    "ConfinedDestination",
    "OutsideRootError",
    "check_confine_root",
    "confine_paths",
    "is_pinned",
    "open_pinned_dir",
]

_PIN: Final = re.compile(rb"^(/proc/(?:self|[0-9]+)/fd/[0-9]+|/dev/fd/[0-9]+)(/.*)?$")


class OutsideRootError(OSError):
    """A path resolves outside the confinement root (rsync refuses it with ELOOP)."""


def check_confine_root(opts: TransferOptions, *, daemon: bool) -> None:
    """Check ``--confine-root`` as rsync's option parser does; a daemon drops it.

    Raises:
        RsyncError: "--confine-root must be an absolute path" (exit code 1).

    rsync: options.c parse_arguments() (confine_root).
    """
    root = opts.confine_root
    if root is None:
        return
    if daemon:
        opts.confine_root = None
        return
    if not root.startswith("/"):
        msg = "--confine-root must be an absolute path"
        raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
    if opts.insecure_links:
        msg = "--insecure-links cannot be combined with --confine-root"
        raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
    opts.confine_root = os.path.normpath(root) if root != "/" else "/"


def _unpin(path: bytes) -> bytes:
    """``path`` with a leading descriptor pin replaced by what the descriptor points at."""
    m = _PIN.match(path)
    if m is None:
        return path
    try:
        target: bytes = os.readlink(m.group(1))
    except OSError as exc:
        raise OutsideRootError(errno.ELOOP, os.strerror(errno.ELOOP), path) from exc
    if not target.startswith(b"/"):
        raise OutsideRootError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    tail: bytes = m.group(2) or b""
    return target + tail


def is_pinned(path: bytes) -> bool:
    """Whether ``path`` starts with a descriptor pin (``/proc/self/fd/N`` and the like)."""
    return _PIN.match(path) is not None


def open_pinned_dir(path: bytes) -> int:
    """The directory a pinned ``path`` names, reached through the descriptor itself.

    The pinned directory is the one the wrapper opened, wherever its name has gone
    since; the directories of the tail are made as needed below it and never followed
    through a symlink.

    Raises:
        OSError: the pin or a directory of its tail cannot be opened.
    """
    m = _PIN.match(path)
    if m is None:
        msg = f"not a descriptor pin: {path!r}"
        raise ValueError(msg)
    fd = os.open(m.group(1), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in split_path(m.group(2) or b""):
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=fd)
            sub = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
            )
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def _inside(root: bytes, path: bytes) -> bytes | None:
    """``path`` (absolute) relative to ``root``, keeping a trailing slash; None if outside."""
    if root == b"/":
        return path.lstrip(b"/") or b"."
    if path == root or path == root + b"/":
        return b"." + path[len(root) :]
    if path.startswith(root + b"/"):
        return path[len(root) + 1 :]
    return None


def confine_paths(root: str, paths: list[bytes], *, cwd: bytes | None = None) -> list[bytes]:
    """The server's path arguments made relative to ``root`` (pins resolved first).

    A relative path is relative to the working directory; trailing slashes and ``/./``
    (``-R``) are kept.

    Raises:
        OutsideRootError: a path lies outside the root.
    """
    broot = os.fsencode(root)
    here = os.getcwdb() if cwd is None else cwd
    out = []
    for path in paths:
        full = _unpin(path if path.startswith(b"/") else here.rstrip(b"/") + b"/" + path)
        rel = _inside(broot, full)
        if rel is None:
            raise OutsideRootError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        out.append(rel)
    return out


def resolve_option_paths(opts: TransferOptions) -> None:
    """Replace descriptor pins in the receiving options' paths by their targets (read now).

    Raises:
        OutsideRootError: a pin cannot be read.
    """

    def fix(text: str | None) -> str | None:
        if text is None or not text.startswith("/"):
            return text
        return os.fsdecode(_unpin(os.fsencode(text)))

    # the backup directory keeps its pin: it is opened through the descriptor, so the
    # transfer cannot turn its name into a symlink elsewhere (open_pinned_dir)
    opts.partial_dir = fix(opts.partial_dir)
    opts.temp_dir = fix(opts.temp_dir)
    opts.basis_dirs = [fix(d) or d for d in opts.basis_dirs]


class ConfinedDestination:
    """A receiving server's paths, resolved inside the confinement root.

    A relative path is relative to the root (the destination argument has been made so
    by :func:`confine_paths`); an absolute one must lie inside the root.

    Args:
        root: the confinement root, opened.
    """

    def __init__(self, root: Root) -> None:
        self.root = root
        self._root_path = os.path.normpath(root.path) if root.path != b"/" else b"/"

    @property
    def root_path(self) -> bytes:
        """The confinement root (what the server's relative paths are relative to)."""
        return self._root_path

    def relative(self, path: bytes) -> bytes:
        """``path`` relative to the root (a relative one is already).

        Raises:
            OutsideRootError: an absolute ``path`` lies outside the root.
        """
        return self._rel(path)

    def _rel(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            return path
        rel = _inside(self._root_path, os.path.normpath(_unpin(path)))
        if rel is None:
            raise OutsideRootError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        return rel

    def stat(self, path: bytes) -> os.stat_result | None:  # noqa: D102 - see Destination
        try:
            return self.root.stat(self._rel(path))
        except FileNotFoundError:
            return None

    def open_dir(self, path: bytes) -> int:  # noqa: D102
        return self.root.open(self._rel(path), os.O_RDONLY | os.O_DIRECTORY, follow=True)

    def mkdir(self, path: bytes) -> None:  # noqa: D102
        rel = self._rel(path)
        if not split_path(rel):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
        dfd, name = self.root.parent_and_name(rel)
        try:
            os.mkdir(name, 0o777, dir_fd=dfd)
        finally:
            os.close(dfd)

    def shown(self, path: bytes) -> bytes:  # noqa: D102
        if path.startswith(b"/"):
            return b'"' + path + b'"'
        rel = b"/".join(split_path(path))
        full = self._root_path.rstrip(b"/") + (b"/" + rel if rel else b"")
        return b'"' + full + b'"'
