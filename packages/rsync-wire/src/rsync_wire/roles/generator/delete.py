"""Deletion: what ``--delete*`` removes, what protect rules keep, and backups of replaced files.

rsync: generator.c delete_in_dir(), do_delayed_deletions(); delete.c delete_item().
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from rsync_wire.roles.generator.attrs import _Attributes
from rsync_wire.roles.generator.state import _kind_counter, _show

if TYPE_CHECKING:
    from rsync_wire.proto.filters import DirToken, FilterList


# rsync: rsync.h DEL_* (the flags --debug=del2 shows)
_DEL_NO_UID_WRITE = 1 << 0
_DEL_RECURSE = 1 << 1
_DEL_DIR_IS_EMPTY = 1 << 2
_DEL_FOR: dict[str, int] = {
    "regular file": 1 << 3,
    "directory": 1 << 4,
    "symlink": 1 << 5,
    "device file": 1 << 6,
    "special file": 1 << 7,
}
_DEL_NOT_INNER = _DEL_RECURSE | sum(_DEL_FOR.values()) | _DEL_NO_UID_WRITE


def _del_flags(mode: int, *, recurse: bool, room: str) -> int:
    """The flags rsync's delete_item() is called with (rsync: generator.c, delete.c)."""
    flags = (_DEL_RECURSE if recurse else 0) | _DEL_FOR.get(room, 0)
    if not room and not mode & stat.S_IWUSR and os.geteuid() != 0:
        flags |= _DEL_NO_UID_WRITE
    return flags


