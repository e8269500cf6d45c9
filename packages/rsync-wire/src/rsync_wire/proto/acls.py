"""POSIX ACLs on the wire (``-A``, protocol 30 and up) and on disk, sans-IO.

How this works. After each file-list entry that is not a symlink (and before its xattrs)
the sender writes the entry's *access* ACL and, for a directory, its *default* ACL. Each
is ``varint(ndx + 1)`` naming an ACL of the same kind sent before (its position in the
session's list of such ACLs), or ``varint 0`` and the ACL itself: a flags byte
(``XMIT_USER_OBJ``, ``XMIT_GROUP_OBJ``, ``XMIT_MASK_OBJ``, ``XMIT_OTHER_OBJ``,
``XMIT_NAME_LIST``), a varint for each object entry flagged, then with the name list a
varint count and per named entry ``varint id`` and ``varint (access << 2 | flags)``
(``XFLAG_NAME_IS_USER``, ``XFLAG_NAME_FOLLOWS``: then a byte length and the user or
group name, only with incremental recursion and only the first time the id is met).

The access ACL is sent *condensed*: what the mode says is left out (the user and other
entries always; the group entry when there is no mask or it equals the mode's group bits;
the mask when named entries exist and it equals the mode's group bits). A receiver puts
back a mask from the mode's group bits when named entries came without one (for a
default ACL: the union of the named entries' and the group entry's bits).

On disk (Linux) an ACL is the ``system.posix_acl_access`` / ``system.posix_acl_default``
xattr in the kernel's format (include/uapi/linux/posix_acl_xattr.h, ``struct
posix_acl_xattr_header`` and ``posix_acl_xattr_entry``): a little-endian ``u32`` version
2, then per entry ``u16 e_tag``, ``u16 e_perm``, ``u32 e_id``, sorted by tag then id.
``--fake-super`` keeps the wire form instead in ``user.rsync.%aacl`` / ``%dacl``
(little-endian ``u32`` user, group, mask and other entries, then ``id, access`` pairs).

No I/O here; reading and writing the attributes is rsync_wire.roles.acl_fs.

rsync: acls.c send_acl(), send_rsync_acl(), send_ida_entries(), receive_acl(),
recv_rsync_acl(), recv_ida_entries(), rsync_acl_strip_perms(), rsync_acl_equal_enough(),
unpack_smb_acl(), pack_smb_acl(), change_sacl_perms(), get_rsync_acl(), set_rsync_acl().
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final, NamedTuple

import msgspec

from rsync_wire.errors import ExitCode, RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData, decode_varint, encode_varint_into

if TYPE_CHECKING:
    from collections.abc import Iterable

Buf = bytes | bytearray | memoryview

#: An object entry that is absent (rsync: acls.c NO_ENTRY).
NO_ENTRY: Final = 0x80
#: The bit of a named entry's ``access`` that makes it a user's (rsync: NAME_IS_USER).
NAME_IS_USER: Final = 1 << 31

XMIT_USER_OBJ: Final = 1 << 0
XMIT_GROUP_OBJ: Final = 1 << 1
XMIT_MASK_OBJ: Final = 1 << 2
XMIT_OTHER_OBJ: Final = 1 << 3
XMIT_NAME_LIST: Final = 1 << 4
_XMIT_ALL: Final = 0x1F
XFLAG_NAME_FOLLOWS: Final = 0x0001
XFLAG_NAME_IS_USER: Final = 0x0002

#: Named entries one ACL may carry on the wire (rsync: rsync.h MAX_WIRE_ACL_COUNT).
MAX_WIRE_ACL_COUNT: Final = 65536
#: Permission bits a Linux ACL entry can hold (rsync: lib/sysacls.h SMB_ACL_VALID_*_BITS).
_VALID_BITS: Final = 7
_U32: Final = 0xFFFFFFFF

ACCESS_XATTR: Final = b"system.posix_acl_access"
DEFAULT_XATTR: Final = b"system.posix_acl_default"
#: ``--fake-super``'s records (rsync: xattrs.c XACC_ACL_ATTR, XDEF_ACL_ATTR).
FAKE_ACCESS_XATTR: Final = b"user.rsync.%aacl"
FAKE_DEFAULT_XATTR: Final = b"user.rsync.%dacl"

# include/uapi/linux/posix_acl_xattr.h and include/linux/posix_acl.h
_ACL_EA_VERSION: Final = 0x0002
ACL_USER_OBJ: Final = 0x01
ACL_USER: Final = 0x02
ACL_GROUP_OBJ: Final = 0x04
ACL_GROUP: Final = 0x08
ACL_MASK: Final = 0x10
ACL_OTHER: Final = 0x20
ACL_UNDEFINED_ID: Final = _U32
_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
_FAKE_HEAD = struct.Struct("<IIII")
_FAKE_ITEM = struct.Struct("<II")


class IdAccess(NamedTuple):
    """One named entry: ``id`` and ``access`` (permission bits, :data:`NAME_IS_USER` for a user)."""

    id: int
    access: int

    @property
    def is_user(self) -> bool:
        """A user's entry (else a group's)."""
        return bool(self.access & NAME_IS_USER)

    @property
    def perms(self) -> int:
        """The permission bits."""
        return self.access & ~NAME_IS_USER


class RsyncAcl(msgspec.Struct, frozen=True, gc=False):
    """An ACL as rsync keeps it: four object entries, and the named entries.

    Absent object entries are :data:`NO_ENTRY`; named entries come users first, each kind
    by id.

    Attributes:
        user_obj: the owner's bits.
        group_obj: the owning group's bits.
        mask_obj: the mask.
        other_obj: everyone else's bits.
        names: the named entries.
        id_names: sender side: the user or group name of each named entry (parallel to
            ``names``; ``None`` unknown); receiver side: the name received with it, if
            any. Not part of the ACL's identity.

    rsync: acls.c struct rsync_acl.
    """

    user_obj: int = NO_ENTRY
    group_obj: int = NO_ENTRY
    mask_obj: int = NO_ENTRY
    other_obj: int = NO_ENTRY
    names: tuple[IdAccess, ...] = ()
    id_names: tuple[bytes | None, ...] = ()

    @property
    def key(self) -> tuple[int, int, int, int, tuple[IdAccess, ...]]:
        """What makes two ACLs equal (rsync: acls.c rsync_acl_equal())."""
        return (self.user_obj, self.group_obj, self.mask_obj, self.other_obj, self.names)

    @property
    def empty(self) -> bool:
        """No entry at all (an absent default ACL)."""
        return self.key == _EMPTY_KEY


EMPTY: Final = RsyncAcl()
_EMPTY_KEY: Final = EMPTY.key


def sort_names(names: Iterable[IdAccess]) -> tuple[IdAccess, ...]:
    """Named entries in rsync's order: users first, then by id (rsync: id_access_sorter())."""
    return tuple(sorted(names, key=lambda x: (not x.is_user, x.id)))


