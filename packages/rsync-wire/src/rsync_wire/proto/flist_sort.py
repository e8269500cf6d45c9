"""File-list order: rsync's sort key, stable sort, duplicate tombstones, index mapping (no I/O).

Both sides sort every (sub-)list after receiving or sending it, and refer to files by their
position in the sorted list; hard-link references inside the list use the *transmission*
position instead. This module holds the comparison (which changed at protocol 29), the
receiver's duplicate removal (which clears entries in place and never renumbers), and
helpers that map between the two orders.
"""

# How the key works (protocol >= 29)
# ----------------------------------
# rsync's f_name_cmp() walks both names as a sequence of (type, byte) pairs: every byte of
# the directory part and its "/" is tagged PATH, the basename of a directory is tagged PATH
# and gets a trailing "/" (except a basename "."), and the basename of anything else is tagged
# ITEM; ITEM sorts before PATH, and a proper prefix before its extensions. Because every name
# is "PATH bytes, then ITEM bytes", that order equals comparing the tuple
# (path_bytes, item_bytes) as Python compares tuples of bytes: see file_list_sort_key().
# Below 29 the comparison is a plain byte comparison of the full name.

from __future__ import annotations

from typing import TYPE_CHECKING

from rsync_wire.proto.constants import S_IFDIR, S_IFMT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_wire.proto.flist import FileEntry

__all__ = [
    "dedupe",
    "file_list_sort_key",
    "invert_order",
    "sort_file_list",
    "sort_order",
    "sort_order_of",
]

SortKey = tuple[bytes, bytes]

_NEW_SORT_PROTOCOL = 29  # rsync: f_name_cmp(), "protocol_version >= 29 ? t_PATH : t_ITEM"


def file_list_sort_key(name: bytes, *, is_dir: bool, protocol: int) -> SortKey:
    """The key that orders file-list names as rsync's comparator does.

    Args:
        name: the entry's full name as transmitted (``dir/base``).
        is_dir: whether the entry is a directory.
        protocol: the session's protocol.

    Returns:
        A tuple of two byte strings; Python's tuple order is rsync's order. Below protocol 29
        it is ``(name, b"")``. From 29 on it is ``(path, item)``: for a directory
        ``(name + "/", "")`` (``"."`` and ``"x/."`` drop the final ``.``), for anything else
        ``(dir + "/", basename)``.

    rsync: flist.c f_name_cmp().
    """
    if protocol < _NEW_SORT_PROTOCOL:
        return (name, b"")
    if is_dir:
        if name == b".":
            return (b"", b"")
        if name.endswith(b"/."):
            return (name[:-1], b"")
        return (name + b"/", b"")
    cut = name.rfind(b"/") + 1
    return (name[:cut], name[cut:])


def _key(entry: FileEntry, protocol: int) -> SortKey:
    return file_list_sort_key(entry.name, is_dir=entry.mode & S_IFMT == S_IFDIR, protocol=protocol)


def sort_order(entries: Sequence[FileEntry], *, protocol: int) -> list[int]:
    """The transmission positions of ``entries`` in sorted order (a stable sort).

    ``sort_order(entries)[i]`` is the transmission position of the entry at sorted index
    ``i``; rsync sorts with a stable merge sort, so equal names keep their order.

    rsync: flist.c flist_sort_and_clean() (fsort).
    """
    if protocol < _NEW_SORT_PROTOCOL:
        keys = [(e.name, b"") for e in entries]
    else:
        keys = []
        add = keys.append
        for e in entries:  # file_list_sort_key(), inline for the common non-directory
            name = e.name
            if e.mode & S_IFMT == S_IFDIR:
                add(file_list_sort_key(name, is_dir=True, protocol=protocol))
            else:
                cut = name.rfind(b"/") + 1
                add((name[:cut], name[cut:]))
    return sorted(range(len(entries)), key=keys.__getitem__)


def invert_order(order: Sequence[int]) -> list[int]:
    """Invert a permutation: sorted->transmission becomes transmission->sorted and back.

    Use it to turn a hard-link reference (list start + transmission position) into the
    sorted index the rest of the protocol uses: ``start + invert_order(order)[ref - start]``.
    """
    inverse = [0] * len(order)
    for i, j in enumerate(order):
        inverse[j] = i
    return inverse


def sort_file_list(entries: Sequence[FileEntry], *, protocol: int) -> list[FileEntry]:
    """A sorted copy of one (sub-)list, as both sides sort it (stable).

    rsync: flist.c flist_sort_and_clean() (fsort with f_name_cmp()).
    """
    return sorted(entries, key=lambda e: _key(e, protocol))


def dedupe(entries: Sequence[FileEntry], *, protocol: int) -> list[bool]:
    """The receiver's duplicate removal over a *sorted* list, as a tombstone mask.

    Walks the sorted list; an entry equal to the last kept one (or, from protocol 29, a
    directory named like an earlier kept non-directory) is a duplicate. Of the two, the
    directory is kept when exactly one is a directory, else the earlier one. Cleared entries
    keep their index slot: nothing is renumbered or removed (the sender does not dedupe at
    all, and indexes must stay aligned with it).

    Args:
        entries: one list in sorted order (:func:`sort_file_list`).
        protocol: the session's protocol.

    Returns:
        ``mask[i]`` is True when sorted entry ``i`` is cleared (a tombstone).

    rsync: flist.c flist_sort_and_clean() (the ``!am_sender`` clearing loop).
    """
    n = len(entries)
    cleared = [False] * n
    if n == 0:
        return cleared
    new_sort = protocol >= _NEW_SORT_PROTOCOL
    keys = [_key(e, protocol) for e in entries]
    is_dir = [e.mode & S_IFMT == S_IFDIR for e in entries]
    # Kept non-directories by their key, for the P >= 29 "directory named like a file" search
    # (rsync does a binary search over the kept entries with the directory posing as a file).
    kept_files: dict[SortKey, int] = {}
    prev = 0
    if not is_dir[0]:
        kept_files[keys[0]] = 0
    for i in range(1, n):
        j = -1
        if keys[i] == keys[prev]:
            j = prev
        elif new_sort and is_dir[i]:
            as_file = file_list_sort_key(entries[i].name, is_dir=False, protocol=protocol)
            j = kept_files.get(as_file, -1)
        if j < 0:
            prev = i
            if not is_dir[i]:
                kept_files[keys[i]] = i
            continue
        if is_dir[i] and not is_dir[j]:
            keep, drop = i, j
        else:
            keep, drop = j, i
        cleared[drop] = True
        if drop == j and not is_dir[j]:
            kept_files.pop(keys[j], None)
        if keep == i:
            prev = i
    return cleared


def sort_order_of(names: Sequence[bytes], modes: Sequence[int], *, protocol: int) -> list[int]:
    """:func:`sort_order` for a list given as parallel names and modes (the sender's).

    rsync: flist.c flist_sort_and_clean() (fsort).
    """
    if protocol < _NEW_SORT_PROTOCOL:
        return sorted(range(len(names)), key=names.__getitem__)
    keys: list[SortKey] = []
    add = keys.append
    for name, mode in zip(names, modes, strict=True):
        if mode & S_IFMT == S_IFDIR:
            add(file_list_sort_key(name, is_dir=True, protocol=protocol))
        else:  # file_list_sort_key(), inline for the common non-directory
            cut = name.rfind(b"/") + 1
            add((name[:cut], name[cut:]))
    return sorted(range(len(names)), key=keys.__getitem__)
