"""Hard links: each group's leader, and its followers linked to it.

rsync: hlink.c hard_link_check(), finish_hard_link(); generator.c recv_generator().
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from rsync_wire.roles.decide import (
    ITEM,
    SIGNIFICANT_ITEM_FLAGS,
    quick_check_ok,
)
from rsync_wire.roles.flists import FREED
from rsync_wire.roles.generator.delete import _Deletion
from rsync_wire.roles.generator.state import _show

if TYPE_CHECKING:
    import os

    from rsync_wire.proto.flist import FileEntry


class _HardLinks(_Deletion):
    """Choose the member of each hard-link group that is transferred and link the others.

    The choice is made member by member as the generator meets them, from what has been
    received by then, so that it works list by list with incremental recursion as it does
    with one list: a member found at the destination (or as a file in a basis directory)
    is handled at once and the later ones wait for it; a missing one waits while a later
    member of its group is known (:attr:`~rsync_wire.roles.flists.FileLists.hl_last`),
    else it leads. Devices, specials and symlinks are made at once: each leads until one
    is done. A finished leader's name is kept by group (:attr:`hl_done`), so that the
    members of later lists link to it after its own list is freed; a waiting member keeps
    its list (rsync's ``in_progress``).

    rsync: hlink.c match_gnums(), hard_link_check(), finish_hard_link(),
    skip_hard_link(); generator.c recv_generator() (``F_HLINK_NOT_LAST``),
    handle_skipped_hlink().
    """

    def _hard_link_check(
        self, ndx: int, entry: FileEntry, rel: bytes, st: os.stat_result | None
    ) -> bool:
        """Whether member ``ndx`` is settled here: linked to its finished leader, or waiting.

        Otherwise it is handled as its group's leader (``_hl_open`` is then ``ndx`` for a
        regular file, until the generator asks for its transfer).
        """
        sh = self.sh
        group = entry.hlink_group
        if group is None:
            return False
        opts = sh.opts
        regular = stat.S_ISREG(entry.mode)
        if regular and (
            (opts.existing_only and st is None) or (opts.ignore_existing and st is not None)
        ):
            # skipped before any linking (rsync: recv_generator() handle_skipped_hlink())
            self._hl_open = ndx
            return False
        leader = self.hl_leader.get(group)
        if leader == ndx:  # handled on its own: its leader was not made
            if regular:
                self._hl_open = ndx
            return False
        trace = self.hl_trace
        if trace is not None:
            trace.meet(group, ndx)
        done = self.hl_done.get(group)
        if done is not None and not sh.opts.delay_updates:
            if trace is not None:
                # -1: the leader's list is freed (rsync finds its name in prior_hlinks)
                at = -1 if leader is None or sh.entries[leader] is FREED else leader
                trace.linked(ndx, entry, _show(rel), at, _show(done[0]))
            self._link_follower(ndx, done[0], done[1], now=True)  # rsync: hard_link_check()
            return True
        if leader is not None and (regular or done is not None):
            if trace is not None:
                trace.waiting(ndx, entry, _show(rel))
            self._wait_for_leader(group, ndx)
            return True
        if (
            regular
            and sh.lists.hl_last.get(group, ndx) > ndx
            and not self._found_for_hard_link(rel, st)
        ):
            if trace is not None:
                trace.looking(ndx, entry, _show(rel), lead=False)
            self._wait_for_leader(group, ndx)  # rsync: recv_generator() F_HLINK_NOT_LAST
            return True
        if trace is not None:
            trace.looking(ndx, entry, _show(rel), lead=True)
        self.hl_leader[group] = ndx
        if regular:
            self._hl_open = ndx
        return False

    def _wait_for_leader(self, group: int, ndx: int) -> None:
        """Member ``ndx`` is linked when its group's leader is done; its list waits for it."""
        self.hl_followers.setdefault(group, []).append(ndx)
        if self.sh.lists.inc:
            self._count_request(ndx)

    def _count_request(self, ndx: int) -> None:
        if ndx == self._hl_open:
            self._hl_open = -1  # the leader is transferred
        super()._count_request(ndx)

    def _found_for_hard_link(self, rel: bytes, st: os.stat_result | None) -> bool:
        """Whether a member is at the destination, or as a file in a basis directory."""
        if st is not None:
            return not stat.S_ISDIR(st.st_mode)
        if self.sh.basis is None:
            return False
        return any(stat.S_ISREG(bst.st_mode) for _, _, bst in self._in_basis_dirs(rel))

    def _hl_after_lead(self, ndx: int) -> None:
        """A regular leader was generated: if it was skipped, who waited goes on its own."""
        if self._hl_open != ndx:
            return
        self._hl_open = -1
        self._hl_skipped(ndx)

    def _hl_skipped(self, ndx: int) -> None:
        """Member ``ndx`` was skipped: if no later one is known, who waited goes on its own.

        Only with incremental recursion, where waiting members hold their lists: the latest
        one waiting is handled as the group's last member (and so on, if it is skipped too).
        Without it, the end of phase 1 handles them (:meth:`_finish_hard_links`).

        rsync: generator.c handle_skipped_hlink(), hlink.c skip_hard_link().
        """
        sh = self.sh
        group = sh.entries[ndx].hlink_group
        if not sh.lists.inc or group is None or group in self.hl_done or ndx in self.redo:
            return
        leader = self.hl_leader.get(group)
        if leader == ndx:
            del self.hl_leader[group]
        elif leader is not None:
            return  # the members wait for another one
        waiting = self.hl_followers.get(group)
        # the latest member met: this one, or the skipped one whose waiting members go now
        met = max(ndx, self._hl_chain_met)
        if not waiting or sh.lists.hl_last.get(group, met) > met:
            return  # the next member is decided when it is met
        nxt = waiting.pop()
        if not waiting:
            del self.hl_followers[group]
        self._release(nxt)
        saved, self._hl_chain_met = self._hl_chain_met, met
        try:
            self._recv_generator_alone(nxt)
        finally:
            self._hl_chain_met = saved

    def _release(self, ndx: int) -> None:
        """A waiting member was linked or handled: its list no longer waits for it."""
        if self.sh.lists.inc:
            sub = self.sh.lists.locate(ndx)
            if sub is not None and sub.pending:
                sub.pending -= 1

    def _hl_done(self, ndx: int) -> None:
        """Entry ``ndx`` needed no transfer: if it leads, link who waits for it.

        rsync: generator.c recv_generator() (finish_hard_link() after the quick check).
        """
        if self.hl_leader:
            self._leader_finished(ndx, link=True)

    def _leader_finished(self, ndx: int, *, link: bool) -> None:
        """Entry ``ndx`` reached its final name: if it leads its group, keep that name.

        ``link``: link the members waiting for it now (else at the end of phase 1).

        rsync: hlink.c finish_hard_link() (``prior_hlinks`` keeps the name).
        """
        sh = self.sh
        group = sh.entries[ndx].hlink_group
        if group is None or self.hl_leader.get(group) != ndx:
            return
        if ndx == self._hl_open:
            self._hl_open = -1
        keep = sh.entries[ndx] if self.dry_run and sh.basis is not None else None
        self.hl_done[group] = (sh.rels[ndx], keep)
        if link and group in self.hl_followers:
            self._finish_hard_links(now=True, group=group)

    def _finish_hard_links(self, *, now: bool, group: int | None = None) -> None:
        """Link the members waiting for every finished leader (``now``: only those done).

        Grouped by leader, in the order of rsync's chain from the leader: those after it in
        list order, then those before it, latest first (``group``: only that group's).

        rsync: hlink.c finish_hard_link(), maybe_hard_link().
        """
        sh = self.sh
        if not self.hl_followers:
            return
        groups = list(self.hl_followers) if group is None else [group]
        todo: list[tuple[int, int, int]] = []
        for g in groups:
            first = self.hl_leader.get(g, -1)
            # with --delay-updates the leader takes its place only at the end
            if now and (first in self.redo or sh.opts.delay_updates):
                continue
            todo.extend((g, first, ndx) for ndx in self.hl_followers.pop(g))
        for g, first, ndx in sorted(todo, key=lambda t: (t[1], t[2] < t[1], abs(t[2] - t[1]))):
            self._release(ndx)
            done = self.hl_done.get(g)
            if done is not None:
                self._link_follower(ndx, done[0], done[1], now=now)
            elif first >= 0 and not sh.cleared[first]:
                keep = sh.entries[first] if self.dry_run and sh.basis is not None else None
                self._link_follower(ndx, sh.rels[first], keep, now=now)
            else:
                self._recv_generator_alone(ndx)

    def _link_follower(
        self, ndx: int, leader_rel: bytes, leader_entry: FileEntry | None, *, now: bool
    ) -> None:
        """Link one member of a hard-link group to its finished leader.

        ``leader_rel`` names the leader; ``leader_entry`` is kept only for a dry run with
        basis directories.
        """
        sh = self.sh
        entry = sh.entries[ndx]
        rel = sh.rels[ndx]
        st = self._stat(rel)
        mode = self._mode_for(entry, st)
        lst = None if self.dry_run else self._stat(leader_rel)
        if lst is None and not self.dry_run:
            # the leader was not made (skipped or failed): handle this one on its own
            self._recv_generator_alone(ndx)
            return
        if (
            st is not None
            and lst is not None
            and (st.st_dev, st.st_ino) == (lst.st_dev, lst.st_ino)
        ):
            self._itemize_or_report(
                ndx, entry, mode, st, ITEM.LOCAL_CHANGE | ITEM.XNAME_FOLLOWS, b"", now=now
            )
            self._attrs_report(rel, updated=False)
            return
        if st is not None and stat.S_ISDIR(st.st_mode):
            if not self._delete_item(rel, st.st_mode, make_room=True, what="regular file"):
                return
            st = None
        if not self.dry_run:
            try:
                self._tree.hardlink(leader_rel, rel, replace=st is not None)
            except OSError as exc:
                self._error(
                    f'rsync: [generator] link "{_show(rel)}" => '
                    f"{_show(leader_rel)} failed: {exc.strerror} ({exc.errno})"
                )
                return
        shown_st, shown = st, True
        if st is None and self.sh.basis is not None:
            if lst is None and self.dry_run:
                # a dry run links nothing: the leader is what its basis file would be
                lst = next(
                    (b for _, _, b in self._in_basis_dirs(leader_rel) if stat.S_ISREG(b.st_mode)),
                    None,
                )
                if (
                    lst is not None
                    and self.sh.basis.kind == "compare-dest"
                    and leader_entry is not None
                    and quick_check_ok(leader_entry, lst, sh.opts)
                ):
                    # the real run would leave the leader out: this one goes on its own
                    self._recv_generator_alone(ndx)
                    return
            shown_st, shown = self._follower_basis(entry, rel, lst)
        if shown:
            self._itemize_or_report(
                ndx,
                entry,
                mode,
                shown_st,
                ITEM.LOCAL_CHANGE | ITEM.XNAME_FOLLOWS,
                leader_rel,
                now=now,
            )

    def _follower_basis(
        self, entry: FileEntry, rel: bytes, leader_st: os.stat_result | None
    ) -> tuple[os.stat_result | None, bool]:
        """What a new follower is itemized against when a basis directory has it.

        With ``--link-dest`` its item there must be the leader's own inode (and the line
        shows only with ``-ii`` or ``-vv``); otherwise a regular file that passes the quick
        check. Returns that item (``None``: none) and whether to show the line.

        rsync: hlink.c hard_link_check() (``statret < 0 && basis_dir[0]``).
        """
        sh = self.sh
        basis = sh.basis
        if basis is None:
            return None, True
        mode = self._mode_for(entry, None)
        found: os.stat_result | None = None
        config = sh.config
        for _, _, bst in self._in_basis_dirs(rel):
            if basis.kind == "link-dest":
                if leader_st is None or (bst.st_dev, bst.st_ino) != (
                    leader_st.st_dev,
                    leader_st.st_ino,
                ):
                    continue
                shown = config.itemize > 1 or (
                    config.itemize > 0 and config.levels.info_gte("NAME", 2)
                )
                if not shown and config.levels.info_gte("NAME", 2) and not config.itemize:
                    # rsync: hlink.c hard_link_check() (INFO_GTE(NAME, 2), no %i)
                    self._info(f"{_show(rel)} is uptodate")
                return bst, shown
            if not stat.S_ISREG(entry.mode) or not quick_check_ok(entry, bst, sh.opts):
                continue
            found = bst
            if self._attrs_match(entry, mode, bst, accurate=False):
                break
        return found, True

    def _itemize_or_report(
        self,
        ndx: int,
        entry: FileEntry,
        mode: int,
        st: os.stat_result | None,
        iflags: int,
        xname: bytes,
        *,
        now: bool,
    ) -> None:
        sh = self.sh
        if now:
            self._itemize(ndx, entry, mode, st, iflags, xname=xname)
            return
        flags = self._item_flags(entry, mode, st, iflags, xname)
        if flags & SIGNIFICANT_ITEM_FLAGS or xname:
            sh.reporter.item(entry, sh.logged(entry, sh.rels[ndx]), flags, xname)
