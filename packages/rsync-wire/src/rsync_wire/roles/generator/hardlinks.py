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
from rsync_wire.roles.generator.delete import _Deletion
from rsync_wire.roles.generator.state import _show

if TYPE_CHECKING:
    import os

    from rsync_wire.proto.flist import FileEntry


class _HardLinks(_Deletion):
    """Choose the member of each hard-link group that is transferred and link the others."""

    def _find_hard_link_leaders(self) -> None:
        """The member of each hard-link group that is transferred; the others link to it.

        rsync's generator takes the members in list order: one whose destination exists
        is handled at once (checked, or updated from its old data) and the later ones
        wait for it and link to it; one whose destination is missing waits, unless it is
        the last. So the leader is the first member found at the destination, or the last
        member when none is; a group of devices, specials or symlinks is made at once, led
        by its first member (rsync: generator.c recv_generator() ``F_HLINK_NOT_LAST``,
        hlink.c hard_link_check(), finish_hard_link()).
        """
        sh = self.sh
        if not sh.opts.preserve_hard_links:
            return
        members: dict[int, list[int]] = {}
        for i, entry in enumerate(sh.entries):
            group = entry.hlink_group
            if group is None or sh.cleared[i] or entry.is_dir:
                continue
            self.hl_leader[group] = i
            members.setdefault(group, []).append(i)
        for group, ndxs in members.items():
            if len(ndxs) < 2 or sh.config.dest_missing:
                continue
            if not stat.S_ISREG(sh.entries[ndxs[0]].mode):
                # a device, special or symlink is made at once: the first one leads
                self.hl_leader[group] = ndxs[0]
                continue
            for i in ndxs[:-1]:
                if self._found_for_hard_link(sh.rels[i]):
                    self.hl_leader[group] = i
                    break

    def _found_for_hard_link(self, rel: bytes) -> bool:
        """Whether a member is at the destination, or as a file in a basis directory."""
        try:
            st = self._stat(rel)
        except OSError:
            return False
        if st is not None:
            return not stat.S_ISDIR(st.st_mode)
        return any(stat.S_ISREG(bst.st_mode) for _, _, bst in self._in_basis_dirs(rel))

    def _hl_done(self, ndx: int) -> None:
        """A leader that needed no transfer is finished at once: link who waits for it.

        rsync: generator.c recv_generator() (finish_hard_link() after the quick check).
        """
        if self.hl_leader:
            self.finished.add(ndx)
            if self.hl_followers:
                self._finish_hard_links(now=True, leader=ndx)

    def _finish_hard_links(self, *, now: bool, leader: int | None = None) -> None:
        """Link the followers of every finished leader (``now``: only those already done).

        Grouped by leader, in the order of rsync's chain from the leader: those after it in
        list order, then those before it, latest first (``leader``: only that one's).

        rsync: hlink.c finish_hard_link(), maybe_hard_link().
        """
        sh = self.sh
        if not self.hl_followers:
            return
        pending: list[int] = []
        todo: list[tuple[int, int]] = []
        for ndx in self.hl_followers:
            first = self.hl_leader[sh.entries[ndx].hlink_group]  # type: ignore[index]
            # with --delay-updates the leader takes its place only at the end
            if (leader is not None and first != leader) or (
                now and (first in self.redo or sh.opts.delay_updates)
            ):
                pending.append(ndx)
            else:
                todo.append((first, ndx))
        self.hl_followers = pending
        for first, ndx in sorted(todo, key=lambda t: (t[0], t[1] < t[0], abs(t[1] - t[0]))):
            self._link_follower(ndx, first, now=now)

    def _link_follower(self, ndx: int, leader: int, *, now: bool) -> None:
        """Link one member of a hard-link group to its finished leader."""
        sh = self.sh
        entry = sh.entries[ndx]
        rel = sh.rels[ndx]
        leader_rel = sh.rels[leader]
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
