"""The sender: file list out, then file data for every request of the generator.

How this works: the sender scans its arguments into a file list and sends it
(unsorted, in scan order; both sides sort it afterwards, and indexes refer to
the sorted order). Then it answers the generator: each request names a file by
index and carries the block checksums of the receiver's basis; the sender echoes
the request, computes the delta of its file against those checksums, and sends
it as tokens followed by the whole-file checksum. NDX_DONE marks the end of each
phase; the sequence of DONEs, the statistics and the goodbye follow docs/protocol.md
§10.9.

rsync: sender.c send_files(), flist.c send_file_list(), main.c do_server_sender().
"""

from __future__ import annotations

import bisect
import errno
import logging
import os
import stat
import time
from array import array
from typing import TYPE_CHECKING, Final

import msgspec

from rsync_delta.hashes import ChecksumRule
from rsync_delta.ops import BlockMatch
from rsync_wire.errors import ExitCode, RemoteProtocolError, RsyncError
from rsync_wire.fs import split_path
from rsync_wire.heapstats import heap_lines
from rsync_wire.proto import codec
from rsync_wire.proto.acls import AclFormatError, RsyncAcl
from rsync_wire.proto.charset import Charset, ConvertError
from rsync_wire.proto.constants import (
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    FnameCmp,
    Item,
    Msg,
    Ndx,
)
from rsync_wire.proto.filters import FilterList
from rsync_wire.proto.flist import FileEntry, FileListEncoder
from rsync_wire.proto.flist_sort import file_list_sort_key, sort_order_of
from rsync_wire.proto.negotiate import sender_symlink_iconv
from rsync_wire.proto.outlevels import OutputLevels
from rsync_wire.proto.phases import SenderFinish, SenderPhases
from rsync_wire.proto.skipcompress import SkipCompress
from rsync_wire.proto.sums import SumHead, decode_block_sums, decode_sum_head
from rsync_wire.proto.tokens import TokenEncoder
from rsync_wire.proto.xattrs import (
    END,
    XattrList,
    encode_reply_item,
    make_list,
    sender_wanted,
    wire_name,
)
from rsync_wire.roles import idnames
from rsync_wire.roles.acls import SendingAcls
from rsync_wire.roles.chmod import ChmodError, ChmodRule, option_rules, parse_chmod, tweak_mode
from rsync_wire.roles.daemon_rules import DaemonRules, add_server_rules
from rsync_wire.roles.fakesuper import fake_stat
from rsync_wire.roles.files_from import read_names_file
from rsync_wire.roles.hlink_debug import sent_lines
from rsync_wire.roles.report import RoleReport, exit_code_for
from rsync_wire.roles.scan import (
    ERROR,
    ERROR_PLAIN,
    WARNING,
    ScanEntry,
    ScanReport,
    list_dir_entries,
    sanitize_path,
    scan,
)
from rsync_wire.roles.sender_ports import ClientSenderPort, SenderPort, ServerSenderPort
from rsync_wire.roles.xattr_fs import read_stat_xattr, read_xattrs
from rsync_wire.roles.xferlog import XferItem, log_item

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import numpy as np
    import numpy.typing as npt

    from rsync_wire.fs import Root
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.module import ModuleContext
    from rsync_wire.stream import WireStream

__all__ = ["SenderRole"]

log = logging.getLogger("rsync_wire.sender")

_READ_SIZE = 256 * 1024
MAX_DAEMON_COMPRESSION_THREADS = 8
"""A daemon's sender starts at most this many zstd workers (rsync: options.c)."""


def _decode_sums(
    buf: bytes | bytearray | memoryview, pos: int, head: SumHead
) -> tuple[tuple[npt.NDArray[np.uint32], bytes], int]:
    weak, strong, end = decode_block_sums(buf, pos, head)
    return (weak, strong), end


def _full_fname(root: bytes, path: bytes) -> bytes:
    """The path a message shows for a file of the scan (rsync: util1.c full_fname())."""
    return os.path.normpath(os.path.join(os.path.abspath(root), path))


class _Names:
    """Local user and group names, looked up once per id."""

    def __init__(self) -> None:
        self.users: dict[int, bytes | None] = {}
        self.groups: dict[int, bytes | None] = {}

    def user(self, uid: int) -> bytes | None:
        try:
            return self.users[uid]
        except KeyError:
            name = self.users[uid] = idnames.user_of(uid)
            return name

    def group(self, gid: int) -> bytes | None:
        try:
            return self.groups[gid]
        except KeyError:
            name = self.groups[gid] = idnames.group_of(gid)
            return name


_DEVICE_TYPES: Final = frozenset((S_IFCHR, S_IFBLK))
# A symlink's size is its target's length; devices and specials are listed with none.
_SIZED_TYPES: Final = frozenset((S_IFREG, S_IFDIR, S_IFLNK))
# What the total size counts (rsync: flist.c send_file_entry(), stats.total_size).
_COUNTED_TYPES: Final = frozenset((S_IFREG, S_IFLNK))

_MUNGE_PREFIX = b"/rsyncd-munged/"
"""What a daemon with ``munge symlinks`` puts before the targets of symlinks it stores.

rsync: rsync.h SYMLINK_PREFIX.
"""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The iflags bits the request loop tests, as plain ints (IntFlag arithmetic is slow).
_TRANSFER = int(Item.TRANSFER)
_BASIS_TYPE_FOLLOWS = int(Item.BASIS_TYPE_FOLLOWS)
_XNAME_FOLLOWS = int(Item.XNAME_FOLLOWS)
_IS_NEW = int(Item.IS_NEW)
_REPORT_XATTR = int(Item.REPORT_XATTR)
_HLINK_ITEM = int(Item.XNAME_FOLLOWS | Item.LOCAL_CHANGE)
_FNAME = int(FnameCmp.FNAME)
_PARTIAL_DIR = int(FnameCmp.PARTIAL_DIR)
_MISSING_DATA = 1 << 16  # rsync.h ITEM_MISSING_DATA: no iflags below protocol 29 (log only)


# Entries listed ahead of what the generator has finished. rsync keeps 1000
# (MIN_FILECNT_LOOKAHEAD) and tops up whenever its sender idles; a Python sender reacts
# more slowly, so it keeps more in flight and tops up by a whole batch when it would wait.
_LOOKAHEAD = 5000
_IDLE_BATCH = 1000


class _SentList:
    """One file list as sent, in sorted order (what requests index into)."""

    __slots__ = (
        "base_ids",
        "devs",
        "links",
        "modes",
        "mtimes",
        "names",
        "parent",
        "sizes",
        "start",
    )

    def __init__(
        self,
        start: int,
        names: list[bytes],
        modes: array[int],
        base_ids: array[int],
        devs: list[int],
        sizes: array[int],
        mtimes: array[int],
        links: dict[bytes, bytes] | None = None,
    ) -> None:
        self.start = start
        self.names = names
        self.modes = modes
        self.base_ids = base_ids
        self.devs = devs  # directories whose contents follow in a sub-list: their st_dev
        self.sizes = sizes  # the sizes listed (rsync: F_LENGTH)
        self.mtimes = mtimes  # the modification times listed, in ns
        self.links = links  # symlink targets by name, kept only for a client's item lines
        self.parent = -1  # a sub-list's directory number (rsync: parent_ndx), else -1


def _join(base: bytes, name: bytes) -> bytes:
    if name == b".":
        return base or b"."
    return base + b"/" + name if base else name


class _Selection:
    """The client's filter rules and the daemon module's, as the scan asks for them.

    The client's rules see names relative to the transfer root; the module's see paths
    relative to the module root (rsync: daemon_filter_list) and are checked first, for
    every name, whatever the client sent. Merge files are read through the confined root,
    and one the module's rules hide reads as missing.
    """

    def __init__(
        self,
        root: Root,
        client: FilterList,
        daemon: DaemonRules | None,
        *,
        ignore_nonreadable: bool = False,
    ) -> None:
        self.root = root
        self.client = client
        self.daemon = daemon
        self.ignore_nonreadable = ignore_nonreadable
        self.base = b""

    def start_arg(self, base: bytes) -> None:
        self.base = base
        self.client.root = b"/" + base

    def read_file(self, path: bytes) -> bytes | None:
        rel = (
            path[1:] if path.startswith(b"/") else (self.base + b"/" + path if self.base else path)
        )
        if self.daemon is not None and (
            self.daemon.hidden_dir(rel, include_last=False) is not None
            or self.daemon.hides(rel, is_dir=False)
        ):
            return None  # rsync: exclude.c parse_filter_file() ("hidden by daemon filter")
        try:
            fd = self.root.open(rel)
        except OSError:
            return None
        try:
            return os.read(fd, 1 << 20)
        finally:
            os.close(fd)

    def excluded(self, name: bytes, path: bytes, *, is_dir: bool) -> bool:
        if self.daemon is not None and self.daemon.hides(path, is_dir=is_dir):
            return True
        return bool(self.client) and self.client.excluded(name, is_dir=is_dir)

    def drain_trace(self) -> list[str]:
        """The ``--debug=FILTER`` lines written since the last call (none: no trace)."""
        return []

    def unreadable(self, path: bytes, st: os.stat_result) -> bool:
        """The module's ``ignore nonreadable``: leave out what the daemon cannot read.

        rsync: flist.c make_file() (lp_ignore_nonreadable(), not for symlinks).
        """
        if not self.ignore_nonreadable or stat.S_ISLNK(st.st_mode):
            return False
        rel = b"/".join(split_path(path)) or b"."
        try:
            return not os.access(rel, os.R_OK, dir_fd=self.root.fd, follow_symlinks=False)
        except OSError:
            return True

    def enter_dir(self, name: bytes) -> object:
        return self.client.enter_dir(name, self.read_file)

    def leave_dir(self, token: object) -> None:
        self.client.leave_dir(token)  # type: ignore[arg-type]

    def take_io_error(self) -> int:
        bits, self.client.io_error = self.client.io_error, 0
        return bits


