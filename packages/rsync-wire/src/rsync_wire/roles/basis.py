"""The receiver's side of the basis choice: which file the generator's block sums describe.

The generator picks the basis of each transfer (the destination file, an earlier run's
file in the partial dir, a similarly named file with ``--fuzzy``) and tells the sender
with the basis-type byte, and, for a fuzzy basis, the name (docs/protocol.md: iflags,
``fnamecmp_type``, ``xname``); the sender echoes both with the file's data. The receiver
must open the same file to rebuild the new content from its blocks. The byte comes back
from the peer, so it is checked here: only a type this side's options make possible is
accepted, and a fuzzy name must be one plain name in the file's own directory.

rsync: receiver.c recv_files() (the ``fnamecmp_type`` switch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.constants import FnameCmp

if TYPE_CHECKING:
    from rsync_wire.fs_write import DestTree
    from rsync_wire.roles.receive_state import Shared

__all__ = ["BasisError", "basis_of"]


class BasisError(RemoteProtocolError):
    """A basis type or name this side never asked for."""


def basis_of(
    sh: Shared, rel: bytes, basis_type: int, xname: bytes | None
) -> tuple[DestTree, bytes] | None:
    """The tree and name of the basis of ``rel``; ``None`` for the file itself.

    Raises:
        BasisError: a type this side's options do not allow, or a bad fuzzy name.
    """
    if basis_type == FnameCmp.FNAME:
        return None
    tree = sh.tree
    if basis_type == FnameCmp.PARTIAL_DIR and sh.partial_dir is not None and tree is not None:
        partial = sh.partial_rel(rel)
        return (tree, partial) if partial is not None else None
    if basis_type >= FnameCmp.FUZZY and tree is not None:
        if not sh.opts.fuzzy:
            shown = (xname or b"").decode("utf-8", "backslashreplace")
            msg = f"rsync: refusing malicious fuzzy operation for {shown}"
            raise BasisError(msg)
        which = basis_type - FnameCmp.FUZZY
        if not xname or b"/" in xname or xname in (b".", b"..") or b"\0" in xname:
            msg = f"invalid fuzzy basis name {xname!r}"
            raise BasisError(msg)
        head = rel[: rel.rfind(b"/") + 1]
        if which == 0:
            return tree, head + xname
        trees = sh.basis.trees if sh.basis is not None else []
        if which > len(trees) or trees[which - 1] is None:
            msg = f"invalid basis_dir index: {which - 1}."
            raise BasisError(msg)
        btree = trees[which - 1]
        assert btree is not None  # noqa: S101 - checked above
        return btree, head + xname
    msg = f"unexpected basis type 0x{basis_type:02x} for {rel!r}"
    raise BasisError(msg)
