"""Extended attributes on the wire (``-X``, protocol 30 and up), sans-IO.

A file-list entry is followed by its xattr list: ``varint(ndx + 1)`` naming a list sent
before (its position in the session's list of lists), or ``varint 0``, ``varint count``
and per item ``varint name_len`` (with the trailing NUL), ``varint datum_len``, the name
and either the value (``datum_len <= 32``) or the value's MD5 digest (longer values:
"abbreviated"). A receiver that needs an abbreviated value asks for it after the item's
iflags (:func:`encode_request`); the sender answers after its echo of the iflags
(:func:`encode_reply_item` ... :data:`END`).

rsync: xattrs.c send_xattr(), receive_xattr(), xattr_diff(), send_xattr_request(),
recv_xattr_request().
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

import msgspec

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData, decode_varint, encode_varint_into

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

Buf = bytes | bytearray | memoryview

#: Longer values travel as their digest (rsync: xattrs.c MAX_FULL_DATUM).
MAX_FULL_DATUM: Final = 32
#: The digest of an abbreviated value: MD5 at protocol 30 and up (rsync: xattrs.c
#: xattr_sum_nni = parse_csum_name(NULL, 0)).
DIGEST_LEN: Final = 16
#: Bounds a hostile peer cannot push us past (rsync: xattrs.c MAX_XATTR_VALUE_BYTES, ...).
MAX_COUNT: Final = 1 << 16
MAX_NAME_LEN: Final = 1 << 16
MAX_VALUE_LEN: Final = 128 * 1024 * 1024
MAX_LIST_BYTES: Final = 512 * 1024 * 1024
#: The end of a request or a reply (a varint 0).
END: Final = b"\x00"

USER_PREFIX: Final = b"user."
SYSTEM_PREFIX: Final = b"system."
#: Where a non-root receiver keeps other namespaces (Linux: rsync's RSYNC_PREFIX).
RSYNC_PREFIX: Final = b"user.rsync."
#: ``--fake-super``'s record of owner, group, mode and device (rsync: XSTAT_ATTR).
STAT_ATTR: Final = b"user.rsync.%stat"
_PRIVATE_SUFFIXES: Final = (b"stat", b"aacl", b"dacl")


class XattrItem(msgspec.Struct, frozen=True, gc=False):
    """One extended attribute.

    Attributes:
        name: its name, without the trailing NUL.
        datum_len: the value's length.
        datum: the value, or its MD5 digest when ``datum_len > MAX_FULL_DATUM``.
        num: its 1-based position in the sender's name-sorted list (requests name it).
    """

    name: bytes
    datum_len: int
    datum: bytes
    num: int = 0

    @property
    def abbreviated(self) -> bool:
        """The value is not here, only its digest."""
        return self.datum_len > MAX_FULL_DATUM


XattrList = tuple[XattrItem, ...]


def digest(value: bytes) -> bytes:
    """The digest rsync sends for a long value (MD5, no seed)."""
    return hashlib.md5(value, usedforsecurity=False).digest()


def make_list(pairs: Iterable[tuple[bytes, bytes]]) -> XattrList:
    """Name-sorted items of ``(name, value)`` pairs, long values abbreviated, numbered.

    rsync: xattrs.c rsync_xal_get().
    """
    ordered = sorted(pairs)
    return tuple(
        XattrItem(name, len(value), digest(value) if len(value) > MAX_FULL_DATUM else value, i + 1)
        for i, (name, value) in enumerate(ordered)
    )


def is_private(name: bytes) -> bool:
    """An ``rsync.%FOO`` name (copied only with ``-XX``)."""
    return name.startswith(RSYNC_PREFIX + b"%")


def sender_wanted(name: bytes, *, fake_super: bool, xx: bool) -> bool:
    """Whether a sender lists the local attribute ``name`` (Linux rules).

    rsync: xattrs.c rsync_xal_get() (``user_only`` is 0 on the sender).
    """
    if name.startswith(SYSTEM_PREFIX):
        return False
    if is_private(name):
        if not xx:
            return False
        if fake_super and name[len(RSYNC_PREFIX) + 1 :] in _PRIVATE_SUFFIXES:
            return False
    return True


def receiver_local_wanted(name: bytes, *, am_root: bool, fake_super: bool) -> bool:
    """Whether a receiver compares and keeps its own attribute ``name``.

    rsync: xattrs.c rsync_xal_get() (``user_only = !am_root``; ``am_root`` is -1 with
    ``--fake-super``), rsync_xal_set().
    """
    if fake_super:
        if name.startswith(SYSTEM_PREFIX):
            return False
        return not (is_private(name) and name[len(RSYNC_PREFIX) + 1 :] in _PRIVATE_SUFFIXES)
    if am_root:
        return not name.startswith(SYSTEM_PREFIX)
    return name.startswith(USER_PREFIX)


def wire_name(name: bytes, *, fake_super: bool) -> bytes:
    """The name a sender puts on the wire: ``--fake-super`` unwraps disguised namespaces.

    rsync: xattrs.c send_xattr().
    """
    if fake_super and name.startswith(RSYNC_PREFIX) and not is_private(name):
        return name[len(RSYNC_PREFIX) :]
    return name


def receiver_view(items: XattrList, *, am_root: bool, fake_super: bool, xx: bool) -> XattrList:
    """The sender's list as a receiver keeps it: names mapped to what it can store.

    Not root (or ``--fake-super``): other namespaces than ``user.`` go under
    ``user.rsync.`` with ``--fake-super``, else are dropped; ``rsync.%`` names need ``-XX``.
    Items keep their ``num``.

    rsync: xattrs.c receive_xattr().
    """
    out: list[XattrItem] = []
    resort = False
    for item in items:
        name = item.name
        if (not am_root or fake_super) and not name.startswith(USER_PREFIX):
            if not fake_super:
                continue
            name = RSYNC_PREFIX + name
            resort = True
        if not xx and is_private(name):
            continue
        out.append(item if name is item.name else msgspec.structs.replace(item, name=name))
    if resort:
        out.sort(key=lambda x: x.name)
    return tuple(out)


def xattr_diff(
    sender: Sequence[XattrItem], local: Sequence[XattrItem] | None
) -> tuple[bool, list[int]]:
    """Whether the lists differ, and the ``num`` of each abbreviated value that does.

    ``local`` is the receiver's own list (:func:`make_list`), ``None`` for a new file.

    rsync: xattrs.c xattr_diff() with ``find_all``.
    """
    have = {x.name: x for x in local} if local else {}
    differ = len(sender) != len(have)
    wanted: list[int] = []
    for item in sender:
        mine = have.get(item.name)
        same = mine is not None and mine.datum_len == item.datum_len and mine.datum == item.datum
        if not same:
            differ = True
            if item.abbreviated:
                wanted.append(item.num)
    if not differ:
        names = {x.name for x in sender}
        differ = any(name not in names for name in have)
    return differ, wanted


class XattrListEncoder:
    """A sender's xattr lists for one session: each distinct list is sent once.

    rsync: xattrs.c send_xattr(), find_matching_xattr(), rsync_xal_store().
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[tuple[bytes, int, bytes], ...], int] = {}

    def encode_into(self, buf: bytearray, items: XattrList) -> int:
        """Append ``items`` (wire names) to ``buf``; returns the list's index."""
        key = tuple((x.name, x.datum_len, x.datum) for x in items)
        ndx = self._seen.get(key)
        if ndx is not None:
            encode_varint_into(buf, ndx + 1)
            return ndx
        encode_varint_into(buf, 0)
        encode_varint_into(buf, len(items))
        for x in items:
            encode_varint_into(buf, len(x.name) + 1)
            encode_varint_into(buf, x.datum_len)
            buf += x.name
            buf.append(0)
            buf += x.datum
        ndx = len(self._seen)
        self._seen[key] = ndx
        return ndx


