"""FileListDecoder: entries read back with the receiver's checks, and the id lists.

rsync: flist.c recv_file_entry(), recv_file_list(); uidlist.c recv_id_list().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from rsync_wire.errors import (
    AllocationLimitError,
    LocalProtocolError,
    RemoteProtocolError,
)
from rsync_wire.proto.acls import AclListDecoder, DecodedAcl
from rsync_wire.proto.codec import (
    NeedMoreData,
    decode_longint,
    decode_varint,
    decode_varlong,
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
from rsync_wire.proto.flist.entry import EndOfList, FileEntry, IdLists
from rsync_wire.proto.flist.xmit import (
    _CRTIME_EQ_MTIME,
    _EXTENDED_FLAGS,
    _GROUP_NAME_FOLLOWS,
    _HLINK_FIRST,
    _HLINKED,
    _I32,
    _IO_ERROR_ENDLIST,
    _IOERR_VALID_MASK,
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
    _SLOW_FLAGS,
    _TOP_DIR,
    _U32,
    _U32_MASK,
    _U64_MASK,
    _USER_NAME_FOLLOWS,
    Buf,
    _dev_major,
    _dev_minor,
    _Rules,
)
from rsync_wire.proto.xattrs import XattrList, XattrListDecoder

if TYPE_CHECKING:
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions


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
        "_acl",
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
        "_xa",
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
        self._fast = r.varint_flags and not (
            r.atimes or r.crtimes or r.checksum or r.xattrs or r.acls
        )
        self._xa = XattrListDecoder() if r.xattrs else None
        self._acl = AclListDecoder(strict=not options.fake_super) if r.acls else None
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
                    if self._xa is None and self._acl is None:
                        return self._abbreviated(name, first_hlink, list_start), pos
                    fmode = self._cur[first_hlink - list_start].mode
                    facls, pos = self._decode_acls(buf, pos, fmode)
                    fxa = None
                    if self._xa is not None:
                        fxa = self._xa.decode(buf, pos)
                        pos = fxa[3]
                    follower = self._abbreviated(name, first_hlink, list_start)
                    follower = self._with_acls(follower, facls)
                    if self._xa is not None and fxa is not None:
                        fndx, fitems, fnew, _ = fxa
                        follower = msgspec.structs.replace(follower, xattrs=fitems, xattr_ndx=fndx)
                        if fnew:
                            self._xa.commit(fitems)
                    self._cur[-1] = follower
                    return follower, pos
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

        # -- ACLs (rsync: flist.c recv_file_entry(), acls.c receive_acl())
        acls: tuple[DecodedAcl, DecodedAcl | None] | None = None
        if self._acl is not None:
            acls, pos = self._decode_acls(buf, pos, mode)

        # -- xattrs (rsync: xattrs.c receive_xattr(), after the ACLs)
        xitems: XattrList | None = None
        xnew = False
        xndx = -1
        if self._xa is not None:
            xndx, xitems, xnew, pos = self._xa.decode(buf, pos)

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
        entry = self._with_acls(entry, acls)
        if xitems is not None:
            entry = msgspec.structs.replace(entry, xattrs=xitems, xattr_ndx=xndx)
            if xnew and self._xa is not None:
                self._xa.commit(xitems)
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

    def _decode_acls(
        self, buf: Buf, pos: int, mode: int
    ) -> tuple[tuple[DecodedAcl, DecodedAcl | None] | None, int]:
        """An entry's access ACL and a directory's default ACL; nothing for a symlink."""
        dec = self._acl
        if dec is None or mode & S_IFMT == S_IFLNK:
            return None, pos
        access, pos = dec.decode(buf, pos, default=False, mode=mode)
        dflt = None
        if mode & S_IFMT == S_IFDIR:
            dflt, pos = dec.decode(buf, pos, default=True, mode=0)
        return (access, dflt), pos

    def _with_acls(
        self, entry: FileEntry, acls: tuple[DecodedAcl, DecodedAcl | None] | None
    ) -> FileEntry:
        """Commit decoded ACLs (and the names that came with them) onto ``entry``."""
        dec = self._acl
        if acls is None or dec is None:
            return entry
        access, dflt = acls
        for default, got in ((False, access), (True, dflt)):
            if got is None:
                continue
            dec.commit(got, default=default)
            for is_user, ident, name in got.names:
                (self._uid_names if is_user else self._gid_names)[ident] = name or None
        return msgspec.structs.replace(
            entry, acl=access.acl, def_acl=dflt.acl if dflt is not None else None
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
            if r.uid or r.acls:  # rsync: uidlist.c recv_id_list() (ACL ids too)
                pos = self._get_list(buf, pos, uids)
            if r.gid or r.acls:
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
