"""Both sides of a session in one process: an in-memory byte-stream pair and local copies.

:func:`memory_stream_pair` gives two connected byte streams (each end a
``ByteStream``) made of two bounded memory object streams; buffers pass between
the ends without copies. :func:`run_local_copy` runs this package's own
:class:`~rsync_wire.roles.sender.SenderRole` (as a server sender) and the receiving
side over such a pair, as two tasks: the same code paths as a pull from a remote
server, without a process or a socket. Tests use the pair to wire roles back to back.

rsync: main.c local_server (rsync forks a server process; here it is a task).
"""

from __future__ import annotations

import math
import os
import secrets
from typing import TYPE_CHECKING, Any, cast

import anyio
import msgspec
from anyio.abc import ByteStream

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.fs import Root
from rsync_wire.proto.args import parse_bwlimit
from rsync_wire.proto.charset import charset_for
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.negotiate import Negotiation, Offer, Session, agree
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from rsync_wire.proto.charset import Charset
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.batch import BatchWriter
    from rsync_wire.roles.receiving import ReceiveConfig, ReceiveStats, Reporter

__all__ = [
    "MemoryByteStream",
    "local_session",
    "memory_stream_pair",
    "run_local_copy",
    "source_arg",
]


class MemoryByteStream(ByteStream):
    """One end of an in-memory byte-stream pair (see :func:`memory_stream_pair`)."""

    def __init__(
        self,
        send: MemoryObjectSendStream[bytes],
        receive: MemoryObjectReceiveStream[bytes],
    ) -> None:
        self._send = send
        self._receive = receive
        self._pending = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next chunk (at most ``max_bytes``); EndOfStream once the peer closed."""
        if not self._pending:
            try:
                self._pending = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise anyio.EndOfStream from None
        data = self._pending
        if len(data) <= max_bytes:
            self._pending = b""
            return data
        self._pending = data[max_bytes:]
        return data[:max_bytes]

    async def send(self, item: bytes) -> None:
        """Hand ``item`` to the peer (the buffer must not be changed afterwards)."""
        if item:
            try:
                await self._send.send(item)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise anyio.BrokenResourceError from None

    async def send_eof(self) -> None:
        """No more data from this end."""
        await self._send.aclose()

    async def aclose(self) -> None:
        """Close both directions of this end."""
        await self._send.aclose()
        await self._receive.aclose()


def memory_stream_pair(buffers: int = 16) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory byte streams, each direction holding at most ``buffers`` chunks."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](buffers)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](buffers)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


def local_session(
    capabilities: str,
    *,
    protocol: int = 32,
    seed: int | None = None,
    opts: TransferOptions | None = None,
) -> Session:
    """The session a local copy agrees on: our two sides negotiate in memory.

    Incremental recursion is on when ``capabilities`` offers it (``i``). With ``opts``
    both sides offer what its ``--checksum-choice``, ``-z``, ``--compress-choice`` and
    ``--compress-level`` say, as rsync's two processes of a local copy do.
    """
    if seed is None:
        seed = int.from_bytes(secrets.token_bytes(4), "little", signed=True)
    choices = Offer()
    if opts is not None:
        choices = Offer(
            checksum_choice=opts.checksum_choice,
            compress=opts.compress,
            compress_choice=opts.compress_choice,
            compress_level=opts.compress_level,
        )
    agreed = agree(
        Negotiation(server=False, offer=choices, protocol=protocol, ours=protocol),
        Negotiation(
            server=True,
            offer=msgspec.structs.replace(
                choices, capabilities=capabilities, inc_recurse=True, seed=seed
            ),
            protocol=protocol,
        ),
    )
    return msgspec.structs.replace(agreed, local_server=True)


def _start_mux(ws: WireStream, session: Session, *, server: bool) -> None:
    if server:
        ws.start_mux_out()
        if session.mux_from_client:
            ws.start_mux_in()
    else:
        ws.start_mux_in()
        if session.mux_from_client:
            ws.start_mux_out()


async def run_local_copy(
    sources: list[bytes],
    dest: bytes | None,
    opts: TransferOptions,
    config: ReceiveConfig,
    reporter: Reporter | None = None,
    *,
    capabilities: str = ".LsfxCIvu",
    protocol: int = 32,
    batch: BatchWriter | None = None,
    sender_root: str | None = None,
    files_from: list[bytes] | None = None,
) -> ReceiveStats:
    """Copy ``sources`` to ``dest`` in this process: our sender and our receiving side.

    Args:
        sources: source paths (absolute or relative to the current directory; a trailing
            ``/`` means "the contents", as for rsync).
        dest: the destination (``None`` lists the sources with ``config.list_only``).
        opts: the transfer options (``sender`` set, as for a pull).
        config: the receiving side's settings.
        reporter: user-visible events.
        capabilities: the capability letters the two sides agree on.
        protocol: the protocol both speak.
        sender_root: ``--confine-root``: the sender's tree (``sources`` are relative to
            it), where its arguments and merge files are resolved.
        batch: ``--write-batch``: the transfer is recorded (the checksum is then md5, or
            md4 below protocol 30: what a batch reader assumes).
        files_from: the names of ``--files-from``, relative to the one source directory
            (``opts.files_from`` is ``-``: they reach the sender as a pull's do).

    Raises:
        RsyncError: the ``--files-from`` source directory cannot be entered (exit 3); what
            ``protocol`` cannot carry, as rsync's compat.c refuses it (exit 2).
    """
    from rsync_wire.roles.client import check_old_protocol, run_pull
    from rsync_wire.roles.sender import SenderRole

    check_old_protocol(opts, protocol, local_server=True)  # each role's setup_protocol()
    session = local_session(
        capabilities, protocol=protocol, seed=opts.checksum_seed or None, opts=opts
    )
    if batch is not None:  # rsync: compat.c getenv_nstr() (write_batch)
        session = msgspec.structs.replace(
            session,
            checksum="md5" if protocol >= 30 else "md4",
            checksum_negotiated=False,
            # rsync compresses a local copy's batch with -z (zlib: what a batch records)
            compression="zlib" if opts.compress else None,
        )
    if reporter is not None and config.levels.debug_gte("NSTR"):
        from rsync_wire.proto.outlevels import nstr_lines

        for line in nstr_lines(
            session, checksum_choice=opts.checksum_choice, compress_choice=opts.compress_choice
        ):
            reporter.message(Msg.INFO, line.encode() + b"\n")
    client_end, server_end = memory_stream_pair()
    client_ws = WireStream(client_end, client_end)
    server_ws = WireStream(server_end, server_end)
    _start_mux(server_ws, session, server=True)
    _start_mux(client_ws, session, server=False)
    if opts.bwlimit:  # rsync paces its sender and its generator (io.c sleep_for_bwlimit())
        rate = parse_bwlimit(opts.bwlimit)
        server_ws.set_bwlimit(rate)
        client_ws.set_bwlimit(rate)
    paths: list[bytes]
    if sender_root is not None:
        paths = list(sources)
        root = Root(sender_root)
    elif files_from is not None:
        paths = []
        top = _abspath(sources[0])
        try:
            root = Root(top)
        except OSError as exc:
            # rsync: flist.c send_file_list() (change_dir of argv[0])
            shown = os.fsdecode(top)
            msg = f'rsync: [sender] change_dir "{shown}" failed: {exc.strerror} ({exc.errno})'
            raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from None
    else:
        paths = [source_arg(s, relative=opts.relative) for s in sources]
        root = Root(b"/")
    # --iconv: rsync's local copy converts too, the client (the sender) with the first
    # half, its forked server (the receiver) with the second (rsync: rsync.c setup_iconv())
    receiving_reporter: Reporter | None = reporter
    sender = SenderRole(
        server_ws,
        session,
        opts,
        root,
        paths,
        module=None,
        server=True,
        charset=charset_for(opts.iconv, server=False),
    )
    if opts.iconv is not None:
        receiving = charset_for(opts.iconv, server=True)
        config = msgspec.structs.replace(config, charset=receiving)
        if reporter is not None and receiving is not None and sender.charset is not None:
            from rsync_wire.proto.negotiate import sender_symlink_iconv

            # the receiving half converts symlink targets only when they travel in UTF-8
            links = sender_symlink_iconv(
                session.compat_flags, server=False, capabilities=opts.capabilities or ""
            )
            receiving_reporter = cast(
                "Reporter",
                _SendersNames(reporter, receiving=receiving, sending=sender.charset, links=links),
            )
    server_ws.on_message = lambda _code, _payload: None
    if reporter is not None:
        say = reporter.message
        sender.local_info = lambda line: say(
            Msg.INFO, line.encode("utf-8", "surrogateescape") + b"\n"
        )
    result: list[ReceiveStats] = []

    async def serve() -> None:
        try:
            await sender.run()
        finally:
            await server_ws.flush()
            await server_end.send_eof()

    # the sending side alone applies --chmod and --munge-links (rsync: pipe.c local_child())
    recv_opts = msgspec.structs.replace(opts, chmod=[], munge_links=False)
    if opts.remote_options:
        recv_opts = _with_remote_options(recv_opts, opts.remote_options)

    async def receive() -> None:
        try:
            result.append(
                await run_pull(
                    client_ws,
                    session,
                    recv_opts,
                    config,
                    dest,
                    receiving_reporter,
                    batch=batch,
                    files_from=files_from,
                )
            )
        finally:
            await client_ws.flush()
            await client_end.send_eof()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            await receive()
    finally:
        root.close()
        await client_end.aclose()
        await server_end.aclose()
    stats = result[0]
    # rsync's local copy reports what its sending side counted (the client process is the
    # sender, the receiver its forked server: pipe.c local_child()), not a puller's swap
    stats.total_read, stats.total_written = stats.total_written, stats.total_read
    return stats


class _SendersNames:
    """The receiving half's reporter, showing names as rsync's local copy with ``--iconv`` does.

    There the client is the sender and prints the items from its own file list, in its
    charset; the receiver is its forked server, whose deletions reach the client as
    MSG_DELETED in UTF-8 (from the receiver's charset), which the client passes through its
    sending conversion. Our receiving half runs in the client and knows the names in its
    own charset: they are taken back to the sending half's.

    rsync: log.c log_item() (the sender's f_name()), log_delete() (send_msg(MSG_DELETED,
    convert)); io.c read_a_msg() (MSG_DELETED through ic_send).
    """

    def __init__(
        self, inner: Reporter, *, receiving: Charset, sending: Charset, links: bool
    ) -> None:
        self._inner = inner
        self._receiving = receiving
        self._sending = sending
        self._links = links  # symlink targets were converted (protocol 30 and later)

    def __getattr__(self, attr: str) -> object:
        return getattr(self._inner, attr)

    def _name(self, name: bytes) -> bytes:
        return self._sending.from_wire_lenient(self._receiving.to_wire_lenient(name))

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        link = entry.link_target
        shown = msgspec.structs.replace(
            entry,
            name=self._name(entry.name),
            link_target=link if link is None or not self._links else self._name(link),
        )
        self._inner.item(
            shown, self._name(name), iflags, None if xname is None else self._name(xname)
        )

    def deleted(self, name: bytes, mode: int) -> None:
        self._inner.deleted(
            self._sending.to_wire_lenient(self._receiving.to_wire_lenient(name)), mode
        )

    def progress(self, name: bytes, *args: Any, **kwargs: Any) -> None:
        self._inner.progress(self._name(name), *args, **kwargs)


def _with_remote_options(opts: TransferOptions, words: list[str]) -> TransferOptions:
    """The receiving side's options with ``-M`` words applied (``-M--fake-super``).

    In rsync's local copy the receiver is a forked server that parses them (rsync:
    pipe.c local_child(), options.c server_options()).
    """
    from rsync_wire.proto.args import parse_server_args
    from rsync_wire.proto.options import TransferOptions

    parsed = parse_server_args([*words, "."]).options
    plain = TransferOptions()
    changed = {
        name: getattr(parsed, name)
        for name in parsed.__struct_fields__
        if name != "remote_options" and getattr(parsed, name) != getattr(plain, name)
    }
    return msgspec.structs.replace(opts, **changed)


def _abspath(path: bytes) -> bytes:
    return os.path.abspath(path)


def source_arg(path: bytes, *, relative: bool = False) -> bytes:
    """A source argument as a sender rooted at ``/`` sees it: absolute, its slash kept.

    With ``-R`` the part of the path that names the files stays as typed: a relative path
    is relative to the current directory (``CWD/./path``), the part before a ``/./`` is made
    absolute and the rest kept, and an absolute path names the files from ``/``.

    rsync: flist.c send_file_list() (the sender works in the client's directory).
    """
    if relative:
        marker = path.find(b"/./")
        if marker >= 0:
            return os.path.abspath(path[:marker] or b"/") + b"/./" + path[marker + 3 :]
        if path.startswith(b"/"):
            return path
        return os.getcwdb() + b"/./" + path
    slash = path.endswith((b"/", b"/.")) or path == b"."
    absolute = os.path.abspath(path)
    if slash and not absolute.endswith(b"/"):
        absolute += b"/"
    return absolute


_ = math
