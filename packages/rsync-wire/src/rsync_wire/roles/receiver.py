"""The receiver: reads the sender's replies and writes the files.

How this works: for every transfer reply (index, iflags, the echoed sum header,
the token stream, the whole-file checksum) the receiver opens the basis the
generator chose (:mod:`rsync_wire.roles.basis`: the file, its partial file, a
fuzzy match), creates a temporary file (:mod:`rsync_wire.roles.output`:
``.<name>.XXXXXX`` next to it, or in ``--temp-dir``), and rebuilds the new content
there (``-S``: with holes): literal data is written as it comes, block references
are copied from the basis (consecutive blocks in one read). Every byte written is
also hashed; when the sender's whole-file checksum matches, the temporary file gets
its permissions, owner and times and is renamed over the final name (with
``--delay-updates``: into the partial dir, and over the final name at the end).
When it does not match, the temporary file is dropped (or kept under the final
name with ``--partial``) and, in phase 1, the generator is asked to request the
file again with full-length block sums. A reply that is only an echo of an itemize
record is handed to the reporter.

The NDX_DONE markers the sender writes end the phases (docs/protocol.md §10.9); after the last
one come the sender's statistics and, from protocol 31, the echo of the
generator's deletion-phase marker. Each milestone is passed to the generator.

An interrupted transfer (connection lost, cancellation) removes the temporary
file, unless ``--partial`` asks to keep what arrived under the final name.

rsync: receiver.c recv_files(), receive_data(); main.c handle_stats(),
read_final_goodbye().
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import stat
import time
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.lowlevel
import msgspec

from rsync_wire.errors import ExitCode, RemoteProtocolError, RsyncError
from rsync_wire.fs import UNTRUSTED_SYMLINK, UntrustedSymlinkError
from rsync_wire.fs_write import temp_name_for
from rsync_wire.proto.constants import FnameCmp, Msg, Ndx
from rsync_wire.proto.phases import ReceiverPhases
from rsync_wire.proto.sums import SumHead, decode_sum_head
from rsync_wire.proto.tokens import BlockRef, Literal, TokenDecoder, TokenEvent
from rsync_wire.roles.basis import BasisError, basis_of
from rsync_wire.roles.decide import CHMOD_BITS, ITEM, dest_mode
from rsync_wire.roles.fakesuper import set_stat_xattr
from rsync_wire.roles.output import FALLOC_FL_KEEP_SIZE, Output, SparseWriter, fallocate
from rsync_wire.roles.receive_state import Finished, Milestone, Redo

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.streams.memory import MemoryObjectSendStream

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.roles.flists import SubList
    from rsync_wire.roles.receive_state import ReceiverEvent, Shared
    from rsync_wire.roles.xattrs import ReceivingXattrs

__all__ = ["ReceiverRole"]


class _Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


_HLINK_ITEM = int(ITEM.XNAME_FOLLOWS | ITEM.LOCAL_CHANGE)
_MISSING_DATA = 1 << 16  # rsync.h ITEM_MISSING_DATA: log only, never on the wire
log = logging.getLogger("rsync_wire.receiver")

_WRITE_AT = 1 << 20  # bytes collected before a write
# Basis bytes read at a time: a larger block would be above the mmap threshold that
# rsync_wire.stream_malloc sets (512 KiB), a fresh mapping for every read whose pages are
# all faulted in (65,000 faults and twice the time for the 256 MiB of a T2 pull).
_READ_AT = 256 << 10
_MAX_CHUNKS = 512  # chunks per writev (IOV_MAX is 1024)


class ReceiverRole:
    """The receiver half of the receiving side.

    Args:
        shared: the state both halves read.
        events: where the generator learns about redo requests and milestones (an unbounded
            stream: a file's outcome is handed over without waiting).
        server_sender: the sender is a server (it sends statistics after the transfer).
    """

    def __init__(
        self,
        shared: Shared,
        events: MemoryObjectSendStream[ReceiverEvent],
        *,
        server_sender: bool = True,
    ) -> None:
        self.sh = shared
        self.events = events
        self.server_sender = server_sender
        session = shared.session
        self.ndx_in = shared.ndx_in
        self.tokens = TokenDecoder(session.compression, protocol=session.protocol)
        self.digest_size = shared.rule.digest_size
        self._sender_sum = b""  # the whole-file checksum of the last file received
        self.phases = ReceiverPhases(protocol=session.protocol, inc=shared.lists.inc)
        self._sink: _Sink | None = None
        self._unchecked = 0  # bytes written since the last checkpoint, over files
        self._ndx = 0
        self._redo = False  # the file being received was asked for again
        # incremental recursion: the list of the last index read (rsync's cur_flist)
        self._cur_list: SubList | None = shared.lists.lists[0] if shared.lists.inc else None
        self._redone: set[int] = set()  # files asked for again (never twice)
        fresh = shared.rule.file_hasher()
        # copying a fresh hasher is cheaper than building one per file
        self._hasher_proto = fresh if hasattr(fresh, "copy") else None

    def _new_hasher(self) -> _Hasher:
        proto = self._hasher_proto
        if proto is not None:
            return proto.copy()  # type: ignore[no-any-return]
        return self.sh.rule.file_hasher()

    @property
    def output(self) -> Output:
        """Where temporary files go (rsync_wire.roles.output), made at first use."""
        sh = self.sh
        if sh.output is None:
            assert sh.tree is not None  # noqa: S101 - only when files are written
            sh.output = Output(sh.tree)
        return sh.output

    async def run(self) -> None:
        """Read replies until the end of the session."""
        async with self.events:
            await self._loop()
            await self._read_stats()
            await self.events.send(Milestone("loop"))
            if self.sh.session.del_stats:
                await self._read_final()
                await self.events.send(Milestone("final"))

    # -- the loop --------------------------------------------------------------------------

    async def _loop(self) -> None:
        sh = self.sh
        ws = sh.ws
        session = sh.session
        lists = sh.lists
        inc = lists.inc
        phases = self.phases
        while True:
            ndx = await ws.read_ndx(self.ndx_in)
            if ndx == Ndx.DONE:
                # rsync shows the line while it has a list (all are freed at the end of
                # phase 1 with incremental recursion)
                cur = self._cur_list
                if sh.config.progress and (not inc or cur is not None):
                    st = sh.stats
                    to_check = 0
                    if cur is not None:  # rsync: progress.c set_current_file_index(NULL, 0)
                        to_check = lists.total - (cur.start + cur.count - cur.number - 2) - 1
                    sh.reporter.progress_phase_done(
                        to_check=to_check,
                        count=lists.total,
                        xferred=st.xferred_files,
                        transferred_size=st.total_transferred_size,
                        total_size=st.total_size,
                        flist_eof=lists.eof,
                    )
                if sh.batch is not None and phases.phase == 0:
                    await self._batch_list_done()
                step = phases.on_done(lists_left=lists.live, eof=lists.eof)
                if step.free:
                    freed = lists.lists[lists.first_live]
                    lists.free_first(sh.entries, sh.rels, sh.cleared)
                    if cur is freed:  # rsync: flist.c flist_free() moves cur_flist on
                        self._cur_list = lists.lists[lists.first_live] if lists.live else None
                if phases.phase == 2 and sh.opts.delay_updates and not sh.opts.dry_run:
                    self._finish_delayed()  # rsync: receiver.c recv_files() (phase 2)
                if step.end:
                    return
                if step.milestone is not None:
                    await self.events.send(Milestone(step.milestone))
                continue
            if ndx == Ndx.DEL_STATS:
                for _ in range(5):
                    await ws.read_varint()
                continue
            if inc and ndx == Ndx.FLIST_EOF and not lists.eof:
                lists.eof = True
                await self.events.send(Milestone("lists"))
                continue
            if inc and ndx <= Ndx.FLIST_OFFSET and sh.read_sub_list is not None:
                await sh.read_sub_list(Ndx.FLIST_OFFSET - ndx)
                await self.events.send(Milestone("lists"))
                continue
            if ndx < 0:
                msg = f"invalid file index {ndx} from the sender"
                raise RemoteProtocolError(msg)
            # below protocol 29 no iflags travel: rsync logs the file as "?" (rsync: rsync.c
            # read_ndx_and_attrs(), ITEM_TRANSFER | ITEM_MISSING_DATA)
            iflags = ITEM.TRANSFER | _MISSING_DATA
            xname = None
            basis_type = 0x80
            if session.has_iflags:
                iflags = await ws.read_int16()
                if iflags & ITEM.BASIS_TYPE_FOLLOWS:
                    basis_type = await ws.read_byte()
                if iflags & ITEM.XNAME_FOLLOWS:
                    xname = await ws.read_vstring()
            if inc:
                self._cur_list = lists.locate(ndx)
            count = len(sh.entries)
            if not 0 <= ndx < count:
                if session.protocol == 29 and ndx == count and iflags == ITEM.IS_NEW:
                    continue  # a protocol-29 keep-alive forwarded by an old sender
                msg = f"invalid file index {ndx} from the sender (count {count})"
                raise RemoteProtocolError(msg)
            if sh.cleared[ndx]:
                msg = f"refusing transfer of cleared file index {ndx}"
                raise RemoteProtocolError(msg)
            entry = sh.entries[ndx]
            rel = sh.rels[ndx]
            if sh.daemon_rules is not None and sh.daemon_hides(rel, is_dir=entry.is_dir):
                # rsync: receiver.c recv_files() (daemon_filter_list)
                msg = (
                    f"ERROR: rejecting file transfer request for daemon excluded file: {_show(rel)}"
                )
                raise RemoteProtocolError(msg)
            xa = sh.xattrs
            if xa is not None and xa.wants_reply(iflags):
                await xa.read_reply(ws, entry)  # rsync: receiver.c recv_xattr_request()
            if not iflags & ITEM.TRANSFER:
                self._echoed_item(entry, rel, iflags, xname)
                if (
                    xa is not None
                    and xa.wants_reply(iflags)
                    and iflags & _HLINK_ITEM != _HLINK_ITEM
                    and sh.tree is not None
                ):
                    self._set_attrs_again(xa, entry, rel)
                continue
            if self.phases.phase >= 2:
                msg = "got transfer request in phase 2"
                raise RemoteProtocolError(msg)
            if not stat.S_ISREG(entry.mode):
                msg = f"received a transfer of non-regular file {rel!r}"
                raise RemoteProtocolError(msg)
            stats = sh.stats
            stats.xferred_files += 1
            stats.total_transferred_size += entry.size
            if iflags & ITEM.IS_NEW and self.phases.phase == 0:
                stats.created_files += 1
            if sh.batch is not None and not await self._batch_wanted(ndx, rel):
                await self._discard_data()
                continue
            if sh.opts.dry_run:
                sh.reporter.item(entry, sh.logged(entry, rel), iflags, None)
                if sh.batch is not None or (sh.config.batch_only and self.server_sender):
                    # a batch carries the data all the same; a server sender sends it with
                    # --only-write-batch (a client sender writes it to its batch only)
                    await self._discard_data()
                if inc:
                    self.events.send_nowait(Finished(ndx, ok=True))
                continue
            try:
                # the generator's basis: the file, its partial file, a fuzzy match
                basis = basis_of(sh, rel, basis_type, xname)
            except BasisError as exc:
                raise RemoteProtocolError(str(exc)) from None
            self._redo = False
            errors = sh.stats.transfer_errors
            # CF_INPLACE_PARTIAL_DIR: a partial file that is the basis is updated in place
            one_inplace = (
                basis is not None
                and basis_type == FnameCmp.PARTIAL_DIR
                and sh.session.inplace_partial
            )
            await self._receive_file(ndx, entry, rel, iflags, basis=basis, one_inplace=one_inplace)
            if not self._redo and (inc or sh.opts.remove_source_files):
                # rsync: receiver.c recv_files() (send_msg_success when recv_ok)
                # unbounded stream: no wait, and no trip through the event loop per file
                self.events.send_nowait(Finished(ndx, ok=sh.stats.transfer_errors == errors))

    def _set_attrs_again(self, xa: ReceivingXattrs, entry: FileEntry, rel: bytes) -> None:
        """An item itemized with its xattrs and no data: its xattrs, then its ACLs again.

        rsync's receiver sets the whole of such an item's attributes once more. The owner,
        times and mode are the generator's already, but an access ACL is not: set while a
        directory's sticky bit went on (or a file's set-id bit went off) it gave the
        owning group and others no access (the mode set after it gives the mask and
        others theirs); set again, the bit now as it stays, the group gets the mode's.

        rsync: receiver.c recv_files() (``ITEM_REPORT_XATTR``: set_file_attrs(fname,
        file, NULL, fname, 0)); acls.c change_sacl_perms().
        """
        sh = self.sh
        tree = sh.tree
        assert tree is not None  # noqa: S101 - the caller checked
        for text in xa.set_on(tree, rel, entry, entry.mode, generator=False):
            self._error(f"rsync: [receiver] {text}")
        acls = sh.acls
        if acls is None or not sh.opts.preserve_perms or stat.S_ISLNK(entry.mode):
            return
        st = tree.lstat_or_none(rel)
        if st is None or stat.S_IFMT(st.st_mode) != stat.S_IFMT(entry.mode):
            return
        new_mode = entry.mode
        if stat.S_ISDIR(new_mode) and not sh.am_root:
            new_mode |= 0o700  # the generator's loosening, undone when the directory is done
        changed, cur, failed = acls.set_on(tree, rel, entry, st.st_mode, new_mode, remember=False)
        for text in failed:
            self._error(f"rsync: [receiver] {text}")
        if changed and not sh.fake_super and (cur ^ new_mode) & CHMOD_BITS:
            try:
                tree.chmod(rel, new_mode & CHMOD_BITS)
            except OSError as exc:  # rsync: rsync.c set_file_attrs()
                self._error(
                    f'rsync: [receiver] failed to set permissions on "{_show(sh.shown(rel))}": '
                    f"{exc.strerror} ({exc.errno})"
                )

    async def _batch_wanted(self, ndx: int, rel: bytes) -> bool:
        """Reading a batch: whether the generator wants the file the batch carries next.

        rsync: receiver.c recv_files() (``read_batch``), gen_wants_ndx(), we_want_redo().
        """
        batch = self.sh.batch
        assert batch is not None  # noqa: S101 - only called when reading a batch
        redoing = self.phases.phase > 0
        if redoing:
            wanted = batch.redo_wanted(ndx)
        else:
            cur = self._cur_list
            wanted = await batch.wants(ndx, cur.number if cur is not None else 0)
        if not wanted:
            extra = " resend of" if redoing else ""
            text = f'(Skipping batched update for{extra} "{_show(rel or b".")}")\n'
            self.sh.reporter.message(Msg.INFO, text.encode("utf-8", "surrogateescape"))
        return wanted

    async def _batch_list_done(self) -> None:
        """A list ended: what the generator wanted from it and the batch lacked is reported."""
        sh = self.sh
        batch = sh.batch
        assert batch is not None  # noqa: S101
        lists = sh.lists
        if lists.inc and lists.live:
            first = lists.lists[lists.first_live]
            await batch.wants(first.start + first.count, first.number)
        elif not lists.inc:
            await batch.wants(len(sh.entries), 0)

    async def _discard_data(self) -> None:
        """Read one file's sum header, tokens and checksum, and drop them.

        rsync: receiver.c discard_receive_data().
        """
        ws = self.sh.ws
        head = await ws.decode(
            decode_sum_head,
            protocol=self.sh.session.protocol,
            digest_size=self.digest_size,
            who="receiver",
        )
        self.tokens.begin_file(block_count=head.count)
        decode = self.tokens.decode
        while True:
            event: TokenEvent = await ws.decode(decode)
            if type(event) is not Literal and type(event) is not BlockRef:
                break
        await ws.read_exact(self.digest_size)

    async def _ask_redo(self, ndx: int) -> None:
        """A file failed its checksum: ask for it again, once (rsync: MSG_REDO)."""
        if self.sh.batch is not None:
            # reading a batch: its redo phase may carry the file again (rsync: batch_redo_list)
            if self.phases.phase == 0 and ndx not in self._redone:
                self._redone.add(ndx)
                self._redo = True
                self.sh.batch.redo.append(ndx)
            return
        if self.phases.phase == 0 and ndx not in self._redone:
            self._redone.add(ndx)
            self._redo = True
            await self.events.send(Redo(ndx))

    def _log_transfer(self, entry: FileEntry, rel: bytes, iflags: int, *, after: bool) -> None:
        """The line of a transferred file: before its data, or after it (``%C``).

        With ``%C`` in the format the line waits for the whole-file checksum the sender
        sent after the data (the file-list checksum with ``-c``).

        rsync: receiver.c recv_files() (``log_before_transfer``, log_item() after
        receive_data(): ``sender_file_sum``).
        """
        sh = self.sh
        if sh.config.log_after_data != after:
            return
        if after and not entry.checksum:
            entry = msgspec.structs.replace(entry, checksum=self._sender_sum)
        sh.reporter.item(entry, sh.logged(entry, rel), iflags, None)

    def _echoed_item(self, entry: FileEntry, rel: bytes, iflags: int, xname: bytes | None) -> None:
        sh = self.sh
        stats = sh.stats
        if iflags & ITEM.IS_NEW:
            stats.created_files += 1
            mode = entry.mode
            if stat.S_ISDIR(mode):
                stats.created_dirs += 1
            elif stat.S_ISLNK(mode):
                stats.created_symlinks += 1
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                stats.created_devices += 1
            elif not stat.S_ISREG(mode):
                stats.created_specials += 1
        sh.reporter.item(entry, sh.logged(entry, rel), iflags, xname)

    # -- one file --------------------------------------------------------------------------

    async def _receive_file(
        self,
        ndx: int,
        entry: FileEntry,
        rel: bytes,
        iflags: int,
        *,
        basis: tuple[DestTree, bytes] | None = None,
        one_inplace: bool = False,
    ) -> None:
        """Read one file's data into a temporary file and put it in place.

        ``one_inplace``: ``basis`` is the file's partial file, to be updated in place when
        it opens (see :meth:`_update_partial`).

        rsync: receiver.c recv_files() (one iteration), receive_data(), finish_transfer().
        """
        sh = self.sh
        ws = sh.ws
        tree = sh.tree
        assert tree is not None  # noqa: S101 - not list-only
        self._ndx = ndx
        head = await ws.decode(
            decode_sum_head,
            protocol=sh.session.protocol,
            digest_size=self.digest_size,
            who="receiver",
        )
        basis_fd = -1
        basis_st: os.stat_result | None = None
        partial_rel = sh.partial_rel(rel)
        if head.count > 0 or one_inplace:  # a whole file too goes into the partial file
            btree, brel = basis if basis is not None else (tree, rel)
            try:
                basis_fd = btree.open_read(brel)
                basis_st = os.fstat(basis_fd)
            except OSError:
                basis_fd = -1
        elif not sh.opts.preserve_perms:
            # no basis data is needed, only the mode an existing file keeps without -p
            try:
                basis_st = tree.lstat(rel)
            except OSError:
                basis_st = None
            if basis_st is not None and not stat.S_ISREG(basis_st.st_mode):
                basis_st = None
        fd = -1
        tmp = b""
        if one_inplace and basis_fd >= 0 and basis is not None:
            await self._update_partial(ndx, entry, rel, iflags, head, basis_fd, basis_st, basis)
            return
        # --inplace writes the file itself (not with --backup: the old file is kept by
        # renaming it, so the new one is written beside it as without --inplace)
        if (sh.opts.inplace or sh.opts.append) and sh.backups is None:
            await self._receive_inplace(ndx, entry, rel, iflags, head, basis_fd, basis_st)
            return
        output = self.output
        if not sh.opts.partial and not output.in_temp_dir:
            # a run killed outright (SIGKILL, power loss) could not remove its temporary
            # file; the next run of the same file does (with --partial it is kept)
            for stale in tree.remove_stale_temps(rel):
                log.debug("removed stale temporary file %r", stale)
        try:
            try:
                fd, tmp = output.create_temp(rel)
            except OSError as exc:
                cut = rel.rfind(b"/")
                if isinstance(exc, UntrustedSymlinkError):  # on the way to the temp dir
                    sh.reporter.message(Msg.ERROR, (UNTRUSTED_SYMLINK + "\n").encode())
                if output.in_temp_dir:
                    shown = self._full_temp(rel, None)
                else:
                    shown = self._full_name(rel[: cut + 1] + temp_name_for(rel[cut + 1 :]))
                self._error(
                    f"rsync: [receiver] mkstemp {_show(shown)} failed: {exc.strerror} ({exc.errno})"
                )
            self._log_transfer(entry, rel, iflags, after=False)
            self._sink = None
            ok = await self._receive_data(fd, basis_fd, head, rel, entry)
            self._log_transfer(entry, rel, iflags, after=True)
            if fd < 0:
                return
            keep = ok or (sh.opts.partial and partial_rel is None)
            if ok and sh.opts.delay_updates and partial_rel is not None:
                # --delay-updates: complete, it waits in the partial dir for the end
                if self._to_partial_dir(fd, tmp, rel, partial_rel, entry, basis_st, done=True):
                    output.delay(ndx, rel, partial_rel)
                tmp = b""
            elif keep:
                self._finish(fd, tmp, rel, entry, basis_st)
                os.close(fd)
                fd = -1
                tmp = b""
                if partial_rel is not None:
                    self._drop_partial(partial_rel)
            elif partial_rel is not None and tmp:
                # --partial-dir: what arrived waits there for the next run
                self._to_partial_dir(fd, tmp, rel, partial_rel, entry, basis_st, done=False)
                tmp = b""
            if not ok:
                self._verification_failed(rel, kept=keep)
                await self._ask_redo(ndx)
                return
        except BaseException:
            # interrupted (connection lost, protocol error, cancellation): never leave a
            # half-written file under a temporary name, or under the final one unless
            # --partial asks for it.
            if fd >= 0 and partial_rel is not None and tmp:
                if self._sink is not None:
                    with contextlib.suppress(OSError, RsyncError):
                        self._sink.write_pending()
                self._to_partial_dir(fd, tmp, rel, partial_rel, entry, basis_st, done=False)
                tmp = b""
            if fd >= 0:
                if sh.opts.partial and tmp:
                    if self._sink is not None:
                        # what arrived stays a prefix of the file: write the collected tail
                        with contextlib.suppress(OSError, RsyncError):
                            self._sink.write_pending()
                    try:
                        # the file's permissions, but not its mtime: it is not up to date
                        os.fchmod(fd, self._final_mode(entry, basis_st))
                        output.rename_temp(rel, tmp)
                        tmp = b""
                    except OSError:
                        pass
                os.close(fd)
                fd = -1
            if tmp:
                output.unlink_temp(rel, tmp)
            raise
        finally:
            if basis_fd >= 0:
                os.close(basis_fd)
            if fd >= 0:
                os.close(fd)
                if tmp:
                    output.unlink_temp(rel, tmp)

    async def _receive_inplace(
        self,
        ndx: int,
        entry: FileEntry,
        rel: bytes,
        iflags: int,
        head: SumHead,
        basis_fd: int,
        basis_st: os.stat_result | None,
    ) -> None:
        """``--inplace``: the new content is written over the file itself, then truncated.

        The sender never matches a block behind the write offset, so every block read from
        the basis (the same file) is still as it was. An interrupted transfer leaves the
        file as far as it got, as rsync's does.

        rsync: receiver.c recv_files() and receive_data() (inplace), finish_transfer().
        """
        sh = self.sh
        tree = sh.tree
        assert tree is not None  # noqa: S101
        fd = self._open_in_place(tree, rel, self._full_name(rel))
        try:
            self._log_transfer(entry, rel, iflags, after=False)
            self._sink = None
            old_size = 0
            device = fd >= 0 and stat.S_IFMT(os.fstat(fd).st_mode) in (stat.S_IFBLK, stat.S_IFCHR)
            if fd >= 0 and sh.opts.sparse and not device:
                # -S: a whole file starts from nothing (no data to punch holes in)
                if head.count == 0:
                    os.ftruncate(fd, 0)
                else:
                    old_size = os.fstat(fd).st_size
            start = 0
            if sh.opts.append and ndx not in self._redone and head.count:
                # --append: the new data goes after what the file has (rsync: receiver.c
                # receive_data(), append_mode; phase 2 redoes a file whole)
                start = head.count * head.block_length
                if head.remainder:
                    start -= head.block_length - head.remainder
            ok = await self._receive_data(
                fd, basis_fd, head, rel, entry, old_size=old_size, append_from=start
            )
            self._log_transfer(entry, rel, iflags, after=True)
            if fd < 0:
                return
            if not device:  # --write-devices: a device keeps its size (rsync: receiver.c)
                self._truncate(fd, start + self._written(entry.size - start), self._full_name(rel))
            self._set_final_attrs(fd, rel, entry, basis_st)
            if not ok:
                self._verification_failed(rel, kept=True)
                await self._ask_redo(ndx)
        finally:
            if basis_fd >= 0:
                os.close(basis_fd)
            if fd >= 0:
                os.close(fd)

    async def _update_partial(
        self,
        ndx: int,
        entry: FileEntry,
        rel: bytes,
        iflags: int,
        head: SumHead,
        basis_fd: int,
        basis_st: os.stat_result | None,
        partial: tuple[DestTree, bytes],
    ) -> None:
        """The partial file that is the basis is written over in place, then renamed.

        Negotiated with CF_INPLACE_PARTIAL_DIR (``I`` in the client's ``-e`` letters): the
        sender never matches a block behind the write offset, so the partial file needs
        no copy. Complete, it takes the file's name (or waits there for the end with
        ``--delay-updates``); otherwise it stays in the partial dir, as far as it got, for
        the next run.

        rsync: receiver.c recv_files() (``one_inplace``), finish_transfer().
        """
        sh = self.sh
        ptree, prel = partial
        fd = self._open_in_place(ptree, prel, self._partial_shown(prel))
        try:
            self._log_transfer(entry, rel, iflags, after=False)
            self._sink = None
            ok = await self._receive_data(fd, basis_fd, head, rel, entry)
            self._log_transfer(entry, rel, iflags, after=True)
            if fd < 0:
                return
            self._truncate(fd, self._written(entry.size), self._partial_shown(prel))
            if not ok:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, self._final_mode(entry, basis_st) & 0o7777)
                self._verification_failed(rel, kept=True)
                await self._ask_redo(ndx)
                return
            self._set_final_attrs(fd, rel, entry, basis_st)
            if sh.opts.delay_updates:
                self.output.delay(ndx, rel, prel)
                return
            if sh.backups is not None:
                self._backup(rel, fatal=True)
            failed = self._partial_into_place(rel, prel)
            if failed is not None:
                self._error(
                    f"rsync: [receiver] rename {_show(self._partial_shown(prel))} -> "
                    f'"{_show(rel)}": {failed.strerror} ({failed.errno})'
                )
            elif sh.partial_abs is None:  # an absolute --partial-dir stays
                with contextlib.suppress(OSError):
                    ptree.remove(prel[: prel.rfind(b"/")], dir_only=True)  # when empty
        finally:
            os.close(basis_fd)
            if fd >= 0:
                os.close(fd)

    def _open_in_place(self, tree: DestTree, rel: bytes, shown: bytes) -> int:
        """Open ``rel`` itself for writing; -1 (the error told) when it does not open."""
        try:
            return tree.open_inplace(rel)
        except OSError as exc:
            self._error(
                f"rsync: [receiver] open {_show(shown)} failed: {exc.strerror} ({exc.errno})"
            )
            return -1

    def _truncate(self, fd: int, size: int, shown: bytes) -> None:
        """Cut a file written in place to its new length (an error is told, not raised)."""
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            self._error(
                f"rsync: [receiver] ftruncate {_show(shown)} failed: {exc.strerror} ({exc.errno})"
            )

    def _partial_shown(self, partial_rel: bytes) -> bytes:
        """A partial file's name as errors show it (from the working directory on)."""
        if self.sh.partial_abs is not None:
            return b'"' + self.sh.partial_abs.path + b"/" + partial_rel + b'"'
        return self._full_name(partial_rel)

    def _partial_into_place(self, rel: bytes, partial_rel: bytes) -> OSError | None:
        """Rename the partial file of ``rel`` over ``rel``; the error, if it failed."""
        sh = self.sh
        tree = sh.tree
        assert tree is not None  # noqa: S101 - not list-only
        try:
            pfd, pname = sh.reach_partial_tree().parent(partial_rel)
            pfd = os.dup(pfd)  # the next lookup may evict it from the tree's cache
            try:
                dfd, name = tree.parent(rel)
                os.rename(pname, name, src_dir_fd=pfd, dst_dir_fd=dfd)
            finally:
                os.close(pfd)
        except OSError as exc:
            return exc
        return None

    def _to_partial_dir(
        self,
        fd: int,
        tmp: bytes,
        rel: bytes,
        partial_rel: bytes,
        entry: FileEntry,
        basis_st: os.stat_result | None,
        *,
        done: bool,
    ) -> bool:
        """Move the temporary file into the partial dir (made as needed); whether it went.

        ``done``: the file is complete (``--delay-updates``) and gets all its attributes;
        otherwise it is what an unfinished transfer kept, with only its permissions.

        rsync: receiver.c recv_files() (keep_partial), util1.c handle_partial_dir(),
        rsync.c finish_transfer().
        """
        tree: DestTree | None = None
        pdir = partial_rel[: partial_rel.rfind(b"/")]
        if done:
            self._set_final_attrs(fd, rel, entry, basis_st)
        else:
            with contextlib.suppress(OSError):
                os.fchmod(fd, self._final_mode(entry, basis_st) & 0o7777)
        try:
            # an absolute --partial-dir that cannot be made or reached: ENOENT
            tree = self.sh.reach_partial_tree(create=True)
            if self.sh.partial_abs is None:
                pst = tree.lstat_or_none(pdir)
                if pst is not None and not stat.S_ISDIR(pst.st_mode):
                    tree.remove(pdir)
                    pst = None
                if pst is None:
                    tree.mkdir(pdir, 0o700)
        except OSError as exc:
            log.debug("could not make the partial dir of %r: %s", rel, exc)
            what = "completed" if done else "partial"
            text = f"Unable to create partial-dir for {_show(rel)} -- discarding {what} file."
            if tree is None:
                # an absolute --partial-dir out of reach: the file failed (exit 23), where
                # rsync's daemon refuses the partial basis it found there (exit 2)
                self._error(text)
            else:
                self.sh.reporter.message(
                    Msg.ERROR, (text + "\n").encode("utf-8", "surrogateescape")
                )
            self.output.unlink_temp(rel, tmp)
            return False
        try:
            self.output.rename_temp(rel, tmp, partial_rel, tree=tree)
        except OSError as exc:
            if done:
                self._error(
                    f"rsync: [receiver] rename {_show(self._full_temp(rel, tmp))} -> "
                    f'"{_show(partial_rel)}": {exc.strerror} ({exc.errno})'
                )
            else:
                log.debug("could not keep the partial file of %r: %s", rel, exc)
            self.output.unlink_temp(rel, tmp)
            return False
        return True

    def _finish_delayed(self) -> None:
        """``--delay-updates``: every file waiting in its partial dir takes its place.

        rsync: receiver.c handle_delayed_updates().
        """
        sh = self.sh
        tree = sh.tree
        if tree is None or sh.output is None:
            return
        for _ndx, rel, partial_rel in sh.output.take_delayed():
            if sh.backups is not None and not self._backup(rel):
                continue
            failed = self._partial_into_place(rel, partial_rel)
            if failed is not None:
                self._error(
                    f"rsync: [receiver] rename failed for {_show(self._full_name(rel))} "
                    f"(from {_show(partial_rel)}): {failed.strerror} ({failed.errno})"
                )
                continue
            if sh.partial_abs is None:  # an absolute --partial-dir stays
                with contextlib.suppress(OSError):
                    tree.remove(partial_rel[: partial_rel.rfind(b"/")], dir_only=True)  # when empty

    def _full_temp(self, rel: bytes, tmp: bytes | None) -> bytes:
        """A temporary file as rsync names it in errors, quoted (from the working directory on)."""
        shown = self.output.shown_temp(rel, tmp)
        return b'"' + shown + b'"' if shown.startswith(b"/") else self._full_name(shown)

    def _drop_partial(self, partial_rel: bytes) -> None:
        """The file is complete: its partial file goes, and the partial dir when empty."""
        tree = self.sh.partial_tree()
        if tree is None:
            return
        with contextlib.suppress(OSError):
            tree.remove(partial_rel)
            if self.sh.partial_abs is None:  # an absolute --partial-dir stays
                tree.remove(partial_rel[: partial_rel.rfind(b"/")], dir_only=True)

    def _written(self, default: int) -> int:
        """How many bytes the last file's sink wrote (``default`` if it had none)."""
        return self._sink.written if self._sink is not None else default

    async def _receive_data(
        self,
        fd: int,
        basis_fd: int,
        head: SumHead,
        rel: bytes,
        entry: FileEntry,
        *,
        old_size: int = 0,
        append_from: int = 0,
    ) -> bool:
        """The token stream and the whole-file checksum; returns whether they matched.

        New content is collected as a list of chunks (literal data as the decoder hands it
        out, matched blocks as read from the basis), hashed chunk by chunk, and written with
        one ``writev`` per megabyte: no byte is copied in Python. With ``fd == -1`` (no
        temporary file) the data is read and dropped.

        With ``-S`` the content is written by a :class:`SparseWriter` (holes for runs of
        zeros); ``old_size`` is how much data a file rewritten in place already holds
        (its holes are punched out there). With ``--append`` the data is written from
        ``append_from`` on; ``--append-verify`` hashes the bytes before it too.

        rsync: receiver.c receive_data().
        """
        sink: _Sink
        where = functools.partial(self._full_name, rel)  # only an error shows it
        sparse = None
        prealloc = self._preallocate(fd, rel, entry) if fd >= 0 and self.sh.opts.preallocate else 0
        if fd >= 0 and self.sh.opts.sparse:
            # a preallocated extent holds blocks: its runs of zeros are punched out
            sparse = SparseWriter(fd, punch_below=max(old_size, prealloc))
        # Written in this thread: a worker thread for large files (tried before) made T1
        # slower on a busy 2-core machine (1.4-1.9 s against 0.95 s for 256 MiB on tmpfs),
        # as every batch waited for the thread to be scheduled.
        sink = self._sink = _Sink(fd, self._new_hasher(), where, sparse, self._unchecked)
        if append_from:
            self._append_start(sink, fd, basis_fd, append_from)
        await self._receive_tokens(sink, basis_fd, head, rel, entry)
        self._unchecked = sink.unchecked
        if sparse is not None:
            try:
                sparse.finish()  # rsync: fileio.c sparse_end()
            except OSError as exc:
                raise write_failed(where(), exc) from exc
        if prealloc > sink.written + append_from:
            try:  # the list's size was more than came: the extra zeros go
                os.ftruncate(fd, sink.written + append_from)
            except OSError as exc:
                self._error(
                    f"rsync: [receiver] ftruncate {_show(where())} failed: "
                    f"{exc.strerror} ({exc.errno})"
                )
        theirs = await self.sh.ws.read_exact(self.digest_size)
        self._sender_sum = bytes(theirs)  # rsync: sender_file_sum (%C)
        if fd >= 0 and self.sh.opts.fsync:
            try:  # --fsync: on the disk before it takes its name
                os.fsync(fd)
            except OSError as exc:
                msg = (
                    f"rsync: [receiver] fsync failed on {_show(where())}: "
                    f"{exc.strerror} ({exc.errno})"
                )
                raise RsyncError(msg, exit_code=ExitCode.FILEIO) from exc
        if self.sh.config.progress:
            self._progress(rel, sink.written, entry.size, final=True)
        return bytes(sink.hasher.digest()) == theirs

    def _append_start(self, sink: _Sink, fd: int, basis_fd: int, start: int) -> None:
        """Position ``fd`` at ``start``; ``--append-verify`` hashes the bytes before it.

        They are read from ``basis_fd``, the same file opened for reading.
        """
        if fd < 0:
            return
        if self.sh.opts.append > 1 and basis_fd >= 0:
            offset = 0
            while offset < start:
                piece = _pread(basis_fd, min(start - offset, _READ_AT), offset)
                if not piece:
                    break
                sink.hasher.update(piece)
                offset += len(piece)
        os.lseek(fd, start, os.SEEK_SET)

    def _progress(self, rel: bytes, done: int, total: int, *, final: bool) -> None:
        """Tell the reporter how far this file is (rsync: progress.c show_progress())."""
        sh = self.sh
        st = sh.stats
        lists = sh.lists
        count = lists.total
        index = self._ndx
        if lists.inc:  # rsync: progress.c set_current_file_index() (less the lists' slots)
            sub = lists.locate(index)
            index -= sub.number + 1 if sub is not None else 0
        sh.reporter.progress(
            rel,
            done,
            total,
            final=final,
            flist_eof=lists.eof,
            to_check=count - index - 1,
            count=count,
            xferred=st.xferred_files,
            transferred_size=st.total_transferred_size,
            total_size=st.total_size,
        )

    async def _receive_tokens(
        self, sink: _Sink, basis_fd: int, head: SumHead, rel: bytes, entry: FileEntry
    ) -> None:
        """Decode one file's tokens into ``sink``; counts literal and matched bytes.

        rsync: receiver.c receive_data() (the token loop).
        """
        sh = self.sh
        ws = sh.ws
        stats = sh.stats
        tokens = self.tokens
        count = head.count
        blen = head.block_length
        remainder = head.remainder
        last_block = count - 1
        tokens.begin_file(block_count=count)
        see_blocks = tokens.compression == "zlib"
        decode = tokens.decode
        total = entry.size
        progress = sh.config.progress
        # rsync shows a line at a file's first data: its receiver before counting it, its
        # sender (the side showing progress in a local copy) after sending the first chunk
        # (rsync: receiver.c receive_data(), match.c matched())
        starting = progress
        before = not sh.config.sender_progress
        last_progress = 0.0
        literal = 0
        matched = 0
        run_offset = run_length = 0  # matched basis bytes not read yet
        add = sink.add
        try:
            while True:
                event: TokenEvent = await ws.decode(decode)
                kind = type(event)
                if starting and before:
                    starting = False
                    if kind is Literal or kind is BlockRef:
                        last_progress = time.monotonic()
                        self._progress(rel, 0, total, final=False)
                if kind is Literal:
                    if run_length:  # the blocks before it first, in order
                        await self._read_basis(sink, basis_fd, run_offset, run_length)
                        run_length = 0
                    data = event.data  # type: ignore[union-attr]
                    literal += len(data)
                    add(data)
                elif kind is BlockRef:
                    first = event.index  # type: ignore[union-attr]
                    last = first + event.count - 1  # type: ignore[union-attr]
                    offset = first * blen
                    length = (last - first + 1) * blen
                    if last == last_block and remainder:
                        length -= blen - remainder
                    matched += length
                    if see_blocks:
                        for k in range(first, last + 1):
                            size = remainder if (k == last_block and remainder) else blen
                            block = _pread(basis_fd, size, k * blen)
                            tokens.see_block(block)
                            add(block)
                            if len(sink.chunks) >= _MAX_CHUNKS or sink.size >= _WRITE_AT:
                                await sink.flush()
                    elif run_length and offset == run_offset + run_length:
                        # rsync sends one token per block: consecutive ones become one read
                        run_length += length
                    else:
                        if run_length:
                            await self._read_basis(sink, basis_fd, run_offset, run_length)
                        run_offset, run_length = offset, length
                else:
                    if run_length:
                        await self._read_basis(sink, basis_fd, run_offset, run_length)
                        run_length = 0
                    break
                if starting:
                    starting = False
                    last_progress = time.monotonic()
                    self._progress(rel, literal + matched, total, final=False)
                if sink.size >= _WRITE_AT or len(sink.chunks) >= _MAX_CHUNKS:
                    await sink.flush()
                    if progress:
                        now = time.monotonic()
                        if now - last_progress >= 0.5:
                            last_progress = now
                            self._progress(rel, sink.written, total, final=False)
            await sink.flush()
        finally:
            stats.literal_data += literal
            stats.matched_data += matched

    @staticmethod
    async def _read_basis(sink: _Sink, basis_fd: int, offset: int, length: int) -> None:
        """Add ``length`` basis bytes from ``offset`` to ``sink``, in pieces of ``_READ_AT``."""
        while length > 0:
            piece = _pread(basis_fd, min(length, _READ_AT), offset)
            if not piece:
                break  # the basis is shorter than the sender thinks: a mismatch
            sink.add(piece)
            offset += len(piece)
            length -= len(piece)
            if sink.size >= _WRITE_AT:
                await sink.flush()

    def _preallocate(self, fd: int, rel: bytes, entry: FileEntry) -> int:
        """``--preallocate``: reserve the file's listed size; how much was reserved.

        The blocks are reserved beyond the file's end (``FALLOC_FL_KEEP_SIZE``), or with
        ``-S`` as the file's length, so that the sparse writer can punch the runs of
        zeros out of them. A file rewritten in place that is already long enough gets
        none. A failure is a warning, as rsync's.

        rsync: receiver.c receive_data(), syscall.c do_fallocate().
        """
        size = entry.size
        if size <= 0 or self.sh.opts.dry_run:
            return 0
        try:
            if self.sh.opts.inplace and os.fstat(fd).st_size >= size:
                return 0
        except OSError:
            return 0
        mode = 0 if self.sh.opts.sparse else FALLOC_FL_KEEP_SIZE
        if fallocate(fd, mode, 0, size) == 0:
            return size
        err = ctypes.get_errno()
        self.sh.reporter.message(
            Msg.WARNING,
            f"rsync: [receiver] do_fallocate {_show(self._full_name(rel))} failed: "
            f"{os.strerror(err)} ({err})\n".encode("utf-8", "surrogateescape"),
        )
        return 0

    def _full_name(self, rel: bytes) -> bytes:
        return self.sh.shown(rel)

    def _final_mode(self, entry: FileEntry, basis_st: os.stat_result | None) -> int:
        opts = self.sh.opts
        if opts.preserve_perms:
            return entry.mode & CHMOD_BITS
        return (
            dest_mode(
                entry.mode,
                basis_st.st_mode if basis_st is not None else None,
                self.sh.dflt_perms_for(entry.name),
                preserve_executability=opts.preserve_executability,
            )
            & CHMOD_BITS
        )

    def _set_final_attrs(
        self,
        fd: int,
        rel: bytes,
        entry: FileEntry,
        basis_st: os.stat_result | None,
        *,
        tmp: bytes | None = None,
    ) -> None:
        """Owner, mode and mtime on the open file (rsync: rsync.c set_file_attrs())."""
        sh = self.sh
        opts = sh.opts
        xa = sh.xattrs
        if xa is not None and sh.tree is not None:
            # long values not sent are the old file's (rsync: fnamecmp, the file itself
            # when the data came whole)
            old_st = basis_st if basis_st is not None else sh.tree.lstat_or_none(rel)
            basis = (sh.tree, rel, old_st.st_mode) if old_st is not None else None
            for text in xa.set_on_fd(fd, rel, entry, basis):
                self._error(f"rsync: [receiver] {text}")
        if sh.fake_super:  # owner, group and mode go in the %stat xattr (rsync: am_root < 0)
            st = os.fstat(fd)
            uid = sh.ids.uid(entry.uid) if opts.preserve_uid else st.st_uid
            gid, skip = sh.ids.gid(entry.gid) if opts.preserve_gid else (st.st_gid, True)
            if opts.preserve_gid and skip:
                gid = st.st_gid
            mode = stat.S_IFREG | self._final_mode(entry, basis_st)
            failed = set_stat_xattr(fd, mode, (0, 0), uid, gid)
            if failed is not None:
                self._error(f"rsync: [receiver] {failed}")
        try:
            if sh.fake_super:
                pass
            elif (sh.am_root and opts.preserve_uid) or opts.preserve_gid:
                uid = sh.ids.uid(entry.uid) if sh.am_root and opts.preserve_uid else -1
                gid = -1
                if opts.preserve_gid:
                    gid, skip = sh.ids.gid(entry.gid)
                    if skip:
                        gid = -1
                if uid != -1 or gid != -1:
                    os.fchown(fd, uid, gid)
            acls = sh.acls  # rsync: rsync.c set_file_attrs(), set_acl_fdat() on the held fd
            if acls is not None and sh.tree is not None:
                cur = os.fstat(fd).st_mode
                new_mode = stat.S_IFREG | self._final_mode(entry, basis_st)
                shown = self.output.shown_temp(rel, tmp) if tmp is not None else rel
                for text in acls.set_on(sh.tree, rel, entry, cur, new_mode, fd=fd, shown=shown)[2]:
                    self._error(f"rsync: [receiver] {text}")
            if not sh.fake_super:
                os.fchmod(fd, self._final_mode(entry, basis_st))
            atime = entry.atime if opts.preserve_atimes else None  # -U (non-directories)
            if opts.preserve_times or atime is not None:
                ns = (
                    entry.mtime * 1_000_000_000 + entry.mtime_nsec
                    if opts.preserve_times
                    else os.fstat(fd).st_mtime_ns
                )
                os.utime(fd, ns=(time.time_ns() if atime is None else atime * 1_000_000_000, ns))
        except OSError as exc:
            self._error(
                f'rsync: [receiver] failed to set attributes on "{_show(rel)}": '
                f"{exc.strerror} ({exc.errno})"
            )

    def _finish(
        self, fd: int, tmp: bytes, rel: bytes, entry: FileEntry, basis_st: os.stat_result | None
    ) -> None:
        """Attributes on the temporary file, then the rename over the final name.

        rsync: receiver.c finish_transfer(), rsync.c set_file_attrs().
        """
        sh = self.sh
        self._set_final_attrs(fd, rel, entry, basis_st, tmp=tmp)
        output = self.output
        if sh.backups is not None:
            try:
                self._backup(rel, fatal=True)
            except RsyncError:
                output.unlink_temp(rel, tmp)  # the new file is not put in place
                raise
        try:
            output.rename_temp(rel, tmp)
        except OSError as exc:
            self._error(
                f"rsync: [receiver] rename {_show(self._full_temp(rel, tmp))} -> "
                f'"{_show(rel)}": {exc.strerror} ({exc.errno})'
            )
            output.unlink_temp(rel, tmp)

    def _backup(self, rel: bytes, *, fatal: bool = False) -> bool:
        """``--backup``: keep the file about to be replaced; whether that worked.

        ``fatal``: a failure ends the transfer (exit 11), as it does when a received file
        is about to take the place of the one to keep (rsync: rsync.c finish_transfer());
        otherwise the file is left as it was and the transfer goes on.

        rsync: backup.c make_backup().

        Raises:
            RsyncError: ``fatal``, and the backup failed.
        """
        sh = self.sh
        assert sh.backups is not None  # noqa: S101 - only with --backup
        try:
            bname = sh.backups.keep(rel)
        except OSError as exc:
            text = f"rsync: [receiver] {sh.backups.failure(rel, self._full_name(rel), exc)}"
            if fatal:
                raise RsyncError(text, exit_code=ExitCode.FILEIO) from exc
            self._error(text)
            return False
        if bname is not None:  # rsync: backup.c make_backup_inner()
            lines = []
            if sh.config.levels.debug_gte("BACKUP"):
                lines.append(f"make_backup: {sh.backups.how} {_show(rel)} successful.\n")
            if sh.config.levels.info_gte("BACKUP"):
                lines.append(f"backed up {_show(rel)} to {_show(sh.backups.shown(bname))}\n")
            for line in lines:
                sh.reporter.message(Msg.INFO, line.encode("utf-8", "surrogateescape"))
        return True

    def _verification_failed(self, rel: bytes, *, kept: bool) -> None:
        sh = self.sh
        what = "retained" if kept else "discarded"
        if self.phases.phase == 0:
            if sh.config.verbose or sh.config.itemize:
                sh.reporter.message(
                    Msg.WARNING,
                    f"WARNING: {_show(rel)} failed verification -- update {what} "
                    f"(will try again).\n".encode("utf-8", "surrogateescape"),
                )
        else:
            self._error(f"ERROR: {_show(rel)} failed verification -- update {what}.")

    def _error(self, text: str) -> None:
        self.sh.stats.transfer_errors += 1
        self.sh.reporter.message(Msg.ERROR_XFER, (text + "\n").encode("utf-8", "surrogateescape"))

    # -- the end ---------------------------------------------------------------------------

    async def _read_stats(self) -> None:
        """The server sender's statistics (the first two swapped: its read is our sent).

        rsync: main.c handle_stats().
        """
        if not self.server_sender:
            return
        sh = self.sh
        ws = sh.ws
        if sh.session.uses_varint:
            values = [await ws.read_varlong(3) for _ in range(5 if sh.session.flist_times else 3)]
        else:
            values = [await ws.read_longint() for _ in range(5 if sh.session.flist_times else 3)]
        stats = sh.stats
        stats.total_written = values[0]
        stats.total_read = values[1]
        stats.total_size = values[2]
        if len(values) == 5:
            stats.flist_buildtime_ms = values[3]
            stats.flist_xfertime_ms = values[4]
        stats.got_stats = True

    async def _read_final(self) -> None:
        """Protocol 31+: deletion statistics (forwarded) and the echo of the last DONE.

        rsync: main.c read_final_goodbye().
        """
        ws = self.sh.ws
        while True:
            ndx = await ws.read_ndx(self.ndx_in)
            if ndx == Ndx.DEL_STATS:
                for _ in range(5):
                    await ws.read_varint()
                continue
            if ndx != Ndx.DONE:
                msg = f"Invalid packet at end of run ({ndx})"
                raise RemoteProtocolError(msg)
            return


