"""The client side of a session after its transport preamble: negotiation, then the pull.

The transport (a daemon connection after ``@RSYNCD: OK`` and the arguments, or a
remote shell running ``rsync --server --sender``) hands over a :class:`WireStream`.
Here the client reads what a server writes (docs/protocol.md §4.4-4.5, §6):
over a remote shell the binary version exchange first; then the compat flags
(P >= 30), the checksum and compression name lists (when negotiation is on, both
sides write before they read), the checksum seed; multiplexing starts. Then a
receiving client sends its filter list (always) and, with ``--files-from``, the
names, and runs the receiving side.

rsync: compat.c setup_protocol() (client half), main.c client_run().
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rsync_wire.errors import UnsupportedError
from rsync_wire.proto.constants import (
    CF,
    CHECKSUM_NAMES_CLIENT,
    COMPRESS_NAMES_CLIENT,
    PROTOCOL_VERSION,
)
from rsync_wire.proto.filters import FilterList, encode_filter_list_into
from rsync_wire.proto.negotiate import Session, choose_name, negotiate_protocol, parse_name_list
from rsync_wire.roles.receiving import ReceiverSide

if TYPE_CHECKING:
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.receiving import ReceiveConfig, ReceiveStats, Reporter
    from rsync_wire.stream import WireStream

__all__ = [
    "CLIENT_CAPABILITIES",
    "client_checksum_names",
    "client_compress_names",
    "run_pull",
    "setup_client_protocol",
]

log = logging.getLogger("rsync_wire.client")

CLIENT_CAPABILITIES = ".LfxCvu"
"""The ``-e`` letters of this client (docs/protocol.md §4.2): symlink times, safe file list,
no xattr optimisation, seed fix, varint flags with name negotiation, id-0 names. Never
``i``: this receiving side does not do incremental recursion."""

_CHECKSUMS = {"md4", "md5", "xxh64", "xxh3", "xxh128"}
_COMPRESSIONS = {"zlib", "zlibx", "zstd", "lz4"}


def client_checksum_names() -> tuple[str, ...]:
    """The checksum names the client offers, strongest first."""
    return CHECKSUM_NAMES_CLIENT


def client_compress_names() -> tuple[str, ...]:
    """The compression names the client offers, best first (never ``none``)."""
    return COMPRESS_NAMES_CLIENT


def _checksum_choice(opts: TransferOptions) -> str | None:
    choice = (opts.checksum_choice or "").split(",")[0].lower() or None
    if choice in (None, "auto"):
        return None
    if choice == "xxhash":
        return "xxh64"
    if choice not in _CHECKSUMS:
        msg = f"unknown checksum name: {choice}"
        raise UnsupportedError(msg)
    return choice


async def setup_client_protocol(
    ws: WireStream,
    opts: TransferOptions,
    *,
    protocol: int | None = None,
    our_protocol: int = PROTOCOL_VERSION,
) -> Session:
    """Negotiate as the client; returns the session, with multiplexing started.

    Args:
        ws: the connection.
        opts: the transfer options (checksum and compression choices).
        protocol: the protocol agreed in a daemon greeting; ``None`` over a remote shell,
            where the binary version exchange happens here.
        our_protocol: the highest protocol we offer (``--protocol``).

    Raises:
        RemoteProtocolError: the peer's version is not a version (text on the stream?).
        UnsupportedError: no common checksum or compression, or an old protocol.

    rsync: compat.c setup_protocol().
    """
    if protocol is None:
        ws.write_int32(our_protocol)
        await ws.flush()
        protocol = negotiate_protocol(await ws.read_int32(), ours=our_protocol)
    flags = 0
    if protocol >= 30:
        flags = await ws.read_varint()
    checksum = "md4" if protocol < 30 else "md5"
    negotiated = False
    compression: str | None = None
    choice = _checksum_choice(opts)
    if opts.compress:
        compression = opts.compress_choice or "zlib"
    if flags & CF.VARINT_FLIST_FLAGS:
        want_csum = choice is None
        want_comp = opts.compress and opts.compress_choice is None
        if want_csum:
            ws.write_vstring(" ".join(client_checksum_names()).encode())
        if want_comp:
            ws.write_vstring(" ".join(client_compress_names()).encode())
        await ws.flush()
        if want_csum:
            theirs = parse_name_list(await ws.read_vstring())
            picked = choose_name(client_checksum_names(), theirs, server=False)
            if picked is None:
                msg = "Failed to negotiate a checksum choice"
                raise UnsupportedError(msg)
            checksum, negotiated = picked, True
        if want_comp:
            theirs = parse_name_list(await ws.read_vstring())
            picked = choose_name(client_compress_names(), theirs, server=False)
            if picked is None:
                msg = "Failed to negotiate a compression choice"
                raise UnsupportedError(msg)
            compression = picked
    if choice is not None:
        checksum, negotiated = choice, True
        if protocol < 30:
            msg = f"--checksum-choice={choice} needs protocol 30 or newer"
            raise UnsupportedError(msg)
    if compression == "none":
        compression = None
    if compression is not None and compression not in _COMPRESSIONS:
        msg = f"unknown compress name: {compression}"
        raise UnsupportedError(msg)
    seed = await ws.read_int32()
    session = Session(
        protocol=protocol,
        compat_flags=flags,
        checksum=checksum,
        compression=compression,
        seed=seed,
        compress_level=opts.compress_level,
        checksum_negotiated=negotiated,
    )
    ws.start_mux_in()
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

    rsync: main.c client_run() (receiving half), exclude.c send_filter_list().
    """
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
        for name in files_from:
            ws.write(name + b"\0")
        ws.write(b"\0")
    await ws.flush()
    side = ReceiverSide(ws, session, opts, config, dest, reporter)
    ws.on_message = side.on_message
    try:
        return await side.run()
    finally:
        side.close()