class _TracedSelection(_Selection):
    """A :class:`_Selection` that also tells which rule decided for each name.

    Used only at ``--debug=FILTER`` (``-vv``), so that the plain one does no per-name
    work for the trace.

    rsync: exclude.c check_filter() (report_filter_result(), FINFO).
    """

    def __init__(
        self,
        root: Root,
        client: FilterList,
        daemon: DaemonRules | None,
        *,
        ignore_nonreadable: bool = False,
    ) -> None:
        super().__init__(root, client, daemon, ignore_nonreadable=ignore_nonreadable)
        # what was said while the rules were received comes first
        self.lines: list[str] = client.debug_rules or []
        client.debug_rules = None

    def excluded(self, name: bytes, path: bytes, *, is_dir: bool) -> bool:
        if self.daemon is not None and self.daemon.hides(path, is_dir=is_dir):
            return True  # rsync logs the daemon's verdict to its own log (FLOG), not here
        if not self.client:
            return False
        line = self.client.trace(name, is_dir=is_dir, who="sender")
        if line is not None:
            self.lines.append(line)
        return self.client.excluded(name, is_dir=is_dir)

    def enter_dir(self, name: bytes) -> object:
        # rsync's add_rule() lines for a per-dir rule ending in whitespace, in order
        client = self.client
        saved = client.who, client.debug_rules
        client.who, client.debug_rules = "sender", self.lines
        try:
            return client.enter_dir(name, self.read_file)
        finally:
            client.who, client.debug_rules = saved

    def drain_trace(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


class SenderRole:
    """The sending side of one session.

    Args:
        ws: the connection, already multiplexed as the protocol requires.
        session: what was negotiated.
        opts: the transfer options.
        root: the tree the paths are inside.
        paths: the source arguments, relative to ``root``.
        module: the daemon module, whose own filter rules apply before the client's.
        server: whether we are the server; only read when ``port`` is not given (a server
            port is made).
        port: what differs between a server sender and a client sender (where rules,
            names and messages come and go; see :mod:`rsync_wire.roles.sender_ports`).
    """

    def __init__(
        self,
        ws: WireStream,
        session: Session,
        opts: TransferOptions,
        root: Root,
        paths: list[bytes],
        *,
        module: ModuleContext | None = None,
        server: bool = True,
        port: SenderPort | None = None,
        charset: Charset | None = None,
    ) -> None:
        if port is None:
            if not server:
                msg = "a client sender needs its port"
                raise ValueError(msg)
            port = ServerSenderPort(module)
        self.port = port
        # --iconv: this side's charset; names (and, if agreed, symlink targets) go out in
        # UTF-8, and the list goes out in its sorted order, so that the indexes both sides
        # use (the order of transmission, rsync's F_NDX) are this side's sorted ones
        self.charset = charset
        if isinstance(port, (ServerSenderPort, ClientSenderPort)):
            port.charset = charset
        self._iconv_links = charset is not None and sender_symlink_iconv(
            session.compat_flags, server=port.server, capabilities=opts.capabilities or ""
        )
        self._iconv_io_error = 0
        self.deltasum = [0, 0, 0]  # blocks matched, hash hits, false alarms (all files)
        self.local_info: Callable[[str], None] | None = None
        self.ws = ws
        self.session = session
        self.opts = opts
        self.root = root
        self.paths = paths
        self.top = b""  # --files-from: the directory the names are relative to
        self._shown_root: bytes | None = None  # the root as messages name it (_scan_report)
        self.module = module
        self.server = port.server
        self.report = RoleReport()
        # A client sender prints item lines (symlinks show their targets) and counts the
        # listed entries by type for its --stats; a server does neither.
        self._keep_links = port.wants_items
        self.kinds = [0, 0, 0, 0]  # dirs, symlinks, devices, specials listed
        self.flist_size = 0
        self._sending: tuple[bytes, int] | None = None  # a client's file in progress
        self.rule = ChecksumRule.for_session(
            protocol=session.protocol,
            negotiated=session.checksum if session.checksum_negotiated else None,
            seed=session.seed,
            seed_fix=session.seed_fix,
        )
        fresh = self.rule.file_hasher()
        # copying a fresh hasher is cheaper than building one per file
        self._hasher_proto = fresh if hasattr(fresh, "copy") else None
        self._names = _Names()
        self._acls = SendingAcls(opts) if opts.preserve_acls else None
        self.inc = session.inc_recurse
        self.encoder = FileListEncoder(session, opts)
        levels = OutputLevels.build(verbose=opts.verbose, info=opts.info, debug=opts.debug)
        self._hlink_debug = levels.debug.get("HLINK", 0) if opts.preserve_hard_links else 0
        self._filter_debug = levels.debug_gte("FILTER")
        self._hlink_devs: set[int] = set()
        if self._hlink_debug and session.uses_varint:
            self.encoder.hlink_notes = []  # rsync: flist.c send_file_entry() (DEBUG_GTE(HLINK))
        # The file lists sent and not yet finished by the generator, kept lean (100,000
        # entries must fit in a few MiB): sorted names, modes and argument-base indexes.
        self.lists: list[_SentList | None] = []
        self.starts: list[int] = []
        self.first_live = 0
        self.live_entries = 0
        self.bases: list[bytes] = []
        self.flist_eof = False
        self.selection: _Selection | None = None
        self._sent: set[int] = set()  # indexes sent once (rsync: FLAG_FILE_SENT)
        self._map_errno = 0  # the first read error of the file being sent
        self._succeeded: list[int] = []  # MSG_SUCCESS indexes not yet acted on
        # --only-write-batch in a push: where file data goes instead of the receiver
        self.batch_only: Callable[[bytes], None] | None = None
        self._chmod: list[ChmodRule] = []
        self._munge = (module is not None and module.munge_symlinks) or opts.munge_links
        if module is not None and module.outgoing_chmod:
            try:
                self._chmod = parse_chmod(module.outgoing_chmod, umask=_umask())
            except ChmodError:
                # rsync logs the bad directive and serves without it
                log.warning(
                    '%s Invalid "outgoing chmod" directive: %s',
                    module.log_prefix,
                    module.outgoing_chmod,
                )
        if opts.chmod:  # after the module's, as rsync appends them (rsync: options.c)
            try:
                self._chmod += option_rules(opts.chmod, umask=_umask())
            except ChmodError as exc:
                raise RsyncError(str(exc), exit_code=ExitCode.SYNTAX) from None
        # Incremental recursion: every directory listed so far (rsync's dir_flist) as
        # (name, base index, device or -1 when its contents are not sent), and the
        # depth-first queue of directories whose lists are still to be sent.
        self._dirs: list[tuple[bytes, int, int]] = []
        self._dups: dict[int, list[int]] = {}  # a directory's later namesakes (see above)
        self._dfs: list[tuple[Iterator[int], object]] = []
        # -R with incremental recursion: what each directory's sub-list adds to its contents
        self._relnames: dict[bytes, list[ScanEntry]] = {}
        # -X: the abbreviated values the generator asked for, sent after the echo
        self._xa_todo: list[int] | None = None
        self.ndx_out = codec.NdxEncoder(protocol=session.protocol)
        self.ndx_in = codec.NdxDecoder(protocol=session.protocol)
        threads = max(0, opts.compress_threads or 0)
        if module is not None:
            # a daemon's client must not make it start hundreds of zstd workers
            # (rsync: options.c MAX_DAEMON_COMPRESSION_THREADS)
            threads = min(threads, MAX_DAEMON_COMPRESSION_THREADS)
        self.tokens = TokenEncoder(
            session.compression,
            protocol=session.protocol,
            level=session.compress_level,
            threads=threads,
        )
        # files sent at level 0 (dont compress, --skip-compress): zlib and zlibx only
        self._skip = (
            SkipCompress(
                opts.skip_compress,
                module.dont_compress if module is not None else None,
                daemon=module is not None,
            )
            if self.tokens.compression in ("zlib", "zlibx")
            else None
        )

    # -- file list -----------------------------------------------------------------------------

    async def _read_filters(self) -> _Selection | None:
        """The client's rules and the module's; ``None`` when there are none (the fast path)."""
        protocol = self.session.protocol
        if self.opts.server_rules and isinstance(self.port, ServerSenderPort):
            # -M --filter/--exclude/--include: before the client's list, their '.' merge
            # files read inside the module (rsync: options.c parse_arguments()).
            daemon = DaemonRules.for_module(self.module, protocol=protocol)
            read = _Selection(self.root, FilterList(), daemon).read_file
            rules = self.opts.server_rules
            self.port.prepare = lambda fl: add_server_rules(
                fl, rules, read_file=read, daemon=daemon
            )
        client = await self.port.filter_rules(self.ws, self.session, self.opts)
        if self.local_info is not None:
            # a local copy's sender has the client's rules as they were parsed: the
            # client said what there was to say about them
            client.debug_rules = None
        module = self.module
        if module is not None and module.sanitize_paths:
            # without chroot rsync names a merge file by its path on the host
            client.shown_root = os.fsencode(module.shown_path or module.path)
        daemon = DaemonRules.for_module(self.module, protocol=protocol)
        nonreadable = self.module is not None and self.module.ignore_nonreadable
        if not client and daemon is None and not nonreadable:
            return None
        kind = _TracedSelection if self._filter_debug else _Selection
        return kind(self.root, client, daemon, ignore_nonreadable=nonreadable)

    async def _send_file_list(self, filters: _Selection | None) -> None:
        """Send the first (or only) file list, with its trailer.

        rsync: flist.c send_file_list().
        """
        start = time.monotonic()
        report = self._scan_report()
        held: list[object] = []
        written = self.ws.bytes_written
        self.port.file_list_started(incremental=self.inc)
        items = scan(
            self.root,
            self.paths,
            self.opts,
            filters,
            report,
            descend=not self.inc,
            held=held,
            protocol=self.session.protocol,
            top=self.top,
        )
        if self.inc and self.opts.relative:
            items = self._defer_deep(items)
        flist = await self._encode_list(items)
        report.io_error |= self._iconv_io_error
        self._iconv_io_error = 0
        if held:
            self._held_token = held[0]
        await self._report_scan(report)
        io_error = report.io_error
        out = self.ws.out
        carried = self.encoder.encode_end_into(out, io_error)
        self.encoder.encode_id_lists_into(
            out,
            uid0_name=None if self.opts.numeric_ids else self._names.user(0),
            gid0_name=None if self.opts.numeric_ids else self._names.group(0),
        )
        self.encoder.encode_io_error_into(out, io_error)
        built = time.monotonic()
        self.flist_size += self.ws.bytes_written - written
        await self.ws.flush()
        self.port.file_list_done(len(flist.names))
        log.debug("file list: %d entries sent (%d bytes)", len(flist.names), self.flist_size)
        if not carried and io_error and self.session.protocol >= 30:
            await self.ws.write_message(Msg.IO_ERROR, io_error.to_bytes(4, "little"))
        self.report.io_error |= io_error
        self.report.flist_buildtime_ms = max(1, int((built - start) * 1000))
        self.report.flist_xfertime_ms = int((time.monotonic() - built) * 1000)
        self._add_list(flist)
        if self.inc:
            self._push_children(flist, token=getattr(self, "_held_token", None))
            if not self._dfs:
                self.ws.write_ndx(self.ndx_out, Ndx.FLIST_EOF)
                self.flist_eof = True
            elif len(flist.names) == 1:
                await self._send_extra_list()  # the receiver checks for a one-file transfer
        else:
            self.flist_eof = True

    def _defer_deep(self, items: Iterable[ScanEntry]) -> Iterator[ScanEntry]:
        """``-R`` with incremental recursion: each list holds one level of the paths.

        The first list gets the first component of every path; a deeper name (an implied
        directory, or the named file itself) waits for its directory's sub-list, which
        rsync's receiver checks: every name of a sub-list is in its directory.

        rsync: flist.c send_implied_dirs() (the relname lists), send1extra().
        """
        for item in items:
            name = item.name
            cut = name.rfind(b"/")
            if cut <= 0:
                yield item
            else:
                self._relnames.setdefault(name[:cut], []).append(item)

    async def _encode_list(self, items: Iterable[ScanEntry]) -> _SentList:
        """Encode entries into the output as one list; returns the list in sorted order."""
        encoder = self.encoder
        out = self.ws.out
        names: list[bytes] = []
        modes = array("I")
        sizes = array("q")
        mtimes = array("q")
        base_ids = array("H")
        devs: list[int] = []
        bases = self.bases
        links: dict[bytes, bytes] | None = {} if self._keep_links else None
        charset = self.charset
        if charset is not None:
            protocol = self.session.protocol
            items = sorted(
                items,
                key=lambda it: file_list_sort_key(
                    it.name, is_dir=stat.S_ISDIR(it.st.st_mode), protocol=protocol
                ),
            )
        to_entry = self._entry_maker()
        encode = encoder.encode_into
        add_name, add_mode, add_size = names.append, modes.append, sizes.append
        add_mtime, add_base, add_dev = mtimes.append, base_ids.append, devs.append
        base_id = len(bases) - 1
        last_base = bases[-1] if bases else None
        total = 0
        for item in items:
            entry = to_entry(item)
            if charset is None:
                encode(out, entry)
            else:
                wire = await self._to_wire(entry, charset, item.path)
                if wire is None:
                    continue
                encode(out, wire)
            if encoder.hlink_notes:
                await self._hlink_lines(encoder.hlink_notes)
            base = item.base
            if base is not last_base:
                # a new argument's base, or the same name as another object
                if base_id < 0 or bases[-1] != base:
                    bases.append(base)
                    base_id += 1
                else:
                    bases[-1] = base
                last_base = base
            st = item.st
            mode = entry.mode
            fmt = mode & S_IFMT
            add_name(entry.name)
            add_mode(mode)
            add_size(entry.size)
            add_mtime(st.st_mtime_ns)
            add_base(base_id)
            add_dev(st.st_dev if fmt == S_IFDIR and not item.no_content else -1)
            if fmt in _COUNTED_TYPES:
                total += entry.size
            if links is not None and entry.link_target is not None:
                links[entry.name] = entry.link_target
            if len(out) >= 256 * 1024:
                await self.ws.flush()
        self.report.total_size += total
        start = encoder.list_start
        order = sort_order_of(names, modes, protocol=self.session.protocol)
        self.report.num_files += len(names)
        if not self.server:
            self._count_kinds(modes)
        if order != list(range(len(order))):
            names = [names[i] for i in order]
            modes = array("I", [modes[i] for i in order])
            base_ids = array("H", [base_ids[i] for i in order])
            devs = [devs[i] for i in order]
            sizes = array("q", [sizes[i] for i in order])
            mtimes = array("q", [mtimes[i] for i in order])
        return _SentList(start, names, modes, base_ids, devs, sizes, mtimes, links)

    async def _to_wire(self, entry: FileEntry, charset: Charset, path: bytes) -> FileEntry | None:
        """``entry`` with its name (and symlink target) in UTF-8; ``None``: it does not convert.

        rsync: flist.c send_file_entry() (ic_send; "cannot convert filename", "cannot convert
        symlink data for", each an IOERR_GENERAL and the entry left out).
        """
        try:
            name = charset.to_wire(entry.name)
        except ConvertError as exc:
            self._iconv_io_error |= 1
            shown = entry.name.decode("utf-8", "surrogateescape")
            await self._error(f"[sender] cannot convert filename: {shown} ({exc})", plain=True)
            return None
        target = entry.link_target
        if target is not None and self._iconv_links:
            try:
                target = charset.to_wire(target)
            except ConvertError as exc:
                self._iconv_io_error |= 1
                shown = _full_fname(self.root.path, path).decode("utf-8", "surrogateescape")
                await self._error(
                    f'[sender] cannot convert symlink data for: "{shown}" ({exc})', plain=True
                )
                return None
        return msgspec.structs.replace(entry, name=name, link_target=target)

    def _count_kinds(self, modes: Iterable[int]) -> None:
        """Count listed entries by type, as rsync's sender does for ``--stats``.

        rsync: flist.c send_file_entry() (stats.num_dirs, num_symlinks, ...).
        """
        kinds = self.kinds
        for mode in modes:
            fmt = stat.S_IFMT(mode)
            if fmt == stat.S_IFREG:
                continue
            if fmt == stat.S_IFDIR:
                kinds[0] += 1
            elif fmt == stat.S_IFLNK:
                kinds[1] += 1
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                kinds[2] += 1
            else:
                kinds[3] += 1

    def _add_list(self, flist: _SentList) -> None:
        self.lists.append(flist)
        self.starts.append(flist.start)
        self.live_entries += len(flist.names)

    def _push_children(self, flist: _SentList, *, token: object) -> None:
        """Number the list's directories (rsync's dir_flist) and queue their sub-lists.

        Directories of the same name (one per source argument) share one sub-list, sent
        under the first one's number with the contents of all: the receiver keeps only the
        first of equal names (rsync: flist.c send_extra_file_list(), FLAG_DUPLICATE).
        """
        children: list[int] = []
        first_of_name = -1
        prev_dir: bytes | None = None
        modes = flist.modes
        dirs = self._dirs
        for i, name in enumerate(flist.names):
            if modes[i] & S_IFMT != S_IFDIR:
                prev_dir = None
                continue
            number = len(dirs)
            dirs.append((name, flist.base_ids[i], flist.devs[i]))
            if name == b"." or name.endswith(b"/."):
                prev_dir = None
                continue
            if name == prev_dir:
                self._dups.setdefault(first_of_name, []).append(number)
                continue
            prev_dir = name
            first_of_name = number
            children.append(number)
        if not children:
            # Nothing below this list: its merge rules end here, and an empty queue lets the
            # first list end with NDX_FLIST_EOF (rsync: flist.c send_file_list(), the
            # send_dir_ndx < 0 case).
            if token is not None and self.selection is not None:
                self.selection.leave_dir(token)
            return
        self._dfs.append((iter(children), token))

    def _next_dir(self) -> int | None:
        """The next directory whose list is due, in rsync's depth-first order."""
        while self._dfs:
            it, token = self._dfs[-1]
            number = next(it, None)
            if number is not None:
                return number
            self._dfs.pop()
            if token is not None and self.selection is not None:
                self.selection.leave_dir(token)
        return None

    async def _send_extra_list(self) -> None:
        """Send the next directory's list, or NDX_FLIST_EOF after the last one.

        rsync: flist.c send_extra_file_list(), send1extra().
        """
        if self.flist_eof:
            return
        number = self._next_dir()
        ws = self.ws
        if number is None:
            ws.write_ndx(self.ndx_out, Ndx.FLIST_EOF)
            self.flist_eof = True
            return
        written = ws.bytes_written
        ws.write_ndx(self.ndx_out, Ndx.FLIST_OFFSET - number)
        token = None
        items: list[ScanEntry] = []
        # the same name from later arguments first, each with its own rules; the first
        # one's rules stay in force for what lies below
        members = [*self._dups.pop(number, []), number]
        report = self._scan_report(self.bases[self._dirs[number][1]])
        for member in members:
            name, base_id, dev = self._dirs[member]
            base = self.bases[base_id]
            if dev < 0:  # a directory whose contents are not part of the transfer
                continue
            report.cwd = base
            sel = self.selection
            member_token = None
            if sel is not None:
                sel.start_arg(base)
                member_token = sel.enter_dir(name)
            listed = list_dir_entries(
                self.root, name, _join(base, name), dev, self.opts, sel, report, recurse=True
            )
            for item in listed:
                item.base = base
            items += listed
            if member == number:
                token = member_token
            elif member_token is not None and sel is not None:
                sel.leave_dir(member_token)
        deferred = self._relnames.pop(self._dirs[number][0], None)
        if deferred:
            items += deferred  # what -R named below this directory
        flist = await self._encode_list(items)
        report.io_error |= self._iconv_io_error
        self._iconv_io_error = 0
        flist.parent = number
        await self._report_scan(report)
        carried = self.encoder.encode_end_into(ws.out, report.io_error)
        self.flist_size += ws.bytes_written - written
        self.report.io_error |= report.io_error
        if not carried and report.io_error:
            await ws.write_message(Msg.IO_ERROR, report.io_error.to_bytes(4, "little"))
        self._add_list(flist)
        self._push_children(flist, token=token)

    async def _send_lists_ahead(self, at_least: int) -> None:
        """Keep ``at_least`` entries listed beyond those the generator has finished."""
        while not self.flist_eof and self.live_entries < at_least:
            await self._send_extra_list()

    async def _send_idle_batch(self) -> None:
        """About to wait for the generator: list about ``_IDLE_BATCH`` more entries."""
        target = self.live_entries + _IDLE_BATCH
        while not self.flist_eof and self.live_entries < target:
            await self._send_extra_list()

    def _scan_report(self, cwd: bytes = b"") -> ScanReport:
        """A scan report whose messages name files as rsync's do (see ScanReport.full).

        ``cwd`` is the directory of the argument the names come from.
        """
        if self.module is not None:
            return ScanReport(module=self.module.name, cwd=cwd)
        prefix = self._shown_root
        if prefix is None:  # once: every directory's list makes a report
            prefix = self._shown_root = os.path.abspath(self.root.path)
        return ScanReport(prefix=prefix, cwd=cwd)

    async def _report_scan(self, report: ScanReport) -> None:
        if self.selection is not None:
            for line in self.selection.drain_trace():
                await self._info(line)
        for kind, text in report.messages:
            if kind in (ERROR, ERROR_PLAIN):
                self.report.transfer_errors += 1
                await self._error(text, plain=kind == ERROR_PLAIN)
            elif kind == WARNING:
                await self._warning(text)
            else:
                await self._info(text)
        report.messages.clear()

    def _locate(self, ndx: int) -> tuple[_SentList, int] | None:
        """The live list holding index ``ndx`` and the position in it, or ``None``.

        A list answers for ``start - 1`` (its parent directory) as rsync's flist_for_ndx()
        does; the position is then -1.
        """
        k = bisect.bisect_right(self.starts, ndx + 1) - 1
        if k < self.first_live:
            return None
        flist = self.lists[k]
        if flist is None:
            return None
        pos = ndx - flist.start
        if pos >= len(flist.names):
            return None
        return flist, pos

    def _entry_maker(self) -> Callable[[ScanEntry], FileEntry]:
        """What turns scanned entries into file-list entries for the options in force.

        Without the options that change an entry beyond its ``lstat`` (``--fake-super``,
        ``--copy-devices``, ``--chmod``, munged links, ``-c``, ``-A``, ``-X``, ``-U``),
        a lean function builds each entry from its ``lstat`` and passes only the fields
        that may differ from their defaults; a device goes the full way (its numbers).
        Otherwise every entry goes through :meth:`_to_entry`.
        """
        opts = self.opts
        full = self._to_entry
        if (
            opts.fake_super
            or opts.copy_devices
            or self._chmod
            or self._munge
            or opts.always_checksum
            or self._acls is not None
            or opts.preserve_xattrs
            or opts.preserve_atimes
        ):
            return full
        uids = opts.preserve_uid
        gids = opts.preserve_gid
        user = self._names.user if uids and not opts.numeric_ids else None
        group = self._names.group if gids and not opts.numeric_ids else None
        hard = bool(opts.preserve_hard_links)

        def plain(item: ScanEntry) -> FileEntry:
            st = item.st
            mode = st.st_mode
            fmt = mode & S_IFMT
            if fmt in _DEVICE_TYPES:
                return full(item)
            is_dir = fmt == S_IFDIR
            uid = st.st_uid if uids else 0
            gid = st.st_gid if gids else 0
            ns = st.st_mtime_ns
            if fmt != S_IFLNK and not is_dir and not hard:
                # the common file: no target, no hard-link data, no directory flags
                return FileEntry(
                    name=item.name,
                    mode=mode,
                    size=st.st_size if fmt == S_IFREG else 0,
                    mtime=ns // 1_000_000_000,
                    mtime_nsec=ns % 1_000_000_000,
                    uid=uid,
                    gid=gid,
                    user_name=user(uid) if user is not None else None,
                    group_name=group(gid) if group is not None else None,
                    nlink=st.st_nlink,
                )
            linked = hard and not is_dir
            return FileEntry(
                name=item.name,
                mode=mode,
                size=st.st_size if fmt in _SIZED_TYPES else 0,
                mtime=ns // 1_000_000_000,
                mtime_nsec=ns % 1_000_000_000,
                uid=uid,
                gid=gid,
                user_name=user(uid) if user is not None else None,
                group_name=group(gid) if group is not None else None,
                link_target=item.link_target,
                hl_dev=st.st_dev if linked else None,
                hl_ino=st.st_ino if linked else None,
                nlink=st.st_nlink,
                top_dir=item.top_dir and is_dir,
                no_content_dir=item.no_content and is_dir,
            )

        return plain

    def _to_entry(self, item: ScanEntry) -> FileEntry:
        st = item.st
        opts = self.opts
        target = item.link_target
        if opts.fake_super:  # rsync: flist.c make_file() (x_lstat)
            real_reg = stat.S_ISREG(st.st_mode)
            st = self._fake_stat(item.path, st)
            if real_reg and stat.S_ISLNK(st.st_mode) and opts.preserve_links:
                target = self._fake_link_target(item.path)  # rsync: do_readlink()
        mode = st.st_mode
        if opts.copy_devices and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
            # --copy-devices: a device is sent as a file of its contents, its mtime "now"
            # (rsync: flist.c make_file())
            st = _device_as_file(st, self._device_size(item.path) if not st.st_size else 0)
            mode = st.st_mode
        if self._chmod and not stat.S_ISLNK(mode) and mode:
            mode = tweak_mode(mode, self._chmod)  # rsync: flist.c make_file(), chmod_modes
        if (
            self._munge
            and target is not None
            and len(target) > len(_MUNGE_PREFIX)
            and target.startswith(_MUNGE_PREFIX)
        ):
            target = target[len(_MUNGE_PREFIX) :]  # rsync: flist.c readlink_stat()
        csum = None
        if opts.always_checksum and stat.S_ISREG(mode):
            csum = self._file_checksum(item.path)
        is_dev = stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        # A symlink's size is its target's length, listed with -l or not.
        sized = stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)
        size = st.st_size if sized else 0
        hard = opts.preserve_hard_links and not stat.S_ISDIR(mode)
        names = not opts.numeric_ids
        acl, def_acl = (
            self._acls_of(item.path, item.st.st_mode, mode)
            if self._acls is not None and not stat.S_ISLNK(mode)
            else (None, None)
        )
        return FileEntry(
            name=item.name,
            mode=mode,
            size=size,
            mtime=st.st_mtime_ns // 1_000_000_000,
            mtime_nsec=st.st_mtime_ns % 1_000_000_000,
            # --atimes: non-directories carry their access time (rsync: flist.c make_file())
            atime=st.st_atime_ns // 1_000_000_000
            if opts.preserve_atimes and not stat.S_ISDIR(mode)
            else None,
            uid=st.st_uid if opts.preserve_uid else 0,
            gid=st.st_gid if opts.preserve_gid else 0,
            user_name=self._names.user(st.st_uid) if names and opts.preserve_uid else None,
            group_name=self._names.group(st.st_gid) if names and opts.preserve_gid else None,
            rdev_major=os.major(st.st_rdev) if is_dev else 0,
            rdev_minor=os.minor(st.st_rdev) if is_dev else 0,
            link_target=target,
            checksum=csum,
            hl_dev=st.st_dev if hard else None,
            hl_ino=st.st_ino if hard else None,
            nlink=st.st_nlink,
            top_dir=item.top_dir and stat.S_ISDIR(mode),
            no_content_dir=item.no_content and stat.S_ISDIR(mode),
            xattrs=self._xattrs_of(item.path, item.st.st_mode) if opts.preserve_xattrs else None,
            acl=acl,
            def_acl=def_acl,
        )

    def _acls_of(
        self, path: bytes, real_mode: int, mode: int
    ) -> tuple[RsyncAcl | None, RsyncAcl | None]:
        """The entry's access and default ACL (rsync: flist.c send_file_name(), get_acl())."""
        assert self._acls is not None  # noqa: S101 - the caller checked
        try:
            dfd, name = self.root.parent_and_name(path)
        except OSError as exc:
            return self._acl_failed(path, exc)
        try:
            return self._acls.of(dfd, name, real_mode, mode)
        except (OSError, AclFormatError) as exc:
            return self._acl_failed(path, exc)
        finally:
            os.close(dfd)

    def _acl_failed(self, path: bytes, exc: Exception) -> tuple[None, None]:
        """The ACLs of ``path`` could not be read: an I/O error; the mode's are sent."""
        self.report.io_error |= 1  # rsync: IOERR_GENERAL
        log.warning("get_acl: %r: %s", path, exc)
        return None, None

    def _fake_stat(self, path: bytes, st: os.stat_result) -> os.stat_result:
        """``st`` as the ``%stat`` xattr of ``path`` records it (``--fake-super``)."""
        try:
            dfd, name = self.root.parent_and_name(path)
        except OSError:
            return st
        try:
            return fake_stat(st, read_stat_xattr(dfd, name, st.st_mode))
        except OSError:
            return st
        finally:
            os.close(dfd)

    def _fake_link_target(self, path: bytes) -> bytes | None:
        try:
            fd = self.root.open(path)
        except OSError:
            return None
        try:
            return os.read(fd, 4096) or None
        finally:
            os.close(fd)

    def _local_xattrs(self, path: bytes, mode: int) -> list[tuple[bytes, bytes]]:
        """The attributes of ``path`` a sender lists (rsync: xattrs.c rsync_xal_get()).

        A symlink that ``-L`` & co. followed gives its own, as rsync's ``llistxattr()``
        on the name does (rsync: flist.c send_file_name(), get_xattr() with no fd).
        """
        xx = self.opts.preserve_xattrs > 1
        fake = self.opts.fake_super
        dfd, name = self.root.parent_and_name(path)
        try:
            return read_xattrs(
                dfd,
                name,
                mode,
                lambda n: sender_wanted(n, fake_super=fake, xx=xx),
                link_own=True,
            )
        finally:
            os.close(dfd)

    def _xattrs_of(self, path: bytes, mode: int) -> XattrList:
        """The entry's xattr list, long values as digests (rsync: xattrs.c get_xattr())."""
        try:
            items = make_list(self._local_xattrs(path, mode))
        except OSError:
            self.report.io_error |= 1  # rsync: flist.c send_file_name() (IOERR_GENERAL)
            return ()
        if self.opts.fake_super:  # rsync: xattrs.c send_xattr() unwraps user.rsync.
            items = tuple(
                msgspec.structs.replace(x, name=wire_name(x.name, fake_super=True)) for x in items
            )
        return items

    async def _read_xattr_request(self) -> list[int]:
        """The ``num`` of each abbreviated value the generator wants.

        rsync: xattrs.c recv_xattr_request() (sender side).
        """
        nums: list[int] = []
        num = 0
        while rel := await self.ws.read_varint():
            num += rel
            if not 0 < num <= 1 << 16:
                msg = f"[sender] could not find xattr #{num}"
                raise RemoteProtocolError(msg)
            nums.append(num)
        return nums

    def _write_xattr_reply(self, path: bytes, mode: int, nums: list[int]) -> None:
        """The values asked for, read again, then the end (rsync: send_xattr_request())."""
        try:
            local = sorted(self._local_xattrs(path, mode))
        except OSError:
            local = []
        buf = bytearray()
        prior = 0
        for num in sorted(set(nums)):
            value = local[num - 1][1] if num <= len(local) else b""
            encode_reply_item(buf, num, prior, value)
            prior = num
        buf += END
        self.ws.write(buf)

    def _device_size(self, path: bytes) -> int:
        """A device's size: how far its end is (rsync: util1.c get_device_size())."""
        try:
            fd = self.root.open(path)
        except OSError:
            return 0
        try:
            return os.lseek(fd, 0, os.SEEK_END)
        except OSError:
            return 0
        finally:
            os.close(fd)

    def _file_checksum(self, path: bytes) -> bytes:
        h = self.rule.checksum_hasher()
        try:
            fd = self.root.open(path)
        except OSError:
            return bytes(self.rule.digest_size)
        try:
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
        finally:
            os.close(fd)
        return bytes(h.digest())

    # -- messages ------------------------------------------------------------------------------

    async def _error(self, text: str, *, plain: bool = False) -> None:
        """An error line as rsync 3.x's sender writes it: ``rsync: [sender] ...``.

        ``plain`` lines go without the prefix (rsync's rprintf(FERROR_XFER, ...)).

        rsync: log.c rsyserr(), rwrite() (the ``[who_am_i()]`` prefix).
        """
        prefixed = plain or text.startswith("rsync")
        line = text if prefixed else f"rsync: [sender] {text}"
        await self.port.message(self.ws, self.session, Msg.ERROR_XFER, line)

    async def _hlink_lines(self, notes: list[tuple[int, int, int, int, int]]) -> None:
        """``--debug=HLINK``: the lines for the hard-linked entries just written."""
        for line in sent_lines(notes, self._hlink_devs, level=self._hlink_debug):
            if self.local_info is not None:
                self.local_info(line)  # a local copy's sender is the client
            else:
                await self._info(line)
        notes.clear()

    async def _info(self, text: str) -> None:
        """An informational line for the client (rsync: rprintf(FINFO, ...))."""
        await self.port.message(self.ws, self.session, Msg.INFO, text)

    # -- transfer ------------------------------------------------------------------------------

    async def run(self) -> RoleReport:
        """Send the file list and every requested file; returns the statistics."""
        if self.opts.remove_source_files:
            self._hook_success()
        filters = await self._read_filters()
        names = await self.port.source_names(self.ws, self.opts)
        if names is None and self.server and self.opts.files_from not in (None, "-"):
            names = read_names_file(
                self.opts.files_from or "",
                root=self.root if self.module is not None else None,
                from0=self.opts.from0,
                comments=True,
            )
        if names is not None:
            # rsync: flist.c send_file_list() (sanitize_path(SP_KEEP_DOT_DIRS) on each line)
            # the names are relative to the one source argument (rsync: change_dir(argv[0]))
            self.top = self.paths[0] if self.paths else b""
            self.paths = [sanitize_path(name, keep_dot_dirs=True) for name in names]
            self.opts.relative = True
        self.selection = filters
        await self._send_file_list(filters)
        if self.report.num_files == 0 and self.flist_eof:
            # rsync: main.c do_server_sender() ends at once after an empty list.
            self.report.exit_code = int(
                exit_code_for(self.report.io_error, transfer_errors=self.report.transfer_errors)
            )
            await self.ws.flush()
            return self.report
        await self._send_files()
        if OutputLevels.build(
            verbose=self.opts.verbose, info=self.opts.info, debug=self.opts.debug
        ).debug_gte("DELTASUM"):  # rsync: match.c match_report()
            matches, hits, alarms = self.deltasum
            line = (
                f"total: matches={matches}  hash_hits={hits}  false_alarms={alarms} "
                f"data={self.report.literal_data}"
            )
            if self.local_info is not None:
                self.local_info(line)  # a local copy's sender is the client: not on the wire
            else:
                await self._info(line)
        if OutputLevels.build(
            verbose=self.opts.verbose, info=self.opts.info, stats=self.opts.stats
        ).info_gte("STATS", 3):
            # rsync: main.c handle_stats() (show_malloc_stats() in every process)
            server = self.server and self.local_info is None
            daemon = "daemon " if server and self.module is not None else ""
            who = f"{'server ' if server else ''}{daemon}sender"
            for line in heap_lines(who):
                if self.local_info is not None:
                    self.local_info(line)
                else:
                    await self._info(line)
        await self._finish()
        self.report.exit_code = int(
            exit_code_for(self.report.io_error, transfer_errors=self.report.transfer_errors)
        )
        return self.report

    async def _send_files(self) -> None:
        ws = self.ws
        session = self.session
        phases = SenderPhases(protocol=session.protocol, inc=self.inc)
        self._phases = phases
        has_iflags = session.has_iflags
        io_error_before = self.report.io_error
        inc = self.inc
        items = not self.server or self.port.wants_items  # a server's --log-file wants them
        if inc:
            ws.idle_hook = self._send_idle_batch
        while True:
            if inc and not self.flist_eof:
                await self._send_lists_ahead(_LOOKAHEAD)
            ndx = await ws.read_ndx(self.ndx_in)
            if self._succeeded:
                await self._remove_sent()
            if ndx == Ndx.DONE:
                if items:
                    self._phase_progress()
                step = phases.on_done(lists_left=len(self.lists) - self.first_live)
                if step.free:
                    # the generator finished the oldest list: forget it
                    done = self.lists[self.first_live]
                    self.live_entries -= len(done.names) if done is not None else 0
                    self.lists[self.first_live] = None
                    self.first_live += 1
                if step.end:
                    break
                if step.echo:
                    ws.write_ndx(self.ndx_out, Ndx.DONE)
                continue
            iflags = _TRANSFER
            fnamecmp_type = None
            xname = None
            if has_iflags:
                iflags = await ws.read_int16()
                if iflags & _BASIS_TYPE_FOLLOWS:
                    fnamecmp_type = await ws.read_byte()
                if iflags & _XNAME_FOLLOWS:
                    xname = await ws.read_vstring()
            if (
                self.opts.preserve_xattrs
                and iflags & _REPORT_XATTR
                and (
                    not self.opts.dry_run
                    or self.batch_only is not None
                    or self.opts.only_write_batch is not None
                )
                and not (session.xattr_optim and iflags & _HLINK_ITEM == _HLINK_ITEM)
            ):
                self._xa_todo = await self._read_xattr_request()
            found = self._locate(ndx) if ndx >= 0 else None
            if found is None:
                if session.protocol == 29 and iflags == _IS_NEW and ndx == self._count_all():
                    continue  # protocol 29 keep-alive
                msg = f"Invalid file index: {ndx}"
                raise RemoteProtocolError(msg)
            flist, pos = found
            # Read the whole request before writing anything of the reply: while a read
            # waits, the idle hook may put a file list on the wire, and it must not land in
            # the middle of a reply.
            if not iflags & _TRANSFER:
                if items:
                    self._item(flist, pos, iflags, xname, first_send=True)
                if has_iflags:
                    self._echo(ndx, iflags, fnamecmp_type, xname)
                continue
            if pos < 0 or not stat.S_ISREG(flist.modes[pos]):
                msg = f"received request to transfer non-regular file: {ndx}"
                raise RemoteProtocolError(msg)
            if self.opts.dry_run:
                if items:
                    flags = iflags if has_iflags else _TRANSFER | _MISSING_DATA
                    self._item(flist, pos, flags, None, first_send=ndx not in self._sent)
                    self._sent.add(ndx)
                    # rsync: sender.c send_files() counts before its !do_xfers check
                    self.report.num_transferred_files += 1
                    self.report.total_transferred_size += flist.sizes[pos]
                if has_iflags:
                    self._echo(ndx, iflags, fnamecmp_type, xname)
                else:
                    ws.write_ndx(self.ndx_out, ndx)
                continue
            # --append applies to a file's first send only; a redo is a normal delta
            # (rsync: sender.c send_files(), FLAG_FILE_SENT and append_mode's sign).
            first_send = ndx not in self._sent
            append = self.opts.append if first_send else 0
            self._sent.add(ndx)
            head = await ws.decode(
                decode_sum_head,
                protocol=session.protocol,
                digest_size=self.rule.digest_size,
                max_alloc=None if append else self.opts.alloc_limit,  # rsync: no table then
            )
            if head.count and not append:
                # Keep no more of the table than the listed file can use (issue 8).
                head, extra = head.within(flist.sizes[pos])
                weak, strong = await ws.decode(_decode_sums, head)
                await ws.skip(extra)
            else:
                weak, strong = None, b""  # with --append the generator sends no block sums
            await self._send_file(
                ndx,
                flist,
                pos,
                head,
                weak,
                strong,
                (iflags, fnamecmp_type, xname),
                append=append,
                updating=self._updating_basis(fnamecmp_type),
                first_send=first_send,
            )
        ws.idle_hook = None
        if self.report.io_error != io_error_before and session.extended_msgs:
            # rsync: sender.c send_files() tells the receiver about new I/O errors.
            await ws.write_message(Msg.IO_ERROR, self.report.io_error.to_bytes(4, "little"))
        for _marker in SenderFinish.after_loop():
            ws.write_ndx(self.ndx_out, Ndx.DONE)
        await ws.flush()

    def _item(
        self, flist: _SentList, pos: int, iflags: int, xname: bytes | None, *, first_send: bool
    ) -> None:
        """Hand an itemized entry to the port (a client sender prints it).

        rsync: sender.c send_files() (maybe_log_item(), log_item() before the data).
        """
        if pos < 0:
            # A list's directory, named by the index before the list's first entry (rsync:
            # sender.c send_files(), dir_flist->files[cur_flist->parent_ndx]); for the
            # first list that is its top "." when it sorts first (docs/protocol.md §9.17).
            if flist.parent >= 0:
                name = self._dirs[flist.parent][0]
            elif flist.names and flist.names[0] == b".":
                name = b"."
            else:
                return
            self.port.item(name, stat.S_IFDIR, None, iflags, xname, first_send=first_send)
            return
        name = flist.names[pos]
        links = flist.links
        self.port.item(
            name,
            flist.modes[pos],
            links.get(name) if links is not None else None,
            iflags,
            xname,
            first_send=first_send,
            size=flist.sizes[pos],
            mtime=flist.mtimes[pos] // 1_000_000_000,
        )

    def _hook_success(self) -> None:
        """Collect MSG_SUCCESS (a file the receiver finished) for ``--remove-source-files``."""
        previous = self.ws.on_message

        def on_message(code: int, payload: bytes) -> None:
            if code == Msg.SUCCESS:
                if len(payload) != 4:
                    msg = f"invalid multi-message {code}:{len(payload)} [sender]"
                    raise RemoteProtocolError(msg)
                self._succeeded.append(int.from_bytes(payload, "little", signed=True))
                return
            if previous is not None:
                previous(code, payload)

        self.ws.on_message = on_message

    async def _remove_sent(self) -> None:
        """Remove the source files the receiver has finished, unless they changed.

        rsync: sender.c successful_send().
        """
        while self._succeeded:
            ndx = self._succeeded.pop(0)
            found = self._locate(ndx)
            if found is None or found[1] < 0:
                msg = f"Invalid file index: {ndx} (successful_send)"
                raise RemoteProtocolError(msg)
            flist, pos = found
            name = flist.names[pos]
            shown = name.decode("utf-8", "backslashreplace")
            path = _join(self.bases[flist.base_ids[pos]], name)
            op = "re-lstat"
            try:
                st = self.root.stat(path) if self.opts.copy_links else self.root.lstat(path)
                if st.st_size != flist.sizes[pos] or st.st_mtime_ns != flist.mtimes[pos]:
                    self.report.transfer_errors += 1
                    await self._error(
                        f"ERROR: Skipping sender remove for changed file: {shown}", plain=True
                    )
                    continue
                op = "remove"
                dfd, last = self.root.parent_and_name(path)
                try:
                    os.unlink(last, dir_fd=dfd)
                finally:
                    os.close(dfd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    await self._info(f"sender file already removed: {shown}")
                else:
                    self.report.transfer_errors += 1
                    await self._error(
                        f"sender failed to {op} {shown}: {exc.strerror} ({exc.errno})"
                    )
                continue
            if any(w.startswith("remove") for w in self.opts.info):
                await self._info(f"sender removed {shown}")

    def _updating_basis(self, fnamecmp_type: int | None) -> bool:
        """Whether the receiver writes into the very file the block sums describe.

        rsync: sender.c send_files() (updating_basis_file).
        """
        opts = self.opts
        kind = _FNAME if fnamecmp_type is None else fnamecmp_type
        # the basis type first: the compat-flag test is IntFlag arithmetic, slow per file
        if kind == _PARTIAL_DIR and self.session.inplace_partial:
            return True  # the receiver writes into its partial file (CF_INPLACE_PARTIAL_DIR)
        if not opts.inplace:
            return False
        if self.session.protocol >= 29:
            return kind == _FNAME
        return not opts.backup

    def _count_all(self) -> int:
        last = self.lists[-1] if self.lists else None
        return last.start + len(last.names) if last is not None else 0

    def _echo(self, ndx: int, iflags: int, fnamecmp_type: int | None, xname: bytes | None) -> None:
        ws = self.ws
        ws.write_ndx(self.ndx_out, ndx)
        ws.write_int16(iflags)
        if fnamecmp_type is not None:
            ws.write_byte(fnamecmp_type)
        if xname is not None:
            ws.write_vstring(xname)
        todo, self._xa_todo = self._xa_todo, None
        if todo is not None:  # rsync: sender.c write_ndx_and_attrs()
            found = self._locate(ndx)
            if found is None:
                self._write_xattr_reply(b"", 0, [])
                return
            flist, pos = found
            if pos >= 0:
                path = _join(self.bases[flist.base_ids[pos]], flist.names[pos])
                mode = flist.modes[pos]
            elif flist.parent >= 0:  # a list's own directory (see _item())
                name, base_id, _dev = self._dirs[flist.parent]
                path, mode = _join(self.bases[base_id], name), stat.S_IFDIR
            else:
                path, mode = _join(self.bases[flist.base_ids[0]], b"."), stat.S_IFDIR
            self._write_xattr_reply(path, mode, todo)

    async def _send_file(
        self,
        ndx: int,
        flist: _SentList,
        pos: int,
        head: SumHead,
        weak: npt.NDArray[np.uint32] | None,
        strong: bytes,
        echo: tuple[int, int | None, bytes | None],
        *,
        append: int = 0,
        updating: bool = False,
        first_send: bool = True,
    ) -> None:
        """Reply to one transfer request: echo, sum header, tokens, file checksum.

        A file that cannot be opened gets no echo at all, only MSG_NO_SEND (P >= 30); so
        does a file shorter than listed under ``--append`` ("skipped diminished file").
        The data sent is the file as it is when opened, up to the size it has then, however
        it grows while it is read.

        rsync: sender.c send_files().
        """
        ws = self.ws
        session = self.session
        path = _join(self.bases[flist.base_ids[pos]], flist.names[pos])
        try:
            fd = self.root.open(
                path,
                os.O_RDONLY | getattr(os, "O_NOATIME", 0)
                if self.opts.open_noatime or self.opts.preserve_atimes > 1  # -UU implies it
                else os.O_RDONLY,
                # a link --copy-unsafe-links followed in the list is a file here too
                follow=self.opts.copy_links or self.opts.copy_unsafe_links,
            )
            st = os.fstat(fd)
            if self.opts.copy_devices and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                # --copy-devices: its contents, as far as its end (rsync: sender.c)
                st = _device_as_file(st, 0 if st.st_size else _seek_end(fd))
            elif not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise IsADirectoryError(21, "not a regular file")
        except OSError as exc:
            vanished = isinstance(exc, FileNotFoundError)
            self.report.io_error |= 2 if vanished else 1
            shown = self._scan_report(self.bases[flist.base_ids[pos]]).full(path)
            if vanished:
                await self._warning(f"file has vanished: {shown}")
            else:
                self.report.transfer_errors += 1
                await self._error(
                    f"send_files failed to open {shown}: {exc.strerror} ({exc.errno})"
                )
            if session.extended_msgs:
                await ws.write_message(Msg.NO_SEND, ndx.to_bytes(4, "little"))
            return
        try:
            if append and st.st_size < flist.sizes[pos]:
                await self._warning(
                    "skipped diminished file: "
                    + self._scan_report(self.bases[flist.base_ids[pos]]).full(path)
                )
                if session.extended_msgs:
                    await ws.write_message(Msg.NO_SEND, ndx.to_bytes(4, "little"))
                return
            if session.has_iflags:
                self._echo(ndx, *echo)
            else:
                ws.write_ndx(self.ndx_out, ndx)
            if self.batch_only is not None:
                # --only-write-batch: the data goes to the batch file only (rsync: f_xfer)
                ws.divert_output(self.batch_only)
            head.encode_into(ws.out, protocol=session.protocol)
            if not self.server or self.port.wants_items:
                # rsync: rsync.c read_ndx_and_attrs() (below 29: TRANSFER|MISSING_DATA)
                flags = echo[0] if session.has_iflags else _TRANSFER | _MISSING_DATA
                # a transfer's xname (a fuzzy basis) is not shown: rsync: log_item(.., NULL)
                self._item(flist, pos, flags, None, first_send=first_send)
            before = ws.bytes_written + ws.pending_output
            self._map_errno = 0
            if not self.server:
                self._sending = (
                    flist.names[pos],
                    self.report.total_transferred_size + flist.sizes[pos],
                )
            digest = await self._send_data(
                fd,
                st.st_size,
                head,
                weak,
                strong,
                append=append,
                updating=updating,
                level=None if self._skip is None else self._skip.level(flist.names[pos]),
            )
        finally:
            if self.batch_only is not None:
                ws.divert_output(None)
            os.close(fd)
            self._sending = None
        if self._map_errno:
            # rsync: sender.c send_files() ("read errors mapping", IOERR_GENERAL)
            self.report.io_error |= 1
            self.report.transfer_errors += 1
            shown = self._scan_report(self.bases[flist.base_ids[pos]]).full(path)
            await self._error(
                f"read errors mapping {shown}: {os.strerror(self._map_errno)} ({self._map_errno})"
            )
        self.report.num_transferred_files += 1
        self.report.total_transferred_size += flist.sizes[pos]
        if not self.server:
            # rsync: progress.c end_progress() (to-chk: the files listed after this one)
            k = bisect.bisect_right(self.starts, flist.start) - 1
            index = ndx - (k + 1 if self.inc else 0)
            r = self.report
            self.port.sent(
                flist.names[pos],
                st.st_size,
                to_check=max(0, r.num_files - index - 1),
                count=r.num_files,
                xferred=r.num_transferred_files,
                transferred_size=r.total_transferred_size,
                total_size=r.total_size,
                flist_eof=self.flist_eof,
            )
        m = self.module
        if m is not None and m.transfer_logging:
            log_item(
                m.log_format,
                XferItem(
                    name=flist.names[pos],
                    path=path,
                    mode=flist.modes[pos],
                    size=flist.sizes[pos],
                    mtime=int(st.st_mtime),
                    uid=st.st_uid if self.opts.preserve_uid else None,
                    gid=st.st_gid if self.opts.preserve_gid else None,
                    iflags=echo[0],
                    sent=ws.bytes_written + ws.pending_output - before,
                    received=head.table_size if not append else 0,
                    checksum=digest,
                ),
                module=m.name,
                module_path=m.shown_path or m.path,
                host=m.peer_host,
                addr=m.peer_addr,
                user=m.auth_user,
            )

    async def _warning(self, text: str) -> None:
        """A warning (rsync: FWARNING), which a daemon below protocol 28 makes an error."""
        await self.port.message(self.ws, self.session, Msg.WARNING, text)

    async def _send_data(
        self,
        fd: int,
        size: int,
        head: SumHead,
        weak: npt.NDArray[np.uint32] | None,
        strong: bytes,
        *,
        append: int = 0,
        updating: bool = False,
        level: int | None = None,
    ) -> bytes:
        """The file's tokens and whole-file checksum, reading at most ``size`` bytes.

        ``level`` is the file's own compression level (`SkipCompress`), None the session's.

        Returns the checksum sent.

        rsync: match.c match_sums() (append_mode, updating_basis_file), sender.c
        send_files() (the file is mapped at the size fstat gave when it was opened).
        """
        ws = self.ws
        out = ws.out
        tokens = self.tokens
        proto = self._hasher_proto
        hasher = proto.copy() if proto is not None else self.rule.file_hasher()
        tokens.begin_file(level)
        left = size
        if append:
            # The receiver keeps its first ``flength`` bytes; --append-verify also puts
            # them in the checksum (rsync: match.c match_sums(), append_mode).
            flength = head.count * head.block_length
            if head.remainder:
                flength -= head.block_length - head.remainder
            flength = max(0, min(flength, size))
            if append == 2:
                todo = flength
                while todo > 0:
                    chunk = self._map_read(fd, min(todo, _READ_SIZE))
                    todo -= len(chunk)
                    hasher.update(chunk)
            else:
                os.lseek(fd, flength, os.SEEK_SET)
            left = size - flength
            head = SumHead(
                remainder=0,
                count=0,
                block_length=head.block_length,
                strong_length=head.strong_length,
            )
        if head.count == 0:
            while left > 0:
                chunk = self._map_read(fd, min(left, _READ_SIZE))
                left -= len(chunk)
                if self._sending is not None:
                    self._show_progress(size - left, size)
                hasher.update(chunk)
                tokens.literal_into(out, chunk)
                self.report.literal_data += len(chunk)
                if len(out) >= _READ_SIZE:
                    await ws.flush()
        else:
            # numpy and the search load only when a delta is asked for: a daemon serving
            # whole files stays small.
            from rsync_delta.delta import DeltaGenerator
            from rsync_delta.signature import Signature

            assert weak is not None  # noqa: S101 - a table comes with every count > 0
            sig = Signature.from_sums(
                block_length=head.block_length,
                strong_length=head.strong_length,
                remainder=head.remainder,
                weak=weak,
                strong=strong,
            )
            gen = DeltaGenerator(sig, self.rule)
            pending = bytearray()  # new-file bytes not yet consumed by emitted ops
            blen = head.block_length
            last = head.count - 1
            at = 0  # offset in the new file of pending[0]
            same_offset: set[int] = set()
            while True:
                chunk = self._map_read(fd, min(left, _READ_SIZE)) if left > 0 else b""
                left -= len(chunk)
                if self._sending is not None:
                    self._show_progress(size - left, size)
                hasher.update(chunk)
                pending += chunk
                ops = gen.feed(chunk) if chunk else gen.finish()
                view = memoryview(pending)
                pos = 0
                for op in ops:
                    if isinstance(op, BlockMatch):
                        for k in range(op.index, op.index + op.count):
                            n = head.remainder if (k == last and head.remainder) else blen
                            if updating and not self._may_reuse(k * blen, at + pos, k, same_offset):
                                tokens.literal_into(out, view[pos : pos + n])
                                self.report.literal_data += n
                            else:
                                tokens.block_into(out, k, view[pos : pos + n])
                                self.report.matched_data += n
                            pos += n
                    else:
                        n = len(op.data)
                        tokens.literal_into(out, op.data)
                        pos += n
                        self.report.literal_data += n
                view.release()
                del pending[:pos]
                at += pos
                if len(out) >= _READ_SIZE:
                    await ws.flush()
                if not chunk:
                    break
            self.deltasum[0] += gen.matches  # rsync: match.c (the totals of match_report())
            self.deltasum[1] += gen.hash_hits
            self.deltasum[2] += gen.false_alarms
        tokens.end_into(out)
        digest = bytes(hasher.digest())
        if self._map_errno:
            # A read error: send a checksum that cannot match, so that the receiver
            # discards what it got and asks again (rsync: match.c match_sums()).
            digest = bytes(len(digest)) if any(digest) else bytes(len(digest) - 1) + b"\x01"
        out += digest
        await ws.maybe_flush()
        return digest

    def _phase_progress(self) -> None:
        """``--info=progress2`` shows its line again at each NDX_DONE.

        rsync: sender.c send_files() (set_current_file_index(NULL, 0), end_progress(0)).
        """
        k = min(self.first_live, len(self.lists) - 1)
        flist = self.lists[k] if k >= 0 else None
        r = self.report
        last = r.num_files - 1
        if flist is not None:
            last = flist.start + len(flist.names) - 1 - (k + 1 if self.inc else 0)
        self.port.phase_done(
            to_check=max(0, r.num_files - last - 1),
            count=r.num_files,
            xferred=r.num_transferred_files,
            transferred_size=r.total_transferred_size,
            total_size=r.total_size,
            flist_eof=self.flist_eof,
        )

    def _show_progress(self, done: int, size: int) -> None:
        """A client sender's progress while it reads the file (rsync: match.c show_progress)."""
        assert self._sending is not None  # noqa: S101 - set for the file being sent
        name, transferred = self._sending
        self.port.sending(
            name, done, size, transferred_size=transferred, total_size=self.report.total_size
        )

    def _map_read(self, fd: int, n: int) -> bytes:
        """``n`` bytes of the file, zeros where it cannot be read (it shrank, or EIO).

        The first failure is kept in ``_map_errno`` for the caller to report.

        rsync: fileio.c map_ptr() (a short read fills with zeros and sets the status).
        """
        if self._map_errno:
            return bytes(n)
        try:
            chunk = os.read(fd, n)
        except OSError as exc:
            self._map_errno = exc.errno or errno.EIO
            return bytes(n)
        if len(chunk) < n:
            more = os.read(fd, n - len(chunk)) if chunk else b""
            chunk += more
            if len(chunk) < n:
                if not more:
                    self._map_errno = errno.ENODATA
                    return chunk + bytes(n - len(chunk))
                return chunk + self._map_read(fd, n - len(chunk))
        return chunk

    @staticmethod
    def _may_reuse(block_offset: int, offset: int, block: int, same_offset: set[int]) -> bool:
        """Whether a basis block may be copied at ``offset`` of a file updated in place.

        The receiver has already overwritten its file before ``offset``: a block from there
        is usable only where the data written over it was its own (matched at its own
        offset, rsync's SUMFLG_SAME_OFFSET). A block this refuses is sent as literal data.

        rsync: match.c hash_search() (the updating_basis_file checks).
        """
        if block_offset == offset:
            same_offset.add(block)
            return True
        return block_offset > offset or block in same_offset

    async def _finish(self) -> None:
        """A server's statistics, then the final NDX_DONE exchange (docs/protocol.md §10.9)."""
        ws = self.ws
        finish = SenderFinish(protocol=self.session.protocol)
        if self.server:
            self._write_stats()
        await ws.flush()
        # rsync's totals are taken here, before the goodbye (rsync: main.c handle_stats())
        self.report.total_read = ws.bytes_read - ws.buffered
        self.report.total_written = ws.bytes_written
        while True:
            ndx = await ws.read_ndx(self.ndx_in)
            if self._succeeded:
                await self._remove_sent()
            if ndx == Ndx.DEL_STATS:
                values = [await ws.read_varint() for _ in range(5)]
                if self.port.deletion_stats(values):
                    ws.write_ndx(self.ndx_out, Ndx.DEL_STATS)
                    for v in values:
                        ws.write_varint(v)
                continue
            if ndx != Ndx.DONE:
                msg = f"Invalid packet at end of run (ndx {ndx})"
                raise RemoteProtocolError(msg)
            if finish.on_done():  # the deletion phase's marker: echoed
                ws.write_ndx(self.ndx_out, Ndx.DONE)
                await ws.flush()
                continue
            break
        await ws.flush()

    def _write_stats(self) -> None:
        ws = self.ws
        r = self.report
        values = [ws.bytes_read, ws.bytes_written + ws.pending_output, r.total_size]
        if self.session.flist_times:
            values += [r.flist_buildtime_ms, r.flist_xfertime_ms]
        for v in values:
            if self.session.uses_varint:
                ws.write_varlong(v, 3)
            else:
                ws.write_longint(v)


def _seek_end(fd: int) -> int:
    """How far the end of ``fd`` is; its position is left at the start."""
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        return 0
    return size


def _device_as_file(st: os.stat_result, size: int) -> os.stat_result:
    """A device's stat as --copy-devices lists it: a regular file, its mtime now.

    ``size`` is the device's size, 0 for the size its stat gives.

    rsync: flist.c make_file().
    """
    fields = list(st)
    fields[stat.ST_MODE] = stat.S_IFREG | (st.st_mode & 0o777)
    if size:
        fields[stat.ST_SIZE] = size
    now = time.time_ns()
    fields[stat.ST_MTIME] = now // 1_000_000_000
    extra = {
        "st_atime_ns": st.st_atime_ns,
        "st_mtime_ns": now - now % 1_000_000_000,
        "st_ctime_ns": st.st_ctime_ns,
        "st_rdev": 0,
        "st_blksize": st.st_blksize,
        "st_blocks": st.st_blocks,
    }
    return os.stat_result(fields, extra)
