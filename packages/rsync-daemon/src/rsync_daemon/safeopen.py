"""Open the operator's files without following a symlink someone else planted.

The daemon opens files the operator named (the configuration, ``&include`` files, the
motd, secrets, log and lock files, ``exclude from`` files, each module's path) as the
user who started it, usually root. A path through a directory that another user can
write to (``/tmp``, a user's home) could be redirected by a symlink that user plants.
rsync 3.5 walks such paths one component at a time and follows a symlink only when it
is owned by root or by the daemon's own effective uid; any other symlink ends the walk
with ``ELOOP`` ("Too many levels of symbolic links"). So does `open_trusted`.

rsync: syscall.c open_no_attacker_symlinks() (ona_open, the ownership walk).
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["open_trusted", "read_trusted", "resolve_trusted_dir"]

_MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", 0)


def _raise(code: int, path: str) -> None:
    raise OSError(code, os.strerror(code), path)


def open_trusted(path: str, flags: int, mode: int = 0o600) -> int:
    """Open ``path`` like ``os.open``, following only symlinks owned by root or by us.

    Every component is inspected with ``lstat`` relative to the directory reached so
    far; a symlink owned by anyone else fails with ``ELOOP``. The last component is
    opened with ``O_NOFOLLOW``, so a symlink planted there at the last moment fails too.

    Returns:
        The file descriptor (close-on-exec).

    Raises:
        OSError: the path cannot be opened, or a component is an untrusted symlink
            (``ELOOP``).
    """
    if not path:
        _raise(errno.ENOENT, path)
    trusted = {0, os.geteuid()}
    flags |= os.O_CLOEXEC
    remaining = path
    dfd = os.open("/" if path.startswith("/") else ".", _DIR_FLAGS)
    remaining = remaining.lstrip("/")
    links = _MAX_SYMLINKS
    try:
        if not remaining:  # "/" itself
            return os.open(".", flags, mode, dir_fd=dfd)
        while remaining:
            comp, _, rest = remaining.partition("/")
            rest = rest.lstrip("/")
            if not comp:
                remaining = rest
                continue
            last = not rest
            try:
                st = os.lstat(comp, dir_fd=dfd)
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(comp, flags | os.O_NOFOLLOW, mode, dir_fd=dfd)
                raise
            if stat.S_ISLNK(st.st_mode):
                if st.st_uid not in trusted:
                    _raise(errno.ELOOP, path)
                links -= 1
                if links < 0:
                    _raise(errno.ELOOP, path)
                target = os.readlink(comp, dir_fd=dfd)
                if target.startswith("/"):
                    os.close(dfd)
                    dfd = os.open("/", _DIR_FLAGS)
                    target = target.lstrip("/")
                remaining = f"{target}/{rest}" if rest else target
                if not remaining:  # a link to "/"
                    return os.open(".", flags, mode, dir_fd=dfd)
                continue
            if last:
                return os.open(comp, flags | os.O_NOFOLLOW, mode, dir_fd=dfd)
            if not stat.S_ISDIR(st.st_mode):
                _raise(errno.ENOTDIR, path)
            nxt = os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dfd)
            os.close(dfd)
            dfd = nxt
            remaining = rest
        # only reached for a path of "." components and slashes
        return os.open(".", flags, mode, dir_fd=dfd)
    finally:
        os.close(dfd)


def read_trusted(path: str, *, limit: int = 1 << 20) -> bytes:
    """The first ``limit`` bytes of a regular file opened with `open_trusted`.

    Raises:
        OSError: as `open_trusted`, or ``EINVAL`` when the path is not a regular file.
    """
    fd = open_trusted(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _raise(errno.EINVAL, path)
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def resolve_trusted_dir(path: str) -> str:
    """The real path of directory ``path``, reached through trusted symlinks only.

    Raises:
        OSError: as `open_trusted` (``ENOTDIR`` when it is not a directory).
    """
    fd = open_trusted(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
