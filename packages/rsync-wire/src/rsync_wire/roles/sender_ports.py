"""What differs between a sender that is the server and one that is the client.

:class:`~rsync_wire.roles.sender.SenderRole` runs the same code on both sides; what
differs is handed in as a port (docs/DESIGN: "roles, side-agnostic"):

- where the filter rules come from: the wire (a server reads the client's list) or the
  command line (a client built them and, when the receiver wants them, sent them);
- where ``--files-from`` names come from: the wire (``--files-from=-``) or the caller;
- where messages go: MSG frames to the client, or the client's own output, with rsync's
  codes (a server below protocol 30 turns warnings into MSG_INFO, a daemon below 28 into
  errors; a client prints warnings on stderr);
- whether the itemized lines are printed (a client sender prints them from the iflags the
  remote generator sends, rsync: log.c log_item(), maybe_log_item());
- what happens with the end-of-run statistics: a server writes its own and echoes the
  deletion statistics; a client keeps the deletion counts for its ``--stats``.

No I/O of its own beyond the connection it is given.

rsync: main.c client_run() (am_sender), do_server_sender(); exclude.c send_filter_list(),
recv_filter_list(); log.c rwrite().
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Protocol

from rsync_wire.errors import ExitCode, RemoteError, RemoteProtocolError
from rsync_wire.proto.charset import Charset  # noqa: TC001 - an attribute type
from rsync_wire.proto.constants import Item, Msg
from rsync_wire.proto.filters import FilterList, FilterListReader
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.outlevels import OutputLevels
from rsync_wire.roles.decide import SIGNIFICANT_ITEM_FLAGS
from rsync_wire.roles.scan import cvsignore_sources
from rsync_wire.roles.xferlog import XferItem, server_log

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.module import ModuleContext
    from rsync_wire.stream import WireStream

__all__ = ["ClientSenderPort", "SenderPort", "SenderReporter", "ServerSenderPort"]

_MAX_FILES_FROM = 10_000_000


class SenderPort(Protocol):
    """The side-specific half of a sender (see the module docstring)."""

    @property
    def server(self) -> bool:
        """Whether the sender is the server (it writes statistics at the end)."""

    @property
    def wants_items(self) -> bool:
        """Whether :meth:`item` should be called (it costs a lookup per file)."""

    async def filter_rules(
        self, ws: WireStream, session: Session, opts: TransferOptions
    ) -> FilterList:
        """The rules that select what is listed (before the module's own)."""

    async def source_names(self, ws: WireStream, opts: TransferOptions) -> list[bytes] | None:
        """``--files-from`` names read from the peer, or ``None`` (the paths stand)."""

    async def message(self, ws: WireStream, session: Session, code: Msg, text: str) -> None:
        """One line of rsync's FERROR_XFER (``Msg.ERROR_XFER``), FWARNING or FINFO."""

    def file_list_started(self, *, incremental: bool) -> None:
        """The first file list is about to be built."""

    def file_list_done(self, count: int) -> None:
        """The first file list was sent (``count`` entries)."""

    def item(
        self,
        name: bytes,
        mode: int,
        link_target: bytes | None,
        iflags: int,
        xname: bytes | None,
        *,
        first_send: bool,
        size: int = 0,
        mtime: int = 0,
    ) -> None:
        """An item the remote generator itemized (transferred or not).

        ``size`` and ``mtime`` (seconds) are what the file list says (``%l``, ``%M``).
        """

    def sending(
        self, name: bytes, done: int, total: int, *, transferred_size: int, total_size: int
    ) -> None:
        """``done`` of the ``total`` bytes of ``name`` were read and sent (progress)."""

    def sent(
        self,
        name: bytes,
        size: int,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool,
    ) -> None:
        """A file's data was sent in full (progress: ``to_check`` of ``count`` remain)."""

    def phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool,
    ) -> None:
        """An NDX_DONE from the generator (``--info=progress2`` shows its line again)."""

    def deletion_stats(self, values: list[int]) -> bool:
        """NDX_DEL_STATS arrived (five counts); returns whether to echo them to the peer."""