class XattrListDecoder:
    """A receiver's xattr lists for one session, in the order they arrived.

    :meth:`decode` commits nothing (the file-list decoder retries an entry when bytes are
    missing); :meth:`commit` stores a new list once its entry is whole.

    rsync: xattrs.c receive_xattr().
    """

    __slots__ = ("lists",)

    def __init__(self) -> None:
        self.lists: list[XattrList] = []

    def decode(self, buf: Buf, pos: int) -> tuple[int, XattrList, bool, int]:
        """Read one entry's xattr reference or list.

        Returns:
            ``(ndx, items, is_new, new_pos)``: ``is_new`` when the list must be committed.

        Raises:
            NeedMoreData: the buffer ends inside the list.
            RemoteProtocolError: an index out of range, a name without its NUL, a length
                over the limits.
        """
        n = len(buf)
        ref, pos = decode_varint(buf, pos)
        if ref < 0 or ref > len(self.lists):
            msg = f"receive_xattr: xa index {ref} out of range"
            raise RemoteProtocolError(msg)
        if ref:
            return ref - 1, self.lists[ref - 1], False, pos
        count, pos = decode_varint(buf, pos)
        if not 0 <= count <= MAX_COUNT:
            msg = f"xattr count {count} out of range"
            raise RemoteProtocolError(msg)
        items: list[XattrItem] = []
        total = 0
        for num in range(1, count + 1):
            name_len, pos = decode_varint(buf, pos)
            datum_len, pos = decode_varint(buf, pos)
            if not 1 <= name_len <= MAX_NAME_LEN:
                msg = f"xattr name_len {name_len} out of range"
                raise RemoteProtocolError(msg)
            if not 0 <= datum_len <= MAX_VALUE_LEN:
                msg = "xattr datum_len exceeds per-value limit"
                raise RemoteProtocolError(msg)
            total += name_len + datum_len
            if total > MAX_LIST_BYTES:
                msg = "xattr list exceeds per-file limit"
                raise RemoteProtocolError(msg)
            get = DIGEST_LEN if datum_len > MAX_FULL_DATUM else datum_len
            end = pos + name_len + get
            if end > n:
                raise NeedMoreData
            name = bytes(buf[pos : pos + name_len])
            if name[-1] != 0 or 0 in name[:-1]:
                msg = "Invalid xattr name received (missing trailing \\0)."
                raise RemoteProtocolError(msg)
            items.append(XattrItem(name[:-1], datum_len, bytes(buf[pos + name_len : end]), num))
            pos = end
        return len(self.lists), tuple(items), True, pos

    def commit(self, items: XattrList) -> None:
        """Store a list :meth:`decode` returned as new."""
        self.lists.append(items)


