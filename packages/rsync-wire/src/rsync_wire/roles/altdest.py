"""``--compare-dest``, ``--copy-dest``, ``--link-dest``: files already there, elsewhere.

For a file missing from the destination, the receiving side looks in each basis
directory (at most 20, in the order given) for the same name. The best one found, in
rsync's order of preference (a regular file; one that passes the quick check; one whose
attributes match too), decides:

* attributes and contents match: ``--link-dest`` hard-links it into the destination,
  ``--compare-dest`` leaves the file out of the destination altogether, ``--copy-dest``
  copies it;
* contents match (the quick check), attributes not: ``--copy-dest`` copies it and sets
  the attributes;
* otherwise the file is transferred with the found file as the basis of the delta
  (:func:`rsync_wire.roles.basis.choose_basis`).

Each basis directory is a tree of its own, resolved once as the destination port
resolves paths (inside the module for a daemon); names below it are reached without
following symlinks.

rsync: generator.c try_dests_reg(), main.c check_alt_basis_dirs().
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rsync_wire.fs_write import DestTree

__all__ = ["KINDS", "MAX_BASIS_DIRS", "BasisDirs", "copy_into"]

MAX_BASIS_DIRS = 20
KINDS = ("compare-dest", "copy-dest", "link-dest")


class BasisDirs:
    """The opened basis directories (``None`` for one that could not be opened).

    Args:
        kind: ``compare-dest``, ``copy-dest`` or ``link-dest``.
        trees: one tree per directory given, in order.
    """

    def __init__(self, kind: str, trees: list[DestTree | None]) -> None:
        self.kind = kind
        self.trees = trees

    def close(self) -> None:
        """Close every tree."""
        for tree in self.trees:
            if tree is not None:
                tree.close()


def copy_into(src: DestTree, rel: bytes, dest: DestTree) -> tuple[int, bytes]:
    """Copy ``rel`` from ``src`` into a new temporary file beside ``rel`` in ``dest``.

    Returns:
        The open temporary file and its name (the caller sets attributes and renames).

    Raises:
        OSError: reading or writing failed (the temporary file is removed).
    """
    sdfd, name = src.parent(rel)
    fd_in = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sdfd)
    try:
        if not stat.S_ISREG(os.fstat(fd_in).st_mode):
            raise OSError(22, "not a regular file", rel)
        fd, tmp = dest.create_temp(rel)
        try:
            while True:
                data = os.read(fd_in, 1 << 20)
                if not data:
                    break
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            dest.unlink_temp(rel, tmp)
            raise
        return fd, tmp
    finally:
        os.close(fd_in)