def fake_perms(mode: int) -> RsyncAcl:
    """The access ACL the permission bits alone make (rsync: rsync_acl_fake_perms())."""
    return RsyncAcl((mode >> 6) & 7, (mode >> 3) & 7, NO_ENTRY, mode & 7)


def strip_perms(acl: RsyncAcl, mode: int) -> RsyncAcl:
    """The access ACL as a sender sends it: what ``mode`` says left out.

    rsync: acls.c rsync_acl_strip_perms().
    """
    group_perms = (mode >> 3) & 7
    group = NO_ENTRY
    mask = acl.mask_obj
    if mask != NO_ENTRY:
        group = NO_ENTRY if acl.group_obj == group_perms else acl.group_obj
        if acl.names and mask == group_perms:
            mask = NO_ENTRY
    return msgspec.structs.replace(
        acl, user_obj=NO_ENTRY, group_obj=group, mask_obj=mask, other_obj=NO_ENTRY
    )


def equal_enough(local: RsyncAcl, received: RsyncAcl, mode: int) -> bool:
    """Whether a full local access ACL matches a condensed one, ``mode`` doing the rest.

    rsync: acls.c rsync_acl_equal_enough().
    """
    if (local.mask_obj ^ received.mask_obj) & NO_ENTRY:
        return False  # one has a mask, the other not
    if local.mask_obj != NO_ENTRY:
        if received.group_obj == NO_ENTRY:
            if local.group_obj != (mode >> 3) & 7:
                return False
        elif local.group_obj != received.group_obj:
            return False
    return local.names == received.names


def default_perms(acl: RsyncAcl) -> int | None:
    """The permission bits a directory's default ACL gives new entries (None: it has none).

    rsync: acls.c default_perms_for_dir(), rsync_acl_get_perms().
    """
    if acl.user_obj == NO_ENTRY:
        return None
    group = acl.mask_obj if acl.mask_obj != NO_ENTRY else acl.group_obj
    return (acl.user_obj << 6) + ((group & 7) << 3) + (acl.other_obj & 7)


