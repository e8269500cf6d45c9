"""Protocol version, compat flags, checksum and compression choice (no I/O).

:class:`Negotiation` is rsync's ``setup_protocol()`` as a sans-IO machine that a client
and a server drive alike: the binary version exchange (over a remote shell), the compat
flags, the checksum and compression name lists and the checksum seed. It produces the
:class:`Session`, which records what the two peers agreed on. Every protocol-version
difference that codecs and roles care about is a named predicate there, each
documenting the C condition it replaces, so that ``protocol >= 30`` tests do not
spread through the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgspec

from rsync_wire.errors import ProtocolError, RemoteProtocolError, UnsupportedError
from rsync_wire.proto import codec
from rsync_wire.proto.constants import (
    CF,
    CHECKSUM_NAMES_CLIENT,
    CHECKSUM_NAMES_SERVER,
    COMPRESS_NAMES_CLIENT,
    COMPRESS_NAMES_SERVER,
    MAX_PROTOCOL,
    MIN_PROTOCOL,
    PEER_MAX_PROTOCOL,
    PEER_MIN_PROTOCOL,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "Negotiation",
    "Offer",
    "Session",
    "agree",
    "choose_name",
    "negotiate_protocol",
    "parse_name_list",
    "sender_symlink_iconv",
    "server_compat_flags",
]


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """What the two peers agreed on for this session.

    Attributes:
        protocol: the negotiated protocol version (27..32).
        compat_flags: the CF_* bits the server wrote (0 below protocol 30).
        checksum: the transfer checksum's name (``md4`` below 30, ``md5`` at 30+ without
            negotiation, else the negotiated name).
        compression: the compression method for file data, or ``None``.
        seed: the checksum seed (signed 32-bit).
        compress_level: the zlib/zstd level, or ``None`` for the method's default.
        checksum_negotiated: whether ``checksum`` was chosen by name (as opposed to implied by
            the protocol), which changes seed handling for md4/md5.
        local_server: both ends are ours in one local copy (rsync's ``local_server``): -A
            and -X then travel below protocol 30 too (rsync: compat.c setup_protocol()).
    """

    protocol: int
    compat_flags: int = 0
    checksum: str = "md5"
    compression: str | None = None
    seed: int = 0
    compress_level: int | None = None
    checksum_negotiated: bool = False
    local_server: bool = False

    # -- predicates (rsync: compat.c setup_protocol and the conditions named below) ------------

    @property
    def uses_varint(self) -> bool:
        """Varint/varlong encodings, NDX delta code, 64-bit mtimes (``protocol_version >= 30``)."""
        return self.protocol >= 30

    @property
    def varint_flist_flags(self) -> bool:
        """Flist flags as varints and negotiated names (``xfer_flags_as_varint``)."""
        return bool(self.compat_flags & CF.VARINT_FLIST_FLAGS)

    @property
    def inc_recurse(self) -> bool:
        """Incremental recursion (``inc_recurse``)."""
        return bool(self.compat_flags & CF.INC_RECURSE)

    @property
    def seed_fix(self) -> bool:
        """MD5 block sums put the seed first (``proper_seed_order``)."""
        return bool(self.compat_flags & CF.CHKSUM_SEED_FIX)

    @property
    def safe_flist(self) -> bool:
        """The flist end marker may carry an I/O error (``use_safe_inc_flist``)."""
        return self.protocol >= 31 or bool(self.compat_flags & CF.SAFE_FLIST)

    @property
    def id0_names(self) -> bool:
        """Id lists end with the name of id 0 (``xmit_id0_names``)."""
        return bool(self.compat_flags & CF.ID0_NAMES)

    @property
    def inplace_partial(self) -> bool:
        """A ``--partial-dir`` file that is the basis is updated in place (``inplace_partial``)."""
        return bool(self.compat_flags & CF.INPLACE_PARTIAL_DIR)

    @property
    def has_iflags(self) -> bool:
        """Every transfer index is followed by iflags (``protocol_version >= 29``)."""
        return self.protocol >= 29

    @property
    def extended_flist_flags(self) -> bool:
        """Two-byte flist flags in byte mode (``protocol_version >= 28``)."""
        return self.protocol >= 28

    @property
    def mux_from_client(self) -> bool:
        """The client-to-server direction is multiplexed (``protocol_version >= 30``)."""
        return self.protocol >= 30

    @property
    def xattr_optim(self) -> bool:
        """A hard-link follower's xattrs need no request (``want_xattr_optim``)."""
        return self.protocol >= 31 and not self.compat_flags & CF.AVOID_XATTR_OPTIM

    @property
    def mtime_nsec(self) -> bool:
        """Modification nanoseconds travel in the file list (``protocol_version >= 31``)."""
        return self.protocol >= 31

    @property
    def new_sort(self) -> bool:
        """Files before subdirectories in the sort order (``protocol_version >= 29``)."""
        return self.protocol >= 29

    @property
    def specials_have_rdev(self) -> bool:
        """FIFOs and sockets carry an rdev in the file list (``protocol_version < 31``)."""
        return self.protocol < 31

    @property
    def del_stats(self) -> bool:
        """Deletion statistics and the extra NDX_DONE exist (``protocol_version >= 31``)."""
        return self.protocol >= 31

    @property
    def error_exit_msg(self) -> bool:
        """MSG_ERROR_EXIT and MSG_IO_TIMEOUT may be sent (``protocol_version >= 31``)."""
        return self.protocol >= 31

    @property
    def extended_msgs(self) -> bool:
        """MSG_ERROR, MSG_WARNING, MSG_IO_ERROR and MSG_NO_SEND may be sent (P >= 30)."""
        return self.protocol >= 30

    @property
    def flist_times(self) -> bool:
        """Statistics carry flist build and transfer times (``protocol_version >= 29``)."""
        return self.protocol >= 29

    @property
    def done_count_extra(self) -> int:
        """Generator NDX_DONEs after phase 1 beyond the list count (docs/protocol.md §10.9)."""
        return 2 if self.protocol < 29 else 3 if self.protocol < 31 else 4


def negotiate_protocol(theirs: int, *, ours: int = MAX_PROTOCOL) -> int:
    """Pick the session's protocol from the peer's announced version.

    rsync: compat.c setup_protocol().

    Raises:
        RemoteProtocolError: the peer's number is outside 20..40 (text on the stream?).
        UnsupportedError: the result is below the oldest protocol we speak.
    """
    if not PEER_MIN_PROTOCOL <= theirs <= PEER_MAX_PROTOCOL:
        msg = f"protocol version mismatch -- is your shell clean? (peer sent {theirs})"
        raise RemoteProtocolError(msg)
    protocol = min(ours, theirs)
    if protocol < MIN_PROTOCOL:
        msg = f"protocol version {theirs} is too old (we speak {MIN_PROTOCOL} to {ours})"
        raise UnsupportedError(msg)
    return protocol


def sender_symlink_iconv(compat_flags: int, *, server: bool, capabilities: str) -> bool:
    """Whether symlink targets travel in UTF-8 too (with ``--iconv``; else irrelevant).

    A server asks the client's ``-e`` letters (``s``), a client the server's compat flags.

    rsync: compat.c setup_protocol() (``sender_symlink_iconv``).
    """
    if server:
        return "s" in capabilities
    return bool(compat_flags & CF.SYMLINK_ICONV)


def server_compat_flags(caps: str, *, inc_recurse: bool) -> int:
    """The compat flags a server writes for a client's ``-e.`` capability letters.

    Grants what the client's letters ask for, INC_RECURSE only when the caller allows it,
    and SYMLINK_ICONV always, as rsync built with iconv does (it matters only with
    ``--iconv``, and then only if the client's letters have ``s``).

    rsync: compat.c setup_protocol() (the ``client_info`` strchr tests).
    """
    flags = CF(0)
    if inc_recurse and "i" in caps:
        flags |= CF.INC_RECURSE
    if "L" in caps:
        flags |= CF.SYMLINK_TIMES
    flags |= CF.SYMLINK_ICONV
    if "f" in caps:
        flags |= CF.SAFE_FLIST
    if "x" in caps:
        flags |= CF.AVOID_XATTR_OPTIM
    if "C" in caps:
        flags |= CF.CHKSUM_SEED_FIX
    if "I" in caps:
        flags |= CF.INPLACE_PARTIAL_DIR
    if "v" in caps:
        flags |= CF.VARINT_FLIST_FLAGS
    if "u" in caps:
        flags |= CF.ID0_NAMES
    return int(flags)


def parse_name_list(data: bytes) -> list[str]:
    """Split a negotiation vstring into lower-case names."""
    return data.decode("ascii", "replace").lower().split()


def choose_name(ours: Sequence[str], theirs: Sequence[str], *, server: bool) -> str | None:
    """Choose a checksum or compression name from the two lists.

    A client picks its most preferred name that the server offers; a server picks the first
    name of the client's list that it supports (rsync 3.2.0 to 3.4.x; 3.5.0 prefers its own
    order, which gives the same result for the default lists).

    rsync: compat.c parse_negotiate_str().
    """
    if server:
        for name in theirs:
            if name in ours:
                return name
        return None
    for name in ours:
        if name in theirs:
            return name
    return None


SERVER_CHECKSUMS = CHECKSUM_NAMES_SERVER
SERVER_COMPRESSIONS = COMPRESS_NAMES_SERVER


CHECKSUMS: Final = frozenset({"md4", "md5", "xxh64", "xxh3", "xxh128"})
COMPRESSIONS: Final = frozenset({"zlib", "zlibx", "zstd", "lz4"})


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """What one side brings to the negotiation, from its options.

    Attributes:
        checksum_choice: ``--checksum-choice`` (its first name), or ``None``/``"auto"`` to
            negotiate by name lists.
        compress: ``-z``.
        compress_choice: ``--compress-choice``, or ``None`` to negotiate (with ``-z``).
        compress_level: ``--compress-level``.
        capabilities: the client's ``-e.`` letters as the server read them (server only).
        inc_recurse: whether the server may grant incremental recursion (server only).
        seed: the checksum seed the server sends (server only; ``--checksum-seed`` or a
            fresh one).
        batch: a client writing a batch file offers only what a batch can record: md5
            and zlib (rsync: compat.c getenv_nstr(), ``write_batch``).
    """

    checksum_choice: str | None = None
    compress: bool = False
    compress_choice: str | None = None
    compress_level: int | None = None
    capabilities: str = ""
    inc_recurse: bool = False
    seed: int = 0
    batch: bool = False


def _chosen_checksum(choice: str | None) -> str | None:
    name = (choice or "").split(",")[0].lower() or None
    if name in (None, "auto"):
        return None
    if name == "xxhash":
        return "xxh64"
    if name not in CHECKSUMS:
        msg = f"unknown checksum name: {name}"
        raise UnsupportedError(msg)
    return name


class Negotiation:
    """One side of rsync's ``setup_protocol()``, without I/O.

    The caller writes :meth:`data_to_send` to the peer, then reads the value that
    :attr:`expecting` decodes (a sans-IO codec function) and hands it to :meth:`receive`,
    until :attr:`session` is set. Both sides follow the same steps in the same order:

    1. over a remote shell (``protocol=None``), each side writes its version as an int32
       and reads the other's;
    2. from protocol 30, the server writes the compat flags (a varint, or a byte for an
       old client that announced ``V`` without ``v``);
    3. with ``CF_VARINT_FLIST_FLAGS``, each side writes its checksum list (unless
       ``--checksum-choice`` fixed it) and its compression list (with ``-z`` and no
       ``--compress-choice``), then reads the other's;
    4. the server writes the checksum seed.

    Raises (from the constructor and :meth:`receive`):
        RemoteProtocolError: the peer's version is not a version.
        UnsupportedError: an old protocol, an unknown name, no common checksum or
            compression.

    rsync: compat.c setup_protocol(), negotiate_the_strings().
    """

    def __init__(
        self,
        *,
        server: bool,
        offer: Offer,
        protocol: int | None = None,
        ours: int = MAX_PROTOCOL,
    ) -> None:
        self.server = server
        self.offer = offer
        self.ours = ours
        self.protocol = protocol
        self.flags = 0
        self.session: Session | None = None
        self._out = bytearray()
        self._choice = _chosen_checksum(offer.checksum_choice)
        self._checksum = "md5"
        self._negotiated = False
        compression: str | None = None
        if offer.compress or (server and offer.compress_choice):
            compression = offer.compress_choice or "zlib"
        self._compression = compression
        self._ready = False  # a server that has written all but the seed
        self._steps: list[tuple[Callable[[codec.Buf, int], tuple[Any, int]], Callable[[Any], None]]]
        self._steps = []
        if protocol is None:
            codec.encode_int32_into(self._out, ours)
            self._steps.append((codec.decode_int32, self._got_version))
        else:
            self._after_version()

    # -- the caller's side -------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """The bytes to write to the peer now (then flush)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    @property
    def expecting(self) -> Callable[[codec.Buf, int], tuple[Any, int]] | None:
        """The codec function that decodes the next value from the peer; ``None`` when done."""
        return self._steps[0][0] if self._steps else None

    def receive(self, value: Any) -> None:
        """Hand over the value that :attr:`expecting` decoded."""
        if not self._steps:
            msg = "negotiation already finished"
            raise RuntimeError(msg)
        _decoder, handler = self._steps.pop(0)
        handler(value)
        self._maybe_finish()

    # -- the steps ----------------------------------------------------------------------------

    def _agreed(self) -> int:
        if self.protocol is None:
            msg = "the protocol is not agreed yet"
            raise RuntimeError(msg)
        return self.protocol

    def _got_version(self, theirs: int) -> None:
        if self.ours < MIN_PROTOCOL:  # a --protocol below what this side speaks
            side = "Server" if self.server else "Client"
            msg = f"--protocol must be at least {MIN_PROTOCOL} on the {side}."
            raise ProtocolError(msg)
        self.protocol = negotiate_protocol(theirs, ours=self.ours)
        if self.protocol > MAX_PROTOCOL:  # a --protocol above ours, and a peer above too
            side = "Server" if self.server else "Client"
            msg = f"--protocol must be no more than {MAX_PROTOCOL} on the {side}."
            raise ProtocolError(msg)
        self._after_version()

    def _after_version(self) -> None:
        protocol = self._agreed()
        self._checksum = "md4" if protocol < 30 else "md5"
        if protocol < 30:
            self._after_flags()
        elif self.server:
            offer = self.offer
            self.flags = server_compat_flags(offer.capabilities, inc_recurse=offer.inc_recurse)
            if "V" in offer.capabilities and "v" not in offer.capabilities:
                self._out.append(self.flags & 0xFF)
            else:
                codec.encode_varint_into(self._out, self.flags)
            self._after_flags()
        else:
            self._steps.append((codec.decode_varint, self._got_flags))

    def _got_flags(self, flags: int) -> None:
        self.flags = flags
        self._after_flags()

    def _after_flags(self) -> None:
        offer = self.offer
        if self.flags & CF.VARINT_FLIST_FLAGS:
            checksums, compressions = self._name_lists()
            if self._choice is None:
                codec.encode_vstring_into(self._out, " ".join(checksums).encode())
                self._steps.append((codec.decode_vstring, self._got_checksums))
            if offer.compress and offer.compress_choice is None:
                codec.encode_vstring_into(self._out, " ".join(compressions).encode())
                self._steps.append((codec.decode_vstring, self._got_compressions))
        if self.server:
            self._ready = True
            self._maybe_finish()
        else:
            self._steps.append((codec.decode_int32, self._finish))

    def _maybe_finish(self) -> None:
        if self._ready and not self._steps and self.session is None:
            self._finish(None)

    def _name_lists(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The checksum and compression names this side offers, best first."""
        if self.offer.batch and not self.server:
            return ("md5",), ("zlib",)  # names come at protocol 30+ only: md5, not md4
        if self.server:
            return CHECKSUM_NAMES_SERVER, COMPRESS_NAMES_SERVER
        return CHECKSUM_NAMES_CLIENT, COMPRESS_NAMES_CLIENT

    def _got_checksums(self, data: bytes) -> None:
        ours = self._name_lists()[0]
        picked = choose_name(ours, parse_name_list(data), server=self.server)
        if picked is None:
            msg = "Failed to negotiate a checksum choice"
            raise UnsupportedError(msg)
        self._checksum, self._negotiated = picked, True

    def _got_compressions(self, data: bytes) -> None:
        ours = self._name_lists()[1]
        picked = choose_name(ours, parse_name_list(data), server=self.server)
        if picked is None:
            msg = "Failed to negotiate a compression choice"
            raise UnsupportedError(msg)
        self._compression = picked

    def _finish(self, seed: int | None) -> None:
        protocol = self._agreed()
        checksum, negotiated = self._checksum, self._negotiated
        if self._choice is not None:
            if protocol < 30 and not self.server:
                msg = f"--checksum-choice={self._choice} needs protocol 30 or newer"
                raise UnsupportedError(msg)
            checksum, negotiated = self._choice, True
        compression = self._compression
        if compression == "none":
            compression = None
        if compression is not None and compression not in COMPRESSIONS:
            msg = f"unknown compress name: {compression}"
            raise UnsupportedError(msg)
        if seed is None:
            seed = self.offer.seed
            codec.encode_int32_into(self._out, seed)
        self.session = Session(
            protocol=protocol,
            compat_flags=self.flags,
            checksum=checksum,
            compression=compression,
            seed=seed,
            compress_level=self.offer.compress_level,
            checksum_negotiated=negotiated,
        )


def _step(machine: Negotiation, buf: codec.Buf, pos: int) -> int | None:
    """Feed ``machine`` one value from ``buf`` at ``pos``; the new position, or ``None``."""
    decoder = machine.expecting
    if decoder is None:
        return None
    try:
        value, pos = decoder(buf, pos)
    except codec.NeedMoreData:
        return None
    machine.receive(value)
    return pos


def agree(client: Negotiation, server: Negotiation) -> Session:
    """Run two machines against each other in memory; the session both agreed on.

    What a local copy uses (both ends are ours), and what tests run the machines with.

    Raises:
        RuntimeError: the machines stopped before both were done, or disagreed.
    """
    up, down = bytearray(), bytearray()
    up_pos = down_pos = 0
    while True:
        up += client.data_to_send()
        down += server.data_to_send()
        pos = _step(server, up, up_pos)
        if pos is not None:
            up_pos = pos
            continue
        pos = _step(client, down, down_pos)
        if pos is None:
            break
        down_pos = pos
    if client.session is None or server.session is None or client.session != server.session:
        msg = f"negotiation did not agree: {client.session} / {server.session}"
        raise RuntimeError(msg)
    if up_pos != len(up) or down_pos != len(down):
        msg = "negotiation left bytes unread"
        raise RuntimeError(msg)
    return client.session
