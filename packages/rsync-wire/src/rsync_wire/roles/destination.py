"""Where the receiving side's destination argument leads: the client's rules or a module's.

The receiving side resolves its destination once, when the file list is known
(rsync: main.c get_local_name()): it looks at what is there, creates the directory
if needed, and opens it; every later write is relative to that descriptor
(:class:`~rsync_wire.fs_write.DestTree`). How the argument itself is resolved is the
one thing that differs between sides, so it is a small port:

* :class:`LocalDestination`, for a client (and a server started over a remote shell,
  which runs as the user who logged in): a path as the user typed it, relative to the
  working directory, following only symlinks owned by root or by us
  (:func:`~rsync_wire.fs.open_trusted`, rsync 3.5's rule for a receiving path).
* :class:`ModuleDestination`, for a daemon: a path inside the module, resolved with
  ``RESOLVE_IN_ROOT`` (:class:`~rsync_wire.fs.Root`), so neither ``..`` nor a symlink
  in the module can lead outside it.

This module does I/O on the destination path only; it decides nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from rsync_wire.fs import open_trusted, split_path

if TYPE_CHECKING:
    from rsync_wire.fs import Root

__all__ = ["Destination", "LocalDestination", "ModuleDestination"]


class Destination(Protocol):
    """How the destination argument is looked at, opened and created."""

    def stat(self, path: bytes) -> os.stat_result | None:
        """``stat`` of ``path`` (symlinks followed as the side allows); ``None`` if missing.

        Raises:
            OSError: anything but a missing path.
        """
        ...

    def open_dir(self, path: bytes) -> int:
        """A descriptor of the directory ``path`` (``O_RDONLY | O_DIRECTORY``)."""
        ...

    def mkdir(self, path: bytes) -> None:
        """Create the directory ``path`` (its parent must exist)."""
        ...

    def shown(self, path: bytes) -> bytes:
        """``path`` as error messages name it, quotes included (rsync: util1.c full_fname())."""
        ...


class LocalDestination:
    """A destination path on the local filesystem, as a client's user typed it."""

    def stat(self, path: bytes) -> os.stat_result | None:  # noqa: D102 - see Destination
        try:
            return os.stat(path)
        except FileNotFoundError:
            return None

    def open_dir(self, path: bytes) -> int:  # noqa: D102
        return open_trusted(path, os.O_RDONLY | os.O_DIRECTORY)

    def mkdir(self, path: bytes) -> None:  # noqa: D102
        stripped = path.rstrip(b"/")
        cut = stripped.rfind(b"/")
        parent = stripped[:cut] if cut > 0 else (b"/" if cut == 0 else b".")
        pfd = open_trusted(parent, os.O_PATH | os.O_DIRECTORY)
        try:
            os.mkdir(stripped[cut + 1 :], 0o777, dir_fd=pfd)
        finally:
            os.close(pfd)

    def shown(self, path: bytes) -> bytes:  # noqa: D102
        if path.startswith(b"/"):
            return b'"' + path + b'"'
        try:
            cwd = os.getcwdb()
        except OSError:
            return b'"' + path + b'"'
        return b'"' + cwd.rstrip(b"/") + b"/" + (b"" if path == b"." else path) + b'"'


class ModuleDestination:
    """A destination inside a daemon module: nothing resolves outside the module root.

    Args:
        root: the module's root.
        module: the module's name (error messages say ``(in module)`` as rsync's do).
    """

    def __init__(self, root: Root, module: str) -> None:
        self.root = root
        self.module = module

    def stat(self, path: bytes) -> os.stat_result | None:  # noqa: D102 - see Destination
        try:
            return self.root.stat(path)
        except FileNotFoundError:
            return None

    def open_dir(self, path: bytes) -> int:  # noqa: D102
        return self.root.open(path, os.O_RDONLY | os.O_DIRECTORY, follow=True)

    def mkdir(self, path: bytes) -> None:  # noqa: D102
        if not split_path(path):
            raise FileExistsError(17, "File exists", path)
        dfd, name = self.root.parent_and_name(path)
        try:
            os.mkdir(name, 0o777, dir_fd=dfd)
        finally:
            os.close(dfd)

    def shown(self, path: bytes) -> bytes:  # noqa: D102
        rel = b"/".join(split_path(path)) or b"."
        return b'"' + rel + b'" (in ' + self.module.encode("utf-8", "surrogateescape") + b")"
