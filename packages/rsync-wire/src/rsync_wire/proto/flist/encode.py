"""FileListEncoder: entries as rsync's sender writes them, and the id lists after them.

rsync: flist.c send_file_entry(), write_end_of_flist(); uidlist.c send_id_lists().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rsync_wire.errors import (
    LocalProtocolError,
)
from rsync_wire.proto.acls import EMPTY, AclListEncoder, fake_perms, strip_perms
from rsync_wire.proto.codec import (
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
)
from rsync_wire.proto.flist.xmit import (
    _CRTIME_EQ_MTIME,
    _EXTENDED_FLAGS,
    _GROUP_NAME_FOLLOWS,
    _HLINK_FIRST,
    _HLINKED,
    _I16,
    _I32,
    _IO_ERROR_ENDLIST,
    _LONG_NAME,
    _MAX_NSEC,
    _MOD_NSEC,
    _NO_CONTENT_DIR,
    _RDEV_MINOR_8_PRE30,
    _SAME_ATIME,
    _SAME_DEV_PRE30,
    _SAME_GID,
    _SAME_MODE,
    _SAME_NAME,
    _SAME_RDEV_MAJOR,
    _SAME_RDEV_PRE28,
    _SAME_TIME,
    _SAME_UID,
    _TOP_DIR,
    _U32,
    _U32_MASK,
    _USER_NAME_FOLLOWS,
    _makedev,
    _Rules,
)
from rsync_wire.proto.xattrs import XattrListEncoder

if TYPE_CHECKING:
    from rsync_wire.proto.flist.entry import FileEntry
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions


_DEVICE_TYPES: Final = frozenset((S_IFCHR, S_IFBLK))
_SPECIAL_TYPES: Final = frozenset((S_IFIFO, S_IFSOCK))


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
        "_acl",
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
        "_xa",
        "hlink_notes",
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
        # (ndx, first ndx or -1, list start, dev, inode) of each P 30 hard-linked entry,
        # when a caller wants rsync's --debug=HLINK lines (None: not kept)
        self.hlink_notes: list[tuple[int, int, int, int, int]] | None = None
        self._uid_names: dict[int, bytes | None] = {}
        self._gid_names: dict[int, bytes | None] = {}
        self._list_open = False
        self._list_start = 0
        self._next_start = 1 if self._r.inc_recurse else 0
        self._count = 0
        self._xa = XattrListEncoder() if self._r.xattrs else None
        self._acl = AclListEncoder() if self._r.acls else None

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

        is_device = ftype in _DEVICE_TYPES
        is_special = ftype in _SPECIAL_TYPES
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
                if self.hlink_notes is not None:
                    here = self._list_start + self._count
                    self.hlink_notes.append((here, first_hlink, self._list_start, hl_dev, hl_ino))
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
            head = name[:n]
            last = lastname[:n]
            if head == last:
                l1 = n
            else:  # the first differing byte, from the XOR of the two prefixes
                x = int.from_bytes(head, "big") ^ int.from_bytes(last, "big")
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
                if self._acl is not None:
                    self._encode_acls(buf, entry)
                if self._xa is not None:
                    self._xa.encode_into(buf, entry.xattrs or ())
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
        if self._acl is not None:
            self._encode_acls(buf, entry)
        if self._xa is not None:  # rsync: flist.c send_file_name(), send_xattr()
            self._xa.encode_into(buf, entry.xattrs or ())
        self._name = name
        self._count += 1

    def _encode_acls(self, buf: bytearray, entry: FileEntry) -> None:
        """The entry's access ACL, and a directory's default ACL (not for symlinks).

        rsync: flist.c send_file_name(), acls.c send_acl().
        """
        if entry.mode & S_IFMT == S_IFLNK or self._acl is None:
            return
        r = self._r
        uids = None if r.numeric_ids else self._uid_names
        gids = None if r.numeric_ids else self._gid_names
        inline = r.inc_recurse and not r.numeric_ids
        acl = (
            entry.acl if entry.acl is not None else strip_perms(fake_perms(entry.mode), entry.mode)
        )
        self._acl.encode_into(
            buf,
            acl,
            default=False,
            uid_names=uids,
            gid_names=gids,
            inline_names=inline,
        )
        if entry.mode & S_IFMT == S_IFDIR:
            self._acl.encode_into(
                buf,
                entry.def_acl if entry.def_acl is not None else EMPTY,
                default=True,
                uid_names=uids,
                gid_names=gids,
                inline_names=inline,
            )

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
        if r.uid or r.acls:  # rsync: uidlist.c send_id_lists() (ACL entries' ids too)
            self._one_list(buf, self._uid_names, uid0_name)
        if r.gid or r.acls:
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
