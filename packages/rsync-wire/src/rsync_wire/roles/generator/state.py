"""What every part of the generator shares: its state, the writes to the sender, the messages."""

from __future__ import annotations

import errno
import logging
import stat
from typing import TYPE_CHECKING

from rsync_wire.errors import LocalProtocolError
from rsync_wire.proto import codec
from rsync_wire.proto.constants import Msg, Ndx
from rsync_wire.roles.acls import with_st_mode
from rsync_wire.roles.basis import fuzzy_finder
from rsync_wire.roles.decide import (
    ITEM,
    SIGNIFICANT_ITEM_FLAGS,
    dest_mode,
    itemize_flags,
)
from rsync_wire.roles.fakesuper import fake_lstat
from rsync_wire.roles.hlink_debug import LeaderTrace

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from anyio.streams.memory import MemoryObjectReceiveStream

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.roles.receive_state import ReceiverEvent, Shared


log = logging.getLogger("rsync_wire.generator")

_FLUSH_AT = 64 * 1024


def _kind_counter(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dirs"
    if stat.S_ISLNK(mode):
        return "symlinks"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "devices"
    if stat.S_ISREG(mode):
        return "files"
    return "specials"


def _below(rel: bytes, dirs: list[bytes]) -> bool:
    """Whether ``rel`` lies below one of ``dirs`` (``b""``: the top, everything is below)."""
    return any(not d or rel.startswith(d + b"/") for d in dirs)


def _show(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


def _opens(tree: DestTree, reldir: bytes) -> bool:
    """Whether ``reldir`` is a directory the tree can reach."""
    try:
        tree.dir_fd(reldir)
    except OSError:
        return False
    return True


class _GeneratorState:
    """The generator's state and the small questions and writes that every part uses."""

    def __init__(self, shared: Shared, events: MemoryObjectReceiveStream[ReceiverEvent]) -> None:
        self.sh = shared
        self.events = events
        self.ndx_out = codec.NdxEncoder(protocol=shared.session.protocol)
        if shared.config.charset is not None:  # --iconv: the wire's indexes are unsorted
            self.ndx_out.remap = lambda n: shared.lists.to_wire(n)
        self.redo: list[int] = []
        self.milestones: set[str] = set()
        opts = shared.opts
        self.dry_run = opts.dry_run
        self.do_xfers = not opts.dry_run or shared.config.batch_only
        self.deleting = opts.delete_mode is not None
        mode = opts.delete_mode
        if mode == "":
            mode = "during" if shared.session.protocol >= 30 else "before"
        # --delete-delay: found during the walk, deleted after the transfer
        self.delay_deletes = mode == "delay"
        self.delayed: list[tuple[bytes, int]] = []
        if mode == "delay":
            mode = "during"
        self.delete_when = mode if shared.config.local_name is None else None
        self.del_recurse = self.deleting or opts.force
        # hard links (rsync_wire.roles.generator.hardlinks): per group, the member that
        # leads while it is handled, the name (and, for a dry run with basis directories,
        # the entry) of the finished leader, and the members waiting for one
        self.hl_leader: dict[int, int] = {}
        self.hl_done: dict[int, tuple[bytes, FileEntry | None]] = {}
        self.hl_followers: dict[int, list[int]] = {}
        self._hl_open = -1  # a leader being generated (no transfer asked for yet)
        self._hl_chain_met = -1  # while a skipped leader's waiting members go on their own
        self.hl_trace = (  # --debug=HLINK2 (rsync_wire.roles.hlink_debug)
            LeaderTrace(inc=shared.lists.inc, say=self._info)
            if shared.config.levels.debug_gte("HLINK", 2)
            else None
        )
        self.dry_missing: list[bytes] = []  # with -n: directories that do not exist
        self.warned_io_error = False
        # -x: the device deletion stays on, and those of the top directories seen
        self.fs_dev = 0
        self.fs_devs: set[int] = set()
        self.phase = 0
        self._fuzzy = fuzzy_finder(shared)  # -y (rsync_wire.roles.fuzzy)
        # incremental recursion: the list being generated, the index standing for its
        # directory, and directories created early (when met in their parent's list)
        self._cur_list = 0
        self._acked = 0  # lists acknowledged with an NDX_DONE
        self._dir_slot = -1
        self.created_dirs: set[bytes] = set()
        self.skipped: list[bytes] = []  # directories --existing did not create
        # the quick check needs nothing but lstat (no option changes what "up to date" means)
        self._fast = not (
            shared.daemon_rules is not None  # every name passes the module's rules first
            or opts.max_size is not None
            or opts.min_size is not None
            or opts.ignore_existing
            or opts.existing_only
            or opts.update_only
            or opts.always_checksum
            or opts.preserve_xattrs  # every file's attributes are read
            or opts.preserve_acls
            or opts.size_only
            or opts.ignore_times
            or opts.modify_window
            or opts.preserve_hard_links
            or opts.remove_source_files  # an unchanged file is reported to the sender too
            or opts.preserve_atimes  # an unchanged file may still need its access time
            or shared.config.levels.info_gte("NAME", 2)
            or shared.config.itemize > 1
            or shared.config.dest_missing
        )

    @property
    def _tree(self) -> DestTree:
        tree = self.sh.tree
        if tree is None:
            msg = "no destination tree (list-only or a destination that does not exist)"
            raise LocalProtocolError(msg)
        return tree

    def _recv_generator_alone(self, ndx: int) -> None:
        """Handle entry ``ndx`` on its own (a hard-link follower whose leader was not made).

        The layers below the run call it; :class:`~rsync_wire.roles.generator.GeneratorRole`
        implements it with the run's per-entry step.
        """
        raise NotImplementedError

    def _count_request(self, ndx: int) -> None:
        """A transfer was requested: its list waits for it (rsync's ``in_progress``)."""
        sub = self.sh.lists.locate(ndx)
        if sub is not None:
            sub.pending += 1

    def _success(self, ndx: int) -> None:
        """``--remove-source-files``: tell the sender this file is safely here.

        rsync: generator.c recv_generator() (return_with_success), got_flist_entry_status()
        (FES_SUCCESS); io.c send_msg_success().
        """
        sh = self.sh
        if sh.opts.remove_source_files and not self.dry_run and sh.out_ws.mux_out:
            if sh.config.charset is not None:
                ndx = sh.lists.to_wire(ndx)
            sh.out_ws.queue_message(Msg.SUCCESS, ndx.to_bytes(4, "little", signed=True))

    def _write_ndx(self, ndx: int) -> None:
        if ndx == Ndx.DONE and self.sh.batch is not None:
            self.sh.batch.done()  # reading a batch: the receiver's gen_wants_ndx() sees it
        self.sh.out_ws.write_ndx(self.ndx_out, ndx)

    def _write_del_stats(self) -> None:
        st = self.sh.stats
        ws = self.sh.out_ws
        self._write_ndx(Ndx.DEL_STATS)
        total = (
            st.deleted_files
            - st.deleted_dirs
            - st.deleted_symlinks
            - st.deleted_devices
            - st.deleted_specials
        )
        for value in (
            total,
            st.deleted_dirs,
            st.deleted_symlinks,
            st.deleted_devices,
            st.deleted_specials,
        ):
            ws.write_varint(value)

    def _itemize(
        self,
        ndx: int,
        entry: FileEntry,
        mode: int,
        st: os.stat_result | None,
        iflags: int,
        *,
        xname: bytes | None = None,
    ) -> None:
        """Send (P >= 29) or report (older) an itemize record when it says something.

        rsync: generator.c itemize().
        """
        sh = self.sh
        acls = sh.acls
        if acls is not None and st is not None and sh.tree is not None:
            after = acls.mode_after(sh.tree, sh.rels[ndx])
            if after is not None:  # rsync: set_acl() changed sx.st.st_mode before itemize()
                st = with_st_mode(st, after)
        iflags = self._item_flags(entry, mode, st, iflags, xname)
        if (
            acls is not None
            and st is not None
            and sh.tree is not None
            and acls.differ(sh.tree, sh.rels[ndx], entry, st.st_mode)
        ):
            iflags |= ITEM.REPORT_ACL  # rsync: generator.c itemize()
        xa = sh.xattrs
        if xa is not None and xa.diff(sh.tree, sh.rels[ndx], entry, st and st.st_mode):
            iflags |= ITEM.REPORT_XATTR  # rsync: generator.c itemize()
        if not (
            iflags & (SIGNIFICANT_ITEM_FLAGS | ITEM.REPORT_XATTR)
            or sh.config.levels.info_gte("NAME", 2)
            or sh.config.itemize > 1
            or xname
        ):
            return
        if sh.session.has_iflags:
            ws = sh.out_ws
            self._write_ndx(ndx)
            if xname is not None:
                iflags |= ITEM.XNAME_FOLLOWS
            ws.write_int16(iflags)
            if xname is not None:
                ws.write_vstring(xname)
            request = xa.request(entry, iflags) if xa is not None else None
            if request is not None:
                ws.write(request)
        else:
            sh.reporter.item(entry, sh.logged(entry, sh.rels[ndx]), iflags, xname)

    def _warn(self, text: str, code: int = Msg.WARNING) -> None:
        self.sh.reporter.message(code, (text + "\n").encode("utf-8", "surrogateescape"))

    def _error(self, text: str) -> None:
        self.sh.stats.transfer_errors += 1
        self._warn(text, Msg.ERROR_XFER)

    def _info(self, text: str) -> None:
        self._warn(text, Msg.INFO)

    def _attrs_report(self, rel: bytes, *, updated: bool) -> None:
        """At ``-vv`` without itemizing, an existing item's name, or that it is up to date.

        rsync: rsync.c set_file_attrs() (``ATTRS_REPORT``), hlink.c maybe_hard_link().
        """
        config = self.sh.config
        if config.levels.info_gte("NAME", 2) and not config.itemize:
            self._info(_show(rel) if updated else f"{_show(rel)} is uptodate")

    def _ids(self, entry: FileEntry) -> tuple[int, int, bool]:
        sh = self.sh
        uid = sh.ids.uid(entry.uid) if sh.opts.preserve_uid else -1
        if sh.opts.preserve_gid:
            gid, skip = sh.ids.gid(entry.gid)
        else:
            gid, skip = -1, True
        return uid, gid, skip

    def _below_missing(self, rel: bytes) -> bool:
        return _below(rel, self.dry_missing)

    def _stat(self, rel: bytes) -> os.stat_result | None:
        sh = self.sh
        if sh.config.dest_missing or (self.dry_missing and self._below_missing(rel)):
            return None
        try:
            st = self._tree.lstat(rel)
            return fake_lstat(self._tree, rel, st) if sh.fake_super else st
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP and not self._tree.follow_dirlinks:
                return None  # a parent is a symlink: it will be replaced or refused
            raise

    def _in_basis_dirs(self, rel: bytes) -> Iterator[tuple[int, DestTree, os.stat_result]]:
        """Each basis directory (``--compare/--copy/--link-dest``) that has ``rel``, in order.

        Yields its number, its tree and the ``lstat`` of ``rel`` there (``b""``: the
        directory itself).
        """
        basis = self.sh.basis
        if basis is None:
            return
        for j, tree in enumerate(basis.trees):
            if tree is None:
                continue
            try:
                yield j, tree, tree.lstat(rel or b".")
            except OSError:
                continue

    def _mode_for(self, entry: FileEntry, st: os.stat_result | None) -> int:
        """The mode the destination item gets (rsync's ``file->mode`` after dest_mode())."""
        opts = self.sh.opts
        if opts.preserve_perms:
            return entry.mode
        exists = st is not None and (stat.S_ISDIR(st.st_mode) == stat.S_ISDIR(entry.mode))
        return dest_mode(
            entry.mode,
            st.st_mode if exists and st is not None else None,
            self.sh.dflt_perms_for(entry.name),
            preserve_executability=opts.preserve_executability,
        )

    def _skipped_implied(self, entry: FileEntry) -> bool:
        """A directory sent only as implied by a ``-R`` path: ignored with ``--no-implied-dirs``.

        rsync: generator.c recv_generator(), touch_up_dirs() (FLAG_IMPLIED_DIR).
        """
        opts = self.sh.opts
        return (
            opts.relative
            and not opts.implied_dirs
            and entry.top_dir
            and entry.no_content_dir
            and entry.is_dir
            and self.sh.session.protocol >= 30
        )

    def _item_flags(
        self,
        entry: FileEntry,
        mode: int,
        st: os.stat_result | None,
        iflags: int,
        xname: bytes | None,
    ) -> int:
        """The iflags of an entry against what is on disk (rsync: generator.c itemize())."""
        sh = self.sh
        uid, gid, skip_group = self._ids(entry)
        return itemize_flags(
            entry,
            mode,
            uid,
            gid,
            st,
            sh.opts,
            iflags,
            am_root=sh.am_root,
            skip_group=skip_group,
            xname=xname,
        )
