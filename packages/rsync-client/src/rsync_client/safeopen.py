"""Open a file named on the command line without following a symlink another user planted.

``--exclude-from``, ``--include-from``, ``--files-from``, ``.`` merge files, the password
file and the log file are paths the user typed, but a component of them may sit in a
directory others can write (``/tmp/x/rules``): a symbolic link planted there would turn
someone else's file into filter rules or a file list. As rsync 3.5 does, the path is
walked one component at a time without following links; a link owned by root or by us is
followed (its target spliced into the rest of the path), a link owned by anyone else is
refused with ``ELOOP``.

The walk itself is `rsync_wire.fs.open_trusted`, the one every operator path goes
through (with its ``--insecure-links`` switch); this module gives it the client's
``str`` paths.

rsync: syscall.c open_no_attacker_symlinks() (ona_open()).
"""

from __future__ import annotations

import os
from typing import Final

from rsync_wire.fs import UNTRUSTED_SYMLINK, UntrustedSymlinkError, open_trusted
from rsync_wire.fs import set_insecure_links as set_insecure_links

__all__ = [
    "UNTRUSTED_SYMLINK_MESSAGE",
    "UntrustedSymlinkError",
    "open_no_attacker_symlinks",
    "read_no_attacker_symlinks",
    "set_insecure_links",
]

UNTRUSTED_SYMLINK_MESSAGE: Final = UNTRUSTED_SYMLINK
"""What rsync 3.5 prints (without a prefix) before the failed open's own message."""


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
    return open_trusted(os.fsencode(path), flags, mode)


def read_no_attacker_symlinks(path: str, *, confined: bool = False) -> bytes:
    """The whole contents of ``path``, opened by :func:`open_no_attacker_symlinks`.

    ``confined``: the file must lie inside ``--confine-root`` (``--files-from``).
    """
    fd = open_trusted(os.fsencode(path), os.O_RDONLY, confined=confined)
    with os.fdopen(fd, "rb") as f:
        return f.read()
