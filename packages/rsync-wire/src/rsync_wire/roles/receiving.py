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
written here: every such event goes to a :class:`Reporter` the caller provides.

rsync: main.c do_recv(), client_run(); flist.c recv_file_list().
"""

from __future__ import annotations

import errno
import grp
import logging
import math
import os
import pwd
import stat
import time
from typing import TYPE_CHECKING, Protocol

import anyio
import msgspec
from anyio.abc import ByteReceiveStream

from rsync_delta import ChecksumRule
from rsync_wire.errors import (
    ExitCode,
    RemoteError,
    RemoteProtocolError,
    RsyncError,
    UnsupportedError,
)
from rsync_wire.fs import UNTRUSTED_SYMLINK, UntrustedSymlinkError, open_trusted
from rsync_wire.proto import codec
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.filters import FilterList
from rsync_wire.proto.flist import EndOfList, FileEntry, FileListDecoder, flist_csum_len
from rsync_wire.proto.flist_sort import dedupe, sort_order
from rsync_wire.proto.wildmatch import WildPattern, compile_wildmatch
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions

__all__ = [
    "IdMapper",
    "ImpliedRules",
    "Milestone",
    "NullReporter",
    "ReceiveConfig",
    "ReceiveStats",
    "ReceiverEvent",
    "ReceiverSide",
    "Redo",
    "Reporter",
]

log = logging.getLogger("rsync_wire.receiving")

_MAX_ENTRIES = 50_000_000  # far beyond any real list; a hostile count ends here
_ENTRY_COST = 512  # bytes one entry costs the receiving side, all its tables included

Buf = bytes | bytearray | memoryview


class ReceiveStats(msgspec.Struct, kw_only=True):
    """What the receiving side counted, as rsync's ``struct stats`` (client view).

    ``total_read``/``total_written``/``total_size``/``flist_*time`` come from the
    sender's statistics when it is a server (swapped as rsync's client does).
    The ``num_*``, ``created_*`` and ``deleted_*`` counts are per type: regular
    files are the total minus the other four.

    rsync: rsync.h struct stats.
    """

    num_files: int = 0
    num_dirs: int = 0
    num_symlinks: int = 0
    num_devices: int = 0
    num_specials: int = 0
    created_files: int = 0
    created_dirs: int = 0
    created_symlinks: int = 0
    created_devices: int = 0
    created_specials: int = 0
    deleted_files: int = 0
    deleted_dirs: int = 0
    deleted_symlinks: int = 0
    deleted_devices: int = 0
    deleted_specials: int = 0
    xferred_files: int = 0
    total_size: int = 0
    total_transferred_size: int = 0
    literal_data: int = 0
    matched_data: int = 0
    flist_size: int = 0
    flist_buildtime_ms: int = 0
    flist_xfertime_ms: int = 0
    total_read: int = 0
    total_written: int = 0
    io_error: int = 0
    transfer_errors: int = 0
    skipped_deletes: int = 0
    elapsed: float = 0.0
    got_stats: bool = False

    def exit_code(self) -> ExitCode:
        """Rsync's exit code for a session that ended normally with these counts.

        rsync: main.c / cleanup.c (io_error and got_xfer_error).
        """
        if self.io_error & 1 or self.transfer_errors:
            return ExitCode.PARTIAL
        if self.io_error & 2:
            return ExitCode.VANISHED
        if self.io_error & 4:
            return ExitCode.DEL_LIMIT
        return ExitCode.OK


class ReceiveConfig(msgspec.Struct, kw_only=True):
    """Client-side settings of the receiving side that do not travel on the wire.

    Attributes:
        filters: the client's own filter rules: they protect destination files from
            deletion, and (unless a per-directory merge rule is present) every received
            name must pass them.
        requested: the source paths the client asked for (module prefix removed); names
            outside them are refused. ``None`` skips this check.
        local_name: the destination's own name when a single file is written under
            another name (rsync's "mode 2").
        dest_missing: the destination directory does not exist (``-n`` did not create it):
            everything is new.
        dest_created: the destination directory was just created (the top ``.`` is new).
        itemize: the number of ``-i`` options.
        verbose: the ``-v`` level.
        list_only: print the list instead of transferring.
        whole_file: send no block sums (``-W``; the default for local copies).
        max_delete: ``--max-delete`` (``None``: no limit).
        progress: report progress for each file.
        umask: the process umask (new files' default permissions).
        flist_memory_limit: the most memory the file list may take (estimated from its
            entries and bytes); a sender that sends more ends the session, exit 22
            (rsync bounds its allocations with ``--max-alloc``).
    """

    filters: FilterList | None = None
    requested: list[bytes] | None = None
    local_name: bytes | None = None
    dest_missing: bool = False
    dest_created: bool = False
    itemize: int = 0
    verbose: int = 0
    list_only: bool = False
    whole_file: bool = False
    max_delete: int | None = None
    progress: bool = False
    umask: int = 0o022
    flist_memory_limit: int = 8 << 30


# -- events from the receiver to the generator --------------------------------------------------


class ReceiverGone(RemoteProtocolError):  # noqa: N818 - a state, not a mistake
    """The receiver task ended early; its own error is the one to report."""


class Redo(msgspec.Struct, frozen=True, tag=True):
    """A file failed its whole-file checksum in phase 1: request it again."""

    ndx: int


class Milestone(msgspec.Struct, frozen=True, tag=True):
    """The receiver reached a point of the end choreography (docs/protocol.md §10.9).

    ``what``: ``"phase1"`` (the sender's end-of-phase-1 echo), ``"phase2"``,
    ``"loop"`` (the end-of-loop NDX_DONE and the statistics) or ``"final"`` (the
    echo of the deletion-phase NDX_DONE, protocol 31 and later).
    """

    what: str


class Finished(msgspec.Struct, frozen=True, tag=True):
    """A transferred file reached its final name (or failed for good)."""

    ndx: int
    ok: bool


ReceiverEvent = Redo | Milestone | Finished


# -- reporting ----------------------------------------------------------------------------------


class Reporter(Protocol):
    """Where the receiving side sends what a user may want to see.

    Every method must return quickly and never raise.
    """

    def file_list_started(self) -> None:
        """The file list is about to be read."""

    def file_list_done(self, count: int) -> None:
        """The file list was read (``count`` entries)."""

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        """An itemized change: a transferred file (before its data) or a local change."""

    def list_entry(self, entry: FileEntry, name: bytes) -> None:
        """An entry of a ``--list-only`` listing."""

    def deleted(self, name: bytes, mode: int) -> None:
        """``name`` (relative to the destination) was deleted (or would be, with ``-n``)."""

    def message(self, code: int, text: bytes) -> None:
        """A message: MSG_INFO/ERROR/WARNING/ERROR_XFER text, from the peer or from us."""

    def progress(
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
    ) -> None:
        """``done`` of ``total`` bytes of ``name`` were written.

        ``to_check`` files of ``count`` remain after this one (rsync's ``to-chk``).
        """


class NullReporter:
    """A :class:`Reporter` that drops everything."""

    def file_list_started(self) -> None:  # noqa: D102
        pass

    def file_list_done(self, count: int) -> None:  # noqa: D102
        pass

    def item(  # noqa: D102
        self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None
    ) -> None:
        pass

    def list_entry(self, entry: FileEntry, name: bytes) -> None:  # noqa: D102
        pass

    def deleted(self, name: bytes, mode: int) -> None:  # noqa: D102
        pass

    def message(self, code: int, text: bytes) -> None:  # noqa: D102
        pass

    def progress(  # noqa: D102
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
    ) -> None:
        pass


# -- owners -------------------------------------------------------------------------------------


class IdMapper:
    """Maps the sender's uids and gids to local ones, by name unless ``--numeric-ids``.

    As rsync: id 0 is never mapped by name; a name unknown here keeps the number; a
    non-root receiver sets only groups it is a member of (others are skipped).

    rsync: uidlist.c recv_add_id(), match_uid(), match_gid().
    """

    def __init__(
        self,
        uid_names: dict[int, bytes | None],
        gid_names: dict[int, bytes | None],
        *,
        numeric: bool,
        am_root: bool,
    ) -> None:
        self._uid_names = uid_names
        self._gid_names = gid_names
        self._numeric = numeric
        self._am_root = am_root
        self._uids: dict[int, int] = {}
        self._gids: dict[int, tuple[int, bool]] = {}
        self._groups = set(os.getgroups()) | {os.getegid()}

    def uid(self, uid: int) -> int:
        """The local uid for the sender's ``uid``."""
        got = self._uids.get(uid)
        if got is None:
            got = uid
            name = None if self._numeric or not uid else self._uid_names.get(uid)
            if name:
                try:
                    got = pwd.getpwnam(name.decode("utf-8", "surrogateescape")).pw_uid
                except (KeyError, UnicodeError):
                    got = uid
            self._uids[uid] = got
        return got

    def gid(self, gid: int) -> tuple[int, bool]:
        """The local gid for the sender's ``gid``, and whether setting it must be skipped."""
        got = self._gids.get(gid)
        if got is None:
            local = gid
            name = None if self._numeric or not gid else self._gid_names.get(gid)
            if name:
                try:
                    local = grp.getgrnam(name.decode("utf-8", "surrogateescape")).gr_gid
                except (KeyError, UnicodeError):
                    local = gid
            got = (local, not self._am_root and local not in self._groups)
            self._gids[gid] = got
        return got


# -- the shared state ----------------------------------------------------------------------------


def _dirname(rel: bytes) -> bytes:
    cut = rel.rfind(b"/")
    return b"" if cut < 0 else rel[:cut]


def _rel(name: bytes) -> bytes:
    """The destination-relative path of a file-list name (``.`` is the root, ``b""``)."""
    if name == b".":
        return b""
    if name.endswith(b"/."):
        return name[:-2]
    return name


class Shared:
    """What generator and receiver both read: the sorted list and the session's settings.

    Attributes:
        entries: the file list in sorted order (index = the protocol's file index).
        rels: each entry's path relative to the destination (``b""`` for the top ``.``).
        cleared: duplicates removed by the receiver (never requested).
        children: names present in the list, per directory (for deletions).
        content_dirs: indexes of directories whose contents are part of the transfer.
    """

    def __init__(
        self,
        ws: WireStream,
        session: Session,
        opts: TransferOptions,
        config: ReceiveConfig,
        tree: DestTree | None,
        reporter: Reporter,
        stats: ReceiveStats,
    ) -> None:
        self.ws = ws
        self.out_ws = ws  # the generator's writer; see ReceiverSide.run()
        self.session = session
        self.opts = opts
        self.config = config
        self.tree = tree
        self.reporter = reporter
        self.stats = stats
        self.am_root = os.geteuid() == 0
        self.rule = ChecksumRule.for_session(
            protocol=session.protocol,
            negotiated=session.checksum if session.checksum_negotiated else None,
            seed=session.seed,
            seed_fix=session.seed_fix,
        )
        self.entries: list[FileEntry] = []
        self.rels: list[bytes] = []
        self.cleared: list[bool] = []
        self.children: dict[bytes, set[bytes]] = {}
        self.content_dirs: set[int] = set()
        self.ids = IdMapper({}, {}, numeric=opts.numeric_ids, am_root=self.am_root)
        self.dflt_perms = 0o777 & ~config.umask
        self.io_error = 0
        # the directories whose permissions the generator loosened to write into them
        self.tweaked_dirs: dict[int, int] = {}
        self.missing_dirs: set[int] = set()


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
    def everything(self) -> bool:
        """Every name is allowed (the contents of the top directory, recursively)."""
        return any(p.pattern == b"**" for p in self.below)

    def allows(self, name: bytes, *, is_dir: bool) -> bool:
        """Whether a file-list name is one the client asked for (or a parent of one)."""
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
    ) -> None:
        self.stats = ReceiveStats()
        self.shared = Shared(
            ws, session, opts, config, None, reporter or NullReporter(), self.stats
        )
        self.dest = dest
        self.server_sender = server_sender

    # -- messages --------------------------------------------------------------------------

    def on_message(self, code: int, payload: bytes) -> None:
        """Handle an out-of-band message from the sender (installed as ``ws.on_message``)."""
        sh = self.shared
        if code in (Msg.INFO, Msg.ERROR, Msg.WARNING, Msg.ERROR_XFER):
            if code == Msg.ERROR_XFER:
                self.stats.transfer_errors += 1
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
            pass  # the file will not come; the sender also flags an I/O error
        # MSG_NOOP, MSG_SUCCESS, MSG_DELETED: nothing to do for a receiving client

    # -- the file list ---------------------------------------------------------------------

    async def read_file_list(self) -> None:
        """Read, sort and check the file list, the id lists and the I/O-error word.

        rsync: flist.c recv_file_list(), flist_sort_and_clean(); uidlist.c recv_id_list().
        """
        sh = self.shared
        ws = sh.ws
        opts = sh.opts
        session = sh.session
        sh.reporter.file_list_started()
        start_read = ws.bytes_read
        csum_len = None
        if opts.always_checksum:
            csum_len = flist_csum_len(sh.rule.name)
        decoder = FileListDecoder(session, opts, csum_len=csum_len)
        entries: list[FileEntry] = []
        done = False
        limit = sh.config.flist_memory_limit
        while not done:
            for item in await ws.decode(decoder.decode_batch):
                if isinstance(item, EndOfList):
                    if not opts.ignore_errors:
                        sh.io_error |= item.io_error
                    done = True
                    break
                entries.append(item)
            count = len(entries)
            # what the list will hold: each entry's record, and its names (at most twice
            # the wire bytes, which compress names against the previous one)
            estimate = count * _ENTRY_COST + 2 * (ws.bytes_read - start_read)
            if count > _MAX_ENTRIES or estimate > limit:
                entries.clear()
                msg = (
                    f"ERROR: the sender's file list is too large: {count} entries so far, "
                    f"more than {limit >> 20} MiB of memory [Receiver]"
                )
                raise RsyncError(msg, exit_code=ExitCode.MALLOC)
        ids = await ws.decode(decoder.decode_id_lists)
        io_error = await ws.decode(decoder.decode_io_error)
        if not opts.ignore_errors:
            sh.io_error |= io_error
        self.stats.io_error |= sh.io_error
        self.stats.flist_size = ws.bytes_read - start_read
        sh.ids = IdMapper(
            dict(ids.uid_names) | decoder.uid_names,
            dict(ids.gid_names) | decoder.gid_names,
            numeric=opts.numeric_ids,
            am_root=sh.am_root,
        )
        self._mark_content_dirs(entries)
        order = sort_order(entries, protocol=session.protocol)
        content_tx = sh.content_dirs
        sh.entries = [entries[i] for i in order]
        sh.content_dirs = {k for k, i in enumerate(order) if i in content_tx}
        sh.cleared = _dedupe(sh.entries, protocol=session.protocol)
        self._check_names()
        sh.reporter.file_list_done(len(sh.entries))

    def _mark_content_dirs(self, entries: list[FileEntry]) -> None:
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
            for i, e in enumerate(entries):
                if e.is_dir and not e.no_content_dir:
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
        sh.content_dirs = content

    def _check_names(self) -> None:
        """The client receiver's checks of received names (docs/protocol.md §8.4, §9.19).

        rsync: flist.c recv_file_entry() ("rejecting excluded/unrequested file-list name",
        "rejecting non-directory transfer-root entry").
        """
        sh = self.shared
        for i, e in enumerate(sh.entries):
            if e.name in (b".", b"/.") and not e.is_dir and not sh.cleared[i]:
                # "." is the transfer root: as a file, replacing it would empty the destination
                msg = f"ERROR: rejecting non-directory transfer-root entry: {_show(e.name)}"
                raise RemoteProtocolError(msg)
        self._check_parents()
        filters = sh.config.filters
        implied = self._implied_rules()
        check_excluded = filters is not None and bool(filters) and not filters.has_per_dir_merge
        if implied is not None and implied.everything:
            implied = None  # the contents of a directory, recursively: every name is fine
        if not check_excluded and implied is None:
            return
        for i, e in enumerate(sh.entries):
            if sh.cleared[i]:
                continue
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

    def _check_parents(self) -> None:
        """Every name's directory must itself be a directory of the list.

        Without this a sender could list a symlink ``d`` and then ``d/file``; the writes
        would never follow the link (the destination refuses symlinks in paths), but the
        list is bad and rsync ends the session.

        rsync: generator.c recv_generator() ("ABORTING due to invalid path from sender").
        """
        sh = self.shared
        dirs = {_rel(e.name) for i, e in enumerate(sh.entries) if e.is_dir and not sh.cleared[i]}
        for i, e in enumerate(sh.entries):
            name = e.name
            cut = name.rfind(b"/")
            if cut <= 0 or sh.cleared[i] or (sh.opts.delete_missing_args and not e.mode):
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
        opts = sh.opts
        return ImpliedRules(
            sh.config.requested,
            relative=opts.relative,
            recurse=opts.recursive,
            dirs=opts.dirs or opts.list_only,
        )

    def _index(self) -> None:
        """Destination paths, per-directory name sets and type counts."""
        sh = self.shared
        local = sh.config.local_name
        stats = self.stats
        rels: list[bytes] = []
        children: dict[bytes, set[bytes]] = {}
        deleting = sh.opts.delete_mode is not None  # only deletions need the name sets
        cleared = sh.cleared
        add_rel = rels.append
        dirs = links = devices = specials = size = 0  # counted in locals: one pass, 100k+
        for i, e in enumerate(sh.entries):
            if local is not None:
                rel = local
            else:  # _rel(), inline
                rel = e.name
                if rel == b".":
                    rel = b""
                elif rel.endswith(b"/."):
                    rel = rel[:-2]
            add_rel(rel)
            if cleared[i]:
                continue
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
        stats.num_files = len(sh.entries) - sum(sh.cleared)
        sh.rels = rels
        sh.children = children

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> ReceiveStats:
        """Read the file list and run generator and receiver; returns the statistics."""
        from rsync_wire.roles.generator import GeneratorRole
        from rsync_wire.roles.receiver import ReceiverRole

        started = time.monotonic()
        sh = self.shared
        await self.read_file_list()
        if sh.entries and self.dest is not None and not sh.config.list_only:
            self._prepare_destination(self.dest)
        self._index()
        if not sh.entries:
            # An empty list: the sender has already gone (docs/protocol.md §13.2).
            self.stats.io_error |= sh.io_error
            self.stats.elapsed = time.monotonic() - started
            return self.stats
        # The generator writes through its own WireStream over the same send stream, so
        # that nothing the receiver does while it reads (a WireStream may flush its
        # output before it waits for input) can interleave with the generator's writes.
        await sh.ws.flush()
        sh.out_ws = WireStream(_NoInput(), sh.ws._send)
        if sh.ws.mux_out:
            sh.out_ws.start_mux_out()
        send, receive = anyio.create_memory_object_stream[ReceiverEvent](math.inf)
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
        if self.shared.tree is not None:
            self.shared.tree.close()
            self.shared.tree = None

    def _prepare_destination(self, dest: bytes) -> None:
        """Open, or create, the destination once the file list is known.

        A directory receives the entries; a missing destination becomes a directory when
        the list holds more than one entry or the path ends in ``/``; otherwise the single
        entry is written under the destination's own name. The path is resolved following
        only symlinks owned by root or by us (:func:`~rsync_wire.fs.open_trusted`), so a
        link another user planted in it cannot send the files elsewhere.

        rsync: main.c get_local_name(); util1.c change_dir(); syscall.c ona_open().
        """
        sh = self.shared
        config = sh.config
        opts = sh.opts
        if not dest:
            dest = b"."
        total = sum(1 for c in sh.cleared if not c)
        trailing = dest.endswith(b"/")
        shown = _show(dest.rstrip(b"/") or b"/")
        try:
            # a plain stat decides, as rsync's do_stat(); entering the directory is checked
            st: os.stat_result | None = os.stat(dest)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            msg = f'ERROR: cannot stat destination "{_show(dest)}": {exc.strerror} ({exc.errno})'
            raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from None
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                sh.tree = self._open_tree(dest, "change_dir#1")
                return
            if total > 1:
                msg = "ERROR: destination must be a directory when copying more than 1 file"
                raise RsyncError(msg, exit_code=ExitCode.FILESELECT)
            if total == 1 and sh.entries[0].is_dir:
                msg = "ERROR: cannot overwrite non-directory with a directory"
                raise RsyncError(msg, exit_code=ExitCode.FILESELECT)
        if total > 1 or trailing:
            if st is not None:
                msg = "ERROR: destination path is not a directory"
                raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
            if not opts.dry_run:
                self._mkdir_dest(dest, shown)
            if sh.entries and sh.entries[0].name == b".":
                config.dest_created = True
            if config.verbose or config.itemize:
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

    def _open_tree(self, path: bytes, what: str) -> DestTree:
        """The destination directory ``path``, reached through trusted symlinks only."""
        from rsync_wire.fs_write import DestTree

        try:
            fd = open_trusted(path, os.O_RDONLY | os.O_DIRECTORY)
        except UntrustedSymlinkError as exc:
            raise self._untrusted(exc, what, path) from None
        except OSError as exc:
            msg = f'{what} "{_show(_full(path))}" failed: {exc.strerror} ({exc.errno})'
            raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from exc
        return DestTree(path, fd=fd)

    def _mkdir_dest(self, dest: bytes, shown: str) -> None:
        """Create the missing destination directory (its parent reached as above)."""
        cut = dest.rstrip(b"/").rfind(b"/")
        parent = dest[:cut] if cut > 0 else (b"/" if cut == 0 else b".")
        name = dest.rstrip(b"/")[cut + 1 :]
        try:
            pfd = open_trusted(parent, os.O_PATH | os.O_DIRECTORY)
            try:
                os.mkdir(name, 0o777, dir_fd=pfd)
            finally:
                os.close(pfd)
        except UntrustedSymlinkError as exc:
            raise self._untrusted(exc, "mkdir", dest) from None
        except OSError as exc:
            msg = f'mkdir "{shown}" failed: {exc.strerror} ({exc.errno})'
            raise RsyncError(msg, exit_code=ExitCode.FILEIO) from None

    def _untrusted(self, exc: OSError, what: str, path: bytes) -> RsyncError:
        """Rsync 3.5's two lines for a destination behind another user's symlink; exit 3."""
        self.shared.reporter.message(Msg.ERROR, (UNTRUSTED_SYMLINK + "\n").encode())
        msg = (
            f'rsync: [Receiver] {what} "{_show(_full(path))}" failed: {exc.strerror} ({exc.errno})'
        )
        return RsyncError(msg, exit_code=ExitCode.FILESELECT)


def full_name(tree: DestTree | None, rel: bytes) -> bytes:
    """A destination name as rsync shows it in errors: from the working directory on.

    rsync: util1.c full_fname().
    """
    base = tree.path.rstrip(b"/") if tree is not None else b"."
    if not base:
        base = b"/"
    base = _full(base).rstrip(b"/")
    return base + b"/" + rel if rel else base or b"/"


def _full(path: bytes) -> bytes:
    """``path`` as rsync shows it in a change_dir error: joined to the working directory."""
    if path.startswith(b"/"):
        return path
    try:
        cwd = os.getcwdb()
    except OSError:
        return path
    return cwd.rstrip(b"/") + b"/" + (b"" if path == b"." else path)


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
    prev = None
    dirs: set[bytes] = set()
    suspicious = False
    for e in entries:
        rel = _rel(e.name)
        if rel == prev:
            suspicious = True
            break
        prev = rel
        if e.is_dir:
            dirs.add(rel)
    if not suspicious and dirs:
        suspicious = any(not e.is_dir and e.name in dirs for e in entries)
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


__all__ += ["Finished", "Shared", "full_name"]
_ = codec  # the NDX codecs are used by the two roles
