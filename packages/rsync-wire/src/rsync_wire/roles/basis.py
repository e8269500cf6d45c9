"""The basis of a transfer: which file the generator's block sums describe.

:func:`choose_basis` is the generator's choice for a file it requests: an earlier run's
file in the partial dir (``--partial-dir``, ``--delay-updates``), else, for a file
missing here, a similar file (``--fuzzy``, :mod:`rsync_wire.roles.fuzzy`), else the
file itself. The generator tells the sender with the basis-type byte and, for a fuzzy
basis, the name (iflags, ``fnamecmp_type``, ``xname``); the sender echoes both with the
file's data, and :func:`basis_of` is the receiver's side: it opens the same file to
rebuild the new content from its blocks. The byte comes back from the peer, so it is
checked there: only a type this side's options make possible is accepted, and a fuzzy
name must be one plain name in the file's own directory.

A file missing here for which the generator found a file in a ``--compare-dest``/
``--copy-dest``/``--link-dest`` directory that it could not use as it is
(:mod:`rsync_wire.roles.altdest`) has that file as its basis (type = the directory's
number), before any fuzzy search.

rsync: generator.c recv_generator() (partialptr, fuzzy_file); receiver.c recv_files()
(the ``fnamecmp_type`` switch).
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, NamedTuple

from rsync_wire.errors import ExitCode, RemoteProtocolError, RsyncError
from rsync_wire.proto.constants import FnameCmp, Msg
from rsync_wire.roles.fuzzy import FuzzyFinder
from rsync_wire.roles.scan import sanitize_path

if TYPE_CHECKING:
    import os

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.roles.receive_state import Shared

__all__ = ["Basis", "BasisError", "basis_of", "choose_basis", "fuzzy_finder"]


class Basis(NamedTuple):
    """A basis other than the file itself.

    Attributes:
        kind: the basis-type byte (``FnameCmp``; ``FUZZY + i`` for the i-th place looked).
        tree: the tree it is in.
        rel: its name in ``tree``.
        size: its length.
        xname: the name the sender is told (a fuzzy basis), or ``None``.
    """

    kind: int
    tree: DestTree
    rel: bytes
    size: int
    xname: bytes | None = None


def fuzzy_finder(sh: Shared) -> FuzzyFinder | None:
    """The fuzzy search of this receiving side, or ``None`` without ``--fuzzy``.

    ``-yy`` also looks in the basis directories (rsync: options.c, ``fuzzy_basis =
    basis_dir_cnt + 1``). The basis type travels from protocol 29 on.

    Raises:
        RsyncError: ``--fuzzy`` at a protocol below 29 (exit 2, rsync: compat.c).
    """
    if not sh.opts.fuzzy:
        return None
    if not sh.session.has_iflags:
        msg = f"--fuzzy requires protocol 29 or higher (negotiated {sh.session.protocol})."
        err = RsyncError(msg, exit_code=ExitCode.PROTOCOL)
        err.bare = True  # type: ignore[attr-defined]  # read by the client error printer
        raise err
    if sh.tree is None:
        return None
    trees: list[DestTree | None] = [sh.tree]
    if sh.opts.fuzzy > 1 and sh.basis is not None:
        trees += sh.basis.trees
    finder = FuzzyFinder(trees, modify_window=sh.opts.modify_window)
    if sh.config.levels.debug_gte("FUZZY", 2):
        say = sh.reporter.message
        finder.trace = lambda line: say(Msg.INFO, line.encode("utf-8", "surrogateescape") + b"\n")
    return finder


def choose_basis(
    sh: Shared,
    rel: bytes,
    entry: FileEntry,
    st: os.stat_result | None,
    *,
    redo: bool,
    fuzzy: FuzzyFinder | None,
    alt_st: os.stat_result | None = None,
) -> Basis | None:
    """The basis of a transfer of ``rel`` (``st``: the file here, if any), or ``None``.

    ``alt_st`` is the basis-directory file the generator found for a missing ``rel``.
    ``None`` means the file itself (or, when ``st`` is ``None``, no basis at all).

    rsync: generator.c recv_generator() (try_dests_reg()'s file, the partial dir, then
    the fuzzy search).
    """
    tree = sh.tree
    if tree is None:
        return None
    alt = _in_basis_dir(sh, rel, alt_st) if st is None and sh.session.has_iflags else None
    if sh.session.has_iflags and not redo:
        partial = sh.partial_rel(rel)
        ptree = sh.partial_tree() if partial is not None else None
        if partial is not None and ptree is not None:
            try:
                pst = ptree.lstat_or_none(partial)
            except OSError:  # ELOOP: the partial dir is a symlink, never followed
                pst = None
            if pst is not None and stat.S_ISREG(pst.st_mode):
                return Basis(FnameCmp.PARTIAL_DIR, ptree, partial, pst.st_size)
    if alt is not None:
        return alt
    if fuzzy is None:
        return None
    if st is not None:
        if not sh.config.whole_file:
            fuzzy.changing(rel)  # its content changes: no basis for later files
        return None
    found = fuzzy.find(rel, entry.size, entry.mtime)
    if found is None:
        return None
    which, name = found
    btree = fuzzy.trees[which]
    if btree is None:
        return None
    brel = rel[: rel.rfind(b"/") + 1] + name
    bst = btree.lstat_or_none(brel)
    if bst is None or not stat.S_ISREG(bst.st_mode):
        return None
    return Basis(FnameCmp.FUZZY + which, btree, brel, bst.st_size, name)


class BasisError(RemoteProtocolError):
    """A basis type or name this side never asked for."""


def _in_basis_dir(sh: Shared, rel: bytes, alt_st: os.stat_result | None) -> Basis | None:
    """The basis directory that holds the file ``alt_st`` describes, as a basis."""
    if alt_st is None or sh.basis is None:
        return None
    for j, btree in enumerate(sh.basis.trees):
        if btree is None:
            continue
        bst = btree.lstat_or_none(rel)
        if bst is not None and (bst.st_dev, bst.st_ino) == (alt_st.st_dev, alt_st.st_ino):
            return Basis(j, btree, rel, bst.st_size)  # FNAMECMP_BASIS_DIR_LOW + j
    return None


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
    if basis_type < FnameCmp.FNAME:  # a --compare-dest/--copy-dest/--link-dest directory
        trees = sh.basis.trees if sh.basis is not None else []
        if basis_type >= len(trees) or trees[basis_type] is None:
            msg = f"invalid basis_dir index: {basis_type}."
            raise BasisError(msg)
        btree = trees[basis_type]
        assert btree is not None  # noqa: S101 - checked above
        return btree, rel
    if basis_type == FnameCmp.PARTIAL_DIR and sh.partial_dir is not None and tree is not None:
        partial = sh.partial_rel(rel)
        ptree = sh.partial_tree()
        return (ptree, partial) if partial is not None and ptree is not None else None
    if basis_type >= FnameCmp.FUZZY and tree is not None:
        which = basis_type - FnameCmp.FUZZY
        if which == 0 and not sh.opts.fuzzy:
            shown = (xname or b"").decode("utf-8", "backslashreplace")
            msg = f"rsync: refusing malicious fuzzy operation for {shown}"
            raise BasisError(msg)
        # the sender names the basis relative to an operator-chosen directory: it never
        # leaves it, whichever side this is (rsync: rsync.c read_ndx_and_attrs())
        xname = sanitize_path(xname or b"")
        if xname in (b"", b".") or b"\0" in xname:
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
