"""The generator's run: phase 1 over the lists, the redo phase, the end-of-session markers.

rsync: generator.c generate_files(), recv_generator().
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import anyio

from rsync_wire.heapstats import heap_lines
from rsync_wire.proto.constants import Ndx
from rsync_wire.proto.phases import DEL_STATS, GeneratorPhases
from rsync_wire.roles.generator.entries import _Entries
from rsync_wire.roles.generator.state import _FLUSH_AT, _below, _show
from rsync_wire.roles.receive_state import Finished, Milestone, ReceiverGone, Redo

if TYPE_CHECKING:
    from rsync_wire.roles.receive_state import ReceiverEvent


_HLINK_LOOKAHEAD = 500
"""With ``-H`` and incremental recursion, the generator starts a list only once the lists
not freed hold this many entries or the last list came (rsync: generator.c generate_files(),
``MIN_FILECNT_LOOKAHEAD / 2``)."""


class GeneratorRole(_Entries):
    """The generator half of the receiving side.

    Args:
        shared: the state both halves read (file list, destination, options).
        events: what the receiver reports (redo requests, end-of-phase milestones).
    """

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
            self._say_delta_mode()
            await self._phase_one_inc()  # each list ends with its own NDX_DONE
        elif sh.config.list_only:
            self._say_delta_mode()
            for i, entry in enumerate(sh.entries):
                if not sh.cleared[i]:
                    sh.reporter.list_entry(entry, entry.name)
        else:
            if self.delete_when == "before":
                self._delete_pass()
            self._say_delta_mode()
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
        if sh.config.levels.info_gte("STATS", 3):
            # rsync: main.c handle_stats() (show_malloc_stats() in each of the receiving
            # side's processes, before the goodbye; here both share this one's heap)
            for who in ("receiver", "generator"):
                for line in heap_lines(sh.config.role_prefix + who):
                    self._info(line)
        self._write_markers(phases.goodbye())
        await ws.flush()

    def _say_delta_mode(self) -> None:
        """``--debug=FLIST`` (``-vv``): whether file data goes as a delta.

        rsync: generator.c generate_files() (``whole_file`` after ``--append``).
        """
        sh = self.sh
        if sh.config.levels.debug_gte("FLIST"):
            whole = sh.config.whole_file and not sh.opts.append
            how = "disabled for local transfer or --whole-file" if whole else "enabled"
            self._info(f"delta-transmission {how}")

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
        hard_links = sh.opts.preserve_hard_links
        while True:
            # with -H, read ahead (rsync: MIN_FILECNT_LOOKAHEAD / 2 entries), so that more
            # of a group is known when its first members are met (docs/protocol-notes.md)
            while hard_links and not lists.eof and lists.live_entries < _HLINK_LOOKAHEAD:
                await self._next_event()
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
                        self._delete_in_dir(rel, slot)
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

    def _event(self, event: ReceiverEvent) -> None:
        if isinstance(event, Redo):
            self.redo.append(event.ndx)
            self._settled(event.ndx)
        elif isinstance(event, Finished):
            if event.ok:
                self._success(event.ndx)
            inc = self.sh.lists.inc
            if inc:
                self._settled(event.ndx)
            if self.hl_leader:  # rsync: generator.c check_for_finished_files()
                self._leader_finished(event.ndx, link=inc)
        elif isinstance(event, Milestone):
            self.milestones.add(event.what)

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
        """The receiver's next event; what is written is sent first when it must be waited for.

        An event already queued is taken without a flush, so that the NDX_DONEs of lists
        that arrived together leave in one write (one per list was 10 % of a daemon
        connection's time on a tree of small, unchanged files).
        """
        try:
            event = self.events.receive_nowait()
        except anyio.WouldBlock:
            pass
        except anyio.EndOfStream:
            msg = "the receiver stopped before the end of the session"
            raise ReceiverGone(msg) from None
        else:
            self._event(event)
            return
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
        # the sender's ids repeat from entry to entry: the last ones and their local ids
        last_uid = last_gid = -1
        uid = 0
        gid: tuple[int, bool] = (0, False)
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
                    if check_uid and e.uid != last_uid:
                        last_uid = e.uid
                        uid = uid_of(last_uid)
                    if check_gid and e.gid != last_gid:
                        last_gid = e.gid
                        gid = gid_of(last_gid)
                    if (
                        st is not None
                        and st.st_mode & 0o170000 == 0o100000
                        and st.st_size == e.size
                        and st.st_mtime_ns // 1_000_000_000 == e.mtime  # the quick check
                        and (not perms or not (st.st_mode ^ e.mode) & 0o7777)
                        and (not check_uid or st.st_uid == uid)
                        and (not check_gid or gid[1] or st.st_gid == gid[0])
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

    def _recv_generator(self, ndx: int, *, redo: bool = False, missing: bool = False) -> None:
        """Decide about one entry.

        rsync: generator.c recv_generator().
        """
        sh = self.sh
        entry = sh.entries[ndx]
        rel = sh.rels[ndx]
        mode = entry.mode
        if sh.xattrs is not None:
            sh.xattrs.forget()
        if sh.acls is not None:
            sh.acls.forget()
        # with incremental recursion a directory met in its parent's list is only made
        # early; it is handled when its own list comes (rsync's is_dir < 0)
        early = sh.lists.inc and ndx != self._dir_slot and stat.S_ISDIR(mode)
        if (not self.dry_run and self.dry_missing and self._below_missing(rel)) or (
            self.skipped and _below(rel, self.skipped)
        ):
            # below a directory that could not be made, or that --existing did not create
            # (rsync's skip_dir): skipped, as rsync does
            if entry.hlink_group is not None and sh.opts.preserve_hard_links:
                self._hl_skipped(ndx)  # rsync: recv_generator() handle_skipped_hlink()
            return
        if self._skipped_implied(entry):
            return  # rsync: recv_generator() (!implied_dirs && FLAG_IMPLIED_DIR)
        if early:
            self._make_dir_early(entry, rel)
            return
        if sh.daemon_rules is not None and sh.daemon_hides(rel, is_dir=stat.S_ISDIR(mode)):
            # rsync: generator.c recv_generator() (daemon_filter_list)
            kind = "directory" if stat.S_ISDIR(mode) else "file"
            self._error(f'ERROR: daemon refused to receive {kind} "{_show(rel)}"')
            if stat.S_ISDIR(mode):
                self._skip_dir(ndx, rel)
            elif entry.hlink_group is not None and sh.opts.preserve_hard_links:
                self._hl_skipped(ndx)  # rsync: recv_generator() handle_skipped_hlink()
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
        if (
            entry.hlink_group is not None
            and sh.opts.preserve_hard_links
            and not redo
            and self._hard_link_check(ndx, entry, rel, st)
        ):
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
        if self._hl_open == ndx:
            self._hl_after_lead(ndx)

    def _recv_generator_alone(self, ndx: int) -> None:
        group = self.sh.entries[ndx].hlink_group
        if group is not None:
            self.hl_leader[group] = ndx
        # in phase 1 (a leader settled while the list is generated) or at its end, not
        # after the transfers
        if self.phase <= 1:
            self._recv_generator(ndx)