class SenderReporter(Protocol):
    """Where a client sender's lines go (the client's output); methods return quickly.

    The same names as the receiving side's ``Reporter``, plus the start of the list.
    """

    def sender_file_list_started(self, *, incremental: bool) -> None:
        """The sender starts its file list (``building file list ...``)."""

    def file_list_done(self, count: int) -> None:
        """The first file list was sent."""

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        """An itemized entry (transferred or not)."""

    def deleted(self, name: bytes, mode: int) -> None:
        """The receiver deleted ``name``."""

    def message(self, code: int, text: bytes) -> None:
        """A message line (MSG_INFO on stdout, the others on stderr)."""

    def progress(
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
        xferred: int = 0,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        """``done`` of ``total`` bytes of ``name`` were sent."""

    def progress_phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool = True,
    ) -> None:
        """The generator ended a phase or a list (``--info=progress2`` repeats its line)."""


async def _read_names(ws: WireStream) -> list[bytes]:
    names: list[bytes] = []
    while True:
        name = await ws.read_until_nul(limit=4096)
        if not name:
            return names
        names.append(name)
        if len(names) > _MAX_FILES_FROM:
            msg = "too many --files-from names"
            raise RemoteProtocolError(msg)


class ServerSenderPort:
    """A server's sender: rules and names from the client, messages as MSG frames.

    Args:
        module: the daemon module (its protocol-27 rule: warnings travel as errors).
    """

    server = True

    @property
    def wants_items(self) -> bool:
        """Only a remote-shell server's ``--log-file`` logs items (see :meth:`item`)."""
        return self.module is None and server_log() is not None

    def __init__(self, module: ModuleContext | None = None) -> None:
        self.module = module
        # --iconv: messages go to the client in UTF-8 (rsync: io.c send_msg(), convert)
        self.charset: Charset | None = None
        self.prepare: Callable[[FilterList], None] | None = None
        """Adds the rules that come before the client's (the server's own arguments)."""

    async def filter_rules(
        self, ws: WireStream, session: Session, opts: TransferOptions
    ) -> FilterList:
        """The client's list, then ``-C``'s rules (rsync: exclude.c recv_filter_list()).

        The list is read as it arrives (a million rules must not be held twice).
        """
        protocol = session.protocol
        home, env = cvsignore_sources(daemon=self.module is not None)
        client = FilterList(protocol=protocol, home_cvsignore=home, cvsignore_env=env)
        if OutputLevels.build(verbose=opts.verbose, debug=opts.debug).debug_gte("FILTER"):
            # rsync's add_rule() caution for a received rule ending in whitespace (the
            # sender prints these lines first: see _TracedSelection)
            client.who, client.debug_rules = "sender", []
        if self.prepare is not None:
            self.prepare(client)
        reader = FilterListReader(client, protocol=protocol, max_alloc=opts.alloc_limit)
        while not await ws.decode(reader.decode_some):
            pass
        if opts.cvs_exclude:
            client.add_filter(b":C")
            client.add_filter(b"-C")
        return client

    async def source_names(self, ws: WireStream, opts: TransferOptions) -> list[bytes] | None:
        """With ``--files-from=-`` the client sends the names, each ended by a NUL."""
        if opts.files_from != "-":
            return None
        names = await _read_names(ws)
        if self.charset is not None and opts.protect_args:
            # -s with --iconv: they come in UTF-8 (rsync: io.c read_line(), RL_CONVERT)
            names = [self.charset.from_wire_lenient(n) for n in names]
        return names

    async def message(self, ws: WireStream, session: Session, code: Msg, text: str) -> None:
        """Send the line to the client (rsync: log.c rwrite(), the am_server branch)."""
        if code == Msg.WARNING:
            if self.module is not None and session.protocol < 28:
                code = Msg.ERROR_XFER  # rsync: sender.c (am_daemon && protocol < 28)
            elif not session.extended_msgs:
                code = Msg.INFO
        data = (text + "\n").encode("utf-8", "surrogateescape")
        if self.charset is not None:
            data = self.charset.to_wire_lenient(data)
        await ws.write_message(code, data)

    def item(
        self,
        name: bytes,
        mode: int,
        link_target: bytes | None,
        iflags: int,
        xname: bytes | None,
        *,
        first_send: bool,
        size: int = 0,
        mtime: int = 0,
    ) -> None:
        """A server prints nothing; a remote-shell server's ``--log-file`` logs the item.

        rsync: sender.c send_files() (maybe_log_item(), log_item() on a server).
        """
        del first_send  # a client's count of created entries; a server keeps none
        log = server_log()
        if log is None or self.module is not None:
            return
        item = XferItem(
            name=name,
            path=name,
            mode=mode,
            size=size,
            mtime=mtime,
            link_target=link_target,
            iflags=iflags,
        )
        significant = bool(iflags & SIGNIFICANT_ITEM_FLAGS) or xname is not None
        log.item(item, op="send", significant=significant)

    def sending(  # noqa: D102
        self, name: bytes, done: int, total: int, *, transferred_size: int, total_size: int
    ) -> None:
        pass

    def sent(  # noqa: D102
        self,
        name: bytes,
        size: int,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool,
    ) -> None:
        pass

    def phase_done(  # noqa: D102
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool,
    ) -> None:
        pass

    def file_list_started(self, *, incremental: bool) -> None:  # noqa: D102
        pass

    def file_list_done(self, count: int) -> None:  # noqa: D102
        pass

    def deletion_stats(self, values: list[int]) -> bool:  # noqa: D102, ARG002
        return True


