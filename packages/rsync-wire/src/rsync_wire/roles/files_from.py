"""``--files-from=FILE`` read on the server: the file named by ``host:FILE`` or ``:FILE``.

A sending server reads the names for its own file list; a receiving server forwards them
to the client, which sends those files. In a daemon the file lies inside the module (its
path made to stay there); over a remote shell the path is used as the client wrote it.

rsync: options.c (the files_from open), io.c forward_filesfrom_data(), read_line().
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import ExitCode, RsyncError, UnsupportedError
from rsync_wire.roles.scan import sanitize_path

if TYPE_CHECKING:
    from rsync_wire.fs import Root
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.stream import WireStream

__all__ = ["forward_names", "read_names_file"]

_MAX_LIST: Final = 1 << 30


def _read(path: str, root: Root | None) -> bytes:
    raw = os.fsencode(path)
    try:
        if root is not None:
            fd = root.open(sanitize_path(raw), follow=True)
        else:
            fd = os.open(raw, os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return f.read(_MAX_LIST)
    except OSError as exc:
        msg = f"rsync: failed to open files-from file {path}: {exc.strerror}"
        raise RsyncError(msg, exit_code=ExitCode.SYNTAX) from None


def read_names_file(
    path: str, *, root: Root | None, from0: bool, comments: bool = False
) -> list[bytes]:
    """The names in the list ``path`` (``root``: a daemon module's; ``None``: as given).

    Lines end with a newline (a NUL with ``from0``); ``comments`` drops lines starting
    ``#`` or ``;``.

    Raises:
        RsyncError: rsync's message when the file cannot be read (exit 1).
    """
    data = _read(path, root)
    sep = b"\0" if from0 else b"\n"
    names = []
    for line in data.split(sep):
        name = line if from0 else line.rstrip(b"\r")
        if name and not (comments and name[:1] in (b"#", b";")):
            names.append(name)
    return names


async def forward_names(
    ws: WireStream, opts: TransferOptions, protocol: int, *, root: Root | None
) -> None:
    """A receiving server's ``--files-from=FILE``: the names, to the client that sends.

    Each name ends with a NUL, an empty one ends the list. Only at protocol 31 and later
    (older ones send them outside the multiplexed stream, which this server does not).

    Raises:
        UnsupportedError: below protocol 31.
        RsyncError: the file cannot be read.
    """
    if opts.files_from in (None, "-"):
        return
    if protocol < 31:
        msg = "--files-from=HOST:FILE to pyrsync receiving needs protocol 31 or newer"
        raise UnsupportedError(msg)
    names = read_names_file(opts.files_from or "", root=root, from0=opts.from0)
    for name in names:
        ws.write(name + b"\0")
    ws.write(b"\0")
    await ws.flush()