# -- the kernel's xattr form ------------------------------------------------------------------


class AclFormatError(ValueError):
    """An ACL xattr that is not in the kernel's format."""


def parse_xattr(value: bytes) -> RsyncAcl:
    """An ACL from the kernel's xattr form; entries with an unknown tag are ignored.

    Raises:
        AclFormatError: a wrong length or version.

    rsync: acls.c unpack_smb_acl().
    """
    if len(value) < _HEADER.size or (len(value) - _HEADER.size) % _ENTRY.size:
        msg = f"ACL xattr of {len(value)} bytes"
        raise AclFormatError(msg)
    (version,) = _HEADER.unpack_from(value, 0)
    if version != _ACL_EA_VERSION:
        msg = f"ACL xattr version {version}"
        raise AclFormatError(msg)
    objs = {
        ACL_USER_OBJ: NO_ENTRY,
        ACL_GROUP_OBJ: NO_ENTRY,
        ACL_MASK: NO_ENTRY,
        ACL_OTHER: NO_ENTRY,
    }
    names: list[IdAccess] = []
    for tag, perm, ident in _ENTRY.iter_unpack(memoryview(value)[_HEADER.size :]):
        perm &= _VALID_BITS
        if tag in objs:
            if objs[tag] == NO_ENTRY:  # a duplicate is ignored, as rsync does
                objs[tag] = perm
        elif tag == ACL_USER:
            names.append(IdAccess(ident, perm | NAME_IS_USER))
        elif tag == ACL_GROUP:
            names.append(IdAccess(ident, perm))
    return RsyncAcl(
        objs[ACL_USER_OBJ], objs[ACL_GROUP_OBJ], objs[ACL_MASK], objs[ACL_OTHER], sort_names(names)
    )


def format_xattr(acl: RsyncAcl) -> bytes:
    """The kernel's xattr form of ``acl`` (absent object entries as no bits).

    rsync: acls.c pack_smb_acl().
    """
    ents = [(ACL_USER_OBJ, acl.user_obj & ~NO_ENTRY, ACL_UNDEFINED_ID)]
    ents += [
        (ACL_USER if ida.is_user else ACL_GROUP, ida.perms & _VALID_BITS, ida.id)
        for ida in acl.names
    ]
    ents.append((ACL_GROUP_OBJ, acl.group_obj & ~NO_ENTRY, ACL_UNDEFINED_ID))
    if acl.mask_obj != NO_ENTRY:
        ents.append((ACL_MASK, acl.mask_obj, ACL_UNDEFINED_ID))
    ents.append((ACL_OTHER, acl.other_obj & ~NO_ENTRY, ACL_UNDEFINED_ID))
    ents.sort(key=lambda e: (e[0], e[2]))
    out = bytearray(_HEADER.pack(_ACL_EA_VERSION))
    for ent in ents:
        out += _ENTRY.pack(*ent)
    return bytes(out)


def with_mode(acl: RsyncAcl, old_mode: int, mode: int) -> tuple[RsyncAcl, int]:
    """A received access ACL completed from ``mode``, and the mode the file then has.

    A directory getting the sticky bit, or a file losing set-uid or set-gid, gets no
    group or other access from the ACL until the mode is set after it.

    rsync: acls.c change_sacl_perms().
    """
    if mode & 0o170000 == 0o040000:
        if mode & 0o1000 and not old_mode & 0o1000:
            mode &= ~0o077
    elif (old_mode & 0o4000 and not mode & 0o4000) or (old_mode & 0o2000 and not mode & 0o2000):
        mode &= ~0o077
    group_bits = (mode >> 3) & 7
    full = msgspec.structs.replace(
        acl,
        user_obj=(mode >> 6) & 7,
        group_obj=group_bits if acl.group_obj == NO_ENTRY else acl.group_obj,
        mask_obj=group_bits if acl.mask_obj != NO_ENTRY else NO_ENTRY,
        other_obj=mode & 7,
    )
    return full, (old_mode & ~0o777) | (mode & 0o777)


# -- --fake-super's records -------------------------------------------------------------------


