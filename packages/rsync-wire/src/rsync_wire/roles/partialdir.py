"""An absolute ``--partial-dir``: one directory for the partial files of every file.

A relative ``--partial-dir`` lives in each file's own directory (inside the destination
tree). An absolute one is a single directory, named by whoever runs the receiver: in a
daemon module it starts at the module's root, as rsync's sanitized paths do; otherwise
it is the path as given. It is reached as the destination argument is (the
destination port): in a module through symlinks that stay in the module, for a client
through symlinks owned by root or by us. It is made (mode 0700) when a file first goes
there, never replaced, and never removed when it is empty, as rsync's is not.

rsync: util1.c partial_dir_fname(), handle_partial_dir(); main.c do_server_recv()
(sanitize_path of partial_dir).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from typing import TYPE_CHECKING

from rsync_wire.roles.destination import ModuleDestination

if TYPE_CHECKING:
    from rsync_wire.fs_write import DestTree
    from rsync_wire.roles.destination import Destination

__all__ = ["AbsolutePartialDir", "module_partial_path"]

log = logging.getLogger("rsync_wire.partialdir")


def module_partial_path(raw: bytes) -> bytes:
    """An absolute ``--partial-dir`` inside a module: module-relative, ``..`` never above.

    rsync: util1.c sanitize_path() (rootdir = module_dir).
    """
    parts: list[bytes] = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return b"/".join(parts) or b"."


class AbsolutePartialDir:
    """The partial directory of an absolute ``--partial-dir``, opened at first use.

    Args:
        text: the option's value (it starts with ``/``).
        destination: how the destination argument was reached (a module, or the client's
            filesystem).
    """

    def __init__(self, text: bytes, destination: Destination) -> None:
        self.destination = destination
        if isinstance(destination, ModuleDestination):
            self.path = module_partial_path(text)
        else:
            self.path = text.rstrip(b"/") or b"/"
        self._tree: DestTree | None = None
        self._failed = False

    def in_module(self, rel: bytes) -> bytes:
        """The module-relative name of the partial file ``rel`` (what module rules see)."""
        return rel if self.path == b"." else self.path + b"/" + rel

    def tree(self, *, create: bool) -> DestTree | None:
        """The directory as a tree (made first with ``create``), or ``None`` if unusable.

        A missing directory is ``None`` until a file must go there; one that cannot be
        made or reached (a symlink out of the module, a file in its place) stays ``None``.
        """
        from rsync_wire.fs_write import DestTree

        if self._tree is not None or self._failed:
            return self._tree
        place = self.destination
        try:
            st = place.stat(self.path)
        except OSError as exc:
            log.debug("partial dir %r: %s", self.path, exc)
            st = None
        made = False
        if st is None:
            if not create:
                return None
            try:
                place.mkdir(self.path)
                made = True
            except OSError as exc:
                log.debug("could not make the partial dir %r: %s", self.path, exc)
                self._failed = True
                return None
        elif not stat.S_ISDIR(st.st_mode):
            self._failed = True
            return None
        try:
            fd = place.open_dir(self.path)
        except OSError as exc:
            log.debug("could not open the partial dir %r: %s", self.path, exc)
            self._failed = True
            return None
        if made:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o700)  # rsync: util1.c handle_partial_dir()
        self._tree = DestTree(self.path, fd=fd)
        return self._tree

    def close(self) -> None:
        """Close the directory."""
        if self._tree is not None:
            self._tree.close()
            self._tree = None
