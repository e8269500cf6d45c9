"""The client side of a session after its transport preamble: negotiation, then the transfer.

The transport (a daemon connection after ``@RSYNCD: OK`` and the arguments, or a
remote shell running ``rsync --server [--sender]``) hands over a :class:`WireStream`.
Here the client reads what a server writes (docs/protocol.md §4.4-4.5, §6):
over a remote shell the binary version exchange first; then the compat flags
(P >= 30), the checksum and compression name lists (when negotiation is on, both
sides write before they read), the checksum seed; multiplexing starts. Then a
receiving client (a pull, :func:`run_pull`) sends its filter list (always) and, with
``--files-from``, the names, and runs the receiving side; a sending client (a push,
:func:`run_push`) sends its filter list only when the receiver wants it, and runs the
sender with a client port (its lines print locally).

rsync: compat.c setup_protocol() (client half), main.c client_run().
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

import anyio

from rsync_wire.errors import ConnectionLost, ExitCode, RemoteError, RsyncError
from rsync_wire.proto.charset import charset_for
from rsync_wire.proto.constants import (
    PROTOCOL_VERSION,
    Msg,
)
from rsync_wire.proto.filters import (
    FilterList,
    cvs_exclude_rules,
    encode_filter_list_into,
    filter_list_is_sent,
)
from rsync_wire.proto.negotiate import Negotiation, Offer, Session
from rsync_wire.roles.flists import receiver_can_inc_recurse
from rsync_wire.roles.negotiation import negotiate
from rsync_wire.roles.receiving import ReceiverSide, ReceiveStats

if TYPE_CHECKING:
    from rsync_wire.fs import Root
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.batch import BatchWriter
    from rsync_wire.roles.receiving import ReceiveConfig, Reporter
    from rsync_wire.roles.sender_ports import SenderReporter
    from rsync_wire.stream import WireStream

__all__ = [
    "CLIENT_CAPABILITIES",
    "check_old_protocol",
    "pull_capabilities",
    "push_capabilities",
    "run_pull",
    "run_push",
    "setup_client_protocol",
]

log = logging.getLogger("rsync_wire.client")

CLIENT_CAPABILITIES = ".LsfxCIvu"
"""The ``-e`` letters of this client (docs/protocol.md §4.2): symlink times, safe file list,
no xattr optimisation, seed fix, in-place update of a ``--partial-dir`` basis, varint flags
with name negotiation, id-0 names; ``i``
(incremental recursion) is added per transfer, see :func:`pull_capabilities` and
:func:`push_capabilities`."""


def pull_capabilities(opts: TransferOptions, *, allow: bool = True) -> str:
    """The ``-e`` letters of a pulling client: ``i`` when it may recurse incrementally.

    Args:
        opts: the transfer options (see :func:`~rsync_wire.roles.flists.receiver_can_inc_recurse`).
        allow: ``--no-inc-recursive`` makes this false.

    rsync: compat.c set_allow_inc_recurse(), options.c maybe_add_e_option().
    """
    inc = allow and receiver_can_inc_recurse(opts)
    return "." + ("i" if inc else "") + CLIENT_CAPABILITIES[1:]


def push_capabilities(opts: TransferOptions, *, allow: bool = True) -> str:
    """The ``-e`` letters of a pushing client: ``i`` when its sender may recurse incrementally.

    rsync offers ``i`` whenever it recurses without ``--qsort`` (the receiving server then
    decides, and refuses it for ``--delete-before``/``--delete-after``/``-m``...), and so
    does this one; with ``-R`` and ``--files-from`` each sub-list holds one level of the
    named paths, as rsync's.

    Args:
        opts: the transfer options.
        allow: ``--no-inc-recursive`` makes this false.

    rsync: compat.c set_allow_inc_recurse(), options.c maybe_add_e_option().
    """
    inc = allow and opts.recursive and not opts.qsort
    return "." + ("i" if inc else "") + CLIENT_CAPABILITIES[1:]


def check_old_protocol(opts: TransferOptions, protocol: int, *, local_server: bool) -> None:
    """Refuse what ``opts`` asks that ``protocol`` cannot carry, in rsync's words.

    ``local_server``: both ends are ours (a local copy; a batch being written), where -A
    and -X travel at any protocol.

    Raises:
        RsyncError: exit 2, the message bare (as rsync prints it).

    rsync: compat.c setup_protocol().
    """
    old: list[str] = []
    if protocol < 30 and not local_server:
        old += [
            f"{name} requires protocol 30 or higher"
            for used, name in ((opts.preserve_acls, "--acls"), (opts.preserve_xattrs, "--xattrs"))
            if used
        ]
    if protocol < 29:
        alt = f"--{opts.alt_dest or 'compare-dest'}"
        if opts.fuzzy:
            old.append("--fuzzy requires protocol 29 or higher")
        if opts.basis_dirs and opts.inplace:
            old.append(f"{alt} with --inplace requires protocol 29 or higher")
        if len(opts.basis_dirs) > 1:
            old.append(f"Using more than one {alt} option requires protocol 29 or higher")
        if opts.prune_empty_dirs:
            old.append("--prune-empty-dirs requires protocol 29 or higher")
    if old:
        err = RsyncError(f"{old[0]} (negotiated {protocol}).", exit_code=ExitCode.PROTOCOL)
        err.bare = True  # type: ignore[attr-defined]  # read by the client error printer
        raise err


async def setup_client_protocol(
    ws: WireStream,
    opts: TransferOptions,
    *,
    protocol: int | None = None,
    our_protocol: int = PROTOCOL_VERSION,
    names_from_peer: bool = False,
    batch: bool = False,
) -> Session:
    """Negotiate as the client; returns the session, with multiplexing started.

    Args:
        ws: the connection.
        opts: the transfer options (checksum and compression choices).
        protocol: the protocol agreed in a daemon greeting; ``None`` over a remote shell,
            where the binary version exchange happens here.
        our_protocol: the highest protocol we offer (``--protocol``).
        names_from_peer: a push whose ``--files-from`` the server reads: below protocol 31
            the names come unmultiplexed, so multiplexed input starts only after the file
            list (:func:`run_push` starts it).
        batch: a batch file is written: only the names a batch can record are offered
            (md5, or md4 below protocol 30; zlib), as rsync does.

    Raises:
        RemoteProtocolError: the peer's version is not a version (text on the stream?).
        UnsupportedError: no common checksum or compression, or an old protocol.

    rsync: compat.c setup_protocol().
    """
    machine = Negotiation(
        server=False,
        protocol=protocol,
        ours=our_protocol,
        offer=Offer(
            checksum_choice=opts.checksum_choice,
            compress=opts.compress,
            compress_choice=opts.compress_choice,
            compress_level=opts.compress_level,
            batch=batch,
        ),
    )

    def check(protocol: int) -> None:  # rsync: compat.c setup_protocol()
        check_old_protocol(opts, protocol, local_server=batch)

    session = await negotiate(ws, machine, check)
    if not (names_from_peer and session.protocol < 31):
        ws.start_mux_in()  # rsync: main.c client_run()
    if session.mux_from_client:
        ws.start_mux_out()
    return session


async def run_pull(
    ws: WireStream,
    session: Session,
    opts: TransferOptions,
    config: ReceiveConfig,
    dest: bytes | None,
    reporter: Reporter | None = None,
    *,
    files_from: list[bytes] | None = None,
    send_filters: FilterList | None = None,
    batch: BatchWriter | None = None,
) -> ReceiveStats:
    """Send the filter list (and ``--files-from`` names), then receive.

    Args:
        ws: the negotiated connection.
        session: from :func:`setup_client_protocol`.
        opts: the transfer options sent to the server (``sender`` set).
        config: the receiving side's local settings (its filters are the ones sent).
        dest: the local destination (``None`` with ``--list-only``).
        reporter: user-visible events.
        files_from: names to forward for ``--files-from=LOCALFILE`` (sent as
            ``--files-from=- --from0``).
        send_filters: the rules to send, when they differ from ``config.filters`` (the
            local list may hold rules added after sending, as rsync's ``-C`` does).
        batch: ``--write-batch``: what the sender sends from here on is recorded.

    rsync: main.c client_run() (receiving half), exclude.c send_filter_list().
    """
    ws.who = "Receiver/inc" if session.inc_recurse else "Receiver"  # rsync: who_am_i()
    filters = send_filters if send_filters is not None else config.filters
    if filters is None:
        filters = FilterList(protocol=session.protocol)
    filters.protocol = session.protocol
    encode_filter_list_into(
        ws.out,
        filters,
        protocol=session.protocol,
        client_is_sender=False,
        delete_excluded=opts.delete_excluded,
    )
    if files_from is not None:
        # -s with --iconv: the names go in UTF-8 (rsync: compat.c filesfrom_convert,
        # io.c forward_filesfrom_data())
        conv = charset_for(opts.iconv, server=False) if opts.protect_args else None
        for name in files_from:
            ws.write((name if conv is None else conv.to_wire_lenient(name)) + b"\0")
        ws.write(b"\0")
    await ws.flush()
    side = ReceiverSide(ws, session, opts, config, dest, reporter)
    ws.on_message = side.on_message
    if batch is not None:  # rsync: main.c client_run() -> io.c start_write_batch(f_in)
        batch.start(session)
        batch.record_input(ws)
    try:
        return await side.run()
    finally:
        if batch is not None:
            batch.stop(ws)
        side.close()


async def run_push(
    ws: WireStream,
    session: Session,
    opts: TransferOptions,
    filters: FilterList,
    root: Root,
    paths: list[bytes],
    reporter: SenderReporter,
    *,
    itemize: int = 0,
    verbose: int = 0,
    names_from_peer: bool = False,
    batch: BatchWriter | None = None,
    log_items: bool = False,
) -> ReceiveStats:
    """Send the filter list when the receiver wants it, then run the sender as the client.

    Args:
        ws: the negotiated connection.
        session: from :func:`setup_client_protocol`.
        opts: the transfer options sent to the server (``sender`` unset: the server
            receives); with ``--files-from`` the names are already in ``paths`` and
            ``opts.relative`` is set.
        filters: the command line's rules (``-C``'s are added here, as rsync adds them).
        root: the tree ``paths`` are relative to.
        paths: the source arguments.
        reporter: the client's output (item lines, messages, deletions, progress).
        itemize: the number of ``-i`` (rsync's ``stdout_format_has_i``).
        verbose: the ``-v`` level.
        names_from_peer: ``--files-from=HOST:FILE``: the server reads the file and sends
            the names (below P 31 unmultiplexed: see :func:`setup_client_protocol`).
        batch: ``--write-batch``: what the sender writes from here on is recorded, and its
            statistics.
        log_items: the client keeps a ``--log-file``: every item goes to the reporter.

    Returns:
        The sender's statistics in the shape ``--stats`` prints (rsync's client sender
        reads no statistics from the receiver, only the deletion counts at P >= 31).

    Raises:
        RemoteError: the receiver ended the session (MSG_ERROR_EXIT; its code).

    rsync: main.c client_run() (am_sender), exclude.c send_filter_list().
    """
    ws.who = "sender/inc" if session.inc_recurse else "sender"  # rsync: who_am_i()
    protocol = session.protocol
    # rsync counts only what passes its buffers, which start after the negotiation.
    ws.bytes_read = ws.buffered
    ws.bytes_written = 0
    filters.protocol = protocol
    before, after = cvs_exclude_rules(protocol=protocol, am_sender=True, am_server=False)
    if opts.cvs_exclude:
        for text in before:
            filters.add_filter(text)
    if filter_list_is_sent(
        client_is_sender=True,
        local=False,
        delete_mode=opts.delete_mode is not None,
        delete_excluded=opts.delete_excluded,
        prune_empty_dirs=opts.prune_empty_dirs,
        protocol=protocol,
    ):
        encode_filter_list_into(
            ws.out,
            filters,
            protocol=protocol,
            client_is_sender=True,
            delete_excluded=opts.delete_excluded,
        )
    if opts.cvs_exclude:
        for text in after:
            filters.add_filter(text)
    # imported here: a pull never loads the sender (~0.4 MiB, a few ms of start-up)
    from rsync_wire.roles.sender import SenderRole
    from rsync_wire.roles.sender_ports import ClientSenderPort

    port = ClientSenderPort(
        filters,
        reporter,
        itemize=itemize,
        verbose=verbose,
        ws=ws,
        names_from_peer=names_from_peer,
        log_items=log_items,
    )
    ws.on_message = port.on_message
    role = SenderRole(
        ws, session, opts, root, paths, port=port, charset=charset_for(opts.iconv, server=False)
    )
    started = time.monotonic()
    if batch is not None:  # rsync: main.c client_run() -> io.c start_write_batch(f_out)
        batch.start(session)
        batch.record_output(ws)
        if opts.only_write_batch is not None:
            role.batch_only = batch.write
    try:
        report = await role.run()
    except RemoteError as exc:
        if getattr(exc, "remote_exit", False) and session.error_exit_msg:
            # rsync: io.c read_a_msg() (a sender answers MSG_ERROR_EXIT with an empty one)
            with anyio.move_on_after(2, shield=True), contextlib.suppress(ConnectionLost):
                await ws.write_message(Msg.ERROR_EXIT, b"")
        raise
    finally:
        if batch is not None:
            batch.stop(ws)
    if batch is not None:
        values = [report.total_read, report.total_written, report.total_size]
        if session.flist_times:
            values += [report.flist_buildtime_ms, report.flist_xfertime_ms]
        batch.push_stats(values, protocol=protocol)
    kinds = role.kinds
    deleted = port.deleted or [0, 0, 0, 0, 0]
    created = port.created
    return ReceiveStats(
        num_files=report.num_files,
        num_dirs=kinds[0],
        num_symlinks=kinds[1],
        num_devices=kinds[2],
        num_specials=kinds[3],
        created_files=sum(created),
        created_dirs=created[1],
        created_symlinks=created[2],
        created_devices=created[3],
        created_specials=created[4],
        deleted_files=sum(deleted),
        deleted_dirs=deleted[1],
        deleted_symlinks=deleted[2],
        deleted_devices=deleted[3],
        deleted_specials=deleted[4],
        xferred_files=report.num_transferred_files,
        total_size=report.total_size,
        total_transferred_size=report.total_transferred_size,
        literal_data=report.literal_data,
        matched_data=report.matched_data,
        flist_size=role.flist_size,
        flist_buildtime_ms=report.flist_buildtime_ms,
        flist_xfertime_ms=report.flist_xfertime_ms,
        total_read=report.total_read or ws.bytes_read,
        total_written=report.total_written or ws.bytes_written + ws.pending_output,
        io_error=report.io_error | port.io_error,
        transfer_errors=report.transfer_errors + port.transfer_errors,
        elapsed=time.monotonic() - started,
        got_stats=True,
    )