def parse_fake(value: bytes, mode: int) -> RsyncAcl | None:
    """An ACL from ``--fake-super``'s record (None: a corrupt one).

    Absent owner, group and other entries are the mode's (rsync: acls.c get_rsync_acl()).
    """
    n, rest = divmod(len(value) - _FAKE_HEAD.size, _FAKE_ITEM.size)
    if len(value) < _FAKE_HEAD.size or rest:
        return None
    user, group, mask, other = _FAKE_HEAD.unpack_from(value, 0)
    if user == NO_ENTRY:
        user = (mode >> 6) & 7
    if group == NO_ENTRY:
        group = (mode >> 3) & 7
    if other == NO_ENTRY:
        other = mode & 7
    names = tuple(
        IdAccess(*_FAKE_ITEM.unpack_from(value, _FAKE_HEAD.size + i * _FAKE_ITEM.size))
        for i in range(n)
    )
    return RsyncAcl(user, group, mask, other, names)


def format_fake(acl: RsyncAcl) -> bytes:
    """``--fake-super``'s record of a received ACL (rsync: acls.c set_rsync_acl())."""
    out = bytearray(
        _FAKE_HEAD.pack(
            acl.user_obj & _U32, acl.group_obj & _U32, acl.mask_obj & _U32, acl.other_obj & _U32
        )
    )
    for ida in acl.names:
        out += _FAKE_ITEM.pack(ida.id & _U32, ida.access & _U32)
    return bytes(out)


# -- the wire ---------------------------------------------------------------------------------


