"""The lines of ``--debug=HLINK``: hard-link numbering as each side sees it (no I/O).

At level 1 the sender and the receiving side name each follower with the index of its
group's first member ("abbrev" when that member is in the same list, whose attributes
the follower then shares on the wire); at level 3 the sender also names the device and
inode of each group's first member and every new device it meets. Level 2 is the
generator's choice of leader for each member (written by the generator, see
:mod:`rsync_wire.roles.generator.hardlinks`).

Each line is prefixed with the role that prints it, as rsync's ``who_am_i()`` names it:
``sender``, ``Receiver`` (the receiving side before it splits into two processes: the
first file list), then ``receiver`` and ``generator`` (both read every later list).

rsync: flist.c send_file_entry(), recv_file_entry() (``DEBUG_GTE(HLINK, n)``);
hlink.c idev_find(); rsync.c who_am_i().
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from rsync_wire.proto.flist import FileEntry

__all__ = ["LeaderTrace", "received_lines", "sent_lines"]


def _link_line(who: str, ndx: int, first: int, list_start: int) -> str:
    un = "" if first >= list_start else "un"
    return f"[{who}] #{ndx} hard-links #{first} ({un}abbrev)"


def sent_lines(
    notes: Iterable[tuple[int, int, int, int, int]], devs: set[int], *, level: int
) -> list[str]:
    """The sender's lines for the hard-linked entries it just wrote.

    Args:
        notes: ``(ndx, first, list_start, dev, inode)`` per entry, from
            :attr:`~rsync_wire.proto.flist.FileListEncoder.hlink_notes` (``first`` is -1
            for a group's first member; ``dev`` is -1 when the entry carried no device).
        devs: the devices already met; updated.
        level: the ``HLINK`` debug level.

    rsync: flist.c send_file_entry(), hlink.c idev_find().
    """
    lines = []
    for ndx, first, list_start, dev, ino in notes:
        if dev >= 0 and dev not in devs:
            devs.add(dev)
            if level >= 3:
                lines.append(f"[sender] created hashtable for dev {dev}")
        if first >= 0:
            lines.append(_link_line("sender", ndx, first, list_start))
        elif level >= 3 and dev >= 0:
            lines.append(f"[sender] dev:inode for #{ndx} is {dev}:{ino}")
    return lines


def received_lines(
    entries: Iterable[FileEntry],
    list_start: int,
    whos: tuple[str, ...],
    *,
    p30: bool,
    level: int,
    devs: set[int],
) -> list[str]:
    """The receiving side's lines for one list it read.

    Args:
        entries: the list's entries in the order they came.
        list_start: the list's first index.
        whos: the roles that print each line (``("Receiver",)`` for the first list).
        p30: protocol 30 or later (followers name their first member); before it, each
            entry carries a device and inode, and level 3 names every new device (as the
            sender sent it: one more than its number).
        level: the ``HLINK`` debug level.
        devs: the devices already met; updated.

    rsync: flist.c recv_file_entry(), hlink.c idev_find().
    """
    lines = []
    for i, entry in enumerate(entries):
        group = entry.hlink_group
        if group is None:
            continue
        if not p30:
            if entry.hl_dev is not None and entry.hl_dev + 1 not in devs:
                devs.add(entry.hl_dev + 1)
                if level >= 3:
                    lines += [
                        f"[{who}] created hashtable for dev {entry.hl_dev + 1}" for who in whos
                    ]
        elif not entry.hlink_first:
            lines += [_link_line(who, list_start + i, group, list_start) for who in whos]
    return lines


class LeaderTrace:
    """The generator's ``--debug=HLINK2`` lines: how each member finds its group's leader.

    pyrsync chooses leaders its own way (see :mod:`rsync_wire.roles.generator.hardlinks`);
    this keeps, for the lines only, rsync's view of the same choices: each member points at
    the member met before it in its group, a member that waits for a transfer takes over
    that member's place in the chain of waiting members ("waiting for" names the one it
    replaced, -1 for none), and a member met while no transfer is under way is "looking
    for a leader".

    Args:
        inc: incremental recursion (rsync shows the group number only then; else -1).
        say: where a line goes.

    rsync: hlink.c hard_link_check(), match_gnums() (``F_HL_PREV``).
    """

    __slots__ = ("_alt", "_chain", "_inc", "_met", "_pred", "_say", "_sent")

    def __init__(self, *, inc: bool, say: Callable[[str], None]) -> None:
        self._inc = inc
        self._say = say
        self._met: dict[int, int] = {}  # group -> latest member met
        self._pred: dict[int, int] = {}  # member -> the member met before it (-1: none)
        self._chain: dict[int, int] = {}  # member -> rsync's F_HL_PREV while it waits
        self._sent: set[int] = set()  # members transferred or waiting for a transfer
        self._alt: dict[int, int] = {}  # member -> the --link-dest directory it was linked from

    def linked_in_basis(self, ndx: int, j: int) -> None:
        """Member ``ndx`` was hard-linked from basis directory ``j`` (``--link-dest``)."""
        self._alt[ndx] = j

    def meet(self, group: int, ndx: int) -> None:
        """Member ``ndx`` of ``group`` is met by the generator (once per member counts)."""
        if ndx not in self._pred:
            pred = self._met.get(group, -1)
            self._pred[ndx] = pred
            self._chain[ndx] = pred
            self._met[group] = ndx

    def _line(self, ndx: int, entry: FileEntry, name: str, text: str) -> None:
        gnum = entry.hlink_group if self._inc and entry.hlink_group is not None else -1
        self._say(f"hlink for {ndx} ({name},{gnum}): {text}")

    def looking(self, ndx: int, entry: FileEntry, name: str, *, lead: bool) -> None:
        """``ndx`` is handled on its own (``lead``) or waits for a later member."""
        if self._pred.get(ndx, -1) >= 0:
            self._line(ndx, entry, name, "looking for a leader")
        if lead and stat.S_ISREG(entry.mode):
            self._sent.add(ndx)

    def waiting(self, ndx: int, entry: FileEntry, name: str) -> None:
        """``ndx`` waits for its group's leader, whose transfer is under way."""
        pred = self._pred.get(ndx, -1)
        if pred < 0 or pred not in self._sent:
            self.looking(ndx, entry, name, lead=False)
            return
        after = self._chain.get(pred, -1)
        self._chain[ndx] = after
        self._chain[pred] = ndx
        self._sent.add(ndx)
        self._line(ndx, entry, name, f"waiting for {after}")

    def linked(self, ndx: int, entry: FileEntry, name: str, leader: int, leader_name: str) -> None:
        """``ndx`` is linked to its group's finished leader (``leader`` -1: its list is gone)."""
        if leader >= 0:
            self._line(ndx, entry, name, f"found flist match (alt {self._alt.get(leader, -1)})")
        self._line(ndx, entry, name, f"leader is {leader} ({leader_name})")
