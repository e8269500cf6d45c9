"""The generator: decides, for every file-list entry, what the receiving side needs.

How this works: the generator walks the sorted file list once (phase 1). A
directory is created (or its attributes fixed), a symlink, device, FIFO or
socket is made locally, an up-to-date regular file only gets its attributes
fixed; all of those may be reported to the sender as an itemize record (index
and iflags, P >= 29) so that the receiver prints them when the sender echoes
them, in list order. A regular file that differs becomes a transfer request:
index, iflags, and the sum header with the block checksums of the existing
destination file (its "basis"), or an empty header for a whole-file transfer.
Deletions (``--delete-*``) happen before the walk, per directory during it, or
after the transfer. Then come the NDX_DONE markers of docs/protocol.md §10.9: end of phase 1,
the redo requests for files that failed their checksum, end of phase 2, and so
on, each waiting for the receiver where the choreography requires it. At the
very end directory permissions and times are fixed and the goodbye is sent.

The generator only writes to the connection; it learns what the receiver saw
from :data:`~rsync_wire.roles.receiving.ReceiverEvent` records.

rsync: generator.c generate_files(), recv_generator(), delete_in_dir(),
touch_up_dirs(); delete.c delete_item(); hlink.c finish_hard_link().
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from typing import TYPE_CHECKING

import anyio

from rsync_wire.errors import LocalProtocolError
from rsync_wire.proto import codec
from rsync_wire.proto.constants import Msg, Ndx
from rsync_wire.proto.phases import DEL_STATS, GeneratorPhases
from rsync_wire.proto.sums import SumHead, encode_block_sums_into
from rsync_wire.roles.basis import choose_basis, fuzzy_finder
from rsync_wire.roles.decide import (
    CHMOD_BITS,
    ITEM,
    SIGNIFICANT_ITEM_FLAGS,
    dest_mode,
    itemize_flags,
    quick_check_ok,
)
from rsync_wire.roles.links import MUNGE_PREFIX, unsafe_symlink
from rsync_wire.roles.receive_state import Finished, Milestone, ReceiverGone, Redo

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.roles.receive_state import ReceiverEvent, Shared

__all__ = ["GeneratorRole"]

log = logging.getLogger("rsync_wire.generator")

_FLUSH_AT = 64 * 1024
_DEL_RECURSE = 1
_DEL_MAKE_ROOM = 2


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


class GeneratorRole:
    """The generator half of the receiving side.

    Args:
        shared: the state both halves read (file list, destination, options).
        events: what the receiver reports (redo requests, end-of-phase milestones).
    """

    def __init__(self, shared: Shared, events: MemoryObjectReceiveStream[ReceiverEvent]) -> None:
        self.sh = shared
        self.events = events
        self.ndx_out = codec.NdxEncoder(protocol=shared.session.protocol)
        self.redo: list[int] = []
        self.finished: set[int] = set()
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
        self.hl_leader: dict[int, int] = {}  # hard-link group -> leader index
        self.hl_followers: list[int] = []
        self.dry_missing: list[bytes] = []  # with -n: directories that do not exist
        self.warned_io_error = False
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
            or opts.size_only
            or opts.ignore_times
            or opts.modify_window
            or opts.preserve_hard_links
            or opts.remove_source_files  # an unchanged file is reported to the sender too
            or shared.config.verbose >= 2
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

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Phase 1, redo, the end-of-session markers, directory touch-up and goodbye."""
        sh = self.sh
        ws = sh.out_ws
        session = sh.session
        inc = sh.lists.inc
        phases = GeneratorPhases(
            protocol=session.protocol,
            inc=inc,
            delete_late=self.delete_when == "after" or self.delay_deletes,
            del_stats=self.deleting or sh.opts.force,
        )
        if inc:
            if self.delete_when == "before":
                self._delete_pass()
            await self._phase_one_inc()  # each list ends with its own NDX_DONE
        elif sh.config.list_only:
            for i, entry in enumerate(sh.entries):
                if not sh.cleared[i]:
                    sh.reporter.list_entry(entry, entry.name)
        else:
            if self.delete_when == "before":
                self._delete_pass()
            self._find_hard_link_leaders()
            await self._phase_one(0, len(sh.entries))
        self._write_markers(phases.transfer_end())
        await ws.flush()
        self.phase = 1
        await self._wait_for("phase1")
        self._finish_hard_links(now=True)
        for ndx in self.redo:
            self._recv_generator(ndx, redo=True)
            if ws.pending_output >= _FLUSH_AT:
                await ws.flush()
        self.phase = 2
        self._write_markers(phases.after_redo())
        await ws.flush()
        await self._wait_for("loop")
        self._finish_hard_links(now=False)
        if self.delay_deletes:
            self._delayed_deletions()
        if self.delete_when == "after":
            self._delete_pass()
        self._write_markers(phases.after_loop())
        await ws.flush()
        if phases.waits_for_final:
            await self._wait_for("final")
        if sh.stats.skipped_deletes:
            self._warn(
                f"Deletions stopped due to --max-delete limit ({sh.stats.skipped_deletes} skipped)"
            )
            sh.io_error |= 4
            sh.stats.io_error |= 4
        if not inc:
            self._touch_up_dirs()
        elif self.delay_deletes:  # deletions came after the lists: every directory now
            self._touch_up_all_dirs()
        self._write_markers(phases.goodbye())
        await ws.flush()

    def _write_markers(self, markers: tuple[str, ...]) -> None:
        """Write NDX_DONE markers and the deletion statistics, as the phase machine says."""
        for marker in markers:
            if marker == DEL_STATS:
                self._write_del_stats()
            else:
                self._write_ndx(Ndx.DONE)

    async def _phase_one_inc(self) -> None:
        """Phase 1 with incremental recursion: each list as it comes, freed when done.

        A list's directory is handled in full just before its contents (at the index
        before the list's first entry), with its deletions; a directory met in its parent's
        list is only created, so that the parent's time can be set when the parent's list
        is done. Each finished list is acknowledged with an NDX_DONE; the last one ends
        phase 1.

        rsync: generator.c generate_files(), check_for_finished_files().
        """
        sh = self.sh
        lists = sh.lists
        list_only = sh.config.list_only
        k = 0
        while True:
            while k >= len(lists.lists) and not lists.eof:
                await self._next_event()
            if k >= len(lists.lists):
                break
            sub = lists.lists[k]
            self._cur_list = k
            lo, hi = sub.start, sub.start + sub.count
            if sub.parent >= 0:
                slot = lo - 1
                self._dir_slot = slot
                rel = sh.rels[slot]
                if list_only:
                    sh.reporter.list_entry(sh.entries[slot], sh.entries[slot].name)
                else:
                    self._recv_generator(slot)
                    if (
                        self.delete_when == "during"
                        and lists.dir_content[sub.parent]
                        and slot not in sh.missing_dirs
                    ):
                        self._delete_in_dir(rel)
                sh.children.pop(rel, None)
            else:
                self._dir_slot = -1
            if list_only:
                for i in range(lo, hi):
                    entry = sh.entries[i]
                    if not sh.cleared[i] and not entry.is_dir:
                        sh.reporter.list_entry(entry, entry.name)
            else:
                await self._phase_one(lo, hi)
            self._drain_events()
            self._finish_lists(all_done=False)
            k += 1
        self._cur_list = len(lists.lists)
        while True:
            self._drain_events()
            self._finish_lists(all_done=True)
            if self._acked >= len(lists.lists):
                break
            await self._next_event()

    def _finish_lists(self, *, all_done: bool) -> None:
        """Redo what failed, then acknowledge every finished list before the current one.

        The receiver frees a list when the sender echoes the acknowledgement (the echoes of
        what was sent before it come first).

        rsync: generator.c check_for_finished_files().
        """
        lists = self.sh.lists
        while self.redo:
            self._recv_generator(self.redo.pop(0), redo=True)
        while self._acked < len(lists.lists):
            sub = lists.lists[self._acked]
            if sub.pending or (not all_done and sub.number >= self._cur_list):
                return
            self._write_ndx(Ndx.DONE)
            if sub.parent >= 0 and not self.delay_deletes:
                self._touch_up_dir(sub.start - 1)
            self._acked += 1

    def _count_request(self, ndx: int) -> None:
        """A transfer was requested: its list waits for it (rsync's ``in_progress``)."""
        sub = self.sh.lists.locate(ndx)
        if sub is not None:
            sub.pending += 1

    def _event(self, event: ReceiverEvent) -> None:
        if isinstance(event, Redo):
            self.redo.append(event.ndx)
            self._settled(event.ndx)
        elif isinstance(event, Finished):
            if event.ok:
                self._success(event.ndx)
            if self.sh.lists.inc:
                self._settled(event.ndx)
            else:
                self.finished.add(event.ndx)
        elif isinstance(event, Milestone):
            self.milestones.add(event.what)

    def _success(self, ndx: int) -> None:
        """``--remove-source-files``: tell the sender this file is safely here.

        rsync: generator.c recv_generator() (return_with_success), got_flist_entry_status()
        (FES_SUCCESS); io.c send_msg_success().
        """
        sh = self.sh
        if sh.opts.remove_source_files and not self.dry_run and sh.out_ws.mux_out:
            sh.out_ws.queue_message(Msg.SUCCESS, ndx.to_bytes(4, "little", signed=True))

    def _settled(self, ndx: int) -> None:
        lists = self.sh.lists
        if lists.inc:
            sub = lists.locate(ndx)
            if sub is not None and sub.pending:
                sub.pending -= 1

    def _drain_events(self) -> None:
        while True:
            try:
                event = self.events.receive_nowait()
            except anyio.WouldBlock:
                return
            except anyio.EndOfStream:
                msg = "the receiver stopped before the end of the session"
                raise ReceiverGone(msg) from None
            self._event(event)

    async def _next_event(self) -> None:
        """Send what is written, then wait for the receiver's next event."""
        await self.sh.out_ws.flush()
        try:
            event = await self.events.receive()
        except anyio.EndOfStream:
            msg = "the receiver stopped before the end of the session"
            raise ReceiverGone(msg) from None
        self._event(event)

    async def _phase_one(self, lo: int, hi: int) -> None:
        """The entries ``lo`` to ``hi`` of the list, in order; up-to-date files settled inline.

        The loop checks the common case of a re-sync (a regular file whose size, mtime,
        permissions and ownership match) without a method call per entry; everything else
        goes through :meth:`_recv_generator`.

        rsync: generator.c generate_files() (the phase-1 loop).
        """
        sh = self.sh
        ws = sh.out_ws
        entries = sh.entries
        rels = sh.rels
        cleared = sh.cleared
        tree = sh.tree
        opts = sh.opts
        fast = self._fast and tree is not None and not opts.preserve_executability
        parent = tree.parent if tree is not None else None
        lstat = os.stat
        perms = opts.preserve_perms
        check_uid = sh.am_root and opts.preserve_uid
        check_gid = opts.preserve_gid
        ids = sh.ids
        uid_of = ids.uid
        gid_of = ids.gid
        for i in range(lo, hi):
            if cleared[i]:
                continue
            if fast and not self.dry_missing:
                e = entries[i]
                if e.mode & 0o170000 == 0o100000:
                    try:
                        dfd, name = parent(rels[i])  # type: ignore[misc]
                        st = lstat(name, dir_fd=dfd, follow_symlinks=False)
                    except FileNotFoundError:
                        self._recv_generator(i, missing=True)  # a new file: no second lstat
                        if ws.pending_output >= _FLUSH_AT:
                            await ws.flush()
                        elif i & 63 == 63:
                            await anyio.lowlevel.checkpoint()
                        continue
                    except OSError:
                        st = None
                    if (
                        st is not None
                        and st.st_mode & 0o170000 == 0o100000
                        and st.st_size == e.size
                        and st.st_mtime_ns // 1_000_000_000 == e.mtime  # the quick check
                        and (not perms or not (st.st_mode ^ e.mode) & 0o7777)
                        and (not check_uid or st.st_uid == uid_of(e.uid))
                        and (not check_gid or _group_matches(st, gid_of(e.gid)))
                    ):
                        continue
            self._recv_generator(i)
            if ws.pending_output >= _FLUSH_AT:
                await ws.flush()
            elif i & 63 == 63:
                await anyio.lowlevel.checkpoint()
        # settled files need no checkpoint each; give the receiver a turn now
        await anyio.lowlevel.checkpoint()

    async def _wait_for(self, what: str) -> None:
        while what not in self.milestones:
            try:
                event = await self.events.receive()
            except anyio.EndOfStream:
                msg = "the receiver stopped before the end of the session"
                raise ReceiverGone(msg) from None
            self._event(event)

    # -- writing ---------------------------------------------------------------------------

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
        iflags = self._item_flags(entry, mode, st, iflags, xname)
        if not (
            iflags & SIGNIFICANT_ITEM_FLAGS
            or sh.config.verbose >= 2
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
        if config.verbose >= 2 and not config.itemize:
            self._info(_show(rel) if updated else f"{_show(rel)} is uptodate")

    # -- per-entry decisions ---------------------------------------------------------------

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
            return self._tree.lstat(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP and not self._tree.follow_dirlinks:
                return None  # a parent is a symlink: it will be replaced or refused
            raise

    def _mode_for(self, entry: FileEntry, st: os.stat_result | None) -> int:
        """The mode the destination item gets (rsync's ``file->mode`` after dest_mode())."""
        opts = self.sh.opts
        if opts.preserve_perms:
            return entry.mode
        exists = st is not None and (stat.S_ISDIR(st.st_mode) == stat.S_ISDIR(entry.mode))
        return dest_mode(
            entry.mode,
            st.st_mode if exists and st is not None else None,
            self.sh.dflt_perms,
            preserve_executability=opts.preserve_executability,
        )

    def _recv_generator(self, ndx: int, *, redo: bool = False, missing: bool = False) -> None:
        """Decide about one entry.

        rsync: generator.c recv_generator().
        """
        sh = self.sh
        entry = sh.entries[ndx]
        rel = sh.rels[ndx]
        mode = entry.mode
        # with incremental recursion a directory met in its parent's list is only made
        # early; it is handled when its own list comes (rsync's is_dir < 0)
        early = sh.lists.inc and ndx != self._dir_slot and stat.S_ISDIR(mode)
        if not self.dry_run and self.dry_missing and self._below_missing(rel):
            return  # below a directory that could not be made: skipped, as rsync does
        if self.skipped and _below(rel, self.skipped):
            return  # below a directory --existing did not create (rsync's skip_dir)
        if early:
            self._make_dir_early(entry, rel)
            return
        if self._skipped_implied(entry):
            return  # rsync: recv_generator() (!implied_dirs && FLAG_IMPLIED_DIR)
        if sh.daemon_rules is not None and sh.daemon_hides(rel, is_dir=stat.S_ISDIR(mode)):
            # rsync: generator.c recv_generator() (daemon_filter_list)
            kind = "directory" if stat.S_ISDIR(mode) else "file"
            self._error(f'ERROR: daemon refused to receive {kind} "{_show(rel)}"')
            if stat.S_ISDIR(mode):
                self._skip_dir(ndx, rel)
            return
        if (
            sh.opts.relative
            and not sh.opts.implied_dirs
            and mode
            and b"/" in rel
            and not self._make_parents(rel)
        ):
            return
        if mode == 0 and sh.opts.delete_missing_args:
            self._delete_missing_arg(rel)
            return
        try:
            if missing:
                st = None  # the caller's lstat just said so
            elif self._fast and not redo and mode & 0o170000 == 0o100000:
                st = self._stat(rel)
                if st is not None and self._up_to_date(entry, st):
                    self._success(ndx)
                    return
            else:
                st = self._stat(rel)
        except OSError as exc:
            self._error(
                f"rsync: [generator] recv_generator: failed to stat "
                f'"{_show(rel)}": {exc.strerror} ({exc.errno})'
            )
            return
        if stat.S_ISDIR(mode):
            if st is not None and stat.S_ISLNK(st.st_mode) and sh.opts.keep_dirlinks:
                st = self._tree.dir_stat(rel) or st  # rsync: link_stat(keep_dirlinks && is_dir)
            self._gen_dir(ndx, entry, rel, st)
            return
        if self.dry_missing and self._below_missing(rel):
            st = None
        if entry.hlink_group is not None and sh.opts.preserve_hard_links and not redo:
            leader = self.hl_leader.get(entry.hlink_group)
            if leader is not None and leader != ndx:
                if leader in self.finished and not sh.opts.delay_updates:
                    self._link_follower(ndx, leader, now=True)  # rsync: hard_link_check()
                else:
                    self.hl_followers.append(ndx)
                return
        if stat.S_ISLNK(mode):
            if sh.opts.preserve_links:
                self._gen_symlink(ndx, entry, rel, st)
                self._success(ndx)  # rsync: recv_generator() (return_with_success)
            elif not sh.config.quiet:
                self._info(f'skipping non-regular file "{_show(rel)}"')
            return
        is_dev = stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        is_special = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        # --drop-D refuses to create them, leaving the list's format alone (rsync 3.5)
        if not sh.opts.drop_devices and (
            (is_dev and sh.am_root and sh.opts.preserve_devices)
            or (is_special and sh.opts.preserve_specials)
        ):
            self._gen_special(ndx, entry, rel, st)
            self._success(ndx)
            return
        if not stat.S_ISREG(mode):
            if not sh.config.quiet:  # rsync's --info=nonreg is on by default
                self._info(f'skipping non-regular file "{_show(rel)}"')
            return
        self._gen_file(ndx, entry, rel, st, redo=redo)

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
            if sh.config.verbose >= 2:  # rsync's --info=skip
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
                if config.itemize and (config.verbose >= 2 or config.itemize > 1):
                    # a local change even with --compare-dest: the directory is made
                    change = ITEM.LOCAL_CHANGE | ITEM.MATCHED
                    self._itemize(ndx, entry, mode, cmp_st, change)
                elif config.verbose >= 2 and not config.itemize:
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
            self._delete_in_dir(rel)

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
            if sh.config.verbose:  # rsync's --info=name
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
                current = self._tree.readlink(rel)
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
            try:
                self._tree.mknod(rel, stat.S_IFMT(entry.mode) | 0o600, device, replace=replace)
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
        best: tuple[int, os.stat_result] | None = None
        level = 0
        for j, tree in enumerate(basis.trees):
            if tree is None:
                continue
            try:
                bst = tree.lstat(rel)
            except OSError:
                continue
            if stat.S_IFMT(bst.st_mode) != stat.S_IFMT(entry.mode):
                continue
            if level < 1:
                best, level = (j, bst), 1
            target = None
            if stat.S_ISLNK(bst.st_mode):
                try:
                    target = tree.readlink(rel)
                except OSError:
                    continue
            if not quick_check_ok(entry, bst, sh.opts, link_target=target):
                continue
            if level < 2:
                best, level = (j, bst), 2
            if self._attrs_match(entry, mode, bst, accurate=False):
                best, level = (j, bst), 3
                break
        if best is None:
            return False, None, False
        j, bst = best
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
        if config.itemize and (config.verbose >= 2 or config.itemize > 1):
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

    def _gen_file(
        self, ndx: int, entry: FileEntry, rel: bytes, st: os.stat_result | None, *, redo: bool
    ) -> None:
        sh = self.sh
        opts = sh.opts
        size = entry.size
        if not redo:
            if opts.max_size is not None and size > opts.max_size:
                if sh.config.verbose >= 2:  # rsync's --info=skip
                    self._info(f"{_show(rel)} is over max-size")
                return
            if opts.min_size is not None and size < opts.min_size:
                if sh.config.verbose >= 2:  # rsync's --info=skip
                    self._info(f"{_show(rel)} is under min-size")
                return
            if opts.ignore_existing and st is not None:
                if sh.config.verbose >= 2:  # rsync's --info=skip
                    self._info(f"{_show(rel)} exists")
                return
            if opts.existing_only and st is None:
                if sh.config.verbose >= 2:  # rsync's --info=skip
                    self._info(f'not creating new file "{_show(rel)}"')
                return
            if (
                opts.update_only
                and st is not None
                and stat.S_ISREG(st.st_mode)
                and entry.mtime - st.st_mtime_ns // 1_000_000_000 < opts.modify_window
            ):
                if sh.config.verbose >= 2:  # rsync's --info=skip
                    self._info(f"{_show(rel)} is newer")
                return
        if st is not None and not stat.S_ISREG(st.st_mode):
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
                if self._attrs_match(entry, mode, st, accurate=opts.always_checksum):
                    # the common case of a re-sync: nothing to change, nothing to report
                    if sh.config.verbose >= 2 or sh.config.itemize > 1:
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
            ws.write_int16(iflags)
            if basis is not None:
                ws.write_byte(basis.kind)
                if basis.xname is not None:
                    ws.write_vstring(basis.xname)
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
        best: tuple[int, os.stat_result] | None = None
        level = 0
        for j, tree in enumerate(basis.trees):
            if tree is None:
                continue
            try:
                bst = tree.lstat(rel)
            except OSError:
                continue
            if not stat.S_ISREG(bst.st_mode):
                continue
            if level == 0:
                best, level = (j, bst), 1
            checksum = None
            if opts.always_checksum and bst.st_size == entry.size:
                checksum = self._basis_checksum(tree, rel)
            if not quick_check_ok(entry, bst, opts, checksum=checksum):
                continue
            if level == 1:
                best, level = (j, bst), 2
            if self._attrs_match(entry, mode, bst, accurate=opts.always_checksum):
                best, level = (j, bst), 3
                break
        if best is None:
            return False, None
        j, bst = best
        if level < 2:
            return False, bst  # the basis of the delta (rsync_wire.roles.basis)
        tree = basis.trees[j]
        assert tree is not None  # noqa: S101
        kind = basis.kind
        if level == 3 and kind != "copy-dest" and self._link_or_leave(tree, rel, kind):
            if kind == "link-dest":
                if sh.config.verbose >= 2 or sh.config.itemize > 1:
                    self._itemize(ndx, entry, mode, bst, ITEM.LOCAL_CHANGE, xname=b"")
            elif sh.config.itemize:
                self._itemize(ndx, entry, mode, bst, 0)
            self._attrs_report(rel, updated=False)
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
                os.fchmod(fd, mode & CHMOD_BITS)
                if opts.preserve_times:
                    ns = entry.mtime * 1_000_000_000 + entry.mtime_nsec
                    os.utime(fd, ns=(time.time_ns(), ns))
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
            if level == 3 and config.verbose >= 2:
                self._info(f"{_show(rel)} is uptodate")
            elif level == 2 and config.verbose >= 1:
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
        assert self.sh.basis is not None  # noqa: S101 - the caller checked
        for tree in self.sh.basis.trees:
            if tree is None:
                continue
            try:
                bst = tree.lstat(rel or b".")
            except OSError:
                continue
            if stat.S_ISDIR(bst.st_mode):
                return bst
        return None

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

    # -- attributes ------------------------------------------------------------------------

    def _attrs_match(
        self, entry: FileEntry, mode: int, st: os.stat_result, *, accurate: bool
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
        if (st.st_mode ^ mode) & CHMOD_BITS:
            return False
        if opts.preserve_uid or opts.preserve_gid:
            uid, gid, skip_group = self._ids(entry)
            if self.sh.am_root and opts.preserve_uid and st.st_uid != uid:
                return False
            if opts.preserve_gid and not skip_group and st.st_gid != gid:
                return False
        return True

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
            if times and not skip_time:
                sec, nsec = divmod(st.st_mtime_ns, 1_000_000_000)
                same = sec == entry.mtime and (not accurate or nsec == entry.mtime_nsec)
                if not same:
                    self._tree.set_mtime(
                        rel, entry.mtime * 1_000_000_000 + entry.mtime_nsec, atime_ns=st.st_atime_ns
                    )
                    updated = True
            if not link and (st.st_mode ^ mode) & CHMOD_BITS:
                self._tree.chmod(rel, mode & CHMOD_BITS)
                updated = True
        except OSError as exc:
            self._error(
                f'rsync: [generator] failed to set attributes on "{_show(rel)}": '
                f"{exc.strerror} ({exc.errno})"
            )
        return updated

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
            self._error(
                f'rsync: failed to set times on "{_show(rel)}": {exc.strerror} ({exc.errno})'
            )

    def _delayed_deletions(self) -> None:
        """--delete-delay: what the walk found, deleted now.

        rsync: generator.c do_delayed_deletions().
        """
        delayed, self.delayed = self.delayed, []
        for path, mode in delayed:
            self._delete_item(path, mode, make_room=False)

    # -- hard links ------------------------------------------------------------------------

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
        basis = self.sh.basis
        for tree in basis.trees if basis is not None else ():
            if tree is None:
                continue
            try:
                if stat.S_ISREG(tree.lstat(rel).st_mode):
                    return True
            except OSError:
                continue
        return False

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
        for tree in basis.trees:
            if tree is None:
                continue
            try:
                bst = tree.lstat(rel)
            except OSError:
                continue
            if basis.kind == "link-dest":
                if leader_st is None or (bst.st_dev, bst.st_ino) != (
                    leader_st.st_dev,
                    leader_st.st_ino,
                ):
                    continue
                shown = config.itemize > 1 or (config.itemize > 0 and config.verbose >= 2)
                return bst, shown
            if not stat.S_ISREG(entry.mode) or not quick_check_ok(entry, bst, sh.opts):
                continue
            found = bst
            if self._attrs_match(entry, mode, bst, accurate=False):
                break
        return found, True

    def _recv_generator_alone(self, ndx: int) -> None:
        group = self.sh.entries[ndx].hlink_group
        if group is not None:
            self.hl_leader[group] = ndx
        # in phase 1 (a leader settled while the list is generated) or at its end, not
        # after the transfers
        if self.phase <= 1:
            self._recv_generator(ndx)

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

    # -- deletion --------------------------------------------------------------------------

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
            st = self._stat(rel)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            self._delete_in_dir(rel)

    def _delete_in_dir(self, rel: bytes) -> None:
        """Delete what is in destination directory ``rel`` but not in the file list.

        rsync: generator.c delete_in_dir().
        """
        sh = self.sh
        if sh.io_error & 1 and not sh.opts.ignore_errors:
            if not self.warned_io_error:
                self._info("IO error encountered -- skipping file deletion")
                self.warned_io_error = True
            return
        if self.dry_missing and (rel in self.dry_missing or self._below_missing(rel)):
            return
        try:
            listing = self._tree.list_dir(rel)
        except OSError:
            return
        keep = sh.children.get(rel, set())
        for name, st in self._sorted_listing(listing, reverse=True):
            if name in keep:
                continue
            path = rel + b"/" + name if rel else name
            if self._protected(path, st):
                continue
            if self.delay_deletes:
                self.delayed.append((path, st.st_mode))
                continue
            self._delete_item(path, st.st_mode, make_room=False)

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
        ok = True
        if stat.S_ISDIR(mode):
            ok = self._delete_contents(rel, recurse=recurse)
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
            self._error(
                f'rsync: [generator] make_backup "{_show(rel)}" failed: '
                f"{exc.strerror} ({exc.errno})"
            )
            return False
        return True

    def _backed_up(self, rel: bytes, bname: bytes | None) -> None:
        """Say where a backup went, at ``-vv`` (rsync: backup.c, INFO_GTE(BACKUP, 1))."""
        if bname is not None and self.sh.config.verbose >= 2:
            self._info(f"backed up {_show(rel)} to {_show(bname)}")

    def _delete_contents(self, rel: bytes, *, recurse: bool) -> bool:
        try:
            listing = self._tree.list_dir(rel)
        except FileNotFoundError:
            return True
        except OSError as exc:
            self._error(
                f'rsync: [generator] opendir "{_show(rel)}" failed: {exc.strerror} ({exc.errno})'
            )
            return False
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
                if is_dir and not self._delete_contents(path, recurse=True):
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
        try:
            if not self.dry_run:
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


def _below(rel: bytes, dirs: list[bytes]) -> bool:
    """Whether ``rel`` lies below one of ``dirs`` (``b""``: the top, everything is below)."""
    return any(not d or rel.startswith(d + b"/") for d in dirs)


def _group_matches(st: os.stat_result, mapped: tuple[int, bool]) -> bool:
    gid, skip = mapped
    return skip or st.st_gid == gid


def _show(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


def _opens(tree: DestTree, reldir: bytes) -> bool:
    """Whether ``reldir`` is a directory the tree can reach."""
    try:
        tree.dir_fd(reldir)
    except OSError:
        return False
    return True
