"""The basis of a file: the quick check, basis dirs (--compare/--copy/--link-dest), block sums.

rsync: generator.c try_dests_reg(), try_dests_non(), generate_and_send_sums().
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

from rsync_wire.proto.constants import Msg
from rsync_wire.proto.sums import SumHead, encode_block_sums_into
from rsync_wire.roles.decide import (
    CHMOD_BITS,
    ITEM,
    quick_check_ok,
)
from rsync_wire.roles.fakesuper import fake_lstat
from rsync_wire.roles.generator.hardlinks import _HardLinks
from rsync_wire.roles.generator.state import _show

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry


class _Basis(_HardLinks):
    """Decide what an entry is compared with and built from, and send its block sums."""

    def _special_from_basis(
        self, ndx: int, entry: FileEntry, rel: bytes
    ) -> tuple[bool, os.stat_result | None, bool]:
        """A device, special file or symlink missing here, looked for in the basis directories.

        Returns whether it is settled (linked with ``--link-dest``, or left out with
        ``--compare-dest``), the basis item to itemize against otherwise, and whether it
        is made without a line (an exact match with ``--copy-dest``).

        rsync: generator.c try_dests_non() and its caller in recv_generator().
        """
        sh = self.sh
        basis = sh.basis
        if basis is None:
            return False, None, False
        mode = self._mode_for(entry, None)

        def quick(tree: DestTree, bst: os.stat_result) -> bool:
            target = None
            if stat.S_ISLNK(bst.st_mode):
                try:
                    target = tree.readlink(rel)
                except OSError:
                    return False
            return quick_check_ok(entry, bst, sh.opts, link_target=target)

        best = self._basis_match(
            entry,
            rel,
            mode,
            same_kind=lambda bst: stat.S_IFMT(bst.st_mode) == stat.S_IFMT(entry.mode),
            quick=quick,
            accurate=False,
        )
        if best is None:
            return False, None, False
        level, j, bst = best
        if level < 3:
            return False, bst, False
        tree = basis.trees[j]
        kind = basis.kind
        linked = False
        if kind == "link-dest" and tree is not None:
            if not self._link_or_leave(tree, rel, kind):
                return False, None, False  # made here instead, as a new item
            linked = True
        config = sh.config
        if config.itemize and (config.levels.info_gte("NAME", 2) or config.itemize > 1):
            change = 0 if kind == "compare-dest" else ITEM.LOCAL_CHANGE
            change |= ITEM.MATCHED
            if linked:
                self._itemize(ndx, entry, mode, bst, change | ITEM.XNAME_FOLLOWS, xname=b"")
            else:
                self._itemize(ndx, entry, mode, bst, change)
        self._attrs_report(rel, updated=False)
        if kind == "copy-dest":
            return False, None, True
        self._hl_done(ndx)
        return True, None, False

    def _from_basis(
        self, ndx: int, entry: FileEntry, rel: bytes
    ) -> tuple[bool, os.stat_result | None]:
        """A file missing here, looked for in the basis directories.

        Returns whether it is settled (linked, copied or left out), and otherwise the
        basis file found (the transfer is itemized against it), if any.

        rsync: generator.c try_dests_reg() (match levels 1 to 3, then what each kind does).
        """
        sh = self.sh
        basis = sh.basis
        assert basis is not None  # noqa: S101 - the caller checked
        opts = sh.opts
        mode = self._mode_for(entry, None)

        def quick(tree: DestTree, bst: os.stat_result) -> bool:
            checksum = None
            if opts.always_checksum and bst.st_size == entry.size:
                checksum = self._basis_checksum(tree, rel)
            return quick_check_ok(entry, bst, opts, checksum=checksum)

        best = self._basis_match(
            entry,
            rel,
            mode,
            same_kind=lambda bst: stat.S_ISREG(bst.st_mode),
            quick=quick,
            accurate=opts.always_checksum,
        )
        if best is None:
            return False, None
        level, j, bst = best
        if level < 2:
            return False, bst  # the basis of the delta (rsync_wire.roles.basis)
        tree = basis.trees[j]
        assert tree is not None  # noqa: S101
        kind = basis.kind
        if level == 3 and kind != "copy-dest" and self._link_or_leave(tree, rel, kind):
            if kind == "link-dest":
                if sh.config.levels.info_gte("NAME", 2) or sh.config.itemize > 1:
                    self._itemize(ndx, entry, mode, bst, ITEM.LOCAL_CHANGE, xname=b"")
            elif sh.config.itemize:
                self._itemize(ndx, entry, mode, bst, 0)
            self._attrs_report(rel, updated=False)
            if kind == "link-dest" and self.hl_trace is not None:
                self.hl_trace.linked_in_basis(ndx, j)
            self._hl_done(ndx)
            return True, None
        # the same contents: a local copy, whatever the kind (rsync: try_a_copy)
        if not self.dry_run:
            from rsync_wire.roles.altdest import copy_into

            try:
                fd, tmp = copy_into(tree, rel, self._tree)
            except OSError as exc:
                self._error(
                    f'rsync: [generator] copy "{_show(rel)}" from --{kind} failed: '
                    f"{exc.strerror} ({exc.errno})"
                )
                return False, bst
            try:
                if sh.xattrs is not None:  # rsync: generator.c copy_altdest_file()
                    for text in sh.xattrs.copy_from(tree, rel, stat.S_IFREG, fd):
                        self._error(f"rsync: [generator] {text}")
                os.fchmod(fd, mode & CHMOD_BITS)
                if opts.preserve_times:
                    ns = entry.mtime * 1_000_000_000 + entry.mtime_nsec
                    atime = entry.atime if opts.preserve_atimes else None  # -U
                    os.utime(fd, ns=(time.time_ns() if atime is None else atime * 10**9, ns))
            finally:
                os.close(fd)
            self._tree.rename_into_place(rel, tmp)
            new_st = self._stat(rel)
            if new_st is not None:
                self._set_attrs(rel, entry, mode, new_st, accurate=opts.always_checksum)
        self._itemize(ndx, entry, mode, bst, ITEM.LOCAL_CHANGE)
        config = sh.config
        if not config.itemize:
            # rsync: generator.c try_dests_reg() (after copy_altdest_file())
            if level == 3 and config.levels.info_gte("NAME", 2):
                self._info(f"{_show(rel)} is uptodate")
            elif level == 2 and config.levels.info_gte("NAME"):
                self._info(_show(rel))
        self._hl_done(ndx)
        return True, None

    def _link_or_leave(self, tree: DestTree, rel: bytes, kind: str) -> bool:
        """An exact match: hard-link it (``--link-dest``) or leave the file out.

        False when the link fails (then it is copied, as rsync does).
        """
        if kind != "link-dest" or self.dry_run:
            return True
        try:
            sdfd, sname = tree.parent(rel)
            ddfd, dname = self._tree.parent(rel)
            os.link(sname, dname, src_dir_fd=sdfd, dst_dir_fd=ddfd, follow_symlinks=False)
        except OSError:
            return False
        return True

    def _basis_dir_stat(self, rel: bytes) -> os.stat_result | None:
        """The first basis directory's own directory ``rel``, if it has one."""
        for _, _, bst in self._in_basis_dirs(rel):
            if stat.S_ISDIR(bst.st_mode):
                return bst
        return None

    def _basis_match(
        self,
        entry: FileEntry,
        rel: bytes,
        mode: int,
        *,
        same_kind: Callable[[os.stat_result], bool],
        quick: Callable[[DestTree, os.stat_result], bool],
        accurate: bool,
    ) -> tuple[int, int, os.stat_result] | None:
        """The best match for ``rel`` in the basis directories: (level, number, lstat).

        rsync's levels: 1 the same kind of file, 2 it passes the quick check too, 3 its
        attributes match as well (the search stops at the first). ``None``: no item of
        the kind anywhere.

        rsync: generator.c try_dests_reg(), try_dests_non() (``match_level``).
        """
        best: tuple[int, int, os.stat_result] | None = None
        for j, tree, real_st in self._in_basis_dirs(rel):
            bst = fake_lstat(tree, rel, real_st) if self.sh.fake_super else real_st
            if not same_kind(bst):
                continue
            if best is None:
                best = (1, j, bst)
            if not quick(tree, bst):
                continue
            if best[0] < 2:
                best = (2, j, bst)
            if self._attrs_match(entry, mode, bst, accurate=accurate, rel=rel, tree=tree):
                return (3, j, bst)
        return best

    def _basis_checksum(self, tree: DestTree, rel: bytes) -> bytes | None:
        try:
            fd = tree.open_read(rel)
        except OSError:
            return None
        h = self.sh.rule.checksum_hasher()
        try:
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
        finally:
            os.close(fd)
        return h.digest()

    def _send_sums(self, rel: bytes, *, redo: bool, tree: DestTree | None = None) -> None:
        """The sum header and block checksums of the basis ``rel`` (in ``tree``).

        rsync: generator.c generate_and_send_sums(), sum_sizes_sqroot().
        """
        sh = self.sh
        ws = sh.out_ws
        protocol = sh.session.protocol
        try:
            fd = (tree or self._tree).open_read(rel)
        except OSError as exc:
            self._warn(
                f'rsync: [generator] failed to open "{_show(rel)}", continuing: '
                f"{exc.strerror} ({exc.errno})",
                Msg.ERROR,
            )
            SumHead.empty().encode_into(ws.out, protocol=protocol)
            return
        from rsync_delta import block_length_for, signature, strong_length_for

        with os.fdopen(fd, "rb", buffering=0) as f:
            length = os.fstat(fd).st_size
            blen = block_length_for(
                length, protocol=protocol, block_size=sh.opts.block_size or None
            )
            slen = strong_length_for(
                length, blen, protocol=protocol, digest_size=sh.rule.digest_size, redo=redo
            )
            sig = signature(
                f, rule=sh.rule, block_length=blen, strong_length=slen, protocol=protocol
            )
        count = len(sig.weak)
        head = SumHead(count, sig.block_length, sig.strong_length, sig.remainder)
        head.encode_into(ws.out, protocol=protocol)
        if sh.opts.append and not redo:
            return  # --append: the head says how long the file is; no sums (rsync)
        encode_block_sums_into(ws.out, head, sig.weak, sig.strong)

    def _file_checksum(self, rel: bytes) -> bytes | None:
        try:
            fd = self._tree.open_read(rel)
        except OSError:
            return None
        h = self.sh.rule.checksum_hasher()
        try:
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
        finally:
            os.close(fd)
        return bytes(h.digest())

    def _up_to_date(self, entry: FileEntry, st: os.stat_result) -> bool:
        """Whether a regular file is up to date, in one ``lstat`` (the common re-sync case).

        Size, mtime, permissions and ownership must match; anything else takes the full path.

        rsync: generator.c recv_generator() (quick_check_ok() and unchanged_attrs()).
        """
        if st.st_mode & 0o170000 != 0o100000 or st.st_size != entry.size:
            return False
        if st.st_mtime_ns // 1_000_000_000 != entry.mtime:
            return False
        mode = self._mode_for(entry, st)
        return self._attrs_match(entry, mode, st, accurate=False)
