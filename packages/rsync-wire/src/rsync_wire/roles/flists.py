"""The receiving side's file lists: one list, or one per directory (incremental recursion).

How this works: without incremental recursion the sender sends one list and its entries
are numbered from 0. With it (protocol 30 and later, ``CF_INC_RECURSE``) the first list
holds the transfer's arguments and each directory's contents come later in a list of their
own, announced in the transfer stream by ``NDX_FLIST_OFFSET - d``, where ``d`` numbers the
directories in the order they were listed (rsync's ``dir_flist``); ``NDX_FLIST_EOF`` says no
more lists will come. The first list starts at index 1, each further one at the previous
list's start plus its length plus one: the index just before a list's first entry stands
for the directory whose contents it holds.

The generator and the receiver address entries by their global index in
:class:`~rsync_wire.roles.receive_state.Shared`'s ``entries``, ``rels`` and ``cleared``;
this registry keeps which list each index belongs to, the directory table, and the
number of transfers each list still waits for. The generator frees a list once it has
moved past it and every transfer it requested has ended (it tells the sender with an
NDX_DONE); a freed list's slots hold :data:`FREED`, so only the directories (which the
sender may still name) stay in memory, as rsync keeps only ``dir_flist``.

rsync: flist.c flist_new(), flist_for_ndx(), flist_free(), recv_file_list();
generator.c check_for_finished_files().
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from rsync_wire.proto.flist import FileEntry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_wire.proto.options import TransferOptions

__all__ = ["FREED", "FileLists", "SubList", "receiver_can_inc_recurse"]

FREED = FileEntry(name=b"", mode=0, size=0, mtime=0)
"""What a freed list's slots hold (cleared: the sender may not name them again)."""


def receiver_can_inc_recurse(opts: TransferOptions) -> bool:
    """Whether this receiving side takes its lists incrementally for these options.

    rsync's receiver does whenever it recurses without ``--qsort``,
    ``--delete-before``/``--delete-after``, ``--delay-updates`` or ``-m``; so does this
    one, ``-H`` included (which member of a hard-link group leads then depends on how far
    the receiving side has read ahead, see docs/protocol-notes.md, "Hard links").

    rsync: compat.c set_allow_inc_recurse().
    """
    return (
        opts.recursive
        and not opts.qsort
        and opts.delete_mode not in ("before", "after")
        and not opts.delay_updates
        and not opts.prune_empty_dirs
    )


class SubList:
    """One received list.

    Attributes:
        number: its position among the lists received (0 for the first).
        start: the global index of its first entry.
        count: how many entries it has.
        parent: the number of the directory whose contents it holds (``-1``: none, a
            first list without a top ``.``).
        pending: transfers requested from it and not ended yet (rsync's ``in_progress``).
        freed: the generator is done with it.
    """

    __slots__ = ("count", "freed", "inverse", "number", "order", "parent", "pending", "start")

    def __init__(self, number: int, start: int, count: int, parent: int) -> None:
        # --iconv: for each sorted position the position of transmission, and back
        self.order: Sequence[int] | None = None
        self.inverse: Sequence[int] | None = None
        self.number = number
        self.start = start
        self.count = count
        self.parent = parent
        self.pending = 0
        self.freed = False


