"""Open a file named on the command line without following a symlink another user planted.

``--exclude-from``, ``--include-from``, ``--files-from`` and ``.`` merge files are
paths the user typed, but a component of them may sit in a directory others can
write (``/tmp/x/rules``): a symbolic link planted there would turn someone else's
file into filter rules or a file list. As rsync 3.5 does, the path is walked one
component at a time without following links; a link owned by root or by us is
followed (its target spliced into the rest of the path), a link owned by anyone
else is refused with ``ELOOP``.

rsync: syscall.c open_no_attacker_symlinks() (ona_open()).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

__all__ = [
    "UNTRUSTED_SYMLINK_MESSAGE",
    "UntrustedSymlinkError",
    "open_no_attacker_symlinks",
    "read_no_attacker_symlinks",
    "set_insecure_links",
]

UNTRUSTED_SYMLINK_MESSAGE: Final = (
    "refusing to follow a symlink owned by an untrusted user; use --insecure-links "
    'locally or "insecure links = yes" in a daemon module ONLY if every path component '
    "is trusted"
)
"""What rsync 3.5 prints (without a prefix) before the failed open's own message."""

_insecure_links = False  # --insecure-links: follow any symlink (a client-wide setting)


def set_insecure_links(*, on: bool) -> None:
    """``--insecure-links``: paths the user named follow any symlink, as before rsync 3.5.

    rsync: options.c insecure_links, syscall.c symlink_optout_allowed().
    """
    global _insecure_links
    _insecure_links = on


_MAX_LINKS: Final = 40  # SYMLOOP_MAX-ish, as rsync counts followed links
_DIR_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


class UntrustedSymlinkError(OSError):
    """A component of the path is a symlink owned by neither root nor us (errno ELOOP)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, os.strerror(errno.ELOOP), path)


def open_no_attacker_symlinks(path: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """Open ``path`` (relative to the current directory or absolute); returns the descriptor.

    With ``--insecure-links`` (:func:`set_insecure_links`) the path is opened as given,
    following any symlink (rsync's legacy open).

    Args:
        path: the path as the user gave it.
        flags: ``os.open`` flags for the last component (``O_NOFOLLOW`` is added).
        mode: the mode of a file ``O_CREAT`` creates (less the umask).

    Raises:
        UntrustedSymlinkError: a symlink on the way is owned by another user.
        OSError: the open failed otherwise (``ENOENT``, ``EACCES``, ``ELOOP`` for a cycle).
    """
    if not path:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if _insecure_links:
        return os.open(path, flags | os.O_CLOEXEC, mode)
    trusted = {0, os.geteuid()}
    dfd = -1  # -1: the current directory
    remaining = path
    links = 0

    def close() -> None:
        if dfd >= 0:
            os.close(dfd)

    try:
        if remaining.startswith("/"):
            dfd = os.open("/", _DIR_FLAGS)
            remaining = remaining.lstrip("/")
        if not remaining:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        while remaining:
            comp, slash, rest = remaining.partition("/")
            rest = rest.lstrip("/")
            last = not rest
            if not comp:  # "a//b" was collapsed above; a trailing "/" leaves none
                remaining = rest
                continue
            try:
                st = os.stat(comp, dir_fd=None if dfd < 0 else dfd, follow_symlinks=False)
            except FileNotFoundError:
                if last and not slash and flags & os.O_CREAT:
                    return os.open(
                        comp,
                        flags | os.O_NOFOLLOW | os.O_CLOEXEC,
                        mode,
                        dir_fd=None if dfd < 0 else dfd,
                    )
                raise
            if stat.S_ISLNK(st.st_mode):
                if st.st_uid not in trusted:
                    raise UntrustedSymlinkError(path)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(comp, dir_fd=None if dfd < 0 else dfd)
                if target.startswith("/"):
                    close()
                    dfd = -1
                    dfd = os.open("/", _DIR_FLAGS)
                    target = target.lstrip("/")
                remaining = target + ("/" + rest if rest or slash else "")
                if not remaining:
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
                continue
            if last and not slash:
                return os.open(
                    comp,
                    flags | os.O_NOFOLLOW | os.O_CLOEXEC,
                    mode,
                    dir_fd=None if dfd < 0 else dfd,
                )
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            nxt = os.open(comp, _DIR_FLAGS, dir_fd=None if dfd < 0 else dfd)
            close()
            dfd = nxt
            remaining = rest
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    finally:
        close()


def read_no_attacker_symlinks(path: str) -> bytes:
    """The whole contents of ``path``, opened by :func:`open_no_attacker_symlinks`."""
    fd = open_no_attacker_symlinks(path)
    with os.fdopen(fd, "rb") as f:
        return f.read()