def _writev_all(fd: int, chunks: list[bytes]) -> None:
    """Write ``chunks`` in order, whatever ``writev`` takes at a time."""
    while len(chunks) > _MAX_CHUNKS:  # IOV_MAX: never more per call
        _writev_all(fd, chunks[:_MAX_CHUNKS])
        chunks = chunks[_MAX_CHUNKS:]
    while chunks:
        done = os.writev(fd, chunks)
        while chunks and done >= len(chunks[0]):
            done -= len(chunks[0])
            chunks = chunks[1:] if len(chunks) > 1 else []
        if done:
            chunks[0] = chunks[0][done:]


def write_failed(where: bytes, exc: OSError) -> RsyncError:
    """Rsync's fatal error for a failed write into a destination file (exit 11).

    A full disk, a quota or an I/O error ends the transfer: every later file would fail
    the same way. The temporary file is removed by the caller (kept with ``--partial``).

    rsync: receiver.c receive_data() (``write failed on``), fileio.c write_file().
    """
    msg = f"rsync: [receiver] write failed on {_show(where)}: {exc.strerror or exc} ({exc.errno})"
    err = RsyncError(msg, exit_code=ExitCode.FILEIO)
    err.__cause__ = exc
    return err


def _write_chunks(
    fd: int, chunks: list[bytes], where: Callable[[], bytes], sparse: SparseWriter | None = None
) -> None:
    try:
        if sparse is not None:
            sparse.write(chunks)
        else:
            _writev_all(fd, chunks)
    except OSError as exc:
        raise write_failed(where(), exc) from exc