def encode_request(nums: Iterable[int]) -> bytes:
    """A generator's request for abbreviated values, by ``num`` (ascending), with its end.

    rsync: xattrs.c send_xattr_request() (generator side).
    """
    buf = bytearray()
    prior = 0
    for num in nums:
        encode_varint_into(buf, num - prior)
        prior = num
    buf += END
    return bytes(buf)


def encode_reply_item(buf: bytearray, num: int, prior: int, value: bytes) -> None:
    """One value of a sender's reply (then :data:`END` after the last).

    rsync: xattrs.c send_xattr_request() (sender side).
    """
    encode_varint_into(buf, num - prior)
    encode_varint_into(buf, len(value))
    buf += value


def resolve(
    view: Sequence[XattrItem],
    fetched: Callable[[int], bytes | None],
    basis: Callable[[bytes], bytes | None],
) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """The values a receiver sets, and the names of abbreviated ones it does not have.

    An abbreviated value is the one the sender sent on request (``fetched(num)``), or the
    basis file's value when its length and digest match (``basis(name)``).

    rsync: xattrs.c rsync_xal_set().
    """
    want: list[tuple[bytes, bytes]] = []
    missing: list[bytes] = []
    for item in view:
        if not item.abbreviated:
            want.append((item.name, item.datum))
            continue
        value = fetched(item.num)
        if value is None:
            value = basis(item.name)
            if value is None or len(value) != item.datum_len or digest(value) != item.datum:
                missing.append(item.name)
                continue
        want.append((item.name, value))
    return want, missing


def parse_stat_value(value: bytes) -> tuple[int, int, int, int, int] | None:
    """``--fake-super``'s record: ``(mode, major, minor, uid, gid)``, or ``None`` if corrupt.

    rsync: xattrs.c get_stat_xattr() (``"%o %d,%d %d:%d"``).
    """
    try:
        mode_s, dev_s, ids_s = value.decode("ascii").split()
        major_s, minor_s = dev_s.split(",")
        uid_s, gid_s = ids_s.split(":")
        return int(mode_s, 8), int(major_s), int(minor_s), int(uid_s), int(gid_s)
    except ValueError:
        return None


def format_stat_value(mode: int, major: int, minor: int, uid: int, gid: int) -> bytes:
    """The record :func:`parse_stat_value` reads (rsync: xattrs.c set_stat_xattr())."""
    return f"{mode:o} {major},{minor} {uid}:{gid}".encode("ascii")
