"""The file-list codec: :class:`FileEntry` records to and from rsync's wire format (no I/O).

:class:`FileListEncoder` writes entries exactly as rsync's sender does for protocols 27 to 32,
:class:`FileListDecoder` reads them back with the receiver's checks. Both append to or read
from caller buffers; neither touches the filesystem, the clock or a socket. Sorting, duplicate
removal and index mapping live in :mod:`rsync_wire.proto.flist_sort`.

Not here: ACLs, xattrs (docs/protocol.md §15; both classes refuse ``-A``/``-X``), ``--iconv`` name
conversion, uid/gid mapping to local accounts, the sub-list announcements (NDX values, see
:class:`~rsync_wire.proto.codec.NdxEncoder`), and the check that an incremental sub-list's
names lie in the announced directory (the receiving role knows the directory).
"""

# How this works
# --------------
# rsync compresses every entry against the *previous entry of the session*: the sender keeps
# "last" copies of the name, mode, mtime, uid, gid, rdev (major), hard-link device and atime
# in static variables of send_file_entry(), the receiver keeps its own copies in
# recv_file_entry(), and a flag bit XMIT_SAME_x tells the peer "unchanged, not sent". The
# state starts at zero/empty, is never reset (not even between incremental sub-lists), and
# is updated by *every* entry, including an abbreviated hard-link follower (whose fields the
# receiver copies from the group's first member).
#
# Both classes here keep exactly that state, in plain attributes (``_name``, ``_mode``,
# ``_mtime``...). The encoder updates it while it computes the flag word, as rsync does. The
# decoder works on local copies while it parses one entry and commits them only after the
# whole entry was available, so that ``NeedMoreData`` can be retried with a longer buffer.
#
# Names are prefix-compressed: l1 bytes shared with the previous name (at most 255), then the
# l2-byte suffix. Indexes: each list has a start value (0 without incremental recursion; 1
# for the first list and previous start + previous count + 1 for later ones with it), and
# hard-link followers (P >= 30) refer to the *transmission position* of their group's first
# member plus that start. Both classes follow list boundaries themselves: a list begins at
# the first entry after construction or after an end marker.

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

import msgspec

from rsync_wire.errors import (
    AllocationLimitError,
    LocalProtocolError,
    RemoteProtocolError,
    UnsupportedError,
)
from rsync_wire.proto.codec import (
    NeedMoreData,
    decode_longint,
    decode_varint,
    decode_varlong,
    encode_longint_into,
    encode_varint_into,
    encode_varlong_into,
)
from rsync_wire.proto.constants import (
    MAXPATHLEN,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
    VALID_TYPES,
)

if TYPE_CHECKING:
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions

__all__ = [
    "FLIST_CSUM_LENGTHS",
    "EndOfList",
    "FileEntry",
    "FileListDecoder",
    "FileListEncoder",
    "IdLists",
    "flist_csum_len",
]

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

#: Length of the ``-c`` file checksum in the file list, by checksum name.
#: rsync: checksum.c csum_len_for_type(..., flist_csum=1).
FLIST_CSUM_LENGTHS: Final = {
    "none": 1,
    "md4": 16,
    "md5": 16,
    "sha1": 20,
    "sha256": 32,
    "sha512": 64,
    "xxh64": 8,
    "xxh3": 8,
    "xxh128": 16,
}


def flist_csum_len(checksum: str) -> int:
    """The number of ``-c`` checksum bytes per regular file for a file-checksum name.

    rsync: checksum.c csum_len_for_type() (``flist_csum_len``).

    Raises:
        UnsupportedError: an unknown checksum name.
    """
    try:
        return FLIST_CSUM_LENGTHS[checksum]
    except KeyError:
        msg = f"no file-list checksum length known for {checksum!r}"
        raise UnsupportedError(msg) from None


class FileEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One file-list entry, as the sender describes it and the receiver reads it.

    Attributes:
        name: relative path with ``/`` separators and no trailing slash; ``.`` is the top of
            a ``src/`` transfer. A leading ``/`` only with ``--relative``.
        mode: ``st_mode`` including the type bits (0 marks a missing argument under
            ``--delete-missing-args``).
        size: length in bytes (directories: their ``st_size``; symlinks: the target length;
            devices and specials: 0).
        mtime: modification time in seconds (64-bit at P >= 30, 32-bit unsigned below).
        mtime_nsec: nanoseconds of the mtime (0..999999999; travels at P >= 31 only).
        uid: owner id (with ``-o``; 0 when not preserved).
        gid: group id (with ``-g``; 0 when not preserved).
        user_name: the owner's name, or ``None``. Sender side: the local name of ``uid``
            (drives the inline names and the id lists). Receiver side: the name the peer sent
            for ``uid`` so far, if any.
        group_name: the same for ``gid``.
        rdev_major: device major number (char and block devices with ``-D``).
        rdev_minor: device minor number.
        link_target: symlink target (with ``-l``), else ``None``.
        checksum: whole-file checksum of a regular file (with ``-c``), else ``None``.
        atime: access time (with ``--atimes``, non-directories), else ``None``.
        crtime: creation time (with ``--crtimes``), else ``None``.
        hl_dev: sender side: ``st_dev`` of a file that may be hard-linked (``-H``). Decoded
            at P < 30 from the wire (``dev + 1`` on the wire); ``None`` at P >= 30.
        hl_ino: sender side: ``st_ino`` to go with ``hl_dev``.
        nlink: sender side: ``st_nlink``; P >= 28 marks only non-directories with
            ``nlink > 1`` (and ``hl_dev`` set) as hard-linked. Decoded P 28/29 hard-linked
            entries get 2 (the real count is not sent).
        hlink_group: receiver side: the entry's hard-link group. P >= 30: the index of the
            group's first member (its list start plus its transmission position; for the
            first member its own index). P < 30: a group number, counted from 0 in order of
            first appearance of each (dev, inode) pair. ``None`` when not hard-linked. The
            encoder also accepts it in place of ``hl_dev``/``hl_ino`` (entries with the same
            group are linked), which lets a decoded list be sent on again.
        hlink_first: receiver side, P >= 30: this entry carried XMIT_HLINK_FIRST.
        top_dir: directory flag XMIT_TOP_DIR (named on the command line / top of a delete
            scope).
        no_content_dir: directory flag XMIT_NO_CONTENT_DIR (P >= 30: the directory's
            contents are not part of the transfer; with ``top_dir`` an implied directory).
    """

    name: bytes
    mode: int
    size: int = 0
    mtime: int = 0
    mtime_nsec: int = 0
    uid: int = 0
    gid: int = 0
    user_name: bytes | None = None
    group_name: bytes | None = None
    rdev_major: int = 0
    rdev_minor: int = 0
    link_target: bytes | None = None
    checksum: bytes | None = None
    atime: int | None = None
    crtime: int | None = None
    hl_dev: int | None = None
    hl_ino: int | None = None
    nlink: int = 1
    hlink_group: int | None = None
    hlink_first: bool = False
    top_dir: bool = False
    no_content_dir: bool = False

    @property
    def is_dir(self) -> bool:
        """A directory."""
        return self.mode & S_IFMT == S_IFDIR

    @property
    def is_reg(self) -> bool:
        """A regular file."""
        return self.mode & S_IFMT == S_IFREG

    @property
    def is_symlink(self) -> bool:
        """A symbolic link."""
        return self.mode & S_IFMT == S_IFLNK

    @property
    def is_device(self) -> bool:
        """A character or block device (rsync: ``IS_DEVICE``)."""
        return self.mode & S_IFMT in (S_IFCHR, S_IFBLK)

    @property
    def is_special(self) -> bool:
        """A FIFO or socket (rsync: ``IS_SPECIAL``)."""
        return self.mode & S_IFMT in (S_IFIFO, S_IFSOCK)

    @property
    def is_missing(self) -> bool:
        """A missing argument sent with mode 0 (``--delete-missing-args``)."""
        return self.mode == 0


class EndOfList(msgspec.Struct, frozen=True, gc=False):
    """The end-of-list marker of one (sub-)list.

    Attributes:
        io_error: the sender's I/O-error bits carried by the marker (varint mode, or a safe
            file list), masked to the valid bits; 0 otherwise. Below protocol 30 the bits
            follow the id lists instead (:meth:`FileListDecoder.decode_io_error`).
    """

    io_error: int = 0


class IdLists(msgspec.Struct, frozen=True):
    """The uid and gid name lists sent after a non-incremental file list.

    Attributes:
        uid_names: id -> name, in the order received (id 0 only with CF_ID0_NAMES).
        gid_names: the same for groups.
    """

    uid_names: dict[int, bytes | None] = msgspec.field(default_factory=dict)
    gid_names: dict[int, bytes | None] = msgspec.field(default_factory=dict)


# -- the protocol rules both directions share -------------------------------------------------


class _Rules:
    """What the session and options change in the entry format, computed once.

    Each attribute names the C condition it replaces; they are derived from
    :class:`Session` predicates where one exists.
    """

    __slots__ = (
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
        if options.preserve_acls or options.preserve_xattrs:
            msg = "ACL and xattr data in the file list are not implemented (-A/-X)"
            raise UnsupportedError(msg)
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


# -- encoder ----------------------------------------------------------------------------------


class FileListEncoder:
    """Writes file-list entries for one session, as rsync's sender does.

    Keeps the previous-entry compression state, the hard-link table and the uid/gid names
    seen, for the whole session (all lists). A list starts with the first entry after
    construction or after :meth:`encode_end_into`; its start index is 0 without incremental
    recursion and 1, then previous start + previous count + 1, with it (or the caller's
    ``ndx_start``).

    Entries must be given in transmission order. The encoder does not sort, skip or check
    entries beyond what it needs to write them; after a :class:`LocalProtocolError` the
    state is undefined (the entry may be half written) and the session must end.

    rsync: flist.c send_file_entry(), write_end_of_flist(); uidlist.c send_id_lists().
    """

    __slots__ = (
        "_atime",
        "_count",
        "_dev",
        "_gid",
        "_gid_names",
        "_hl_first",
        "_list_open",
        "_list_start",
        "_mode",
        "_mtime",
        "_name",
        "_next_start",
        "_r",
        "_rdev",
        "_rdev_major",
        "_uid",
        "_uid_names",
    )

    def __init__(
        self, session: Session, options: TransferOptions, *, csum_len: int | None = None
    ) -> None:
        """Create the encoder.

        Args:
            session: the negotiated session (protocol, compat flags, checksum).
            options: the transfer options (preserve_*, always_checksum, numeric_ids...).
            csum_len: the ``-c`` checksum length, when the file checksum differs from the
                session's transfer checksum (``--checksum-choice=X,Y``).

        Raises:
            UnsupportedError: ``-A``/``-X`` or a protocol outside 27..40.
            LocalProtocolError: an option set the protocol cannot carry.
        """
        self._r = _Rules(session, options, csum_len, local=True)
        self._name = b""
        self._mode = 0
        self._mtime = 0
        self._atime = 0
        self._uid = 0
        self._gid = 0
        self._rdev = 0
        self._rdev_major = 0
        self._dev = 0
        self._hl_first: dict[object, int] = {}
        self._uid_names: dict[int, bytes | None] = {}
        self._gid_names: dict[int, bytes | None] = {}
        self._list_open = False
        self._list_start = 0
        self._next_start = 1 if self._r.inc_recurse else 0
        self._count = 0

    @property
    def list_start(self) -> int:
        """The start index of the list being written (or of the next one, between lists)."""
        return self._list_start if self._list_open else self._next_start

    @property
    def count(self) -> int:
        """Entries written to the current list so far."""
        return self._count if self._list_open else 0

    @property
    def uid_names(self) -> dict[int, bytes | None]:
        """The name of every uid written so far (``None``: no name), in first-seen order."""
        return self._uid_names

    @property
    def gid_names(self) -> dict[int, bytes | None]:
        """The name of every gid written so far (``None``: no name), in first-seen order."""
        return self._gid_names

    def _begin(self, ndx_start: int | None) -> None:
        self._list_open = True
        self._list_start = self._next_start if ndx_start is None else ndx_start
        self._count = 0

    def encode_into(
        self, buf: bytearray, entry: FileEntry, *, ndx_start: int | None = None
    ) -> None:
        """Append one entry.

        Args:
            buf: the output buffer.
            entry: the entry; its fields are taken as the transmitted values (mode after
                ``--chmod``, nanoseconds already limited to 0..999999999).
            ndx_start: the start index of the list this entry opens; only read for the first
                entry of a list (default: computed, see the class docstring).

        Raises:
            LocalProtocolError: the entry cannot be expressed (name too long or empty,
                symlink without target under ``-l``, missing ``-c`` checksum, missing
                hard-link data at P 27, value out of range).

        rsync: flist.c send_file_entry().
        """
        r = self._r
        if not self._list_open:
            self._begin(ndx_start)
        mode = entry.mode
        ftype = mode & S_IFMT
        is_dir = ftype == S_IFDIR
        is_reg = ftype == S_IFREG
        p30 = r.p30

        # -- the flag word, updating the compression state as rsync does
        if is_dir:
            xflags = _TOP_DIR if entry.top_dir else 0
            if p30 and entry.no_content_dir:
                xflags |= _NO_CONTENT_DIR
        else:
            xflags = 0
        if mode == self._mode:
            xflags |= _SAME_MODE
        else:
            self._mode = mode

        is_device = ftype in (S_IFCHR, S_IFBLK)
        is_special = ftype in (S_IFIFO, S_IFSOCK)
        send_rdev = False
        major = minor = 0
        if r.devices and is_device:
            send_rdev = True
            major = entry.rdev_major
            minor = entry.rdev_minor
            if not r.p28:
                rdev = _makedev(major, minor)
                if rdev == self._rdev:
                    xflags |= _SAME_RDEV_PRE28
                else:
                    self._rdev = rdev
            else:
                if major == self._rdev_major:
                    xflags |= _SAME_RDEV_MAJOR
                else:
                    self._rdev_major = major
                if not p30 and minor <= 0xFF:
                    xflags |= _RDEV_MINOR_8_PRE30
        elif r.specials and is_special:
            # "Special files don't need an rdev number": the previous major, minor 0.
            send_rdev = True
            if not r.p28:
                xflags |= _SAME_RDEV_PRE28
            else:
                xflags |= _SAME_RDEV_MAJOR
                major = self._rdev_major
                if not p30:
                    xflags |= _RDEV_MINOR_8_PRE30
        elif not r.p28:
            self._rdev = 0

        user_name = group_name = None
        if not r.uid or (entry.uid == self._uid and self._name):
            xflags |= _SAME_UID
        else:
            uid = self._uid = entry.uid
            if not r.numeric_ids and uid not in self._uid_names:
                user_name = self._uid_names[uid] = entry.user_name
                if user_name is not None and r.inline_names:
                    xflags |= _USER_NAME_FOLLOWS
        if not r.gid or (entry.gid == self._gid and self._name):
            xflags |= _SAME_GID
        else:
            gid = self._gid = entry.gid
            if not r.numeric_ids and gid not in self._gid_names:
                group_name = self._gid_names[gid] = entry.group_name
                if group_name is not None and r.inline_names:
                    xflags |= _GROUP_NAME_FOLLOWS

        mtime = entry.mtime
        if mtime == self._mtime:
            xflags |= _SAME_TIME
        else:
            self._mtime = mtime
        nsec = entry.mtime_nsec
        if nsec and r.mod_nsec:
            if not 0 < nsec <= _MAX_NSEC:
                msg = f"mtime nanoseconds {nsec} out of range for {entry.name!r}"
                raise LocalProtocolError(msg)
            xflags |= _MOD_NSEC
        atime = 0
        if r.atimes and not is_dir:
            atime = entry.atime or 0
            if atime == self._atime:
                xflags |= _SAME_ATIME
            else:
                self._atime = atime
        crtime = 0
        if r.crtimes:
            crtime = entry.crtime if entry.crtime is not None else 0
            if crtime == mtime:
                xflags |= _CRTIME_EQ_MTIME

        first_hlink = -1
        hl_dev = hl_ino = 0
        hlinked = False
        key: object = None
        if r.hard_links:
            if r.p28:
                if not is_dir:
                    if entry.hl_dev is not None and entry.nlink > 1:
                        hlinked = True
                        key = (entry.hl_dev, entry.hl_ino)
                        hl_dev = entry.hl_dev
                        hl_ino = entry.hl_ino or 0
                    elif entry.hlink_group is not None:
                        hlinked = True
                        key = ("group", entry.hlink_group)
                        hl_dev = -1
                        hl_ino = entry.hlink_group
            elif is_reg:
                # P < 28: every regular file carries dev/inode.
                if entry.hl_dev is None or entry.hl_ino is None:
                    msg = f"protocol 27 with -H needs dev/inode for {entry.name!r}"
                    raise LocalProtocolError(msg)
                hlinked = True
                hl_dev = entry.hl_dev
                hl_ino = entry.hl_ino
        if hlinked:
            if p30:
                first_hlink = self._hl_first.get(key, -1)
                if first_hlink < 0:
                    self._hl_first[key] = self._list_start + self._count
                    xflags |= _HLINK_FIRST
            elif hl_dev == self._dev:
                if r.p28:
                    xflags |= _SAME_DEV_PRE30
            else:
                self._dev = hl_dev
            xflags |= _HLINKED

        name = entry.name
        lastname = self._name
        if lastname:
            n = min(len(name), len(lastname), 255)
            if name[:n] == lastname[:n]:
                l1 = n
            else:  # the first differing byte, from the XOR of the two prefixes
                x = int.from_bytes(name[:n], "big") ^ int.from_bytes(lastname[:n], "big")
                l1 = n - (x.bit_length() + 7) // 8
        else:
            l1 = 0
        l2 = len(name) - l1
        if l1:
            xflags |= _SAME_NAME
        if l2 > 255:
            xflags |= _LONG_NAME
        if not name or len(name) >= MAXPATHLEN or 0 in name:
            msg = f"file-list name {name!r} is empty, too long or holds a NUL byte"
            raise LocalProtocolError(msg)

        # -- write
        if r.varint_flags:
            if xflags < 0x80:
                buf.append(xflags or _EXTENDED_FLAGS)
            elif xflags < 0x4000:  # the common two-byte varint
                buf.append(0x80 | xflags >> 8)
                buf.append(xflags & 0xFF)
            else:
                encode_varint_into(buf, xflags)
        elif r.p28:
            if not xflags and not is_dir:
                xflags = _TOP_DIR
            if xflags & 0xFF00 or not xflags:
                xflags |= _EXTENDED_FLAGS
                buf += _I16.pack(xflags & 0xFFFF)
            else:
                buf.append(xflags)
        else:
            if not xflags & 0xFF:
                xflags |= _LONG_NAME if is_dir else _TOP_DIR
            buf.append(xflags & 0xFF)
        if l1:
            buf.append(l1)
        if xflags & _LONG_NAME:
            if p30:
                encode_varint_into(buf, l2)
            else:
                buf += _I32.pack(l2)
        else:
            buf.append(l2)
        buf += name[l1:] if l1 else name

        if first_hlink >= 0:
            encode_varint_into(buf, first_hlink)
            if first_hlink >= self._list_start:
                self._name = name
                self._count += 1
                return

        size = 0 if is_device or is_special else entry.size
        if p30:
            if 0 <= size < 0x800000:  # the common 3-byte varlong
                buf.append(size >> 16)
                buf.append(size & 0xFF)
                buf.append((size >> 8) & 0xFF)
            else:
                encode_varlong_into(buf, size, 3)
        elif 0 <= size <= 0x7FFFFFFF:
            buf += _I32.pack(size)
        else:
            encode_longint_into(buf, size)
        if not xflags & _SAME_TIME:
            if p30:
                if 0 <= mtime < 0x80000000:  # varlong(4): top byte first, then the low three
                    buf += _U32.pack((mtime << 8 | mtime >> 24) & _U32_MASK)
                else:
                    encode_varlong_into(buf, mtime, 4)
            else:
                buf += _U32.pack(mtime & _U32_MASK)
        if xflags & _MOD_NSEC:
            if nsec >= 0x10000000:  # five-byte varint: lead 0xF0, then the value
                buf.append(0xF0)
                buf += _U32.pack(nsec)
            else:
                encode_varint_into(buf, nsec)
        if r.crtimes and not xflags & _CRTIME_EQ_MTIME:
            encode_varlong_into(buf, crtime, 4)
        if not xflags & _SAME_MODE:
            buf += _U32.pack(mode & _U32_MASK)
        if r.atimes and not is_dir and not xflags & _SAME_ATIME:
            encode_varlong_into(buf, atime, 4)
        if not xflags & _SAME_UID:
            if p30:
                if self._uid < 0x80:
                    buf.append(self._uid)
                else:
                    encode_varint_into(buf, self._uid)
                if xflags & _USER_NAME_FOLLOWS:
                    _put_name(buf, user_name or b"")
            else:
                buf += _U32.pack(self._uid & _U32_MASK)
        if not xflags & _SAME_GID:
            if p30:
                if self._gid < 0x80:
                    buf.append(self._gid)
                else:
                    encode_varint_into(buf, self._gid)
                if xflags & _GROUP_NAME_FOLLOWS:
                    _put_name(buf, group_name or b"")
            else:
                buf += _U32.pack(self._gid & _U32_MASK)
        if send_rdev:
            if not r.p28:
                if not xflags & _SAME_RDEV_PRE28:
                    buf += _U32.pack(self._rdev & _U32_MASK)
            else:
                if not xflags & _SAME_RDEV_MAJOR:
                    if p30:
                        encode_varint_into(buf, major)
                    else:
                        buf += _U32.pack(major & _U32_MASK)
                if p30:
                    encode_varint_into(buf, minor)
                elif xflags & _RDEV_MINOR_8_PRE30:
                    buf.append(minor)
                else:
                    buf += _U32.pack(minor & _U32_MASK)
        if r.links and ftype == S_IFLNK:
            target = entry.link_target
            if not target or len(target) >= MAXPATHLEN:
                msg = f"symlink {name!r} has an empty or too long target"
                raise LocalProtocolError(msg)
            if p30:
                encode_varint_into(buf, len(target))
            else:
                buf += _I32.pack(len(target))
            buf += target
        if hlinked and not p30:
            if not xflags & _SAME_DEV_PRE30:
                encode_longint_into(buf, hl_dev + 1)
            encode_longint_into(buf, hl_ino)
        if r.checksum and (is_reg or r.zero_sums):
            if is_reg:
                csum = entry.checksum
                if csum is None or len(csum) != r.csum_len:
                    msg = f"-c needs a {r.csum_len}-byte checksum for {name!r}, got {csum!r}"
                    raise LocalProtocolError(msg)
                buf += csum
            else:
                buf += bytes(r.csum_len)
        self._name = name
        self._count += 1

    def encode_end_into(
        self, buf: bytearray, io_error: int = 0, *, ndx_start: int | None = None
    ) -> bool:
        """Append the end-of-list marker and close the current list.

        Args:
            buf: the output buffer.
            io_error: the sender's I/O-error bits to carry (pass 0 under ``--ignore-errors``).
            ndx_start: the start index of an *empty* list ended here (default: computed).

        Returns:
            Whether the marker carried ``io_error``. If not (and it is non-zero) the caller
            reports it the old way: below protocol 30 with :meth:`encode_io_error_into`
            after the id lists, at 30 without a safe file list as MSG_IO_ERROR.

        rsync: flist.c write_end_of_flist().
        """
        r = self._r
        if not self._list_open:
            self._begin(ndx_start)
        self._next_start = self._list_start + self._count + 1
        self._list_open = False
        self._count = 0
        if r.varint_flags:
            buf.append(0)
            encode_varint_into(buf, io_error)
            return True
        if io_error and r.safe_flist:
            buf += _I16.pack(_EXTENDED_FLAGS | _IO_ERROR_ENDLIST)
            encode_varint_into(buf, io_error)
            return True
        buf.append(0)
        return not io_error

    def encode_id_lists_into(
        self,
        buf: bytearray,
        *,
        uid0_name: bytes | None = None,
        gid0_name: bytes | None = None,
    ) -> None:
        """Append the uid and gid name lists (nothing when they are not part of the session).

        They follow the end marker of a non-incremental list, unless ``--numeric-ids``; the
        uid list with ``-o``, the gid list with ``-g``. Each lists the non-zero ids written
        so far that have a name, most recently first-seen first (rsync prepends to its
        list), and ends with id 0 (with CF_ID0_NAMES followed by the name of id 0).

        Args:
            buf: the output buffer.
            uid0_name: the local name of uid 0 for the CF_ID0_NAMES terminator (default: the
                name given with an entry owned by uid 0, else an empty name).
            gid0_name: the same for gid 0.

        rsync: uidlist.c send_id_lists(), send_one_list().
        """
        r = self._r
        if r.inc_recurse or r.numeric_ids:
            return
        if r.uid:
            self._one_list(buf, self._uid_names, uid0_name)
        if r.gid:
            self._one_list(buf, self._gid_names, gid0_name)

    def _one_list(
        self, buf: bytearray, names: dict[int, bytes | None], id0_name: bytes | None
    ) -> None:
        put_id = encode_varint_into if self._r.p30 else _put_i32
        for ident in reversed(names):
            name = names[ident]
            if ident and name is not None:
                put_id(buf, ident)
                _put_name(buf, name)
        put_id(buf, 0)
        if self._r.id0_names:
            if id0_name is None:
                id0_name = names.get(0) or b""
            _put_name(buf, id0_name)

    def encode_io_error_into(self, buf: bytearray, io_error: int) -> None:
        """Append the ``i32`` I/O-error word that follows the id lists below protocol 30.

        Nothing is written at protocol 30 and later.

        rsync: flist.c send_file_list() ("send the io_error flag").
        """
        if not self._r.p30:
            buf += _I32.pack(io_error)


def _put_name(buf: bytearray, name: bytes) -> None:
    """A user or group name: one length byte, then at most 255 bytes."""
    name = name[:255]
    buf.append(len(name))
    buf += name


def _put_i32(buf: bytearray, value: int) -> None:
    buf += _U32.pack(value & _U32_MASK)


# -- decoder ----------------------------------------------------------------------------------


def _check_name(name: bytes, *, relative: bool) -> str | None:
    """Why a received name is unsafe, or ``None`` (rsync: clean_fname + the checks after).

    Refused: NUL bytes, ``..`` components, a leading ``/`` outside ``--relative``, empty
    components (``//``, a trailing ``/``), and ``.`` components anywhere but at the end.
    rsync would silently clean the last two; a correct sender never sends them.
    """
    if 0 in name:
        return "holds a NUL byte"
    rest = name
    if name[0] == 0x2F:  # "/"
        if not relative:
            return "is absolute"
        rest = name[1:]
        if not rest:
            return None
    if b"/" not in rest:
        if rest == b"..":
            return "has a '..' component"
        return None
    if b"//" in rest or rest[0] == 0x2F or rest[-1] == 0x2F:
        return "has an empty component"
    if b"." in rest:
        parts = rest.split(b"/")
        if b".." in parts:
            return "has a '..' component"
        if b"." in parts[:-1]:
            return "has a '.' component"
    return None


_ENTRY_COST: Final = 240
"""Bytes a decoded entry holds besides its name, link target and checksum (measured: a
FileEntry, its list slot and its name object); what ``--max-alloc`` is charged."""
_ID_COST: Final = 400  # an id-list entry: dict slot, int key, name object


def _alloc_error(limit: int, count: int) -> AllocationLimitError:
    """rsync: util2.c my_alloc() (what a receiver says when a list outgrows --max-alloc)."""
    msg = f"[receiver] exceeded --max-alloc={limit} setting (file=flist.c, {count} entries)"
    return AllocationLimitError(msg)


class FileListDecoder:
    """Reads file-list entries for one session, as rsync's receiver does.

    Mirrors :class:`FileListEncoder`: the same compression state, list starts and
    hard-link numbering. :meth:`decode` is retryable: it commits state only when a whole
    entry (or end marker) was in the buffer and raises :class:`NeedMoreData` otherwise,
    so the caller can read more bytes and call again at the same position.

    After a :class:`RemoteProtocolError` the decoder is in an error state and every further
    call raises :class:`LocalProtocolError`.

    rsync: flist.c recv_file_list(), recv_file_entry(); uidlist.c recv_id_list().
    """

    __slots__ = (
        "_alloc_limit",
        "_allowed",
        "_atime",
        "_charged",
        "_count",
        "_cur",
        "_dev",
        "_failed",
        "_fast",
        "_gid",
        "_gid_names",
        "_hl_firsts",
        "_hl_groups",
        "_list_open",
        "_list_start",
        "_mode",
        "_mtime",
        "_name",
        "_next_start",
        "_r",
        "_rdev",
        "_rdev_major",
        "_uid",
        "_uid_names",
    )

    def __init__(
        self, session: Session, options: TransferOptions, *, csum_len: int | None = None
    ) -> None:
        """Create the decoder.

        Args:
            session: the negotiated session (protocol, compat flags, checksum).
            options: the transfer options; ``relative`` allows names with a leading ``/``,
                ``delete_missing_args`` allows mode 0.
            csum_len: the ``-c`` checksum length, when the file checksum differs from the
                session's transfer checksum.

        Raises:
            UnsupportedError: ``-A``/``-X``, a protocol outside 27..40, or an option set the
                protocol cannot carry.
        """
        self._r = _Rules(session, options, csum_len, local=False)
        self._allowed = self._r.allowed_flags()
        r = self._r
        # decode_batch()'s short path applies (to regular files) in this session
        self._fast = r.varint_flags and not (r.atimes or r.crtimes or r.checksum)
        self._failed = False
        self._name = b""
        self._mode = 0
        self._mtime = 0
        self._atime = 0
        self._uid = 0
        self._gid = 0
        self._rdev = 0
        self._rdev_major = 0
        self._dev = 0
        self._cur: list[FileEntry] = []
        self._hl_firsts: set[int] = set()
        self._hl_groups: dict[tuple[int, int], int] = {}
        self._uid_names: dict[int, bytes | None] = {}
        self._gid_names: dict[int, bytes | None] = {}
        self._list_open = False
        self._list_start = 0
        self._next_start = 1 if self._r.inc_recurse else 0
        self._count = 0
        self._alloc_limit = options.alloc_limit
        self._charged = 0  # estimated bytes held for the list being read

    @property
    def list_start(self) -> int:
        """The start index of the list being read (or of the next one, between lists)."""
        return self._list_start if self._list_open else self._next_start

    @property
    def current_list(self) -> list[FileEntry]:
        """The entries of the list being read (or of the last list), in transmission order."""
        return self._cur

    @property
    def uid_names(self) -> dict[int, bytes | None]:
        """The uid names received so far (inline names and id lists)."""
        return self._uid_names

    @property
    def gid_names(self) -> dict[int, bytes | None]:
        """The gid names received so far (inline names and id lists)."""
        return self._gid_names

    def _fail(self, msg: str) -> RemoteProtocolError:
        self._failed = True
        return RemoteProtocolError(msg)

    def _check_usable(self) -> None:
        if self._failed:
            msg = "the file-list decoder failed earlier and cannot be used again"
            raise LocalProtocolError(msg)

    def decode(
        self, buf: Buf, pos: int, *, ndx_start: int | None = None
    ) -> tuple[FileEntry | EndOfList, int]:
        """Decode one entry or end marker at ``pos``.

        Args:
            buf: the received bytes.
            pos: where the entry starts.
            ndx_start: the start index of the list this entry opens; only read for the first
                item of a list (default: computed as the sender does).

        Returns:
            ``(entry_or_end, new_pos)``.

        Raises:
            NeedMoreData: the buffer ends inside the entry; nothing was committed.
            RemoteProtocolError: bytes that break the format or fail docs/protocol.md §9.19.

        rsync: flist.c recv_file_list() (flag word), recv_file_entry().
        """
        self._check_usable()
        try:
            return self._decode(buf, pos, ndx_start)
        except RemoteProtocolError:
            self._failed = True
            raise

    def decode_batch(self, buf: Buf, pos: int) -> tuple[list[FileEntry | EndOfList], int]:
        """Decode as many whole entries as ``buf`` holds, up to and including an end marker.

        The same entries, state and errors as calling :meth:`decode` until the buffer runs
        out or a list ends; plain regular files (the bulk of a list) take a short path.

        Returns:
            ``(items, new_pos)``: at least one item.

        Raises:
            NeedMoreData: not even one whole entry is in the buffer; nothing was committed.
            RemoteProtocolError: as :meth:`decode` (the entries before the bad one are lost).
        """
        self._check_usable()
        items: list[FileEntry | EndOfList] = []
        try:
            while True:
                if self._fast and self._list_open:
                    pos = self._decode_plain_files(buf, pos, items)
                item, pos = self._decode(buf, pos, None)
                items.append(item)
                if type(item) is EndOfList:
                    break
        except NeedMoreData:
            if not items:
                raise
        except RemoteProtocolError:
            self._failed = True
            raise
        return items, pos

    def _decode_plain_files(self, buf: Buf, pos: int, items: list[FileEntry | EndOfList]) -> int:
        """Decode regular files whose fields all take the common encoding.

        Returns where the first other entry (or the end of the buffer) starts, for
        :meth:`_decode`. Does what :meth:`_decode` does for such an entry, with the state in
        local variables; anything else (a directory, a link, a hard link, a name that needs a
        closer look, a long or truncated field, an error) stops the run before that entry.
        """
        r = self._r
        n = len(buf)
        want_uid = r.uid
        want_gid = r.gid
        refused = ~self._allowed | _SLOW_FLAGS
        uid_names = self._uid_names
        gid_names = self._gid_names
        last = self._name
        mode_0 = self._mode
        mtime_0 = self._mtime
        uid_0 = self._uid
        gid_0 = self._gid
        count = self._count
        charged = self._charged
        limit = self._alloc_limit
        add = self._cur.append
        out = items.append
        start = pos
        while True:
            start = pos
            if pos + 3 > n:
                break
            lead = buf[pos]
            if lead < 0x80:
                xflags = lead
                pos += 1
            elif lead < 0xC0:
                xflags = (lead & 0x3F) << 8 | buf[pos + 1]
                pos += 2
            else:
                break
            if not xflags or xflags & refused:
                break  # an end marker, or flags _decode() deals with
            if pos + 2 > n:
                break
            l1 = 0
            if xflags & _SAME_NAME:
                l1 = buf[pos]
                pos += 1
            l2 = buf[pos]
            pos += 1
            end = pos + l2
            if l1 > len(last) or l2 >= MAXPATHLEN - l1 or end > n:
                break
            name = last[:l1] + bytes(buf[pos:end]) if l1 else bytes(buf[pos:end])
            pos = end
            if (
                not name
                or name[0] == 0x2F  # "/"
                or name[0] == 0x2E  # "."
                or name[-1] == 0x2F
                or 0 in name
                or b"//" in name
                or b"/." in name
            ):
                break  # _check_name() decides
            if pos + 3 > n or buf[pos] >= 0x80:  # varlong(3) without extra bytes
                break
            size = buf[pos] << 16 | buf[pos + 1] | buf[pos + 2] << 8
            pos += 3
            if xflags & _SAME_TIME:
                mtime = mtime_0
            else:
                if pos + 4 > n or buf[pos] >= 0x80:  # varlong(4) without extra bytes
                    break
                x = _U32.unpack_from(buf, pos)[0]
                mtime = x >> 8 | (x & 0xFF) << 24
                pos += 4
            nsec = 0
            if xflags & _MOD_NSEC:
                if pos + 5 > n:
                    break
                lead = buf[pos]
                if lead == 0xF0:  # the common five-byte varint
                    nsec = _U32.unpack_from(buf, pos + 1)[0]
                    pos += 5
                elif lead & 0xF0 == 0xE0:  # four bytes: below 2**28
                    nsec = (lead & 0x0F) << 24 | _U32.unpack_from(buf, pos)[0] >> 8
                    pos += 4
                elif lead < 0x80:
                    nsec = lead
                    pos += 1
                else:
                    break
                if nsec > _MAX_NSEC:
                    break
            if xflags & _SAME_MODE:
                mode = mode_0
            else:
                if pos + 4 > n:
                    break
                mode = _U32.unpack_from(buf, pos)[0]
                pos += 4
            if mode & S_IFMT != S_IFREG or mode > 0xFFFF:
                break
            uid = uid_0
            if want_uid and not xflags & _SAME_UID:
                if pos + 2 > n or buf[pos] >= 0xC0:
                    break
                uid = buf[pos]
                if uid < 0x80:
                    pos += 1
                else:  # two-byte varint
                    uid = (uid & 0x3F) << 8 | buf[pos + 1]
                    pos += 2
            gid = gid_0
            if want_gid and not xflags & _SAME_GID:
                if pos + 2 > n or buf[pos] >= 0xC0:
                    break
                gid = buf[pos]
                if gid < 0x80:
                    pos += 1
                else:
                    gid = (gid & 0x3F) << 8 | buf[pos + 1]
                    pos += 2
            cost = charged + _ENTRY_COST + len(name)
            if cost > limit:
                break  # _decode() raises the allocation error
            entry = FileEntry(
                name=name,
                mode=mode,
                size=size,
                mtime=mtime,
                mtime_nsec=nsec,
                uid=uid if want_uid else 0,
                gid=gid if want_gid else 0,
                user_name=uid_names.get(uid) if want_uid else None,
                group_name=gid_names.get(gid) if want_gid else None,
            )
            add(entry)
            out(entry)
            last = name
            mode_0 = mode
            mtime_0 = mtime
            uid_0 = uid
            gid_0 = gid
            count += 1
            charged = cost
        self._name = last
        self._mode = mode_0
        self._mtime = mtime_0
        self._uid = uid_0
        self._gid = gid_0
        self._count = count
        self._charged = charged
        return start

    def _decode(
        self, buf: Buf, pos: int, ndx_start: int | None
    ) -> tuple[FileEntry | EndOfList, int]:
        r = self._r
        n = len(buf)
        p30 = r.p30
        start = pos
        if self._list_open:
            list_start = self._list_start
            count = self._count
        else:
            list_start = self._next_start if ndx_start is None else ndx_start
            count = 0

        # -- flag word or end marker
        if r.varint_flags:
            lead = buf[pos] if pos < n else 0xFF
            if lead < 0x80:
                xflags = lead
                pos += 1
            elif lead < 0xC0 and pos + 1 < n:  # the common two-byte varint
                xflags = (lead & 0x3F) << 8 | buf[pos + 1]
                pos += 2
            else:
                xflags, pos = decode_varint(buf, pos)
            if xflags == 0:
                err, pos = decode_varint(buf, pos)
                return self._end(list_start, err & _IOERR_VALID_MASK), pos
            xflags &= ~_EXTENDED_FLAGS  # filler for a zero word in varint mode
        else:
            if pos >= n:
                raise NeedMoreData
            xflags = buf[pos]
            pos += 1
            if xflags == 0:
                return self._end(list_start, 0), pos
            if r.p28 and xflags & _EXTENDED_FLAGS:
                if pos >= n:
                    raise NeedMoreData
                xflags |= buf[pos] << 8
                pos += 1
                if xflags == _EXTENDED_FLAGS | _IO_ERROR_ENDLIST:
                    if not r.safe_flist:
                        msg = f"invalid file-list flags 0x{xflags:x} at offset {start}"
                        raise self._fail(msg)
                    err, pos = decode_varint(buf, pos)
                    return self._end(list_start, err & _IOERR_VALID_MASK), pos
                xflags &= ~_EXTENDED_FLAGS
        if xflags & ~self._allowed:
            msg = (
                f"unknown file-list flag bits 0x{xflags & ~self._allowed:x} "
                f"(flags 0x{xflags:x}) at offset {start}"
            )
            raise self._fail(msg)

        # -- name
        if xflags & _SAME_NAME:
            if pos >= n:
                raise NeedMoreData
            l1 = buf[pos]
            pos += 1
        else:
            l1 = 0
        if xflags & _LONG_NAME:
            if p30:
                l2, pos = decode_varint(buf, pos)
            else:
                if pos + 4 > n:
                    raise NeedMoreData
                l2 = _I32.unpack_from(buf, pos)[0]
                pos += 4
        else:
            if pos >= n:
                raise NeedMoreData
            l2 = buf[pos]
            pos += 1
        lastname = self._name
        if l2 < 0 or l2 >= MAXPATHLEN - l1 or l1 > len(lastname):
            msg = (
                f"file-list name overflow: flags 0x{xflags:x} l1={l1} l2={l2} "
                f"previous name {lastname!r} at offset {start}"
            )
            raise self._fail(msg)
        end = pos + l2
        if end > n:
            raise NeedMoreData
        name = lastname[:l1] + bytes(buf[pos:end]) if l1 else bytes(buf[pos:end])
        pos = end
        if not name:
            msg = f"empty file-list name at offset {start}"
            raise self._fail(msg)
        why = _check_name(name, relative=r.relative)
        if why is not None:
            # rsync: flist.c recv_file_entry() (clean_fname() refused a '..' or a '/')
            shown = name.decode("utf-8", "backslashreplace")
            msg = f"ABORTING due to unsafe pathname from sender: {shown} ({why})"
            raise self._fail(msg)

        # -- hard-link follower (P >= 30)
        first_hlink = -1
        if xflags & _HLINKED:
            if not r.hard_links:
                msg = f"hard-link flag without -H on {name!r}"
                raise self._fail(msg)
            if p30 and not xflags & _HLINK_FIRST:
                first_hlink, pos = decode_varint(buf, pos)
                if first_hlink < 0 or first_hlink >= list_start + count:
                    msg = (
                        f"hard-link reference out of range: {first_hlink} "
                        f"(list ends at {list_start + count}) for {name!r}"
                    )
                    raise self._fail(msg)
                if first_hlink not in self._hl_firsts:
                    if first_hlink < list_start:
                        # an earlier list's member never declared first (rsync: hlink.c
                        # match_gnums(), in its words)
                        msg = f"hard-link gnum {first_hlink} precedes flist start {list_start}"
                    else:
                        msg = (
                            f"hard-link reference {first_hlink} for {name!r} does not point "
                            "at the first member of a hard-link group"
                        )
                    raise self._fail(msg)
                if first_hlink >= list_start:
                    return self._abbreviated(name, first_hlink, list_start), pos
        elif xflags & _HLINK_FIRST:
            msg = f"hard-link-first flag without the hard-link flag on {name!r}"
            raise self._fail(msg)

        # -- length, times, mode
        if p30:
            if pos + 3 <= n and buf[pos] < 0x80:  # varlong(3) without extra bytes
                size = buf[pos] << 16 | buf[pos + 1] | buf[pos + 2] << 8
                pos += 3
            else:
                size, pos = decode_varlong(buf, pos, 3)
        else:
            size, pos = decode_longint(buf, pos)
        if size < 0:
            msg = f"negative file length {size} for {name!r}"
            raise self._fail(msg)
        if xflags & _SAME_TIME:
            mtime = self._mtime
        elif p30:
            if pos + 4 <= n and buf[pos] < 0x80:  # varlong(4) without extra bytes
                x = _U32.unpack_from(buf, pos)[0]
                mtime = x >> 8 | (x & 0xFF) << 24
                pos += 4
            else:
                mtime, pos = decode_varlong(buf, pos, 4)
        else:
            if pos + 4 > n:
                raise NeedMoreData
            mtime = _U32.unpack_from(buf, pos)[0]
            pos += 4
        nsec = 0
        if xflags & _MOD_NSEC:
            if pos + 5 <= n and buf[pos] == 0xF0:  # the common five-byte varint
                nsec = _U32.unpack_from(buf, pos + 1)[0]
                pos += 5
            else:
                nsec, pos = decode_varint(buf, pos)
            if not 0 <= nsec <= _MAX_NSEC:
                msg = f"mtime nanoseconds {nsec} out of range for {name!r}"
                raise self._fail(msg)
        crtime = None
        if r.crtimes:
            if xflags & _CRTIME_EQ_MTIME:
                crtime = mtime
            else:
                crtime, pos = decode_varlong(buf, pos, 4)
        if xflags & _SAME_MODE:
            mode = self._mode
        else:
            if pos + 4 > n:
                raise NeedMoreData
            mode = _U32.unpack_from(buf, pos)[0]
            pos += 4
        ftype = mode & S_IFMT
        if (ftype not in VALID_TYPES or mode > 0xFFFF) and (mode != 0 or not r.missing_args):
            msg = f"invalid file mode 0o{mode:o} for {name!r}"
            raise self._fail(msg)
        is_dir = ftype == S_IFDIR
        is_reg = ftype == S_IFREG
        if not is_dir and (name == b"." or name == b"/." or name.endswith(b"/.")):
            msg = f"rejecting non-directory transfer-root entry {name!r}"
            raise self._fail(msg)
        if is_dir and xflags & _HLINKED:
            msg = f"hard-link flag on directory {name!r}"
            raise self._fail(msg)
        atime = self._atime
        entry_atime = None
        if r.atimes and not is_dir:
            if not xflags & _SAME_ATIME:
                atime, pos = decode_varlong(buf, pos, 4)
            entry_atime = atime

        # -- owner and group
        uid = self._uid
        gid = self._gid
        new_uid_name = new_gid_name = None
        if r.uid and not xflags & _SAME_UID:
            if p30:
                uid, pos = decode_varint(buf, pos)
                uid &= _U32_MASK
                if xflags & _USER_NAME_FOLLOWS:
                    new_uid_name, pos = self._get_name(buf, pos)
            else:
                if pos + 4 > n:
                    raise NeedMoreData
                uid = _U32.unpack_from(buf, pos)[0]
                pos += 4
        elif xflags & _USER_NAME_FOLLOWS and p30:
            msg = f"user name flag without an owner for {name!r}"
            raise self._fail(msg)
        if r.gid and not xflags & _SAME_GID:
            if p30:
                gid, pos = decode_varint(buf, pos)
                gid &= _U32_MASK
                if xflags & _GROUP_NAME_FOLLOWS:
                    new_gid_name, pos = self._get_name(buf, pos)
            else:
                if pos + 4 > n:
                    raise NeedMoreData
                gid = _U32.unpack_from(buf, pos)[0]
                pos += 4
        elif xflags & _GROUP_NAME_FOLLOWS and p30:
            msg = f"group name flag without a group for {name!r}"
            raise self._fail(msg)

        # -- devices and specials
        is_device = ftype in (S_IFCHR, S_IFBLK)
        rdev = self._rdev
        rdev_major = self._rdev_major
        major = minor = 0
        if (r.devices and is_device) or (r.specials and ftype in (S_IFIFO, S_IFSOCK)):
            if not r.p28:
                if not xflags & _SAME_RDEV_PRE28:
                    if pos + 4 > n:
                        raise NeedMoreData
                    rdev = _I32.unpack_from(buf, pos)[0] & _U64_MASK  # (dev_t)read_int()
                    pos += 4
                major = _dev_major(rdev)
                minor = _dev_minor(rdev)
            else:
                if not xflags & _SAME_RDEV_MAJOR:
                    if p30:
                        rdev_major, pos = decode_varint(buf, pos)
                    else:
                        if pos + 4 > n:
                            raise NeedMoreData
                        rdev_major = _I32.unpack_from(buf, pos)[0]
                        pos += 4
                    rdev_major &= _U32_MASK
                if p30:
                    minor, pos = decode_varint(buf, pos)
                elif xflags & _RDEV_MINOR_8_PRE30:
                    if pos >= n:
                        raise NeedMoreData
                    minor = buf[pos]
                    pos += 1
                else:
                    if pos + 4 > n:
                        raise NeedMoreData
                    minor = _I32.unpack_from(buf, pos)[0]
                    pos += 4
                minor &= _U32_MASK
                major = rdev_major
            size = 0
            if not is_device:
                major = minor = 0
        elif is_device:
            size = 0
        elif not r.p28:
            rdev = 0

        # -- symlink target
        target = None
        if ftype == S_IFLNK and r.links:
            if p30:
                tlen, pos = decode_varint(buf, pos)
            else:
                if pos + 4 > n:
                    raise NeedMoreData
                tlen = _I32.unpack_from(buf, pos)[0]
                pos += 4
            if not 0 < tlen < MAXPATHLEN:
                msg = f"symlink target length {tlen} out of range for {name!r}"
                raise self._fail(msg)
            end = pos + tlen
            if end > n:
                raise NeedMoreData
            target = bytes(buf[pos:end])
            pos = end
            if 0 in target:
                msg = f"symlink target of {name!r} holds a NUL byte"
                raise self._fail(msg)

        # -- hard-link data
        dev = self._dev
        hl_dev = hl_ino = None
        group = None
        hlink_first = False
        nlink = 1
        if r.hard_links and (xflags & _HLINKED or (not r.p28 and is_reg)):
            if p30:
                if xflags & _HLINK_FIRST:
                    group = list_start + count
                    hlink_first = True
                else:
                    group = first_hlink
            else:
                if not xflags & _SAME_DEV_PRE30:
                    dev, pos = decode_longint(buf, pos)
                ino, pos = decode_longint(buf, pos)
                hl_dev = dev - 1
                hl_ino = ino
                if r.p28:
                    nlink = 2
                group = self._hl_groups.get((dev, ino))
                if group is None:
                    group = len(self._hl_groups)

        # -- checksum
        checksum = None
        if r.checksum and (is_reg or r.zero_sums):
            end = pos + r.csum_len
            if end > n:
                raise NeedMoreData
            if is_reg:
                checksum = bytes(buf[pos:end])
            pos = end

        # -- commit
        if r.uid and new_uid_name is not None:
            self._uid_names[uid] = new_uid_name or None
        if r.gid and new_gid_name is not None:
            self._gid_names[gid] = new_gid_name or None
        if (
            is_dir
            or major
            or minor
            or target is not None
            or checksum is not None
            or entry_atime is not None
            or crtime is not None
            or hl_dev is not None
            or group is not None
        ):
            entry = self._entry(
                name,
                mode,
                size,
                mtime,
                nsec,
                uid,
                gid,
                major,
                minor,
                target,
                checksum,
                entry_atime,
                crtime,
                hl_dev,
                hl_ino,
                nlink,
                group,
                hlink_first,
                xflags,
            )
        else:
            # The common entry: every other field keeps its default. (msgspec's keyword
            # matching grows much slower than linearly with the number of keywords given.)
            entry = FileEntry(
                name=name,
                mode=mode,
                size=size,
                mtime=mtime,
                mtime_nsec=nsec,
                uid=uid if r.uid else 0,
                gid=gid if r.gid else 0,
                user_name=self._uid_names.get(uid) if r.uid else None,
                group_name=self._gid_names.get(gid) if r.gid else None,
            )
        if not self._list_open:
            self._open(list_start)
        if hlink_first:
            self._hl_firsts.add(list_start + count)
        if hl_dev is not None and group == len(self._hl_groups):
            self._hl_groups[(dev, hl_ino or 0)] = group
        self._name = name
        self._mode = mode
        self._mtime = mtime
        self._atime = atime
        self._uid = uid
        self._gid = gid
        self._rdev = rdev
        self._rdev_major = rdev_major
        self._dev = dev
        self._cur.append(entry)
        self._count += 1
        self._charged += _ENTRY_COST + len(name) + len(target or b"") + len(checksum or b"")
        if self._charged > self._alloc_limit:
            raise _alloc_error(self._alloc_limit, self._count)
        return entry, pos

    def _entry(
        self,
        name: bytes,
        mode: int,
        size: int,
        mtime: int,
        nsec: int,
        uid: int,
        gid: int,
        major: int,
        minor: int,
        target: bytes | None,
        checksum: bytes | None,
        entry_atime: int | None,
        crtime: int | None,
        hl_dev: int | None,
        hl_ino: int | None,
        nlink: int,
        group: int | None,
        hlink_first: bool,  # noqa: FBT001
        xflags: int,
    ) -> FileEntry:
        """A decoded entry with every field given (directories, links, devices, -H, -c...)."""
        r = self._r
        is_dir = mode & S_IFMT == S_IFDIR
        return FileEntry(
            name=name,
            mode=mode,
            size=size,
            mtime=mtime,
            mtime_nsec=nsec,
            uid=uid if r.uid else 0,
            gid=gid if r.gid else 0,
            user_name=self._uid_names.get(uid) if r.uid else None,
            group_name=self._gid_names.get(gid) if r.gid else None,
            rdev_major=major,
            rdev_minor=minor,
            link_target=target,
            checksum=checksum,
            atime=entry_atime,
            crtime=crtime,
            hl_dev=hl_dev,
            hl_ino=hl_ino,
            nlink=nlink,
            hlink_group=group,
            hlink_first=hlink_first,
            top_dir=bool(xflags & _TOP_DIR) if is_dir else False,
            no_content_dir=bool(xflags & _NO_CONTENT_DIR) if is_dir and r.p30 else False,
        )

    def _abbreviated(self, name: bytes, first_ndx: int, list_start: int) -> FileEntry:
        """An abbreviated hard-link follower: everything but the name comes from the first."""
        r = self._r
        first = self._cur[first_ndx - list_start]
        entry = msgspec.structs.replace(
            first,
            name=name,
            hlink_group=first_ndx,
            hlink_first=False,
            top_dir=False,
            no_content_dir=False,
        )
        if name == b"." or name == b"/." or name.endswith(b"/."):
            msg = f"rejecting non-directory transfer-root entry {name!r}"
            raise self._fail(msg)
        if not self._list_open:
            self._open(list_start)
        # The receiver's state takes the first member's values (rsync copies them into its
        # statics), whatever SAME_* bits the follower's flags carry.
        self._name = name
        self._mode = first.mode
        self._mtime = first.mtime
        if r.atimes and first.atime is not None:
            self._atime = first.atime
        if r.uid:
            self._uid = first.uid
        if r.gid:
            self._gid = first.gid
        if r.devices and first.is_device:
            self._rdev_major = first.rdev_major
        self._cur.append(entry)
        self._count += 1
        return entry

    def _open(self, list_start: int) -> None:
        self._list_open = True
        self._list_start = list_start
        self._count = 0
        self._charged = 0
        self._cur = []

    def _end(self, list_start: int, io_error: int) -> EndOfList:
        if not self._list_open:  # an empty list
            self._cur = []
        self._next_start = list_start + self._count + 1
        self._list_open = False
        self._count = 0
        return EndOfList(io_error)

    def _get_name(self, buf: Buf, pos: int) -> tuple[bytes, int]:
        if pos >= len(buf):
            raise NeedMoreData
        ln = buf[pos]
        end = pos + 1 + ln
        if end > len(buf):
            raise NeedMoreData
        name = bytes(buf[pos + 1 : end])
        if 0 in name:
            msg = f"user or group name {name!r} holds a NUL byte"
            raise self._fail(msg)
        return name, end

    def decode_id_lists(self, buf: Buf, pos: int) -> tuple[IdLists, int]:
        """Decode the uid and gid name lists that follow a non-incremental list.

        Does nothing (returns empty lists and ``pos``) when the session has none: with
        incremental recursion, ``--numeric-ids``, or neither ``-o`` nor ``-g``. The names
        are also merged into :attr:`uid_names`/:attr:`gid_names`. Retryable like
        :meth:`decode`.

        Raises:
            NeedMoreData: the buffer ends inside the lists; nothing was committed.
            RemoteProtocolError: a name holds a NUL byte.

        rsync: uidlist.c recv_id_list().
        """
        self._check_usable()
        r = self._r
        uids: dict[int, bytes | None] = {}
        gids: dict[int, bytes | None] = {}
        if r.inc_recurse or r.numeric_ids:
            return IdLists(uids, gids), pos
        try:
            if r.uid:
                pos = self._get_list(buf, pos, uids)
            if r.gid:
                pos = self._get_list(buf, pos, gids)
        except RemoteProtocolError:
            self._failed = True
            raise
        self._uid_names.update(uids)
        self._gid_names.update(gids)
        return IdLists(uids, gids), pos

    def _get_list(self, buf: Buf, pos: int, out: dict[int, bytes | None]) -> int:
        p30 = self._r.p30
        while True:
            if p30:
                ident, pos = decode_varint(buf, pos)
            else:
                if pos + 4 > len(buf):
                    raise NeedMoreData
                ident = _I32.unpack_from(buf, pos)[0]
                pos += 4
            ident &= _U32_MASK
            if ident == 0:
                break
            name, pos = self._get_name(buf, pos)
            out[ident] = name or None
            if len(out) * _ID_COST > self._alloc_limit:
                raise _alloc_error(self._alloc_limit, len(out))
        if self._r.id0_names:
            name, pos = self._get_name(buf, pos)
            out[0] = name or None
        return pos

    def decode_io_error(self, buf: Buf, pos: int) -> tuple[int, int]:
        """Decode the ``i32`` I/O-error word after the id lists (protocol < 30).

        Returns ``(0, pos)`` without reading at protocol 30 and later. The value is masked
        to the valid bits (1, 2, 4).

        rsync: flist.c recv_file_list() ("Recv the io_error flag").
        """
        self._check_usable()
        if self._r.p30:
            return 0, pos
        if pos + 4 > len(buf):
            raise NeedMoreData
        return _I32.unpack_from(buf, pos)[0] & _IOERR_VALID_MASK, pos + 4