class FileLists:
    """The lists received so far and the directory table (rsync's ``dir_flist``).

    Attributes:
        inc: incremental recursion is on.
        lists: every list received, in order (freed ones stay, emptied).
        eof: the sender said no more lists will come (``NDX_FLIST_EOF``), or there is
            only one list.
        dir_ndx: for each directory number, the global index of its entry.
        dir_content: for each directory number, whether its contents are in the transfer.
        dir_got_list: for each directory number, whether its list has come.
        dir_entries: for each directory number, its entry (kept after its list is freed).
        dir_rels: for each directory number, its destination path.
        dir_slot: for each directory number, the index standing for it before its own
            list (``-1`` until that list came).
        first_live: the number of the first list not freed.
        total: how many entries the lists have had.
        live_entries: how many entries the lists not freed hold (rsync's ``file_total``).
        hl_last: with ``-H``, for each hard-link group (the index the sender gives it), the
            global index of its latest member received so far; the generator makes a
            missing member wait while a later one is known (rsync's ``FLAG_HLINK_LAST``,
            cleared on a previous list's member when a later list brings another).
    """

    def __init__(self, *, inc: bool) -> None:
        self.inc = inc
        self.lists: list[SubList] = []
        self._starts: list[int] = []
        self.eof = not inc
        self.dir_ndx: list[int] = []
        self.dir_content: list[bool] = []
        self.dir_got_list: list[bool] = []
        self.dir_entries: list[FileEntry] = []
        self.dir_rels: list[bytes] = []
        self.dir_slot: list[int] = []
        self.first_live = 0
        self.total = 0
        self.live_entries = 0
        self.hl_last: dict[int, int] = {}

    @property
    def next_start(self) -> int:
        """Where the next list starts."""
        if not self.lists:
            return 1 if self.inc else 0
        last = self.lists[-1]
        return last.start + last.count + 1

    @property
    def live(self) -> int:
        """How many lists are not freed yet."""
        return len(self.lists) - self.first_live

    def add(self, start: int, count: int, parent: int) -> SubList:
        """Register the next list."""
        sub = SubList(len(self.lists), start, count, parent)
        self.lists.append(sub)
        self.total += count
        self.live_entries += count
        self._starts.append(start)
        return sub

    def note_hard_links(
        self, start: int, entries: Sequence[FileEntry], cleared: Sequence[bool]
    ) -> None:
        """Remember the latest member of each hard-link group in a list just received.

        ``entries`` and ``cleared`` are the list's, in its sorted order from index ``start``.

        rsync: hlink.c match_hard_links(), match_gnums() (``prior_hlinks``).
        """
        last = self.hl_last
        for k, entry in enumerate(entries):
            group = entry.hlink_group
            if group is not None and not cleared[k] and not entry.is_dir:
                last[group] = start + k

    def add_dirs(
        self,
        ndxs: Sequence[int],
        content: Sequence[bool],
        entries: Sequence[FileEntry],
        rels: Sequence[bytes],
    ) -> None:
        """Number a list's directories (in its sorted order, as the sender numbers them)."""
        self.dir_ndx.extend(ndxs)
        self.dir_content.extend(content)
        self.dir_got_list.extend([False] * len(ndxs))
        self.dir_entries.extend(entries)
        self.dir_rels.extend(rels)
        self.dir_slot.extend([-1] * len(ndxs))

    def free_first(self, entries: list[FileEntry], rels: list[bytes], cleared: list[bool]) -> None:
        """Free the first live list: the sender echoed its NDX_DONE.

        Its slots (and the one before it) hold :data:`FREED` from now on.

        rsync: flist.c flist_free().
        """
        if self.first_live >= len(self.lists):
            return
        sub = self.lists[self.first_live]
        lo, hi = sub.start - (1 if sub.parent >= 0 or self.inc else 0), sub.start + sub.count
        n = hi - lo
        entries[lo:hi] = [FREED] * n
        rels[lo:hi] = [b""] * n
        cleared[lo:hi] = [True] * n
        sub.freed = True
        self.first_live += 1
        self.live_entries -= sub.count

    def to_wire(self, ndx: int) -> int:
        """``--iconv``: a sorted index as the wire gives it (its list's order of transmission).

        rsync: flist.c (``F_NDX``, ``need_unsorted_flist``: both sides use the unsorted index).
        """
        sub = self.locate(ndx)
        if sub is None or sub.order is None or ndx < sub.start:
            return ndx
        return sub.start + sub.order[ndx - sub.start]

    def from_wire(self, ndx: int) -> int:
        """``--iconv``: the sorted index of an index from the wire (see :meth:`to_wire`)."""
        sub = self.locate(ndx)
        if sub is None or sub.inverse is None or ndx < sub.start:
            return ndx
        return sub.start + sub.inverse[ndx - sub.start]

    def locate(self, ndx: int) -> SubList | None:
        """The list that index ``ndx`` belongs to (its parent's slot included), or ``None``.

        rsync: flist.c flist_for_ndx().
        """
        k = bisect.bisect_right(self._starts, ndx + 1) - 1
        if k < 0:
            return None
        sub = self.lists[k]
        if ndx >= sub.start + sub.count:
            return None
        return sub