class _Sink:
    """Where a file's new bytes go: hashed as they come, written with ``writev``.

    ``where`` gives the name a write error shows (made only then).
    """

    def __init__(
        self,
        fd: int,
        hasher: _Hasher,
        where: Callable[[], bytes] = bytes,
        sparse: SparseWriter | None = None,
        unchecked: int = 0,
    ) -> None:
        self.fd = fd
        self.where = where
        self.sparse = sparse  # -S: written with holes (rsync_wire.roles.output)
        self.hasher = hasher
        self.chunks: list[bytes] = []
        self.size = 0  # bytes in ``chunks``
        self.written = 0
        self.unchecked = unchecked  # bytes written since the last checkpoint

    def add(self, data: bytes) -> None:
        """Append new file content (hashed now, written at the next flush)."""
        self.hasher.update(data)
        self.chunks.append(data)
        self.size += len(data)

    async def flush(self) -> None:
        """Write what was added; after each megabyte written, a point of interruption.

        A file rebuilt from its basis may need no read of the connection for many
        megabytes (the tokens all came in one read): without a checkpoint here a SIGTERM
        or SIGINT would wait for the file's end, and the new file would take its name.
        Only then (the count goes on from file to file, ``unchecked``): the connection's
        reads are checkpoints already, and one per file (at its last flush) was a fifth
        of a pull's CPU on many 1 KiB files, as each let the generator run for one event.
        """
        if self.chunks:
            if self.fd >= 0:
                _write_chunks(self.fd, self.chunks, self.where, self.sparse)
            self.written += self.size
            self.unchecked += self.size
            self.chunks = []
            self.size = 0
        if self.unchecked >= _WRITE_AT:
            self.unchecked = 0
            await anyio.lowlevel.checkpoint()

    def write_pending(self) -> None:
        """Write what was added but not flushed (an interrupted file kept with --partial)."""
        if self.chunks and self.fd >= 0:
            _write_chunks(self.fd, self.chunks, self.where, self.sparse)
        self.chunks = []
        self.size = 0


def _pread(fd: int, size: int, offset: int) -> bytes:
    """``size`` basis bytes at ``offset``; fewer only at the end of a shorter basis."""
    if fd < 0 or size <= 0:
        return b""
    data = os.pread(fd, size, offset)
    while 0 < len(data) < size:
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            break
        data += more
    return data


def _show(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


_ = anyio