class AclListEncoder:
    """A sender's ACLs for one session: each distinct ACL of a kind is sent once.

    rsync: acls.c send_acl(), send_rsync_acl(), find_matching_rsync_acl(),
    send_ida_entries().
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: tuple[dict[object, int], dict[object, int]] = ({}, {})

    def encode_into(
        self,
        buf: bytearray,
        acl: RsyncAcl,
        *,
        default: bool,
        uid_names: dict[int, bytes | None] | None,
        gid_names: dict[int, bytes | None] | None,
        inline_names: bool,
    ) -> None:
        """Append ``acl`` (already condensed for an access ACL) or its index.

        Args:
            buf: the output buffer.
            acl: the ACL (with ``id_names`` for its named entries).
            default: a directory's default ACL (else an access ACL).
            uid_names: the ids whose names the session has sent or will send (the id
                lists); a new id is added with its name. ``None`` with ``--numeric-ids``.
            gid_names: the same for groups.
            inline_names: incremental recursion: a new id's name follows it.
        """
        seen = self._seen[default]
        ndx = seen.get(acl.key)
        if ndx is not None:
            encode_varint_into(buf, ndx + 1)
            return
        encode_varint_into(buf, 0)
        seen[acl.key] = len(seen)
        flags = 0
        if acl.user_obj != NO_ENTRY:
            flags |= XMIT_USER_OBJ
        if acl.group_obj != NO_ENTRY:
            flags |= XMIT_GROUP_OBJ
        if acl.mask_obj != NO_ENTRY:
            flags |= XMIT_MASK_OBJ
        if acl.other_obj != NO_ENTRY:
            flags |= XMIT_OTHER_OBJ
        if acl.names:
            flags |= XMIT_NAME_LIST
        buf.append(flags)
        for obj in (acl.user_obj, acl.group_obj, acl.mask_obj, acl.other_obj):
            if obj != NO_ENTRY:
                encode_varint_into(buf, obj)
        if not acl.names:
            return
        encode_varint_into(buf, len(acl.names))
        for i, ida in enumerate(acl.names):
            xbits = (ida.perms << 2) & _U32
            table = uid_names if ida.is_user else gid_names
            if ida.is_user:
                xbits |= XFLAG_NAME_IS_USER
            name: bytes | None = None
            if table is not None and ida.id not in table:
                name = acl.id_names[i] if i < len(acl.id_names) else None
                table[ida.id] = name
            encode_varint_into(buf, _signed(ida.id))
            if inline_names and name is not None:
                encode_varint_into(buf, xbits | XFLAG_NAME_FOLLOWS)
                name = name[:255]
                buf.append(len(name))
                buf += name
            else:
                encode_varint_into(buf, xbits)


class DecodedAcl(NamedTuple):
    """One ACL read by :meth:`AclListDecoder.decode`."""

    ndx: int
    acl: RsyncAcl
    is_new: bool
    #: ``(is_user, id, name)`` of names that came inline, for the id lists
    names: tuple[tuple[bool, int, bytes], ...]


class AclListDecoder:
    """A receiver's ACLs for one session, in the order they arrived, per kind.

    :meth:`decode` commits nothing (the file-list decoder retries an entry when bytes are
    missing); :meth:`commit` stores a new ACL once its entry is whole.

    rsync: acls.c receive_acl(), recv_rsync_acl(), recv_ida_entries(), recv_acl_access().
    """

    __slots__ = ("_strict", "lists")

    def __init__(self, *, strict: bool) -> None:
        """``strict``: refuse permission bits a Linux ACL cannot hold (not ``--fake-super``)."""
        self.lists: tuple[list[RsyncAcl], list[RsyncAcl]] = ([], [])
        self._strict = strict

    def _access(self, value: int, *, name_entry: bool) -> int:
        value &= _U32
        bits = value >> 2 if name_entry else value
        if self._strict and bits & ~_VALID_BITS:
            msg = f"recv_acl_access: value out of range: {bits:x}"
            raise RemoteProtocolError(msg, exit_code=ExitCode.STREAMIO)
        return bits

    def decode(self, buf: Buf, pos: int, *, default: bool, mode: int) -> tuple[DecodedAcl, int]:
        """Read one ACL reference or ACL (``mode``: the entry's, for the mask).

        Raises:
            NeedMoreData: the buffer ends inside the ACL.
            RemoteProtocolError: an index out of range, unknown flag bits, a count over
                :data:`MAX_WIRE_ACL_COUNT`, permission bits out of range, a bad name.
        """
        n = len(buf)
        kind = "ACL_TYPE_DEFAULT" if default else "ACL_TYPE_ACCESS"
        have = self.lists[default]
        ref, pos = decode_varint(buf, pos)
        if ref < 0 or ref > len(have):
            msg = f"recv_acl_index: {kind} ACL index {ref} > {len(have)}"
            raise RemoteProtocolError(msg, exit_code=ExitCode.STREAMIO)
        if ref:
            return DecodedAcl(ref - 1, have[ref - 1], is_new=False, names=()), pos
        if pos >= n:
            raise NeedMoreData
        flags = buf[pos]
        pos += 1
        if flags & ~_XMIT_ALL:
            msg = f"recv_rsync_acl: unknown {kind} flags 0x{flags:x}"
            raise RemoteProtocolError(msg, exit_code=ExitCode.STREAMIO)
        objs = [NO_ENTRY] * 4
        for i, bit in enumerate((XMIT_USER_OBJ, XMIT_GROUP_OBJ, XMIT_MASK_OBJ, XMIT_OTHER_OBJ)):
            if flags & bit:
                value, pos = decode_varint(buf, pos)
                objs[i] = self._access(value, name_entry=False)
        names: list[IdAccess] = []
        id_names: list[bytes | None] = []
        inline: list[tuple[bool, int, bytes]] = []
        mask_bits = 0
        if flags & XMIT_NAME_LIST:
            count, pos = decode_varint(buf, pos)
            if not 0 <= count <= MAX_WIRE_ACL_COUNT:
                msg = f"wire value ACL count out of range: {count} not in [0,{MAX_WIRE_ACL_COUNT}]"
                raise RemoteProtocolError(msg)
            for _ in range(count):
                ident, pos = decode_varint(buf, pos)
                raw, pos = decode_varint(buf, pos)
                ident &= _U32
                access = self._access(raw, name_entry=True)
                is_user = bool(raw & XFLAG_NAME_IS_USER)
                name: bytes | None = None
                if raw & XFLAG_NAME_FOLLOWS:
                    if pos >= n:
                        raise NeedMoreData
                    end = pos + 1 + buf[pos]
                    if end > n:
                        raise NeedMoreData
                    name = bytes(buf[pos + 1 : end])
                    pos = end
                    if 0 in name:
                        msg = f"ACL {'user' if is_user else 'group'} name {name!r} holds a NUL"
                        raise RemoteProtocolError(msg)
                    inline.append((is_user, ident, name))
                mask_bits |= access
                names.append(IdAccess(ident, access | (NAME_IS_USER if is_user else 0)))
                id_names.append(name)
        user, group, mask, other = objs
        if names and mask == NO_ENTRY:  # the mask must be there with named entries
            mask = (mode >> 3) & 7 if not default else (mask_bits | group) & ~NO_ENTRY & 0xFF
        acl = RsyncAcl(user, group, mask, other, tuple(names), tuple(id_names))
        return DecodedAcl(len(have), acl, is_new=True, names=tuple(inline)), pos

    def commit(self, decoded: DecodedAcl, *, default: bool) -> None:
        """Store an ACL :meth:`decode` returned as new."""
        if decoded.is_new:
            self.lists[default].append(decoded.acl)


def _signed(value: int) -> int:
    """An id as the varint rsync writes for it (an ``int32``)."""
    value &= _U32
    return value - (1 << 32) if value >= 1 << 31 else value
