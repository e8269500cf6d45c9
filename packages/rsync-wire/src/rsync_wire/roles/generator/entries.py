"""One entry of each kind: directories, symlinks, devices and specials, regular files.

rsync: generator.c recv_generator().
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from rsync_wire.proto.constants import Msg
from rsync_wire.proto.sums import SumHead
from rsync_wire.roles.basis import choose_basis
from rsync_wire.roles.decide import (
    CHMOD_BITS,
    ITEM,
    itemize_flags,
    quick_check_ok,
)
from rsync_wire.roles.fakesuper import read_fake_link, write_fake_link
from rsync_wire.roles.generator.basis import _Basis
from rsync_wire.roles.generator.state import _opens, _show
from rsync_wire.roles.links import MUNGE_PREFIX, unsafe_symlink

if TYPE_CHECKING:
    from rsync_wire.proto.flist import FileEntry


class _Entries(_Basis):
    """What the generator does for a directory, a symlink, a device or special, a file."""

    def _make_parents(self, rel: bytes) -> bool:
        """``--no-implied-dirs``: the missing directories above ``rel``, default mode.

        Returns false (after rsync's error) when they cannot be made. An existing
        directory, or a symlink to one inside the destination, is used as it is.

        rsync: generator.c recv_generator() (make_path(MKP_DROP_NAME | MKP_SKIP_SLASH)).
        """
        parent = rel[: rel.rfind(b"/")]
        tree = self._tree
        if self.dry_run or _opens(tree, parent):
            return True
        parts = parent.split(b"/")
        for i in range(1, len(parts) + 1):
            sub = b"/".join(parts[:i])
            if _opens(tree, sub):
                continue
            try:
                tree.mkdir(sub, 0o777)
            except FileExistsError:
                continue
            except OSError as exc:
                self._error(
                    f"rsync: [generator] recv_generator: mkdir "
                    f"{_show(self.sh.shown(sub))} failed: {exc.strerror} ({exc.errno})"
                )
                return False
        return True

    def _delete_missing_arg(self, rel: bytes) -> None:
        """``--delete-missing-args``: an argument the sender lacks goes here too.

        rsync: generator.c recv_generator() (``missing_args == 2 && file->mode == 0``).
        """
        filters = self.sh.config.filters
        if filters and filters.excluded(rel, is_dir=False, for_sender=False):
            return
        try:
            st = self._stat(rel)
        except OSError:
            st = None
        if st is not None:
            # rsync: del_opts (DEL_RECURSE only with --delete or --force)
            self._delete_item(rel, st.st_mode, make_room=False, recurse=self.del_recurse)

    def _make_dir_early(self, entry: FileEntry, rel: bytes) -> None:
        """A missing directory made while its parent's list is generated (only with times).

        rsync: generator.c recv_generator() (``is_dir < 0``).
        """
        sh = self.sh
        opts = sh.opts
        if not opts.preserve_times or opts.omit_dir_times or self.dry_run or opts.existing_only:
            return
        if sh.daemon_rules is not None and sh.daemon_hides(rel, is_dir=True):
            return
        try:
            st = self._stat(rel)
        except OSError:
            return  # reported when the directory's own list comes
        if st is not None and stat.S_ISLNK(st.st_mode) and opts.keep_dirlinks:
            st = self._tree.dir_stat(rel) or st  # --keep-dirlinks
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                return
            if not self._delete_item(rel, st.st_mode, make_room=True, what="directory"):
                return
        added = 0 if sh.am_root else 0o700
        try:
            self._tree.mkdir(rel, (entry.mode | added) & 0o700)
        except OSError:
            return  # reported when the directory's own list comes
        self.created_dirs.add(rel)

    def _gen_dir(self, ndx: int, entry: FileEntry, rel: bytes, st: os.stat_result | None) -> None:
        sh = self.sh
        if self.dry_missing and self._below_missing(rel):
            st = None
        if sh.opts.existing_only and st is None and rel:
            # rsync: generator.c recv_generator() (ignore_non_existing, skip_dir)
            if sh.config.levels.info_gte("SKIP"):  # rsync: generator.c INFO_GTE(SKIP, 1)
                self._info(f'not creating new directory "{_show(rel)}"')
            sh.missing_dirs.add(ndx)
            self.skipped.append(rel)
            return
        if st is not None and not stat.S_ISDIR(st.st_mode):
            if not self._delete_item(rel, st.st_mode, make_room=True, what="directory"):
                self._skip_dir(ndx, rel)
                return
            st = None
        if st is None and self.dry_run:
            self.dry_missing.append(rel)
            sh.missing_dirs.add(ndx)
        real_st = st
        if ndx == 0 and rel == b"" and sh.config.dest_created:
            st = None
        created = False  # rsync's FLAG_DIR_CREATED
        if self.created_dirs and rel in self.created_dirs:
            self.created_dirs.discard(rel)
            st = None  # made early: new all the same
            created = True
        mode = self._mode_for(entry, st)
        cmp_st = st
        shown = True
        if st is None and sh.basis is not None:
            # a new directory is itemized against a basis dir's (rsync: try_dests_non())
            cmp_st = self._basis_dir_stat(rel)
            if cmp_st is not None and self._attrs_match(entry, mode, cmp_st, accurate=False):
                shown = False  # the same there: a line only with -ii or -vv
                config = sh.config
                if config.itemize and (config.levels.info_gte("NAME", 2) or config.itemize > 1):
                    # a local change even with --compare-dest: the directory is made
                    change = ITEM.LOCAL_CHANGE | ITEM.MATCHED
                    self._itemize(ndx, entry, mode, cmp_st, change)
                elif config.levels.info_gte("NAME", 2) and not config.itemize:
                    self._info(f"{_show(rel or b'.')}/ is uptodate")
        if shown:
            self._itemize(ndx, entry, mode, cmp_st, 0 if st is not None else ITEM.LOCAL_CHANGE)
        added = 0 if sh.am_root else 0o700
        if real_st is None and not self.dry_run:
            try:
                self._tree.mkdir(rel, (mode | added) & 0o7777)
            except FileExistsError:
                pass
            except OSError as exc:
                self._error(
                    f"rsync: [generator] recv_generator: mkdir "
                    f"{_show(sh.shown(rel))} failed: {exc.strerror} ({exc.errno})"
                )
                self._skip_dir(ndx, rel)
                return
            real_st = self._stat(rel)
            created = True
        if created and sh.xattrs is not None and sh.basis is not None and real_st is not None:
            self._copy_basis_dir_xattrs(rel)
        if created and real_st is not None and not sh.opts.preserve_perms:
            # a new directory keeps the setgid bit its parent gave it (rsync: rsync.c
            # set_file_attrs(), inherit)
            mode |= real_st.st_mode & stat.S_ISGID
        if real_st is not None and not self.dry_run:
            self._set_attrs(rel, entry, mode, real_st, times=False)
            if not sh.am_root and (mode & 0o700) != 0o700:
                try:
                    self._tree.chmod(rel, (mode | 0o700) & CHMOD_BITS)
                    sh.tweaked_dirs[ndx] = mode
                except OSError as exc:
                    self._error(
                        f'rsync: failed to modify permissions on "{_show(rel)}": '
                        f"{exc.strerror} ({exc.errno})"
                    )
        if (
            self.delete_when == "during"
            and not sh.lists.inc  # then with the directory's own list
            and ndx in sh.content_dirs
            and ndx not in sh.missing_dirs
        ):
            self._delete_in_dir(rel, ndx)

    def _copy_basis_dir_xattrs(self, rel: bytes) -> None:
        """A new directory takes a basis directory's attributes.

        rsync: generator.c recv_generator(), gen_entry_copy_xattrs() when statret == 1.
        """
        xa = self.sh.xattrs
        assert xa is not None  # noqa: S101 - the caller checked
        for _, tree, bst in self._in_basis_dirs(rel):
            if stat.S_ISDIR(bst.st_mode):
                for text in xa.copy_from(tree, rel, stat.S_IFDIR, (self._tree, rel)):
                    self._error(f"rsync: [generator] {text}")
                return

    def _skip_dir(self, ndx: int, rel: bytes) -> None:
        self._warn("*** Skipping any contents from this failed directory ***", Msg.ERROR)
        self.sh.missing_dirs.add(ndx)
        self.dry_missing.append(rel)

    def _gen_symlink(
        self, ndx: int, entry: FileEntry, rel: bytes, st: os.stat_result | None
    ) -> None:
        sh = self.sh
        target = entry.link_target or b""
        mode = entry.mode
        if sh.opts.safe_links and unsafe_symlink(target, rel):
            if sh.config.levels.info_gte("NAME"):
                self._info(f'ignoring unsafe symlink "{_show(rel)}" -> "{_show(target)}"')
            return
        munge = sh.opts.munge_links
        cmp_st, quiet = None, False
        if st is None and sh.basis is not None:
            settled, cmp_st, quiet = self._special_from_basis(ndx, entry, rel)
            if settled:
                return
        if st is not None and stat.S_ISLNK(st.st_mode):
            try:
                current = (
                    read_fake_link(self._tree, rel) if sh.fake_super else self._tree.readlink(rel)
                )
            except OSError:
                current = None
            if munge and current is not None and current.startswith(MUNGE_PREFIX):
                current = current[len(MUNGE_PREFIX) :]  # rsync: syscall.c do_readlink()
            if quick_check_ok(entry, st, sh.opts, link_target=current):
                updated = False
                if not self.dry_run:
                    updated = self._set_attrs(rel, entry, mode, st, link=True)
                self._itemize(ndx, entry, mode, st, 0)
                self._attrs_report(rel, updated=updated)
                self._hl_done(ndx)
                return
        replace = st is not None
        if st is not None and stat.S_ISDIR(st.st_mode):
            if not self._delete_item(rel, st.st_mode, make_room=True, what="symlink"):
                return
            replace = False
        elif replace and not self._backup_before_replace(rel):
            return
        if not self.dry_run:
            try:
                # --munge-links: stored as /rsyncd-munged/TARGET (rsync: syscall.c do_symlink())
                made = MUNGE_PREFIX + target if munge else target
                if sh.fake_super:
                    write_fake_link(self._tree, rel, made, replace=replace)
                else:
                    self._tree.symlink(made, rel, replace=replace)
            except OSError as exc:
                self._error(
                    f'rsync: [generator] symlink "{_show(rel)}" -> '
                    f'"{_show(target)}" failed: {exc.strerror} ({exc.errno})'
                )
                return
            new_st = self._stat(rel)
            if new_st is not None:
                self._set_attrs(rel, entry, mode, new_st, link=True)
        old = st if st is not None and stat.S_ISLNK(st.st_mode) else cmp_st
        if not quiet:
            self._itemize(ndx, entry, mode, old, ITEM.LOCAL_CHANGE | ITEM.REPORT_CHANGE)
        self._hl_done(ndx)

    def _gen_special(
        self, ndx: int, entry: FileEntry, rel: bytes, st: os.stat_result | None
    ) -> None:
        sh = self.sh
        mode = self._mode_for(entry, st)
        is_dev = stat.S_ISCHR(entry.mode) or stat.S_ISBLK(entry.mode)
        cmp_st, quiet = None, False
        if st is None and sh.basis is not None:
            settled, cmp_st, quiet = self._special_from_basis(ndx, entry, rel)
            if settled:
                return
        if (
            st is not None
            and stat.S_IFMT(st.st_mode) == stat.S_IFMT(entry.mode)
            and quick_check_ok(entry, st, sh.opts)
        ):
            if not self.dry_run:
                self._set_attrs(rel, entry, mode, st)
            self._itemize(ndx, entry, mode, st, 0)
            self._hl_done(ndx)
            return
        replace = st is not None
        if st is not None and stat.S_ISDIR(st.st_mode):
            if not self._delete_item(
                rel, st.st_mode, make_room=True, what="device file" if is_dev else "special file"
            ):
                return
            replace = False
        elif replace and not self._backup_before_replace(rel):
            return
        if not self.dry_run:
            device = os.makedev(entry.rdev_major, entry.rdev_minor) if is_dev else 0
            kind = stat.S_IFMT(entry.mode)
            if sh.fake_super:  # an empty file and the %stat record (rsync: do_mknod())
                kind, device = stat.S_IFREG, 0
            try:
                self._tree.mknod(rel, kind | 0o600, device, replace=replace)
            except OSError as exc:
                self._error(
                    f'rsync: [generator] mknod "{_show(rel)}" failed: {exc.strerror} ({exc.errno})'
                )
                return
            new_st = self._stat(rel)
            if new_st is not None:
                self._set_attrs(rel, entry, mode, new_st)
        if cmp_st is not None:
            st = cmp_st  # itemized against the basis directory's item
        same_type = st is not None and stat.S_IFMT(st.st_mode) == stat.S_IFMT(entry.mode)
        if not quiet:
            self._itemize(
                ndx, entry, mode, st if same_type else None, ITEM.LOCAL_CHANGE | ITEM.REPORT_CHANGE
            )
        self._hl_done(ndx)

    def _gen_file(
        self, ndx: int, entry: FileEntry, rel: bytes, st: os.stat_result | None, *, redo: bool
    ) -> None:
        sh = self.sh
        opts = sh.opts
        size = entry.size
        if not redo:
            if opts.max_size is not None and size > opts.max_size:
                if sh.config.levels.info_gte("SKIP"):  # rsync: generator.c INFO_GTE(SKIP, 1)
                    self._info(f"{_show(rel)} is over max-size")
                return
            if opts.min_size is not None and size < opts.min_size:
                if sh.config.levels.info_gte("SKIP"):  # rsync: generator.c INFO_GTE(SKIP, 1)
                    self._info(f"{_show(rel)} is under min-size")
                return
            if opts.ignore_existing and st is not None:
                if sh.config.levels.info_gte("SKIP"):  # rsync: generator.c INFO_GTE(SKIP, 1)
                    self._info(f"{_show(rel)} exists")
                return
            if opts.existing_only and st is None:
                if sh.config.levels.info_gte("SKIP"):  # rsync: generator.c INFO_GTE(SKIP, 1)
                    self._info(f'not creating new file "{_show(rel)}"')
                return
            if (
                opts.update_only
                and st is not None
                and stat.S_ISREG(st.st_mode)
                and entry.mtime - st.st_mtime_ns // 1_000_000_000 < opts.modify_window
            ):
                if sh.config.levels.info_gte("SKIP"):  # rsync: generator.c INFO_GTE(SKIP, 1)
                    self._info(f"{_show(rel)} is newer")
                return
        if (
            st is not None
            and not stat.S_ISREG(st.st_mode)
            and not (opts.write_devices and (stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode)))
        ):  # --write-devices: a device is written into (rsync: generator.c, FT_DEVICE)
            if not self._delete_item(rel, st.st_mode, make_room=True, what="regular file"):
                return
            st = None
        cmp_st = st  # what the item is compared with: the file, or a basis dir's file
        if st is None and sh.basis is not None and not redo:
            settled, cmp_st = self._from_basis(ndx, entry, rel)
            if settled:
                return
        mode = self._mode_for(entry, st)
        if st is not None and not redo:
            checksum = None
            if opts.always_checksum and st.st_size == size:
                checksum = self._file_checksum(rel)
            if quick_check_ok(entry, st, opts, checksum=checksum):
                if self._attrs_match(entry, mode, st, accurate=opts.always_checksum, rel=rel):
                    # the common case of a re-sync: nothing to change, nothing to report
                    if sh.config.levels.info_gte("NAME", 2) or sh.config.itemize > 1:
                        self._itemize(ndx, entry, mode, st, 0)
                        self._attrs_report(rel, updated=False)
                    self._hl_done(ndx)
                    self._success(ndx)
                    return
                updated = True
                if not self.dry_run:
                    updated = self._set_attrs(rel, entry, mode, st, accurate=opts.always_checksum)
                self._itemize(ndx, entry, mode, st, 0)
                self._attrs_report(rel, updated=updated)
                self._hl_done(ndx)
                self._success(ndx)
                return
        if opts.append and not redo and st is not None and st.st_size >= size:
            # --append: what is at least as long is left alone (rsync: generator.c)
            self._hl_done(ndx)
            return
        # a transfer request, and its basis: an earlier run's partial file, a similar file
        # (--fuzzy) or the file itself (rsync_wire.roles.basis)
        fuzzy = self._fuzzy if cmp_st is None or st is not None else None
        basis = choose_basis(sh, rel, entry, st, redo=redo, fuzzy=fuzzy, alt_st=cmp_st)
        if basis is not None and basis.xname is not None and sh.config.levels.debug_gte("FUZZY"):
            self._info(f"fuzzy basis selected for {_show(rel)}: {_show(basis.rel)}")
        ws = sh.out_ws
        self._write_ndx(ndx)
        if sh.batch is not None:
            sh.batch.requested(ndx)
        if sh.lists.inc:
            self._count_request(ndx)
        if sh.session.has_iflags:
            iflags = ITEM.TRANSFER
            if opts.always_checksum and not redo:
                iflags |= ITEM.REPORT_CHANGE
            uid, gid, skip_group = self._ids(entry)
            iflags = itemize_flags(
                entry,
                mode,
                uid,
                gid,
                cmp_st,
                opts,
                iflags,
                am_root=sh.am_root,
                skip_group=skip_group,
            )
            if basis is not None:
                iflags |= ITEM.BASIS_TYPE_FOLLOWS
                if basis.xname is not None:
                    iflags |= ITEM.XNAME_FOLLOWS
            acls = sh.acls  # rsync: generator.c itemize()
            if (
                acls is not None
                and st is not None
                and sh.tree is not None
                and acls.differ(sh.tree, rel, entry, st.st_mode)
            ):
                iflags |= ITEM.REPORT_ACL
            xa = sh.xattrs
            if xa is not None and xa.diff(sh.tree, rel, entry, st.st_mode if st else None):
                iflags |= ITEM.REPORT_XATTR
            ws.write_int16(iflags)
            if basis is not None:
                ws.write_byte(basis.kind)
                if basis.xname is not None:
                    ws.write_vstring(basis.xname)
            request = xa.request(entry, iflags) if xa is not None else None
            if request is not None:
                ws.write(request)
        elif not self.do_xfers:
            sh.reporter.item(entry, sh.logged(entry, rel), ITEM.TRANSFER, None)
        if not self.do_xfers:
            return
        # --append always sends sums (rsync: generator.c generate_files(), whole_file = 0)
        whole = sh.config.whole_file and not opts.append
        if basis is not None:
            if whole or basis.size <= 0:
                SumHead.empty().encode_into(ws.out, protocol=sh.session.protocol)
            else:
                self._send_sums(basis.rel, redo=redo, tree=basis.tree)
            return
        if st is None or whole or st.st_size <= 0:
            SumHead.empty().encode_into(ws.out, protocol=sh.session.protocol)
            return
        self._send_sums(rel, redo=redo)
