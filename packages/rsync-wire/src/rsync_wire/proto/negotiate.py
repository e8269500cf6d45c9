"""Protocol version, compat flags, checksum and compression choice (no I/O).

The :class:`Session` records what two peers agreed on. Every protocol-version
difference that codecs and roles care about is a named predicate here, each
documenting the C condition it replaces, so that ``protocol >= 30`` tests do not
spread through the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from rsync_wire.errors import RemoteProtocolError, UnsupportedError
from rsync_wire.proto.constants import (
    CF,
    CHECKSUM_NAMES_SERVER,
    COMPRESS_NAMES_SERVER,
    MAX_PROTOCOL,
    MIN_PROTOCOL,
    PEER_MAX_PROTOCOL,
    PEER_MIN_PROTOCOL,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Session",
    "choose_name",
    "negotiate_protocol",
    "parse_name_list",
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
    """

    protocol: int
    compat_flags: int = 0
    checksum: str = "md5"
    compression: str | None = None
    seed: int = 0
    compress_level: int | None = None
    checksum_negotiated: bool = False

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


def server_compat_flags(caps: str, *, inc_recurse: bool) -> int:
    """The compat flags a server writes for a client's ``-e.`` capability letters.

    Grants only what this implementation does: never SYMLINK_ICONV or INPLACE_PARTIAL_DIR,
    and INC_RECURSE only when the caller allows it.

    rsync: compat.c setup_protocol() (the ``client_info`` strchr tests).
    """
    flags = CF(0)
    if inc_recurse and "i" in caps:
        flags |= CF.INC_RECURSE
    if "L" in caps:
        flags |= CF.SYMLINK_TIMES
    if "f" in caps:
        flags |= CF.SAFE_FLIST
    if "x" in caps:
        flags |= CF.AVOID_XATTR_OPTIM
    if "C" in caps:
        flags |= CF.CHKSUM_SEED_FIX
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