class ClientSenderPort:
    """A client's sender (a push): the command line's rules, the client's own output.

    It also handles the messages the remote receiver sends (install :meth:`on_message` as
    the connection's handler) and keeps what rsync's client sender counts for its
    ``--stats``: created files per type, the deletion counts, the remote's error bits.

    Args:
        filters: the rules built from the command line (``-C``'s already added).
        reporter: where lines go (the client's output).
        itemize: rsync's ``stdout_format_has_i`` (the number of ``-i``).
        verbose: the ``-v`` level.
        ws: the connection, whose timeout MSG_IO_TIMEOUT may shorten.
        names_from_peer: ``--files-from=HOST:FILE``: the receiving server reads the file
            and sends the names, as a client sends a server its local list.
        log_items: the client keeps a ``--log-file``, which logs items ``-v`` would not show.
    """

    server = False

    def __init__(
        self,
        filters: FilterList,
        reporter: SenderReporter,
        *,
        itemize: int = 0,
        verbose: int = 0,
        ws: WireStream | None = None,
        names_from_peer: bool = False,
        log_items: bool = False,
    ) -> None:
        self.ws = ws
        self.names_from_peer = names_from_peer
        self.filters = filters
        self.reporter = reporter
        self.charset: Charset | None = None  # --iconv: set by the sender
        self.itemize = itemize
        self.verbose = verbose
        self.wants_items = bool(itemize or verbose or log_items)
        self.created = [0, 0, 0, 0, 0]  # files, dirs, symlinks, devices, specials
        self.deleted: list[int] | None = None
        self.io_error = 0
        self.transfer_errors = 0
        self.remote_exit: ExitCode | None = None

    async def filter_rules(
        self,
        ws: WireStream,  # noqa: ARG002 - the port's shape
        session: Session,
        opts: TransferOptions,  # noqa: ARG002
    ) -> FilterList:
        """The command line's rules, at the session's protocol."""
        self.filters.protocol = session.protocol
        return self.filters

    async def source_names(
        self,
        ws: WireStream,
        opts: TransferOptions,  # noqa: ARG002 - the port's shape
    ) -> list[bytes] | None:
        """The peer's ``--files-from`` names, or ``None`` (the caller gave the paths).

        rsync: io.c forward_filesfrom_data() (names end with a NUL, the list with an
        empty name).
        """
        if not self.names_from_peer:
            return None
        names = await _read_names(ws)
        # rsync: main.c client_run() (below 31 the input is multiplexed after the names)
        ws.start_mux_in()
        return names

    async def message(  # noqa: D102
        self,
        ws: WireStream,  # noqa: ARG002
        session: Session,  # noqa: ARG002
        code: Msg,
        text: str,
    ) -> None:
        self.reporter.message(code, (text + "\n").encode("utf-8", "surrogateescape"))

    def item(
        self,
        name: bytes,
        mode: int,
        link_target: bytes | None,
        iflags: int,
        xname: bytes | None,
        *,
        first_send: bool,
        size: int = 0,
        mtime: int = 0,
    ) -> None:
        """Count a new item and print its line as rsync's client sender does.

        rsync: sender.c send_files() (stats.created_*), log.c maybe_log_item(), log_item().
        """
        if iflags & Item.IS_NEW and first_send:
            if stat.S_ISREG(mode):
                self.created[0] += 1
            elif stat.S_ISDIR(mode):
                self.created[1] += 1
            elif stat.S_ISLNK(mode):
                self.created[2] += 1
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                self.created[3] += 1
            else:
                self.created[4] += 1
        if not self.wants_items:
            return
        entry = FileEntry(name=name, mode=mode, link_target=link_target, size=size, mtime=mtime)
        self.reporter.item(entry, name, iflags, xname)

    def sending(
        self, name: bytes, done: int, total: int, *, transferred_size: int, total_size: int
    ) -> None:
        """Progress within a file (rsync: match.c, show_progress() as it reads)."""
        self.reporter.progress(
            name,
            done,
            total,
            final=False,
            transferred_size=transferred_size,
            total_size=total_size,
        )

    def sent(
        self,
        name: bytes,
        size: int,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool,
    ) -> None:
        """Report the file as done (rsync: progress.c end_progress())."""
        self.reporter.progress(
            name,
            size,
            size,
            final=True,
            to_check=to_check,
            count=count,
            xferred=xferred,
            transferred_size=transferred_size,
            total_size=total_size,
            flist_eof=flist_eof,
        )

    def phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool,
    ) -> None:
        """rsync: sender.c send_files() (end_progress(0) at each NDX_DONE)."""
        self.reporter.progress_phase_done(
            to_check=to_check,
            count=count,
            xferred=xferred,
            transferred_size=transferred_size,
            total_size=total_size,
            flist_eof=flist_eof,
        )

    def file_list_started(self, *, incremental: bool) -> None:
        """``building file list ... `` or ``sending incremental file list`` (with ``-v``).

        rsync: flist.c send_file_list(), start_filelist_progress().
        """
        self.reporter.sender_file_list_started(incremental=incremental)

    def file_list_done(self, count: int) -> None:
        """``done`` after ``building file list ... `` (rsync: finish_filelist_progress())."""
        self.reporter.file_list_done(count)

    def deletion_stats(self, values: list[int]) -> bool:
        """Keep the counts: files, dirs, symlinks, devices, specials (rsync: read_del_stats)."""
        self.deleted = values
        return False

    def on_message(self, code: int, payload: bytes) -> None:
        """A message from the remote receiver (rsync: io.c read_a_msg(), the sender's cases).

        Raises:
            RemoteError: MSG_ERROR_EXIT (the receiver gave up; its code is the exit code).
            RemoteProtocolError: a message a receiver never sends to a sender (exit 12).
        """
        charset = self.charset
        if code in (Msg.INFO, Msg.ERROR, Msg.WARNING, Msg.ERROR_XFER):
            if code == Msg.ERROR_XFER:
                self.transfer_errors += 1  # rsync: log.c rwrite() sets got_xfer_error
            if charset is not None:  # --iconv: UTF-8 from the peer (rsync: rwrite(), is_utf8)
                payload = charset.from_wire_lenient(payload)
            self.reporter.message(code, payload)
        elif code == Msg.DELETED:
            if charset is not None:
                # rsync's client converts a deleted name with its sending conversion, as
                # io.c read_a_msg() does (ic_send, not ic_recv)
                payload = charset.to_wire_lenient(payload)
            if payload.endswith(b"\0"):
                self.reporter.deleted(payload[:-1], stat.S_IFDIR)
            else:
                self.reporter.deleted(payload, stat.S_IFREG)
        elif code == Msg.IO_ERROR:
            if len(payload) != 4:
                msg = f"invalid multi-message {code}:{len(payload)} [sender]"
                raise RemoteProtocolError(msg, exit_code=ExitCode.STREAMIO)
            self.io_error |= int.from_bytes(payload, "little") & 7
        elif code == Msg.ERROR_EXIT:
            status = int.from_bytes(payload[:4], "little", signed=True) if len(payload) >= 4 else 0
            exit_code = (
                ExitCode(status) if status in ExitCode._value2member_map_ else ExitCode.PARTIAL
            )
            self.remote_exit = exit_code
            err = RemoteError("the receiver ended the session with an error", exit_code=exit_code)
            err.remote_exit = True  # type: ignore[attr-defined]
            raise err
        elif code == Msg.IO_TIMEOUT:
            if len(payload) >= 4:
                secs = int.from_bytes(payload[:4], "little", signed=True)
                ws = self.ws
                if 0 < secs <= 86400 and ws is not None and secs < ws.timeout:
                    ws.timeout = float(secs)  # only ever shorter (rsync: io.c)
        elif code in (Msg.NOOP, Msg.SUCCESS, Msg.NO_SEND):
            pass  # keep-alive; MSG_SUCCESS is taken by --remove-source-files when on
        else:
            # rsync: io.c read_a_msg() (MSG_REDO/MSG_STATS are the generator's alone)
            msg = f"invalid multi-message {code}:{len(payload)} [sender]"
            raise RemoteProtocolError(msg, exit_code=ExitCode.STREAMIO)