class _Deletion(_Attributes):
    """Delete extraneous entries (per directory, before, during or after) and make room."""

    def _delayed_deletions(self) -> None:
        """--delete-delay: what the walk found, deleted now.

        rsync: generator.c do_delayed_deletions().
        """
        delayed, self.delayed = self.delayed, []
        for path, mode in delayed:
            self._delete_item(path, mode, make_room=False)

    def _delete_pass(self) -> None:
        """--delete-before / --delete-after: every content directory.

        rsync: generator.c do_delete_pass().
        """
        sh = self.sh
        if sh.config.dest_missing or sh.config.list_only:
            return
        for i in range(len(sh.entries)):
            if sh.cleared[i] or i not in sh.content_dirs:
                continue
            rel = sh.rels[i]
            if sh.config.levels.debug_gte("DEL") and sh.entries[i].top_dir:
                self._info(f"deleting in {_show(rel) if rel else '.'}")
            st = self._stat(rel)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            self._delete_in_dir(rel, i)

    def _other_filesystem(self, rel: bytes, ndx: int) -> int | None:
        """-x: the device of ``rel``, or ``None`` when deletion must not enter it.

        A top directory sets the device deletion stays on; any other directory on
        another device (a mount point, or below one) is left alone, unless it is on the
        device of an earlier top directory.

        rsync: generator.c delete_in_dir() (filesystem_dev, dev_tbl).
        """
        st = self._stat(rel)
        if st is None:
            return None
        sh = self.sh
        dev = st.st_dev
        if 0 <= ndx < len(sh.entries) and sh.entries[ndx].top_dir:
            self.fs_devs.add(dev)
            self.fs_dev = dev
        elif dev != self.fs_dev:
            if dev not in self.fs_devs:
                return None
            self.fs_dev = dev
        return dev

    def _delete_in_dir(self, rel: bytes, ndx: int = -1) -> None:
        """Delete what is in destination directory ``rel`` but not in the file list.

        ``ndx`` is the directory's index in the file list (for -x: is it a top one).

        rsync: generator.c delete_in_dir().
        """
        sh = self.sh
        if sh.config.levels.debug_gte("DEL", 2):
            self._info(f"delete_in_dir({_show(rel) if rel else '.'})")
        if sh.io_error & 1 and not sh.opts.ignore_errors:
            if not self.warned_io_error:
                self._info("IO error encountered -- skipping file deletion")
                self.warned_io_error = True
            return
        if self.dry_missing and (rel in self.dry_missing or self._below_missing(rel)):
            return
        one_fs = sh.opts.one_file_system
        dev = self._other_filesystem(rel, ndx) if one_fs else None
        if one_fs and dev is None:
            return
        try:
            listing = self._tree.list_dir(rel)
        except OSError:
            return
        keep = sh.children.get(rel, set())
        tokens = self._enter_merge_dirs(rel)
        trace = sh.config.filters if sh.config.levels.debug_gte("FILTER") else None
        try:
            for name, st in self._sorted_listing(listing, reverse=True):
                path = rel + b"/" + name if rel else name
                if trace:
                    self._trace_filter(trace, path, st)
                if one_fs and stat.S_ISDIR(st.st_mode) and st.st_dev != dev:
                    # a mount point: never deleted (rsync: flist.c send_directory(),
                    # FLAG_MOUNT_DIR; -xx leaves it out of the listing)
                    if sh.config.levels.info_gte("MOUNT"):
                        self._info(
                            f"[generator] skipping mount-point dir {_show(path)}"
                            if one_fs > 1
                            else f"cannot delete mount point: {_show(path)}"
                        )
                    continue
                if name in keep:
                    continue
                if self._protected(path, st):
                    continue
                if self.delay_deletes:
                    self.delayed.append((path, st.st_mode))
                    continue
                self._delete_item(path, st.st_mode, make_room=False)
        finally:
            filters = sh.config.filters
            for token in reversed(tokens):
                if filters is not None:
                    filters.leave_dir(token)

    def _trace_filter(
        self,
        filters: FilterList,
        path: bytes,
        st: os.stat_result,
        *,
        ignore_perishable: bool = False,
    ) -> None:
        """``--debug=FILTER``: which rule decides for a name of the destination.

        rsync's generator asks its rules about every name it lists in a directory it
        deletes in, kept or not, and says so (``[generator] protecting file NAME ...``).
        The module's own rules go to the daemon's log, not here.

        rsync: generator.c delete_in_dir() (get_dirlist()), exclude.c check_filter().
        """
        sh = self.sh
        is_dir = stat.S_ISDIR(st.st_mode)
        if sh.daemon_rules is not None and sh.daemon_hides(path, is_dir=is_dir):
            return
        line = filters.trace(
            path,
            is_dir=is_dir,
            who="generator",
            for_sender=False,
            ignore_perishable=ignore_perishable,
        )
        if line is not None:
            self._info(line)

    def _enter_merge_dirs(self, rel: bytes) -> list[DirToken]:
        """Load the destination's per-directory merge files from the top down to ``rel``.

        The receiving side asks its rules about what it deletes with the merge files it
        finds in the destination, as rsync's generator does before it deletes in a
        directory. Returns the tokens to leave, innermost last.

        rsync: generator.c delete_in_dir() (change_local_filter_dir()).
        """
        filters = self.sh.config.filters
        if filters is None or not filters.has_per_dir_merge:
            return []
        parts = rel.split(b"/") if rel else []
        read = self._read_merge_file
        # messages name a merge file by its full path, as rsync's generator does; with
        # --debug=FILTER, rsync's add_rule() lines for a rule ending in whitespace
        saved = filters.who, filters.debug_rules, filters.shown_root
        notes: list[str] = []
        if self.sh.config.levels.debug_gte("FILTER"):
            filters.who, filters.debug_rules = "generator", notes
        if self.sh.module_shown is None:  # a daemon module's names stay module-relative
            filters.shown_root = os.path.abspath(self._tree.path)
        try:
            return [filters.enter_dir(b"/".join(parts[:d]), read) for d in range(len(parts) + 1)]
        finally:
            filters.who, filters.debug_rules, filters.shown_root = saved
            for line in notes:
                self._info(line)

    def _read_merge_file(self, path: bytes) -> bytes | None:
        """A merge file of the destination (never through a symlink, never outside it)."""
        rel = path.lstrip(b"/")
        if not rel or b".." in rel.split(b"/"):
            return None
        try:
            fd = self._tree.open_read(rel)
        except OSError:
            return None
        try:
            return os.read(fd, 1 << 20)
        finally:
            os.close(fd)

    def _sorted_listing(
        self, listing: list[tuple[bytes, os.stat_result]], *, reverse: bool
    ) -> list[tuple[bytes, os.stat_result]]:
        from rsync_wire.proto.flist_sort import file_list_sort_key

        protocol = self.sh.session.protocol
        return sorted(
            listing,
            key=lambda item: file_list_sort_key(
                item[0], is_dir=stat.S_ISDIR(item[1].st_mode), protocol=protocol
            ),
            reverse=reverse,
        )

    def _protected(
        self, path: bytes, st: os.stat_result, *, ignore_perishable: bool = False
    ) -> bool:
        sh = self.sh
        if sh.daemon_rules is not None and sh.daemon_hides(path, is_dir=stat.S_ISDIR(st.st_mode)):
            return True  # rsync: exclude.c name_is_excluded() (daemon_filter_list)
        pdir = sh.partial_dir
        if (
            pdir is not None
            and not ignore_perishable
            and stat.S_ISDIR(st.st_mode)
            and path.rsplit(b"/", 1)[-1] == pdir
        ):
            return True  # rsync's implied perishable rule for a relative --partial-dir
        filters = sh.config.filters
        if filters:
            rule = filters.match(
                path,
                is_dir=stat.S_ISDIR(st.st_mode),
                for_sender=False,
                ignore_perishable=ignore_perishable,
            )
            if rule is not None:
                return not rule.include
        # --backup without --backup-dir: rsync appends "P *~" after the user's rules, so
        # a rule of theirs ("R *~") decides first (rsync: options.c parse_arguments())
        return bool(
            sh.backups is not None and sh.config.protect_backups and sh.backups.is_backup(path)
        )

    def _delete_item(
        self,
        rel: bytes,
        mode: int,
        *,
        make_room: bool,
        what: str = "",
        recurse: bool | None = None,
    ) -> bool:
        """Delete ``rel`` (recursively when allowed); ``make_room``: for a new item's sake.

        ``recurse`` overrides when a directory's contents go too. Returns whether it is gone.

        rsync: delete.c delete_item(), delete_dir_contents().
        """
        sh = self.sh
        if recurse is None:
            recurse = self.del_recurse or not make_room
        flags = _del_flags(mode, recurse=recurse, room=what if make_room else "")
        if sh.config.levels.debug_gte("DEL", 2):
            self._info(f"delete_item({_show(rel)}) mode={mode:o} flags={flags}")
        ok = True
        if stat.S_ISDIR(mode):
            ok = self._delete_contents(rel, recurse=recurse, flags=flags)
        if ok:
            if not make_room:
                limit = sh.config.max_delete
                if limit is not None and limit >= 0 and sh.stats.deleted_files >= limit:
                    sh.stats.skipped_deletes += 1
                    return False
            try:
                if not self.dry_run:
                    if (
                        sh.backups is not None
                        and not stat.S_ISDIR(mode)
                        and not sh.backups.is_backup(rel)  # a backup is not backed up
                    ):
                        # rsync: delete.c delete_item() (make_backup instead of unlink)
                        self._backed_up(rel, sh.backups.keep(rel))
                    else:
                        self._tree.remove(rel)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if stat.S_ISDIR(mode) and exc.errno == errno.ENOTEMPTY:
                    self._info(f"cannot delete non-empty directory: {_show(rel)}")
                else:
                    self._error(
                        f"rsync: [generator] delete_file: "
                        f"{'rmdir' if stat.S_ISDIR(mode) else 'unlink'}"
                        f"({_show(rel)}) failed: {exc.strerror} ({exc.errno})"
                    )
                ok = False
            else:
                if not make_room:
                    self._count_delete(rel, mode)
        if not ok and make_room:
            self._error(f"rsync: [generator] could not make way for new {what}: {_show(rel)}")
        return ok

    def _backup_before_replace(self, rel: bytes) -> bool:
        """``--backup``: keep the symlink or special file a new one replaces; whether it went.

        rsync: generator.c atomic_create() (make_backup() before the new item).
        """
        sh = self.sh
        if sh.backups is None or self.dry_run or sh.backups.is_backup(rel):
            return True
        try:
            self._backed_up(rel, sh.backups.keep(rel))
        except OSError as exc:
            self._error(f"rsync: [generator] {sh.backups.failure(rel, sh.shown(rel), exc)}")
            return False
        return True

    def _backed_up(self, rel: bytes, bname: bytes | None) -> None:
        """Say how and where a backup went (rsync: backup.c make_backup_inner())."""
        levels, backups = self.sh.config.levels, self.sh.backups
        if bname is None or backups is None:
            return
        if levels.debug_gte("BACKUP"):
            self._info(f"make_backup: {backups.how} {_show(rel)} successful.")
        if levels.info_gte("BACKUP"):
            self._info(f"backed up {_show(rel)} to {_show(backups.shown(bname))}")

    def _delete_contents(self, rel: bytes, *, recurse: bool, flags: int = _DEL_RECURSE) -> bool:
        if self.sh.config.levels.debug_gte("DEL", 3):
            self._info(f"delete_dir_contents({_show(rel)}) flags={flags}")
        try:
            listing = self._tree.list_dir(rel)
        except FileNotFoundError:
            return True
        except OSError as exc:
            self._error(
                f'rsync: [generator] opendir "{_show(rel)}" failed: {exc.strerror} ({exc.errno})'
            )
            return False
        sh = self.sh
        trace = sh.config.filters if sh.config.levels.debug_gte("FILTER") else None
        if trace:
            for name, st in listing:
                self._trace_filter(trace, rel + b"/" + name, st, ignore_perishable=True)
        # What the receiver's rules exclude is protected inside a deleted directory too
        # (perishable rules aside); it keeps the directory, as a non-perishable entry.
        doomed = [
            (name, st)
            for name, st in listing
            if not self._protected(rel + b"/" + name, st, ignore_perishable=True)
        ]
        ok = len(doomed) == len(listing)
        if doomed and not recurse:
            ok = False
        elif doomed:
            for name, st in self._sorted_listing(doomed, reverse=True):
                path = rel + b"/" + name
                is_dir = stat.S_ISDIR(st.st_mode)
                inner = (flags & ~_DEL_NOT_INNER) | _DEL_DIR_IS_EMPTY
                if is_dir and not self._delete_contents(
                    path, recurse=True, flags=inner | _DEL_RECURSE
                ):
                    ok = False
                if not self._remove_emptied(path, st.st_mode):
                    ok = False
        if not ok:
            self._info(f"cannot delete non-empty directory: {_show(rel)}")
        return ok

    def _remove_emptied(self, path: bytes, mode: int) -> bool:
        """Remove one entry whose contents (if a directory) were already deleted.

        rsync: delete.c delete_item() with DEL_DIR_IS_EMPTY.
        """
        if self.sh.config.levels.debug_gte("DEL", 2):
            self._info(f"delete_item({_show(path)}) mode={mode:o} flags={_DEL_DIR_IS_EMPTY}")
        backups = self.sh.backups
        try:
            if self.dry_run:
                pass
            elif backups is not None and not stat.S_ISDIR(mode) and not backups.is_backup(path):
                # a file inside a deleted directory is backed up too (rsync: delete.c
                # delete_item() calls make_backup() for every non-directory it deletes)
                self._backed_up(path, backups.keep(path))
            else:
                self._tree.remove(path)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if stat.S_ISDIR(mode) and exc.errno == errno.ENOTEMPTY:
                self._info(f"cannot delete non-empty directory: {_show(path)}")
            else:
                self._error(
                    f"rsync: [generator] delete_file: "
                    f"{'rmdir' if stat.S_ISDIR(mode) else 'unlink'}"
                    f"({_show(path)}) failed: {exc.strerror} ({exc.errno})"
                )
            return False
        self._count_delete(path, mode)
        return True

    def _count_delete(self, rel: bytes, mode: int) -> None:
        st = self.sh.stats
        st.deleted_files += 1
        kind = _kind_counter(mode)
        if kind == "dirs":
            st.deleted_dirs += 1
        elif kind == "symlinks":
            st.deleted_symlinks += 1
        elif kind == "devices":
            st.deleted_devices += 1
        elif kind == "specials":
            st.deleted_specials += 1
        self.sh.reporter.deleted(rel, mode)
