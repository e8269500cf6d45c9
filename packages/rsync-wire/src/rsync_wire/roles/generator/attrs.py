"""Attributes: whether an existing entry matches, setting them, and the directories' touch-up.

rsync: generator.c touch_up_dirs(); rsync.c set_file_attrs().
"""

from __future__ import annotations

import errno
import stat
from typing import TYPE_CHECKING

from rsync_wire.roles.decide import (
    CHMOD_BITS,
)
from rsync_wire.roles.fakesuper import record_stat_at
from rsync_wire.roles.generator.state import _GeneratorState, _show

if TYPE_CHECKING:
    import os

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry


class _Attributes(_GeneratorState):
    """Compare and set permissions, owners and times; fix directories at the end."""

    def _attrs_match(
        self,
        entry: FileEntry,
        mode: int,
        st: os.stat_result,
        *,
        accurate: bool,
        rel: bytes | None = None,
        tree: DestTree | None = None,
    ) -> bool:
        """Whether mtime, permissions and ownership of an existing file already match.

        rsync: generator.c unchanged_attrs() (with set_file_attrs()'s time accuracy).
        """
        opts = self.sh.opts
        if opts.preserve_times:
            if accurate:
                if st.st_mtime_ns != entry.mtime * 1_000_000_000 + entry.mtime_nsec:
                    return False
            elif st.st_mtime_ns // 1_000_000_000 != entry.mtime:
                return False
        if (
            opts.preserve_atimes
            and entry.atime is not None
            and (accurate or st.st_atime_ns // 1_000_000_000 != entry.atime)
        ):
            return False  # -U: set_file_attrs() sets a differing access time
        if (st.st_mode ^ mode) & CHMOD_BITS:
            return False
        if opts.preserve_uid or opts.preserve_gid:
            uid, gid, skip_group = self._ids(entry)
            if self.sh.am_root and opts.preserve_uid and st.st_uid != uid:
                return False
            if opts.preserve_gid and not skip_group and st.st_gid != gid:
                return False
        acls = self.sh.acls  # rsync: generator.c unchanged_attrs(), acls_differ()
        if acls is not None and rel is not None:
            where = self.sh.tree if tree is None else tree
            if where is not None and acls.differ(where, rel, entry, st.st_mode):
                return False
        xa = self.sh.xattrs  # rsync: generator.c unchanged_attrs(), xattrs_differ()
        if xa is None or rel is None:
            return True
        if tree is None:
            return not xa.diff(self.sh.tree, rel, entry, st.st_mode)
        return not xa.diff(tree, rel, entry, st.st_mode, remember=False)

    def _set_attrs(
        self,
        rel: bytes,
        entry: FileEntry,
        mode: int,
        st: os.stat_result,
        *,
        link: bool = False,
        times: bool = True,
        accurate: bool = False,
    ) -> bool:
        """Owner, group, mtime and permissions of an existing item, where they differ.

        ``times=False`` leaves the mtime for later (directories, touched up at the end).

        rsync: rsync.c set_file_attrs().
        """
        sh = self.sh
        opts = sh.opts
        updated = False
        uid, gid, skip_group = self._ids(entry)
        change_uid = sh.am_root and opts.preserve_uid and st.st_uid != uid
        change_gid = opts.preserve_gid and not skip_group and st.st_gid != gid
        try:
            if sh.fake_super:
                updated = change_uid or change_gid
                change_uid = change_gid = False  # recorded below, not made
            if change_uid or change_gid:
                self._tree.chown(rel, uid if change_uid else -1, gid if change_gid else -1)
                updated = True
                if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                    st = self._tree.lstat(rel)
            skip_time = (
                not opts.preserve_times
                or (stat.S_ISDIR(entry.mode) and opts.omit_dir_times)
                or (link and opts.omit_link_times)
            )
            mtime_ns, atime_ns = st.st_mtime_ns, st.st_atime_ns
            if times and not skip_time:
                sec, nsec = divmod(st.st_mtime_ns, 1_000_000_000)
                if sec != entry.mtime or (accurate and nsec != entry.mtime_nsec):
                    mtime_ns = entry.mtime * 1_000_000_000 + entry.mtime_nsec
            # -U: the access time of a non-directory, in whole seconds (rsync: rsync.c
            # set_file_attrs(), ATTRS_SKIP_ATIME unless atimes; omitted link times too)
            if (
                times
                and opts.preserve_atimes
                and entry.atime is not None
                and not stat.S_ISDIR(entry.mode)
                and not (link and opts.omit_link_times)
                and (accurate or st.st_atime_ns // 1_000_000_000 != entry.atime)
            ):
                atime_ns = entry.atime * 1_000_000_000
            if (mtime_ns, atime_ns) != (st.st_mtime_ns, st.st_atime_ns):
                self._tree.set_mtime(rel, mtime_ns, atime_ns=atime_ns)
                updated = True
            xa = sh.xattrs
            if xa is not None and not link and xa.diff(self._tree, rel, entry, st.st_mode):
                for text in xa.set_on(self._tree, rel, entry, st.st_mode, generator=True):
                    self._error(f"rsync: [generator] {text}")
                updated = True
            cur = st.st_mode
            if sh.acls is not None and not link and not stat.S_ISLNK(st.st_mode):
                changed, cur, failed = sh.acls.set_on(self._tree, rel, entry, cur, mode)
                for text in failed:
                    self._error(f"rsync: [generator] {text}")
                updated |= changed
            if sh.fake_super:  # links too: they are files here
                updated |= bool((st.st_mode ^ mode) & CHMOD_BITS) and not link
                self._record_stat(rel, entry, mode, st)
            elif not link and (cur ^ mode) & CHMOD_BITS:
                self._tree.chmod(rel, mode & CHMOD_BITS)
                updated = True
        except OSError as exc:
            self._error(
                f'rsync: [generator] failed to set attributes on "{_show(rel)}": '
                f"{exc.strerror} ({exc.errno})"
            )
        return updated

    def _record_stat(self, rel: bytes, entry: FileEntry, mode: int, st: os.stat_result) -> None:
        """``--fake-super``: the owner, group and mode in the ``%stat`` xattr."""
        uid, gid, _skip = self._ids(entry)
        text = record_stat_at(
            self._tree,
            rel,
            mode,
            (entry.rdev_major, entry.rdev_minor) if entry.is_device else (0, 0),
            uid if uid >= 0 else st.st_uid,
            gid if gid >= 0 else st.st_gid,
        )
        if text is not None:
            self._error(f"rsync: [generator] {text}")

    def _touch_up_dirs(self) -> None:
        """Directory times and the permissions loosened during the transfer.

        rsync: generator.c touch_up_dirs().
        """
        sh = self.sh
        if sh.config.list_only or self.dry_run or sh.config.local_name is not None:
            return
        opts = sh.opts
        fix_times = opts.preserve_times and not opts.omit_dir_times
        if not fix_times and not sh.tweaked_dirs:
            return
        for i in range(len(sh.entries) - 1, -1, -1):
            self._touch_up_one(i, fix_times=fix_times)

    def _touch_up_dir(self, ndx: int) -> None:
        """One directory's time and permissions, once its list is done (incremental)."""
        sh = self.sh
        if sh.config.list_only or self.dry_run or sh.config.local_name is not None:
            return
        opts = sh.opts
        self._touch_up_one(ndx, fix_times=opts.preserve_times and not opts.omit_dir_times)

    def _touch_up_one(self, i: int, *, fix_times: bool) -> None:
        sh = self.sh
        if sh.cleared[i]:
            return
        self._touch_up(sh.entries[i], sh.rels[i], i, fix_times=fix_times)

    def _touch_up_all_dirs(self) -> None:
        """Every directory of every list, from the directory table.

        With incremental recursion and delayed deletions, as rsync's
        touch_up_dirs(dir_flist, -1).
        """
        sh = self.sh
        if sh.config.list_only or self.dry_run or sh.config.local_name is not None:
            return
        opts = sh.opts
        fix_times = opts.preserve_times and not opts.omit_dir_times
        lists = sh.lists
        for d in range(len(lists.dir_slot) - 1, -1, -1):
            slot = lists.dir_slot[d]
            if slot >= 0:
                self._touch_up(lists.dir_entries[d], lists.dir_rels[d], slot, fix_times=fix_times)

    def _touch_up(self, entry: FileEntry, rel: bytes, i: int, *, fix_times: bool) -> None:
        """One directory's loosened permissions and time.

        ``i`` is its index, the key of the generator's records about it.
        """
        sh = self.sh
        if not entry.is_dir or i in sh.missing_dirs or self._skipped_implied(entry):
            return
        try:
            if i in sh.tweaked_dirs:
                self._tree.chmod(rel, sh.tweaked_dirs[i] & CHMOD_BITS)
            if fix_times:
                st = self._tree.lstat(rel)
                if not stat.S_ISDIR(st.st_mode) and not (
                    stat.S_ISLNK(st.st_mode) and self._tree.follow_dirlinks
                ):
                    return  # a kept dirlink gets the time itself, as rsync's lstat + NOFOLLOW
                if st.st_mtime_ns != entry.mtime * 1_000_000_000 + entry.mtime_nsec:
                    self._tree.set_mtime(
                        rel,
                        entry.mtime * 1_000_000_000 + entry.mtime_nsec,
                        atime_ns=st.st_atime_ns,
                    )
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                return
            # rsync says it when it first sets the directory's attributes (rsync.c
            # set_file_attrs(): the generator's role and full_fname())
            self._error(
                f"rsync: [generator] failed to set times on {_show(self.sh.shown(rel))}: "
                f"{exc.strerror} ({exc.errno})"
            )
