"""The receiving side: file list in, then generator and receiver as two concurrent tasks.

How this works: :class:`ReceiverSide` reads the file list (entries, id lists,
I/O-error word), sorts it as the sender does, clears duplicates, and applies the
receiver's checks (names the client's own rules exclude, names it never asked
for). It then starts :class:`~rsync_wire.roles.generator.GeneratorRole` (which
writes requests: an index, iflags and block sums for each file to fetch) and
:class:`~rsync_wire.roles.receiver.ReceiverRole` (which reads the sender's
replies and writes files) in one task group, as rsync runs them as two
processes. They share one connection: the generator only writes, the receiver
only reads. The receiver tells the generator what it learnt (redo requests, the
sender's end-of-phase markers) through a memory object stream of
:data:`ReceiverEvent` records (docs/protocol.md §10.11).

Output for the user (``-v`` lines, itemized changes, deletions, messages) is not
written here: every such event goes to a :class:`Reporter` the caller provides. What
the three share (settings, statistics, events, the reporting port) is in
:mod:`rsync_wire.roles.receive_state`, below them all (and re-exported here).

rsync: main.c do_recv(), client_run(); flist.c recv_file_list().
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import operator
import os
import stat
import time
from typing import TYPE_CHECKING, cast

import anyio
import msgspec
from anyio.abc import ByteReceiveStream

from rsync_wire.errors import (
    ExitCode,
    LocalProtocolError,
    RemoteError,
    RemoteProtocolError,
    RsyncError,
    UnsupportedError,
)
from rsync_wire.fs import UNTRUSTED_SYMLINK, UntrustedSymlinkError, split_path
from rsync_wire.proto import codec
from rsync_wire.proto.charset import Charset, ConvertError
from rsync_wire.proto.constants import Msg, Ndx
from rsync_wire.proto.flist import EndOfList, FileEntry, FileListDecoder, flist_csum_len
from rsync_wire.proto.flist_sort import dedupe, invert_order, sort_order
from rsync_wire.proto.negotiate import sender_symlink_iconv
from rsync_wire.proto.wildmatch import WildPattern, compile_wildmatch
from rsync_wire.roles import idnames
from rsync_wire.roles.altdest import BasisDirs
from rsync_wire.roles.backup import Backups
from rsync_wire.roles.chmod import ChmodError, option_rules, tweak_mode
from rsync_wire.roles.confine_root import ConfinedDestination, is_pinned, open_pinned_dir
from rsync_wire.roles.daemon_rules import module_path
from rsync_wire.roles.destination import Destination, LocalDestination, ModuleDestination
from rsync_wire.roles.flists import FREED, FileLists
from rsync_wire.roles.generator import GeneratorRole
from rsync_wire.roles.hlink_debug import received_lines
from rsync_wire.roles.output import open_temp_dir
from rsync_wire.roles.receive_state import (
    Finished,
    IdMapper,
    Milestone,
    NullReporter,
    ReceiveConfig,
    ReceiverEvent,
    ReceiverGone,
    ReceiveStats,
    Redo,
    Reporter,
    Shared,
    full_name,
)
from rsync_wire.roles.receiver import ReceiverRole
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from anyio.streams.memory import MemoryObjectSendStream

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.filters import FilterList
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.daemon_rules import DaemonRules

__all__ = [
    "Finished",
    "IdMapper",
    "ImpliedRules",
    "Milestone",
    "NullReporter",
    "ReceiveConfig",
    "ReceiveStats",
    "ReceiverEvent",
    "ReceiverGone",
    "ReceiverSide",
    "Redo",
    "Reporter",
    "Shared",
    "full_name",
]

log = logging.getLogger("rsync_wire.receiving")

_MAX_ENTRIES = 50_000_000  # far beyond any real list; a hostile count ends here
_ENTRY_COST = 512  # bytes one entry costs the receiving side, all its tables included
_NAME = operator.attrgetter("name")
_MODE = operator.attrgetter("mode")
_SIZE = operator.attrgetter("size")
_ROOT_NAMES = frozenset((b".", b"/."))


def _names_are_rels(names: list[bytes]) -> bool:
    """Whether every name is its own destination path (:func:`_rel` changes none of them).

    One search of the joined names instead of a call per name: names hold no NUL (the
    decoder refuses one), so a NUL stands for each name's start and end.
    """
    joined = b"\0" + b"\0".join(names) + b"\0"
    return b"\0/" not in joined and b"\0.\0" not in joined and b"/.\0" not in joined


Buf = bytes | bytearray | memoryview


def _dirname(rel: bytes) -> bytes:
    cut = rel.rfind(b"/")
    return b"" if cut < 0 else rel[:cut]


class _ListedNames:
    """A reporter that names items as the file list does, not by the destination's name.

    rsync's item and ``-v`` lines show ``f_name(file)``: a single file written under
    another name is still shown by its own (rsync: log.c log_item()).
    """

    def __init__(self, inner: Reporter) -> None:
        self._inner = inner

    def __getattr__(self, attr: str) -> object:
        return getattr(self._inner, attr)

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        del name
        self._inner.item(entry, _rel(entry.name) or b".", iflags, xname)


def _prune_empty_dirs(
    ordered: list[FileEntry], cleared: list[bool], filters: FilterList | None
) -> None:
    """``-m``: leave out the directories that hold no file, however deep.

    A directory stays when something other than a directory lies below it, or when it
    (or one below it) matches the receiver's rules as excluded (a protect rule keeps it);
    the top ``.`` always stays.

    rsync: flist.c flist_sort_and_clean() (prune_empty_dirs && !am_sender).
    """
    keep: set[bytes] = set()
    for i, e in enumerate(ordered):
        if cleared[i]:
            continue
        rel = _rel(e.name)
        if e.is_dir:
            if not (
                filters is not None and filters.excluded(e.name, is_dir=True, for_sender=False)
            ):
                continue
            keep.add(rel)
        while b"/" in rel:
            rel = rel[: rel.rfind(b"/")]
            if rel in keep:
                break
            keep.add(rel)
    for i, e in enumerate(ordered):
        if e.is_dir and not cleared[i]:
            rel = _rel(e.name)
            if rel and rel not in keep:
                cleared[i] = True


def _rel(name: bytes) -> bytes:
    """The destination-relative path of a file-list name (``.`` is the root, ``b""``)."""
    if name[:1] == b"/":  # -R with an absolute path (rsync: flist_sort_and_clean(strip_root))
        name = name.lstrip(b"/") or b"."
    if name == b".":
        return b""
    if name.endswith(b"/."):
        return name[:-2]
    return name


# -- the names the client asked for -----------------------------------------------------------


def _implied_pattern(arg: bytes, *, relative: bool) -> tuple[bytes, bool, int]:
    """The anchored pattern one requested path gives: ``(pattern, wild, backslashes)``.

    The pattern has no leading ``/`` (names are matched whole, from the transfer's top);
    ``.`` components, doubled and trailing slashes are dropped as rsync drops them.

    rsync: exclude.c add_implied_include() (the first half).
    """
    if relative:
        cut = arg.find(b"/./")
        if cut >= 0:
            arg = arg[cut + 3 :]
    else:
        arg = arg[arg.rfind(b"/") + 1 :]
    if arg == b".":
        arg = b""
    wild = any(c in arg for c in b"*[?")
    out = bytearray(b"/")
    backslashes = 0
    i, n = 0, len(arg)
    while i < n:
        c = arg[i]
        nxt = arg[i + 1] if i + 1 < n else -1
        if c == 0x5C:  # "\"
            if nxt == 0x5D:  # "]"
                if not wild:
                    i += 1
            elif nxt < 0 or nxt not in b"*[?":
                backslashes += 1
                if wild:
                    out.append(0x5C)
            out.append(arg[i])
            i += 1
        elif c == 0x2F:  # "/"
            if out[-1] == 0x2F:
                i += 1
                if i == n:
                    out.pop()
            elif nxt < 0:
                i += 1
            else:
                out.append(c)
                i += 1
        elif c == 0x2E and out[-1] == 0x2F:  # "." after a slash
            if nxt == 0x2F:
                i += 2
                if i >= n:
                    out.pop()
            elif nxt < 0:
                i += 1
                out.pop()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out[1:]), wild, backslashes


def _with_chmod(
    opts: TransferOptions, config: ReceiveConfig, adjust: Callable[[FileEntry], FileEntry] | None
) -> Callable[[FileEntry], FileEntry] | None:
    """``adjust`` after ``--chmod``: a receiver tweaks the modes it reads, but symlinks'.

    Raises:
        RsyncError: a rule rsync rejects (exit code 1).

    rsync: flist.c recv_file_entry() (chmod_modes).
    """
    if not opts.chmod:
        return adjust
    try:
        rules = option_rules(opts.chmod, umask=config.umask)
    except ChmodError as exc:
        raise RsyncError(str(exc), exit_code=ExitCode.SYNTAX) from None

    def chmod(entry: FileEntry) -> FileEntry:
        mode = entry.mode
        if mode and not stat.S_ISLNK(mode):
            new = tweak_mode(mode, rules)
            if new != mode:
                entry = msgspec.structs.replace(entry, mode=new)
        return entry if adjust is None else adjust(entry)

    return chmod


class ImpliedRules:
    """The receiver's rules for names it asked for, and for the directories above them.

    Each requested path allows its own name (a *leaf* rule), with ``-R`` each parent
    directory of it (a *parent* rule: only as a directory, never as the contents of one),
    and with ``-r``/``-d`` everything below it (``name/**`` or ``name/*``). A requested
    path whose last element is empty (``dir/``, ``.``) asks for the contents of the
    transfer's top directory.

    Args:
        requested: the source paths as the client sent them (a daemon's module removed).
        relative: ``-R``.
        recurse: ``-r``.
        dirs: ``-d`` (or a listing).

    rsync: exclude.c add_implied_include(), is_implied_parent_dir().
    """

    def __init__(
        self, requested: list[bytes], *, relative: bool, recurse: bool, dirs: bool
    ) -> None:
        self.leaves: list[WildPattern] = []
        self.parents: list[WildPattern] = []
        self.below: list[WildPattern] = []
        self.root_content = False
        for arg in requested:
            pat, wild, backslashes = _implied_pattern(arg, relative=relative)
            literal = pat if wild else _escape_wild(pat)
            if pat:
                self.leaves.append(compile_wildmatch(literal))
                if wild and b"[" in pat:
                    # a "[" may be part of the name (rsync: maybe_add_literal_brackets_rule())
                    self.leaves.append(compile_wildmatch(_escape_wild(pat)))
                if relative:
                    cut = pat.rfind(b"/")
                    while cut > 0:
                        parent = pat[:cut]
                        self.parents.append(
                            compile_wildmatch(parent if wild else _escape_wild(parent))
                        )
                        cut = parent.rfind(b"/")
            if recurse or dirs:
                star = b"**" if recurse else b"*"
                if not pat:
                    self.root_content = True
                    self.below.append(compile_wildmatch(star))
                else:
                    base = literal if (wild or backslashes) else pat
                    self.below.append(compile_wildmatch(base + b"/" + star))

    @property
    def empty(self) -> bool:
        """No rule at all: rsync's list is empty and it checks no name against it."""
        return not (self.leaves or self.parents or self.below)

    @property
    def everything(self) -> bool:
        """Every name is allowed (the contents of the top directory, recursively)."""
        return any(p.pattern == b"**" for p in self.below)

    def allows(self, name: bytes, *, is_dir: bool) -> bool:
        """Whether a file-list name is one the client asked for (or a parent of one).

        A name's one leading ``/`` is not matched (``-R`` with an absolute source path
        lists ``/tmp``): rsync: exclude.c rule_matches().
        """
        name = name[1:] if name[:1] == b"/" else name
        if any(p.match(name) for p in self.leaves) or any(p.match(name) for p in self.below):
            return True
        return is_dir and any(p.match(name) for p in self.parents)

    def is_parent_only(self, name: bytes) -> bool:
        """The directory ``name`` is in the list only as a parent of a requested name.

        Its contents are not part of the transfer: it must never be a deletion scope,
        whatever the sender's flags say. The transfer's top ``.`` is parent-only unless
        the contents of the top directory were asked for.

        rsync: exclude.c is_implied_parent_dir().
        """
        if name in (b".", b"/."):
            return not self.root_content
        name = name[1:] if name[:1] == b"/" else name
        if any(p.match(name) for p in self.leaves) or any(p.match(name) for p in self.below):
            return False
        return any(p.match(name) for p in self.parents)


# -- the orchestrator ------------------------------------------------------------------------------


class ReceiverSide:
    """The receiving side of a session whose filter list has been sent.

    Args:
        ws: the connection (multiplexed as the protocol requires).
        session: what was negotiated.
        opts: the transfer options (as sent to the peer, ``sender`` set: the peer sends).
        config: client-side settings.
        dest: the destination path as the user gave it (``None`` for ``--list-only``); it
            is opened (or created) once the file list is known, as rsync decides.
        reporter: receives the user-visible events.
        server_sender: the peer is a server sender, which sends statistics at the end.
        destination: how ``dest`` is resolved (a client's path, or a daemon module's).
        daemon_rules: a daemon module's rules: a name they hide is neither written nor
            deleted (rsync's daemon_filter_list on a receiving daemon).
        adjust: applied to each entry as it is read (a receiving daemon's ``incoming
            chmod`` and symlink-target sanitizing).
    """

    def __init__(
        self,
        ws: WireStream,
        session: Session,
        opts: TransferOptions,
        config: ReceiveConfig,
        dest: bytes | None,
        reporter: Reporter | None = None,
        *,
        server_sender: bool = True,
        destination: Destination | None = None,
        daemon_rules: DaemonRules | None = None,
        adjust: Callable[[FileEntry], FileEntry] | None = None,
    ) -> None:
        self.stats = ReceiveStats()
        if config.batch_only and not opts.dry_run:
            # --only-write-batch: nothing changes here (rsync: main.c, write_batch < 0)
            opts = msgspec.structs.replace(opts, dry_run=True)
        self.shared = Shared(
            ws, session, opts, config, None, reporter or NullReporter(), self.stats
        )
        self.dest = dest
        self.server_sender = server_sender
        self.destination: Destination = destination or LocalDestination()
        self.shared.daemon_rules = daemon_rules
        if isinstance(self.destination, ModuleDestination):
            self.shared.module_shown = self.destination.shown
        elif isinstance(self.destination, ConfinedDestination):
            self.shared.path_base = self.destination.root_path
        self.adjust = _with_chmod(opts, config, adjust)
        # --iconv: whether symlink targets travel in UTF-8 too (rsync: sender_symlink_iconv)
        self._iconv_links = config.charset is not None and sender_symlink_iconv(
            session.compat_flags,
            server=False,
            capabilities=opts.capabilities or "",
        )
        self.shared.read_sub_list = self.read_sub_list
        self._events: MemoryObjectSendStream[ReceiverEvent] | None = None
        self._decoder: FileListDecoder | None = None
        self._hlink_devs: set[int] = set()  # --debug=HLINK3 before protocol 30
        self._implied: ImpliedRules | None = None
        self._refused_names: set[bytes] = set()

    # -- messages --------------------------------------------------------------------------

    def on_message(self, code: int, payload: bytes) -> None:
        """Handle an out-of-band message from the sender (installed as ``ws.on_message``)."""
        sh = self.shared
        if code in (Msg.INFO, Msg.ERROR, Msg.WARNING, Msg.ERROR_XFER):
            if code == Msg.ERROR_XFER:
                self.stats.transfer_errors += 1
            if sh.config.charset is not None and not sh.config.role_prefix:
                # --iconv: a remote sender's text is UTF-8 (rsync: log.c rwrite(), is_utf8)
                payload = sh.config.charset.from_wire_lenient(payload)
            sh.reporter.message(code, payload)
        elif code == Msg.IO_ERROR:
            bits = int.from_bytes(payload[:4], "little") & 7 if len(payload) >= 4 else 0
            if not sh.opts.ignore_errors:
                sh.io_error |= bits
                self.stats.io_error |= bits
        elif code == Msg.ERROR_EXIT:
            status = int.from_bytes(payload[:4], "little", signed=True) if len(payload) >= 4 else 0
            exit_code = (
                ExitCode(status) if status in ExitCode._value2member_map_ else ExitCode.PARTIAL
            )
            err = RemoteError("the sender ended the session with an error", exit_code=exit_code)
            err.remote_exit = True  # type: ignore[attr-defined]
            raise err
        elif code == Msg.IO_TIMEOUT:
            if len(payload) >= 4:
                secs = int.from_bytes(payload[:4], "little", signed=True)
                if 0 < secs <= 86400 and (sh.ws.timeout == float("inf") or secs < sh.ws.timeout):
                    sh.ws.timeout = float(secs)
        elif code == Msg.NO_SEND:
            # the file will not come (the sender also flags an I/O error); with incremental
            # recursion its list no longer waits for it (rsync: io.c, MSG_NO_SEND)
            events = self._events
            if sh.lists.inc and events is not None and len(payload) >= 4:
                ndx = int.from_bytes(payload[:4], "little", signed=True)
                if sh.config.charset is not None and ndx >= 0:
                    ndx = sh.lists.from_wire(ndx)
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    events.send_nowait(Finished(ndx, ok=False))
        # MSG_NOOP, MSG_SUCCESS, MSG_DELETED: nothing to do for a receiving client

    # -- the file list ---------------------------------------------------------------------

    async def read_file_list(self) -> None:
        """Read, sort and check the (first) file list, the id lists and the I/O-error word.

        With incremental recursion only the first list comes now (the others come in the
        transfer stream, see :meth:`read_sub_list`); when it holds one entry, the next
        list (or the end-of-lists marker) is read too, as rsync does before it decides what
        the destination is.

        rsync: flist.c recv_file_list(), flist_sort_and_clean(), recv_additional_file_list();
        uidlist.c recv_id_list(); main.c do_recv().
        """
        sh = self.shared
        ws = sh.ws
        opts = sh.opts
        session = sh.session
        inc = session.inc_recurse
        sh.lists = FileLists(inc=inc)
        sh.reporter.file_list_started(incremental=inc)
        start_read = ws.bytes_read
        csum_len = None
        if opts.always_checksum:
            csum_len = flist_csum_len(sh.rule.name)
        decoder = FileListDecoder(session, opts, csum_len=csum_len)
        self._decoder = decoder
        entries = await self._read_entries(count_progress=True)
        await self._refuse_names(decoder.uid_names, decoder.gid_names)
        if inc:
            sh.ids = IdMapper(
                decoder.uid_names,
                decoder.gid_names,
                numeric=opts.numeric_ids,
                am_root=sh.am_root,
                maps=sh.id_maps,
            )
        else:
            ids = await ws.decode(decoder.decode_id_lists)
            await self._refuse_names(ids.uid_names, ids.gid_names)
            io_error = await ws.decode(decoder.decode_io_error)
            if not opts.ignore_errors:
                sh.io_error |= io_error
            sh.ids = IdMapper(
                dict(ids.uid_names) | decoder.uid_names,
                dict(ids.gid_names) | decoder.gid_names,
                numeric=opts.numeric_ids,
                am_root=sh.am_root,
                maps=sh.id_maps,
            )
        self.stats.io_error |= sh.io_error
        self.stats.flist_size += ws.bytes_read - start_read
        self._register(entries, -1)
        if inc and len(entries) == 1:
            ndx = await ws.read_ndx(sh.ndx_in)
            if ndx == Ndx.FLIST_EOF:
                sh.lists.eof = True
            elif ndx <= Ndx.FLIST_OFFSET:
                await self.read_sub_list(Ndx.FLIST_OFFSET - ndx)
            else:
                msg = f"invalid file index {ndx} after a one-entry file list"
                raise RemoteProtocolError(msg)
        sh.reporter.file_list_done(self.stats.num_files)
        log.debug("file list: %d entries received", self.stats.num_files)

    async def read_sub_list(self, number: int) -> None:
        """Read the list of directory ``number`` (incremental recursion) and register it.

        rsync: flist.c recv_file_list() (the dir_ndx checks).
        """
        sh = self.shared
        lists = sh.lists
        if not lists.inc or lists.eof:
            msg = "unexpected file list from the sender"
            raise RemoteProtocolError(msg)
        if lists.lists and not lists.live:
            msg = "refusing sub-flist after final flist was freed"  # rsync 3.5's words
            raise RemoteProtocolError(msg)
        if not 0 <= number < len(lists.dir_ndx):
            msg = f"invalid directory index {number} for a file list from the sender"
            raise RemoteProtocolError(msg)
        if lists.dir_got_list[number]:
            msg = f"refusing a second file list for directory {number}"
            raise RemoteProtocolError(msg)
        if sh.cleared[lists.dir_ndx[number]] and sh.entries[lists.dir_ndx[number]] is not FREED:
            msg = f"refusing flist for cleared dir_ndx {number}"  # rsync 3.5's words
            raise RemoteProtocolError(msg)
        lists.dir_got_list[number] = True
        start_read = sh.ws.bytes_read
        entries = await self._read_entries(count_progress=False)
        if self._decoder is not None:
            await self._refuse_names(self._decoder.uid_names, self._decoder.gid_names)
        self.stats.io_error |= sh.io_error
        self.stats.flist_size += sh.ws.bytes_read - start_read
        self._register(entries, number)

    async def _refuse_names(self, *names: Mapping[int, bytes | None]) -> None:
        """Say, once each, which owner names the daemon's name converter must not be sent.

        rsync maps each name as it arrives (and so refuses it there, before reading on);
        names are mapped later here, so the refusal is said, and sent, now. The name
        keeps the sender's number (`rsync_wire.roles.idnames`).

        rsync: uidlist.c recv_add_id(), user_to_uid(); clientserver.c namecvt_call().
        """
        sh = self.shared
        if sh.opts.numeric_ids:
            return
        said = False
        for table in names:
            for name in table.values():
                if not name or name in self._refused_names:
                    continue
                line = idnames.refused_token(name)
                if line is not None:
                    self._refused_names.add(name)
                    log.error("%s", line.decode("utf-8", "backslashreplace").rstrip("\n"))
                    sh.reporter.message(Msg.ERROR, line)
                    said = True
        if said and sh.out_ws.pending_output:
            await sh.out_ws.flush()

    async def _read_entries(self, *, count_progress: bool) -> list[FileEntry]:
        """One list's entries, up to its end marker, within the memory the list may take."""
        sh = self.shared
        ws = sh.ws
        decoder = self._decoder
        if decoder is None:
            msg = "a sub-list before the first file list"
            raise LocalProtocolError(msg)
        start_read = ws.bytes_read
        list_start = decoder.list_start
        entries: list[FileEntry] = []
        limit = sh.config.flist_memory_limit
        hundreds = 0
        while True:
            done = False
            items = await ws.decode(decoder.decode_batch)
            end = items[-1]
            if isinstance(end, EndOfList):  # a batch ends at its list's end marker, if any
                if not sh.opts.ignore_errors:
                    sh.io_error |= end.io_error
                done = True
                del items[-1]
            entries += cast("list[FileEntry]", items)
            count = len(entries)
            if count_progress:
                while hundreds + 100 <= count:
                    hundreds += 100
                    sh.reporter.file_list_progress(hundreds)
            # what the list will hold: each entry's record, and its names (at most twice
            # the wire bytes, which compress names against the previous one)
            live = self._live_entries + count
            estimate = live * _ENTRY_COST + 2 * (ws.bytes_read - start_read)
            if count > _MAX_ENTRIES or estimate > limit:
                entries.clear()
                msg = (
                    f"ERROR: the sender's file list is too large: {live} entries so far, "
                    f"more than {limit >> 20} MiB of memory [Receiver]"
                )
                raise RsyncError(msg, exit_code=ExitCode.MALLOC)
            if done:
                level = sh.config.levels.debug.get("HLINK", 0)
                if level:
                    # rsync: flist.c recv_file_entry(); the first list is read before the
                    # receiving side splits in two, the later ones by both of its halves
                    whos = ("Receiver",) if count_progress else ("receiver", "generator")
                    for line in received_lines(
                        entries,
                        list_start,
                        whos,
                        p30=sh.session.uses_varint,
                        level=level,
                        devs=self._hlink_devs,
                    ):
                        sh.reporter.message(Msg.INFO, (line + "\n").encode())
                return entries

    @property
    def _live_entries(self) -> int:
        """Entries held in lists the generator has not freed."""
        lists = self.shared.lists
        return sum(sub.count for sub in lists.lists[lists.first_live :])

    def _register(self, entries: list[FileEntry], parent: int) -> None:
        """Sort, check and index one received list, then append it to the shared tables.

        ``parent``: the number of the directory whose contents it holds (``-1``: the first
        list).
        """
        sh = self.shared
        lists = sh.lists
        protocol = sh.session.protocol
        charset = sh.config.charset
        bad: set[int] = set()
        if charset is not None:
            entries, bad = self._from_wire(entries, charset, first=not lists.lists)
        if self.adjust is not None:
            entries = [self.adjust(e) for e in entries]
        content_tx = self._mark_content_dirs(entries)
        order = sort_order(entries, protocol=protocol)
        ordered = [entries[i] for i in order]
        del entries
        cleared = _dedupe(ordered, protocol=protocol)
        if bad:  # a name that did not convert is left out (rsync: an empty name)
            for k, i in enumerate(order):
                if i in bad:
                    cleared[k] = True
        if sh.opts.prune_empty_dirs and not lists.inc:
            _prune_empty_dirs(ordered, cleared, sh.config.filters)
        start = lists.next_start
        if lists.inc:
            self._check_dirnames(ordered, parent)
            # the slot before the list stands for the directory it fills (the top "." for
            # the first list, when it has one)
            if parent >= 0:
                slot, slot_rel, gone = lists.dir_entries[parent], lists.dir_rels[parent], False
            elif ordered and ordered[0].name == b"." and ordered[0].is_dir and not cleared[0]:
                parent = 0  # dir number 0, once this list's directories are numbered
                slot, slot_rel, gone = ordered[0], b"", False
            else:
                slot, slot_rel, gone = FREED, b"", True
            sh.entries.append(slot)
            sh.rels.append(slot_rel)
            sh.cleared.append(gone)
        sh.entries.extend(ordered)
        if sh.config.levels.debug_gte("DUP") and any(cleared):
            # rsync: flist.c flist_sort_and_clean() (the receiver clears, and says so)
            for k, gone in enumerate(cleared):
                if gone:
                    line = f"removing duplicate name {_show(ordered[k].name)} from file list"
                    sh.reporter.message(Msg.INFO, f"{line} ({start + k})\n".encode())
        sh.cleared.extend(cleared)
        content = {start + k for k, i in enumerate(order) if i in content_tx}
        sh.content_dirs |= content
        sub = lists.add(start, len(ordered), parent)
        if charset is not None:
            sub.order, sub.inverse = order, invert_order(order)
        if sh.opts.preserve_hard_links:
            lists.note_hard_links(start, ordered, cleared)
        self._check_names(start, start + len(ordered), check_parents=not lists.inc)
        self._index(start, start + len(ordered))
        if lists.inc:
            ndxs = [
                start + k
                for k, m in enumerate(map(_MODE, ordered))
                if m & 0o170000 == 0o040000  # directories
            ]
            if charset is not None:
                # the sender numbers them in the order it sent them (rsync: flist.c, F_NDX)
                ndxs.sort(key=lambda n: order[n - start])
            lists.add_dirs(
                ndxs,
                [n in content and not sh.cleared[n] for n in ndxs],
                [sh.entries[n] for n in ndxs],
                [sh.rels[n] for n in ndxs],
            )
            if parent == 0 and len(lists.lists) == 1:
                lists.dir_got_list[0] = True  # the top "." was this list's directory
            if parent >= 0:
                lists.dir_slot[parent] = start - 1

    def _from_wire(
        self, entries: list[FileEntry], charset: Charset, *, first: bool
    ) -> tuple[list[FileEntry], set[int]]:
        """``--iconv``: the list's names (and symlink targets) from UTF-8 to this side's charset.

        Returns the entries and the positions of those whose name or target did not
        convert (each an IOERR_GENERAL and a message, as rsync's).

        rsync: flist.c recv_file_entry() (ic_recv, "cannot convert filename", "cannot convert
        symlink data for").
        """
        sh = self.shared
        links = self._iconv_links
        bad: set[int] = set()
        out: list[FileEntry] = []
        who = "Receiver" if first else "receiver"
        for k, e in enumerate(entries):
            try:
                name = charset.from_wire(e.name)
            except ConvertError as exc:
                bad.add(k)
                sh.io_error |= 1
                utf8_say = getattr(sh.reporter, "message_utf8", None)
                shown = e.name if utf8_say is not None else charset.from_wire_lenient(e.name)
                line = b"[%s] cannot convert filename: %s (%s)\n" % (
                    who.encode(),
                    shown,
                    str(exc).encode(),
                )
                # a server passes the wire's UTF-8 on as it is (rsync: FERROR_UTF8)
                (utf8_say or sh.reporter.message)(Msg.ERROR, line)
                if not sh.config.role_prefix and not sh.opts.trust_sender:
                    # rsync's client keeps the name empty, and its check of the names it
                    # asked for rejects that (rsync: flist.c recv_file_entry())
                    msg = "ERROR: rejecting unrequested file-list name: "
                    raise UnsupportedError(msg) from None
                out.append(e)
                continue
            target = e.link_target
            if target is not None and links:
                try:
                    target = charset.from_wire(target)
                except ConvertError as exc:
                    bad.add(k)
                    sh.io_error |= 1
                    line = b'[%s] cannot convert symlink data for: "%s" (%s)\n' % (
                        who.encode(),
                        name,
                        str(exc).encode(),
                    )
                    sh.reporter.message(Msg.ERROR_XFER, line)
                    out.append(e)
                    continue
            if name is e.name and target is e.link_target:
                out.append(e)
            else:
                out.append(msgspec.structs.replace(e, name=name, link_target=target))
        return out, bad

    def _check_dirnames(self, ordered: list[FileEntry], parent: int) -> None:
        """With incremental recursion every name of a list is in its own directory.

        rsync: flist.c recv_file_list() ("ABORTING due to invalid path from sender").
        """
        want = b"" if parent < 0 else self.shared.lists.dir_rels[parent]
        if want and not self.shared.opts.relative:
            # every name "want/base": each starts a joined name, and holds no other "/"
            prefix = want + b"/"
            joined = b"\0" + b"\0".join(map(_NAME, ordered))
            n = len(ordered)
            if joined.count(b"\0" + prefix) == n and joined.count(b"/") == n * prefix.count(b"/"):
                return
        for e in ordered:
            name = e.name
            if self.shared.opts.relative and name.startswith(b"/"):
                name = name[1:]
            cut = name.rfind(b"/")
            got = b"" if cut < 0 else name[:cut]
            if got != want and not (parent < 0 and name == b"."):
                msg = f"ABORTING due to invalid path from sender: {_show(e.name)}"
                raise UnsupportedError(msg)

    def _mark_content_dirs(self, entries: list[FileEntry]) -> set[int]:
        """Which directories are deletion scopes (in transmission order, as rsync marks them).

        The sender's flags say which directories have their contents in the transfer; a
        directory the client only knows as the parent of what it asked for (the top ``.``
        of a single-file request, the parents of a ``-R`` path) is never one, whatever the
        sender says: a hostile sender would otherwise widen ``--delete`` to the whole
        destination.

        rsync: flist.c recv_file_entry() (FLAG_CONTENT_DIR, the implied-parent downgrade).
        """
        sh = self.shared
        implied = self._implied_rules()
        content: set[int] = set()
        if sh.session.protocol >= 30:
            modes = list(map(_MODE, entries))
            for i in [i for i, m in enumerate(modes) if m & 0o170000 == 0o040000]:
                e = entries[i]
                if not e.no_content_dir:
                    if implied is not None and implied.is_parent_only(e.name):
                        continue
                    content.add(i)
        else:
            in_hier = False
            for i, e in enumerate(entries):
                if not e.is_dir:
                    continue
                if e.top_dir:
                    if implied is not None and implied.is_parent_only(e.name):
                        continue
                    in_hier = sh.opts.recursive
                    content.add(i)
                elif in_hier:
                    content.add(i)
        return content

    def _check_names(self, lo: int, hi: int, *, check_parents: bool) -> None:
        """The client receiver's checks of received names (docs/protocol.md §8.4, §9.19).

        rsync: flist.c recv_file_entry() ("rejecting excluded/unrequested file-list name",
        "rejecting non-directory transfer-root entry").
        """
        sh = self.shared
        entries = sh.entries
        cleared = sh.cleared
        roots = range(lo, hi)
        if not any(map(_ROOT_NAMES.__contains__, map(_NAME, entries[lo:hi]))):
            roots = range(0)  # no "." at all (the common case: a whole list at C speed)
        for i in roots:
            e = entries[i]
            if e.name in _ROOT_NAMES and not e.is_dir and not cleared[i]:
                # "." is the transfer root: as a file, replacing it would empty the destination
                msg = f"ERROR: rejecting non-directory transfer-root entry: {_show(e.name)}"
                raise RemoteProtocolError(msg)
        if check_parents:
            self._check_parents(lo, hi)
        if sh.opts.trust_sender:
            return  # --trust-sender (rsync: trust_sender_filter, trust_sender_args)
        filters = sh.config.filters
        implied = self._implied_rules()
        check_excluded = filters is not None and bool(filters) and not filters.has_per_dir_merge
        if implied is not None and (implied.everything or implied.empty):
            # the contents of a directory, recursively: every name is fine; no rule at
            # all (``mod/`` without -r or -d): rsync checks nothing either
            implied = None
        if not check_excluded and implied is None:
            return
        for i in range(lo, hi):
            if cleared[i]:
                continue
            e = entries[i]
            name = e.name
            if name in (b".", b"/."):
                continue
            is_dir = e.is_dir
            if check_excluded and filters is not None and filters.excluded(name, is_dir=is_dir):
                msg = f"ERROR: rejecting excluded file-list name: {_show(name)}"
                raise UnsupportedError(msg)
            if implied is not None and not implied.allows(name, is_dir=is_dir):
                msg = f"ERROR: rejecting unrequested file-list name: {_show(name)}"
                raise UnsupportedError(msg)

    def _check_parents(self, lo: int, hi: int) -> None:
        """Every name's directory must itself be a directory of the list.

        Without this a sender could list a symlink ``d`` and then ``d/file``; the writes
        would never follow the link (the destination refuses symlinks in paths), but the
        list is bad and rsync ends the session.

        rsync: generator.c recv_generator() ("ABORTING due to invalid path from sender").
        """
        sh = self.shared
        entries = sh.entries
        cleared = sh.cleared
        dirs = {
            _rel(entries[i].name) for i in range(lo, hi) if entries[i].is_dir and not cleared[i]
        }
        for i in range(lo, hi):
            name = _rel(entries[i].name)
            cut = name.rfind(b"/")
            if cut <= 0 or cleared[i] or (sh.opts.delete_missing_args and not entries[i].mode):
                continue
            parent = name[:cut]
            if parent not in dirs:
                msg = f"ABORTING due to invalid path from sender: {_show(name)}"
                raise RemoteProtocolError(msg)

    def _implied_rules(self) -> ImpliedRules | None:
        """The names the client asked for (rsync's implied include rules); ``None``: no check."""
        sh = self.shared
        if sh.config.requested is None:
            return None
        if self._implied is None:
            opts = sh.opts
            self._implied = ImpliedRules(
                sh.config.requested,
                relative=opts.relative,
                recurse=opts.recursive,
                dirs=opts.dirs or opts.list_only,
            )
        return self._implied

    def _index(self, lo: int, hi: int) -> None:
        """Destination paths, per-directory name sets and type counts of entries lo..hi."""
        sh = self.shared
        local = sh.config.local_name
        stats = self.stats
        rels = sh.rels
        children = sh.children
        deleting = sh.opts.delete_mode is not None  # only deletions need the name sets
        cleared = sh.cleared
        entries = sh.entries
        add_rel = rels.append
        if local is None and not deleting and not any(cleared[lo:hi]):
            listed = entries[lo:hi]
            names = list(map(_NAME, listed))
            if _names_are_rels(names):
                # the common list: every count at C speed, no loop over the entries
                rels.extend(names)
                modes = list(map(_MODE, listed))
                kinds = [m & 0o170000 for m in modes]
                regs = kinds.count(stat.S_IFREG)
                dirs = kinds.count(stat.S_IFDIR)
                links = kinds.count(stat.S_IFLNK)
                devices = kinds.count(stat.S_IFCHR) + kinds.count(stat.S_IFBLK)
                n = hi - lo
                if regs + links == n:
                    size = sum(map(_SIZE, listed))
                else:
                    size = sum(
                        e.size
                        for e, k in zip(listed, kinds, strict=True)
                        if k in (stat.S_IFREG, stat.S_IFLNK)
                    )
                stats.num_dirs += dirs
                stats.num_symlinks += links
                stats.num_devices += devices
                stats.num_specials += n - regs - dirs - links - devices - modes.count(0)
                stats.total_size += size
                stats.num_files += n
                return
        dirs = links = devices = specials = size = files = 0  # in locals: one pass, 100k+
        for i in range(lo, hi):
            e = entries[i]
            if local is not None:
                rel = local
            else:  # _rel(), inline
                rel = e.name
                if rel[:1] == b"/":
                    rel = _rel(rel)
                elif rel == b".":
                    rel = b""
                elif rel.endswith(b"/."):
                    rel = rel[:-2]
            add_rel(rel)
            if cleared[i]:
                continue
            files += 1
            mode = e.mode
            kind = mode & 0o170000
            if kind == stat.S_IFREG:
                size += e.size
            elif kind == stat.S_IFDIR:
                dirs += 1
            elif kind == stat.S_IFLNK:
                links += 1
                size += e.size
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                devices += 1
            elif mode:
                specials += 1
            if rel and deleting:
                children.setdefault(_dirname(rel), set()).add(rel[rel.rfind(b"/") + 1 :])
        stats.num_dirs += dirs
        stats.num_symlinks += links
        stats.num_devices += devices
        stats.num_specials += specials
        stats.total_size += size
        stats.num_files += files

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> ReceiveStats:
        """Read the file list and run generator and receiver; returns the statistics."""
        started = time.monotonic()
        sh = self.shared
        await self.read_file_list()
        empty = sh.lists.lists[0].count == 0
        if not empty and self.dest is not None and not sh.config.list_only:
            self._prepare_destination(self.dest)
            if sh.config.local_name is not None:  # one file, under the destination's name
                sh.rels[:] = [sh.config.local_name] * len(sh.rels)
                sh.reporter = cast("Reporter", _ListedNames(sh.reporter))
            if sh.opts.backup and sh.tree is not None and not sh.opts.dry_run:
                sh.backups = self._backups(sh.tree)
            if sh.opts.alt_dest and sh.opts.basis_dirs and sh.tree is not None:
                sh.basis = self._basis_dirs(sh.tree.path)
            elif sh.opts.alt_dest and sh.opts.basis_dirs and sh.config.dest_missing:
                # a dry run into a directory it did not make: the basis dirs are found as
                # the real run would find them (rsync: main.c check_alt_basis_dirs(),
                # dry_run > 1: one leading "../" is taken off against the parent)
                sh.basis = self._basis_dirs(self.dest.rstrip(b"/") or b"/", missing=True)
            pdir = sh.opts.partial_dir
            if pdir and pdir.startswith("/") and sh.tree is not None:
                from rsync_wire.roles.partialdir import AbsolutePartialDir

                sh.partial_abs = AbsolutePartialDir(os.fsencode(pdir), self.destination)
            if sh.opts.temp_dir and sh.tree is not None:  # rsync: main.c do_recv()
                sh.output = open_temp_dir(
                    sh.opts.temp_dir, sh.tree, self.destination, dest_in_module=sh.dest_in_module
                )
        if empty:
            # An empty list: the sender has already gone (docs/protocol.md §13.2).
            self.stats.io_error |= sh.io_error
            self.stats.elapsed = time.monotonic() - started
            return self.stats
        # The generator writes through its own WireStream over the same send stream, so
        # that nothing the receiver does while it reads (a WireStream may flush its
        # output before it waits for input) can interleave with the generator's writes.
        await sh.ws.flush()
        sh.out_ws = WireStream(_NoInput(), sh.ws._send)
        sh.out_ws.text_log = sh.ws.text_log
        if sh.ws.mux_out:
            sh.out_ws.start_mux_out()
        send, receive = anyio.create_memory_object_stream[ReceiverEvent](math.inf)
        self._events = send
        generator = GeneratorRole(sh, receive)
        receiver = ReceiverRole(sh, send, server_sender=self.server_sender)
        try:
            async with receive, anyio.create_task_group() as tg:
                tg.start_soon(receiver.run)
                await generator.run()
        except BaseExceptionGroup as group:
            raise _collapse(group) from None
        finally:
            send.close()
        self.stats.io_error |= sh.io_error
        self.stats.elapsed = time.monotonic() - started
        return self.stats

    def close(self) -> None:
        """Close the destination's descriptors."""
        backups = self.shared.backups
        if backups is not None and backups.backup_tree is not None:
            backups.backup_tree.close()
        if self.shared.basis is not None:
            self.shared.basis.close()
        if self.shared.output is not None:
            self.shared.output.close()
        if self.shared.partial_abs is not None:
            self.shared.partial_abs.close()
        if self.shared.tree is not None:
            self.shared.tree.close()
            self.shared.tree = None

    def _prepare_destination(self, dest: bytes) -> None:
        """Open, or create, the destination once the file list is known.

        A directory receives the entries; a missing destination becomes a directory when
        the list holds more than one entry or the path ends in ``/``; otherwise the single
        entry is written under the destination's own name. The path is resolved by the
        destination port (:mod:`rsync_wire.roles.destination`): a client follows only
        symlinks owned by root or by us, so a link another user planted in it cannot send
        the files elsewhere; a daemon never leaves the module.

        rsync: main.c get_local_name(); util1.c change_dir(); syscall.c ona_open().
        """
        sh = self.shared
        config = sh.config
        opts = sh.opts
        place = self.destination
        if not dest:
            dest = b"."
        if isinstance(place, ModuleDestination):
            self._check_daemon_dest(dest)
        total = self.stats.num_files
        first = sh.entries[sh.lists.lists[0].start]
        trailing = dest.endswith(b"/")
        shown = _show(dest.rstrip(b"/") or b"/")
        try:
            # a plain stat decides, as rsync's do_stat(); entering the directory is checked
            st = place.stat(dest)
        except OSError as exc:
            msg = f'ERROR: cannot stat destination "{_show(dest)}": {exc.strerror} ({exc.errno})'
            raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from None
        if opts.mkpath and st is None and (b"/" in dest.rstrip(b"/") or total > 1):
            st = self._make_dest_path(dest, drop_name=total == 1 and not trailing)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                sh.tree = self._open_tree(dest, "change_dir#1")
                return
            if total > 1:
                msg = "ERROR: destination must be a directory when copying more than 1 file"
                raise RsyncError(msg, exit_code=ExitCode.FILESELECT)
            if total == 1 and first.is_dir:
                msg = "ERROR: cannot overwrite non-directory with a directory"
                raise RsyncError(msg, exit_code=ExitCode.FILESELECT)
        if total > 1 or trailing:
            if st is not None:
                msg = "ERROR: destination path is not a directory"
                raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
            if not opts.dry_run:
                self._mkdir_dest(dest, shown)
            if first.name == b".":
                config.dest_created = True
            if config.levels.info_gte("NAME") or config.itemize or config.names:  # rsync: main.c
                sh.reporter.message(
                    Msg.INFO, f"created directory {shown}\n".encode("utf-8", "surrogateescape")
                )
            if opts.dry_run:
                config.dest_missing = True
                return
            sh.tree = self._open_tree(dest, "change_dir#1")
            return
        # a single non-directory under its own name
        cut = dest.rfind(b"/")
        parent = dest[:cut] if cut > 0 else (b"/" if cut == 0 else b".")
        config.local_name = dest[cut + 1 :]
        try:
            sh.tree = self._open_tree(parent, "change_dir#3")
        except RsyncError as exc:
            cause = exc.__cause__
            if opts.dry_run and isinstance(cause, OSError) and cause.errno == errno.ENOENT:
                config.dest_missing = True
                return
            raise
        if isinstance(place, ModuleDestination):
            sh.dest_in_module = module_path(parent)

    def _make_dest_path(self, dest: bytes, *, drop_name: bool) -> os.stat_result | None:
        """``--mkpath``: the missing directories of the destination path; its new stat.

        The last name is left out when it is the name a single file gets (a path ending in
        ``/`` is made whole). With ``-n`` nothing is made, but the count is said all the
        same.

        rsync: main.c get_local_name(); util1.c make_path().
        """
        sh = self.shared
        place = self.destination
        path = dest.rstrip(b"/")
        if drop_name:
            cut = path.rfind(b"/")
            path = path[:cut] if cut > 0 else b""
        parts = [p for p in path.split(b"/") if p not in (b"", b".")]
        lead = b"/" if dest.startswith(b"/") else b""
        made = 0
        for i in range(1, len(parts) + 1):
            sub = lead + b"/".join(parts[:i])
            if not made:
                try:
                    st = place.stat(sub)
                except OSError:
                    st = None
                if st is not None:
                    continue
            made += 1
            if not sh.opts.dry_run:
                self._mkdir_dest(sub, _show(sub))
        config = sh.config
        if made and (config.levels.info_gte("NAME") or config.itemize or config.names):
            shown = _show(path)
            what = "directory" if made == 1 else "directories"
            sh.reporter.message(
                Msg.INFO, f"created {made} {what} for {shown}\n".encode("utf-8", "surrogateescape")
            )
        if not made or sh.opts.dry_run:
            return None
        try:
            return place.stat(dest)
        except OSError:
            return None

    def _backups(self, tree: DestTree) -> Backups:
        """``--backup``: backups beside each file, or in ``--backup-dir`` (made as needed).

        A relative backup directory is relative to the destination directory; in a daemon
        module an absolute one is relative to the module root, as rsync's sanitized paths.

        rsync: backup.c, main.c do_recv() ("(new) backup_dir is ...").
        """
        from rsync_wire.fs_write import DestTree

        opts = self.shared.opts
        suffix = os.fsencode(opts.suffix) if opts.suffix is not None else None
        if not opts.backup_dir:
            # rsync: options.c (omit_dir_times = -1: implied, never sent to the sender)
            opts.omit_dir_times = True
            return Backups(tree, suffix=suffix, backup_dir=None, safe_links=opts.safe_links)
        place = self.destination
        bdir = os.fsencode(opts.backup_dir)
        pinned = False  # a wrapper's descriptor pin (--confine-root): used through it
        if isinstance(place, ModuleDestination):
            base = self.shared.dest_in_module if not bdir.startswith(b"/") else b""
            path = module_path(base + b"/" + bdir) or b"."
            prefixes = [b"/".join(path.split(b"/")[:k]) for k in range(1, path.count(b"/") + 2)]
        elif isinstance(place, ConfinedDestination) and bdir.startswith(b"/"):
            # --confine-root: an absolute one lies inside the root; only the directories
            # below the root are made. A wrapper's pin is judged by what it points at now
            # and then used through its descriptor, as rsync does (its messages show it)
            path = place.relative(bdir)
            pinned = is_pinned(bdir)
            parts = [] if pinned else split_path(path)
            prefixes = [b"/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        else:
            path = bdir if bdir.startswith(b"/") else tree.path.rstrip(b"/") + b"/" + bdir
            parts = path.split(b"/")
            prefixes = [b"/".join(parts[:k]) for k in range(2, len(parts) + 1) if parts[k - 1]]

        def open_backup_dir() -> DestTree:
            if pinned:
                return DestTree(bdir, fd=open_pinned_dir(bdir))
            for prefix in prefixes:
                if prefix and prefix != b"." and place.stat(prefix) is None:
                    place.mkdir(prefix)
            return DestTree(path, fd=place.open_dir(path))

        shown = bdir.rstrip(b"/") or b"/"
        if self.shared.config.levels.info_gte("BACKUP"):  # rsync: main.c do_recv()
            new = "" if place.stat(path) is not None else "(new) "
            text = f"{new}backup_dir is {shown.decode('utf-8', 'surrogateescape')}\n"
            self.shared.reporter.message(Msg.INFO, text.encode("utf-8", "surrogateescape"))
        return Backups(
            tree,
            suffix=suffix,
            backup_dir=open_backup_dir,
            safe_links=opts.safe_links,
            shown_dir=shown if shown.endswith(b"/") else shown + b"/",
        )

    def _basis_dirs(self, base: bytes, *, missing: bool = False) -> BasisDirs:
        """``--link-dest``/``--copy-dest``/``--compare-dest``: each directory opened once.

        A relative one is relative to the destination directory (in a daemon module, as
        the backup directory: never outside the module). One that is missing or not a
        directory gets rsync's warning and is skipped.

        ``base`` is the destination directory; ``missing``: a dry run did not make it.

        rsync: main.c check_alt_basis_dirs().
        """
        from rsync_wire.fs_write import DestTree

        sh = self.shared
        opts = sh.opts
        place = self.destination
        trees: list[DestTree | None] = []
        for text in opts.basis_dirs:
            bdir = os.fsencode(text)
            if isinstance(place, ModuleDestination):
                base = sh.dest_in_module if not bdir.startswith(b"/") else b""
                path = module_path(base + b"/" + bdir) or b"."
            elif bdir.startswith(b"/"):
                path = bdir
            else:
                # made absolute against the destination, as rsync's curr_dir (cleaned, the
                # name itself kept as given: that is what its warning shows)
                where = os.path.normpath(os.path.join(os.getcwdb(), base))
                if missing and bdir.startswith(b"../"):
                    where = os.path.dirname(where)
                    bdir = bdir[3:]
                path = where.rstrip(b"/") + b"/" + bdir
            shown = _show(path if not isinstance(place, ModuleDestination) else bdir)
            try:
                st = place.stat(path)
            except OSError:
                st = None
            if st is None or not stat.S_ISDIR(st.st_mode):
                what = "does not exist" if st is None else "is not a dir"
                sh.reporter.message(
                    Msg.WARNING,
                    f"--{opts.alt_dest} arg {what}: {shown}\n".encode("utf-8", "surrogateescape"),
                )
                trees.append(None)
                continue
            try:
                trees.append(DestTree(path, fd=place.open_dir(path)))
            except OSError:
                trees.append(None)
        return BasisDirs(opts.alt_dest or "", trees)

    def _check_daemon_dest(self, dest: bytes) -> None:
        """A receiving daemon refuses a destination its module's rules hide.

        rsync: main.c get_local_name() ("daemon has excluded destination").
        """
        sh = self.shared
        rules = sh.daemon_rules
        cleaned = module_path(dest)
        if (
            rules is not None
            and cleaned
            and (rules.hides(cleaned, is_dir=False) or rules.hides(cleaned, is_dir=True))
        ):
            msg = f'ERROR: daemon has excluded destination "{_show(dest)}"'
            raise RsyncError(msg, exit_code=ExitCode.FILESELECT)
        sh.dest_in_module = cleaned

    def _open_tree(self, path: bytes, what: str) -> DestTree:
        """The destination directory ``path``, reached as the destination port allows."""
        from rsync_wire.fs_write import DestTree

        try:
            fd = self.destination.open_dir(path)
        except UntrustedSymlinkError as exc:
            raise self._untrusted(exc, what, path) from None
        except OSError as exc:
            shown = _show(self.destination.shown(path))
            msg = f"{what} {shown} failed: {exc.strerror} ({exc.errno})"
            raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from exc
        tree = DestTree(path, fd=fd)
        opts = self.shared.opts
        # rsync: -K, and -R --no-implied-dirs, use the destination's path as it is
        tree.follow_dirlinks = opts.keep_dirlinks or (opts.relative and not opts.implied_dirs)
        place = self.destination
        tree.insecure_links = isinstance(place, ModuleDestination) and place.root.insecure_links
        return tree

    def _mkdir_dest(self, dest: bytes, shown: str) -> None:
        """Create the missing destination directory (its parent reached as above)."""
        try:
            self.destination.mkdir(dest)
        except UntrustedSymlinkError as exc:
            raise self._untrusted(exc, "mkdir", dest) from None
        except OSError as exc:
            msg = f'mkdir "{shown}" failed: {exc.strerror} ({exc.errno})'
            raise RsyncError(msg, exit_code=ExitCode.FILEIO) from None

    def _untrusted(self, exc: OSError, what: str, path: bytes) -> RsyncError:
        """Rsync 3.5's two lines for a destination behind another user's symlink; exit 3."""
        self.shared.reporter.message(Msg.ERROR, (UNTRUSTED_SYMLINK + "\n").encode())
        shown = _show(self.destination.shown(path))
        msg = f"rsync: [Receiver] {what} {shown} failed: {exc.strerror} ({exc.errno})"
        return RsyncError(msg, exit_code=ExitCode.FILESELECT)


class _NoInput(ByteReceiveStream):
    """The input side of the generator's write-only WireStream (it never reads)."""

    async def receive(self, max_bytes: int = 65536) -> bytes:  # noqa: ARG002 - the API
        raise anyio.EndOfStream

    async def aclose(self) -> None:
        pass


def _collapse(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The most meaningful member of a task group's exception group.

    A protocol or remote error beats the cancellations and connection errors it caused.
    """
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                walk(sub)
        else:
            leaves.append(exc)

    walk(group)
    from rsync_wire.errors import ConnectionLost, RsyncError

    for exc in leaves:
        if isinstance(exc, RsyncError) and not isinstance(exc, ConnectionLost | ReceiverGone):
            return exc
    for exc in leaves:
        if isinstance(exc, ConnectionLost):
            return exc
    for exc in leaves:
        if not isinstance(exc, anyio.get_cancelled_exc_class() | ReceiverGone):
            return exc
    for exc in leaves:
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return leaves[0]


def _dedupe(entries: list[FileEntry], *, protocol: int) -> list[bool]:
    """The receiver's duplicate tombstones; cheap when there are no duplicates at all.

    Duplicates are equal names next to each other in the sorted list, or a directory named
    like a file elsewhere in it. When neither occurs (the normal case) every entry is kept
    without building :func:`~rsync_wire.proto.flist_sort.dedupe`'s key tables.
    """
    n = len(entries)
    names = list(map(_NAME, entries))
    if _names_are_rels(names):
        # the same test at C speed: equal neighbours, or a directory's name given to
        # another entry too (directories of one name would be neighbours)
        if any(map(operator.eq, names, names[1:])):
            return dedupe(entries, protocol=protocol)
        dirs = {
            name for name, e in zip(names, entries, strict=True) if e.mode & 0o170000 == 0o040000
        }
        if dirs and sum(map(dirs.__contains__, names)) > len(dirs):
            return dedupe(entries, protocol=protocol)
        return [False] * n
    prev = None
    dirs = set()
    suspicious = False
    rels = []
    for e in entries:
        rel = _rel(e.name)
        if rel == prev:
            suspicious = True
            break
        prev = rel
        rels.append(rel)
        if e.is_dir:
            dirs.add(rel)
    if not suspicious and dirs:
        # compared as the directories are, by their relative names ("/b" and "b/")
        suspicious = any(not e.is_dir and rel in dirs for e, rel in zip(entries, rels, strict=True))
    if not suspicious:
        return [False] * n
    return dedupe(entries, protocol=protocol)


def _escape_wild(name: bytes) -> bytes:
    out = bytearray()
    for b in name:
        if b in b"*?[\\":
            out.append(0x5C)
        out.append(b)
    return bytes(out)


def _show(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


_ = codec  # the NDX codecs are used by the two roles
