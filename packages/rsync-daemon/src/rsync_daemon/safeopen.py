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

from rsync_wire.fs import open_trusted as wire_open_trusted

__all__ = ["open_trusted", "read_trusted", "resolve_trusted_dir"]


def _raise(code: int, path: str) -> None:
    raise OSError(code, os.strerror(code), path)


def open_trusted(path: str, flags: int, mode: int = 0o600) -> int:
    """Open ``path`` like ``os.open``, following only symlinks owned by root or by us.

    Every component is inspected with ``lstat`` relative to the directory reached so
    far; a symlink owned by anyone else fails with ``ELOOP``. The last component is
    opened with ``O_NOFOLLOW``, so a symlink planted there at the last moment fails too.
    The walk is `rsync_wire.fs.open_trusted`, the one every operator path goes through
    (a daemon never turns it off: a module's ``insecure links = yes`` concerns the
    module's tree, not these files).

    Returns:
        The file descriptor (close-on-exec).

    Raises:
        OSError: the path cannot be opened, or a component is an untrusted symlink
            (``ELOOP``).
    """
    return wire_open_trusted(os.fsencode(path), flags, mode)


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
