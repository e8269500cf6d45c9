"""XMIT flag bits and the protocol rules that the encoder and the decoder share.

rsync: rsync.h (``XMIT_*``), flist.c.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import (
    LocalProtocolError,
    UnsupportedError,
)
from rsync_wire.proto.flist.entry import flist_csum_len

if TYPE_CHECKING:
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions


Buf = bytes | bytearray | memoryview

_I16: Final = struct.Struct("<H")
_I32: Final = struct.Struct("<i")
_U32: Final = struct.Struct("<I")

# XMIT_* bits as plain ints (IntFlag arithmetic is slow in a hot loop); same values as
# rsync_wire.proto.constants.Xmit.
_TOP_DIR: Final = 0x0001  # XMIT_TOP_DIR
_SAME_MODE: Final = 0x0002  # XMIT_SAME_MODE
_EXTENDED_FLAGS: Final = 0x0004  # XMIT_EXTENDED_FLAGS (P >= 28)
_SAME_RDEV_PRE28: Final = 0x0004  # XMIT_SAME_RDEV_pre28 (P < 28)
_SAME_UID: Final = 0x0008  # XMIT_SAME_UID
_SAME_GID: Final = 0x0010  # XMIT_SAME_GID
_SAME_NAME: Final = 0x0020  # XMIT_SAME_NAME
_LONG_NAME: Final = 0x0040  # XMIT_LONG_NAME
_SAME_TIME: Final = 0x0080  # XMIT_SAME_TIME
_SAME_RDEV_MAJOR: Final = 0x0100  # XMIT_SAME_RDEV_MAJOR (devices)
_NO_CONTENT_DIR: Final = 0x0100  # XMIT_NO_CONTENT_DIR (directories, P >= 30)
_HLINKED: Final = 0x0200  # XMIT_HLINKED
_SAME_DEV_PRE30: Final = 0x0400  # XMIT_SAME_DEV_pre30 (P 28-29)
_USER_NAME_FOLLOWS: Final = 0x0400  # XMIT_USER_NAME_FOLLOWS (P >= 30)
_RDEV_MINOR_8_PRE30: Final = 0x0800  # XMIT_RDEV_MINOR_8_pre30 (P 28-29)
_GROUP_NAME_FOLLOWS: Final = 0x0800  # XMIT_GROUP_NAME_FOLLOWS (P >= 30)
_HLINK_FIRST: Final = 0x1000  # XMIT_HLINK_FIRST (P >= 30)
_IO_ERROR_ENDLIST: Final = 0x1000  # XMIT_IO_ERROR_ENDLIST (end marker only)
_MOD_NSEC: Final = 0x2000  # XMIT_MOD_NSEC (P >= 31)
_SAME_ATIME: Final = 0x4000  # XMIT_SAME_ATIME
_CRTIME_EQ_MTIME: Final = 0x20000  # XMIT_CRTIME_EQ_MTIME (varint mode)

_MAX_NSEC: Final = 999_999_999  # MAX_WIRE_NSEC
# flags that take an entry off decode_batch()'s short path
_SLOW_FLAGS: Final = _LONG_NAME | _HLINKED | _HLINK_FIRST | _USER_NAME_FOLLOWS | _GROUP_NAME_FOLLOWS
_IOERR_VALID_MASK: Final = 0x7  # IOERR_GENERAL | IOERR_VANISHED | IOERR_DEL_LIMIT
_U32_MASK: Final = 0xFFFFFFFF
_U64_MASK: Final = 0xFFFFFFFFFFFFFFFF

# -- the protocol rules both directions share -------------------------------------------------


class _Rules:
    """What the session and options change in the entry format, computed once.

    Each attribute names the C condition it replaces; they are derived from
    :class:`Session` predicates where one exists.
    """

    __slots__ = (
        "acls",
        "atimes",
        "checksum",
        "crtimes",
        "csum_len",
        "devices",
        "gid",
        "hard_links",
        "id0_names",
        "inc_recurse",
        "inline_names",
        "links",
        "missing_args",
        "mod_nsec",
        "numeric_ids",
        "p28",
        "p30",
        "relative",
        "safe_flist",
        "specials",
        "uid",
        "varint_flags",
        "xattrs",
        "zero_sums",
    )

    def __init__(
        self, session: Session, options: TransferOptions, csum_len: int | None, *, local: bool
    ) -> None:
        err = LocalProtocolError if local else UnsupportedError
        p = session.protocol
        if not 27 <= p <= 40:
            msg = f"file-list codec speaks protocols 27 and up, not {p}"
            raise UnsupportedError(msg)
        # a local copy's two ends send them at any protocol (rsync: compat.c, local_server)
        old = p < 30 and not session.local_server
        self.acls = bool(options.preserve_acls)
        if self.acls and old:
            msg = "--acls requires protocol 30 or higher"
            raise err(msg)
        self.xattrs = bool(options.preserve_xattrs)
        if self.xattrs and old:
            msg = "--xattrs requires protocol 30 or higher"
            raise err(msg)
        self.p28 = session.extended_flist_flags  # protocol_version >= 28
        self.p30 = session.uses_varint  # protocol_version >= 30
        self.varint_flags = session.varint_flist_flags  # xfer_flags_as_varint
        self.inc_recurse = session.inc_recurse  # inc_recurse
        self.safe_flist = session.safe_flist  # use_safe_inc_flist
        self.id0_names = session.id0_names  # xmit_id0_names
        self.mod_nsec = session.mtime_nsec  # protocol_version >= 31
        self.zero_sums = not self.p28  # protocol_version < 28: -c sums for every entry
        self.uid = options.preserve_uid
        self.gid = options.preserve_gid
        self.numeric_ids = options.numeric_ids
        # rsync: flist.c, "inc_recurse && user_name" -> XMIT_USER_NAME_FOLLOWS
        self.inline_names = self.inc_recurse and not options.numeric_ids
        self.devices = options.preserve_devices
        # specials carry an rdev only below 31 (session.specials_have_rdev)
        self.specials = options.preserve_specials and session.specials_have_rdev
        self.links = options.preserve_links
        self.hard_links = bool(options.preserve_hard_links)
        self.checksum = options.always_checksum
        self.csum_len = csum_len if csum_len is not None else flist_csum_len(session.checksum)
        self.atimes = bool(options.preserve_atimes)
        self.crtimes = options.preserve_crtimes
        self.missing_args = options.delete_missing_args
        self.relative = options.relative
        if self.crtimes and not self.varint_flags:
            msg = "--crtimes needs varint file-list flags (both rsyncs 3.2.0 or newer)"
            raise err(msg)
        if self.atimes and not self.p28:
            # rsync drops XMIT_SAME_ATIME (bit 14) from the one-byte flags below 28 and
            # desynchronises; refuse instead.
            msg = "--atimes needs protocol 28 or newer"
            raise err(msg)
        if self.inc_recurse and not self.p30:
            msg = "incremental recursion needs protocol 30 or newer"
            raise err(msg)

    def allowed_flags(self) -> int:
        """The flag bits a correct sender can set in this session (others are fatal)."""
        allowed = 0xFF
        if self.p28:
            allowed |= _SAME_RDEV_MAJOR | _HLINKED | _SAME_DEV_PRE30 | _RDEV_MINOR_8_PRE30
        if self.p30:
            allowed |= _HLINK_FIRST
        if self.mod_nsec:
            allowed |= _MOD_NSEC
        if self.atimes:
            allowed |= _SAME_ATIME
        if self.crtimes:
            allowed |= _CRTIME_EQ_MTIME
        return allowed


def _makedev(major: int, minor: int) -> int:
    """Pack a raw ``dev_t`` as a Linux sender does (glibc's 64-bit ``makedev``)."""
    return (
        ((major & 0xFFFFF000) << 32)
        | ((major & 0xFFF) << 8)
        | ((minor & 0xFFFFFF00) << 12)
        | (minor & 0xFF)
    )


def _dev_major(dev: int) -> int:
    """Major number of a 64-bit ``dev_t`` (glibc's ``major``)."""
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & 0xFFFFF000)


def _dev_minor(dev: int) -> int:
    """Minor number of a 64-bit ``dev_t`` (glibc's ``minor``)."""
    return (dev & 0xFF) | ((dev >> 12) & 0xFFFFFF00)
