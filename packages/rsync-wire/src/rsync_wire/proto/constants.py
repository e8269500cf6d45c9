"""Wire constants, named after rsync's C macros without their prefix.

A trailing comment gives the full macro name, so that grep works from either side.
No I/O.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final

PROTOCOL_VERSION: Final = 32  # PROTOCOL_VERSION, what we announce
MIN_PROTOCOL: Final = 27  # the oldest protocol we speak
MAX_PROTOCOL: Final = 32
PEER_MIN_PROTOCOL: Final = 20  # MIN_PROTOCOL_VERSION: below this rsync refuses outright
PEER_MAX_PROTOCOL: Final = 40  # MAX_PROTOCOL_VERSION

MPLEX_BASE: Final = 7
MAX_FRAME: Final = 0xFFFFFF
MAX_MSG_TEXT: Final = 5119  # peers abort on a non-data message of 5120 bytes or more
CHUNK_SIZE: Final = 32768  # largest literal run in one token
MAX_DATA_COUNT: Final = 16383  # largest DEFLATED_DATA payload
MAXPATHLEN: Final = 4096
BLOCK_SIZE: Final = 700
DEFAULT_PORT: Final = 873


class Msg(IntEnum):
    """Multiplexed message codes.

    rsync: rsync.h enum msgcode.
    """

    DATA = 0  # MSG_DATA
    ERROR_XFER = 1  # MSG_ERROR_XFER
    INFO = 2  # MSG_INFO
    ERROR = 3  # MSG_ERROR
    WARNING = 4  # MSG_WARNING
    ERROR_SOCKET = 5  # MSG_ERROR_SOCKET
    LOG = 6  # MSG_LOG
    CLIENT = 7  # MSG_CLIENT
    ERROR_UTF8 = 8  # MSG_ERROR_UTF8
    REDO = 9  # MSG_REDO
    STATS = 10  # MSG_STATS
    IO_ERROR = 22  # MSG_IO_ERROR
    IO_TIMEOUT = 33  # MSG_IO_TIMEOUT
    NOOP = 42  # MSG_NOOP
    ERROR_EXIT = 86  # MSG_ERROR_EXIT
    SUCCESS = 100  # MSG_SUCCESS
    DELETED = 101  # MSG_DELETED
    NO_SEND = 102  # MSG_NO_SEND


class CF(IntFlag):
    """Compatibility flags written by the server (P >= 30).

    rsync: compat.c CF_*.
    """

    INC_RECURSE = 1 << 0  # CF_INC_RECURSE
    SYMLINK_TIMES = 1 << 1  # CF_SYMLINK_TIMES
    SYMLINK_ICONV = 1 << 2  # CF_SYMLINK_ICONV
    SAFE_FLIST = 1 << 3  # CF_SAFE_FLIST
    AVOID_XATTR_OPTIM = 1 << 4  # CF_AVOID_XATTR_OPTIM
    CHKSUM_SEED_FIX = 1 << 5  # CF_CHKSUM_SEED_FIX
    INPLACE_PARTIAL_DIR = 1 << 6  # CF_INPLACE_PARTIAL_DIR
    VARINT_FLIST_FLAGS = 1 << 7  # CF_VARINT_FLIST_FLAGS
    ID0_NAMES = 1 << 8  # CF_ID0_NAMES


class Xmit(IntFlag):
    """File-list entry flags.

    rsync: rsync.h XMIT_*. Bits with two meanings carry both names.
    """

    TOP_DIR = 1 << 0  # XMIT_TOP_DIR
    SAME_MODE = 1 << 1  # XMIT_SAME_MODE
    EXTENDED_FLAGS = 1 << 2  # XMIT_EXTENDED_FLAGS (P >= 28)
    SAME_RDEV_PRE28 = 1 << 2  # XMIT_SAME_RDEV_pre28
    SAME_UID = 1 << 3  # XMIT_SAME_UID
    SAME_GID = 1 << 4  # XMIT_SAME_GID
    SAME_NAME = 1 << 5  # XMIT_SAME_NAME
    LONG_NAME = 1 << 6  # XMIT_LONG_NAME
    SAME_TIME = 1 << 7  # XMIT_SAME_TIME
    SAME_RDEV_MAJOR = 1 << 8  # XMIT_SAME_RDEV_MAJOR (devices)
    NO_CONTENT_DIR = 1 << 8  # XMIT_NO_CONTENT_DIR (directories, P >= 30)
    HLINKED = 1 << 9  # XMIT_HLINKED
    SAME_DEV_PRE30 = 1 << 10  # XMIT_SAME_DEV_pre30
    USER_NAME_FOLLOWS = 1 << 10  # XMIT_USER_NAME_FOLLOWS (P >= 30)
    RDEV_MINOR_8_PRE30 = 1 << 11  # XMIT_RDEV_MINOR_8_pre30
    GROUP_NAME_FOLLOWS = 1 << 11  # XMIT_GROUP_NAME_FOLLOWS (P >= 30)
    HLINK_FIRST = 1 << 12  # XMIT_HLINK_FIRST
    IO_ERROR_ENDLIST = 1 << 12  # XMIT_IO_ERROR_ENDLIST
    MOD_NSEC = 1 << 13  # XMIT_MOD_NSEC
    SAME_ATIME = 1 << 14  # XMIT_SAME_ATIME
    RESERVED_16 = 1 << 16  # XMIT_RESERVED_16
    CRTIME_EQ_MTIME = 1 << 17  # XMIT_CRTIME_EQ_MTIME


class Item(IntFlag):
    """iflags of a transfer record (P >= 29).

    rsync: rsync.h ITEM_*.
    """

    REPORT_ATIME = 1 << 0  # ITEM_REPORT_ATIME
    REPORT_CHANGE = 1 << 1  # ITEM_REPORT_CHANGE
    REPORT_SIZE = 1 << 2  # ITEM_REPORT_SIZE (regular files)
    REPORT_TIMEFAIL = 1 << 2  # ITEM_REPORT_TIMEFAIL (symlinks)
    REPORT_TIME = 1 << 3  # ITEM_REPORT_TIME
    REPORT_PERMS = 1 << 4  # ITEM_REPORT_PERMS
    REPORT_OWNER = 1 << 5  # ITEM_REPORT_OWNER
    REPORT_GROUP = 1 << 6  # ITEM_REPORT_GROUP
    REPORT_ACL = 1 << 7  # ITEM_REPORT_ACL
    REPORT_XATTR = 1 << 8  # ITEM_REPORT_XATTR
    REPORT_CRTIME = 1 << 10  # ITEM_REPORT_CRTIME
    BASIS_TYPE_FOLLOWS = 1 << 11  # ITEM_BASIS_TYPE_FOLLOWS
    XNAME_FOLLOWS = 1 << 12  # ITEM_XNAME_FOLLOWS
    IS_NEW = 1 << 13  # ITEM_IS_NEW
    LOCAL_CHANGE = 1 << 14  # ITEM_LOCAL_CHANGE
    TRANSFER = 1 << 15  # ITEM_TRANSFER


class Ndx(IntEnum):
    """Special file-list index values.

    rsync: rsync.h NDX_*.
    """

    DONE = -1  # NDX_DONE
    FLIST_EOF = -2  # NDX_FLIST_EOF
    DEL_STATS = -3  # NDX_DEL_STATS
    FLIST_OFFSET = -101  # NDX_FLIST_OFFSET


class IOError_(IntFlag):  # noqa: N801 - trailing underscore avoids shadowing the builtin
    """I/O-error bits carried at the end of the file list and in MSG_IO_ERROR.

    rsync: rsync.h IOERR_*.
    """

    GENERAL = 1 << 0  # IOERR_GENERAL
    VANISHED = 1 << 1  # IOERR_VANISHED
    DEL_LIMIT = 1 << 2  # IOERR_DEL_LIMIT


class FnameCmp(IntEnum):
    """Basis-type byte values (``fnamecmp_type``).

    rsync: rsync.h FNAMECMP_*.
    """

    FNAME = 0x80  # FNAMECMP_FNAME
    PARTIAL_DIR = 0x81  # FNAMECMP_PARTIAL_DIR
    BACKUP = 0x82  # FNAMECMP_BACKUP
    FUZZY = 0x83  # FNAMECMP_FUZZY


# File-type bits of st_mode as rsync transmits them (Unix values, whatever the platform).
S_IFMT: Final = 0o170000
S_IFSOCK: Final = 0o140000
S_IFLNK: Final = 0o120000
S_IFREG: Final = 0o100000
S_IFBLK: Final = 0o060000
S_IFDIR: Final = 0o040000
S_IFCHR: Final = 0o020000
S_IFIFO: Final = 0o010000
VALID_TYPES: Final = frozenset({S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO})

CHECKSUM_NAMES_CLIENT: Final = ("xxh128", "xxh3", "xxh64", "md5", "md4")
CHECKSUM_NAMES_SERVER: Final = ("xxh128", "xxh3", "xxh64", "md5", "md4")
COMPRESS_NAMES_CLIENT: Final = ("zstd", "lz4", "zlibx", "zlib")
COMPRESS_NAMES_SERVER: Final = ("zstd", "lz4", "zlibx", "zlib", "none")
AUTH_DIGESTS: Final = ("sha512", "sha256", "sha1", "md5", "md4")
