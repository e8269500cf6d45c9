"""The xattr codec: lists after file-list entries, requests and replies."""

from __future__ import annotations

import pytest

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.flist import FileEntry, FileListDecoder, FileListEncoder
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions
from rsync_wire.proto.xattrs import (
    XattrListDecoder,
    XattrListEncoder,
    digest,
    encode_request,
    make_list,
    receiver_view,
    xattr_diff,
)

LONG = b"v" * 40


def test_list_round_trip_and_reuse() -> None:
    items = make_list([(b"user.b", b"2"), (b"user.a", LONG)])
    assert [x.name for x in items] == [b"user.a", b"user.b"]
    assert items[0].abbreviated
    assert items[0].datum == digest(LONG)
    enc = XattrListEncoder()
    buf = bytearray()
    assert enc.encode_into(buf, items) == 0
    first = len(buf)
    assert enc.encode_into(buf, items) == 0  # the same list again: a reference
    assert bytes(buf[first:]) == b"\x01"
    dec = XattrListDecoder()
    ndx, got, new, pos = dec.decode(buf, 0)
    assert (ndx, got, new, pos) == (0, items, True, first)
    dec.commit(got)
    assert dec.decode(buf, first) == (0, items, False, len(buf))


def test_truncated_and_hostile() -> None:
    buf = bytearray()
    XattrListEncoder().encode_into(buf, make_list([(b"user.a", b"x")]))
    with pytest.raises(NeedMoreData):
        XattrListDecoder().decode(buf[:-1], 0)
    with pytest.raises(RemoteProtocolError):
        XattrListDecoder().decode(b"\x05", 0)  # a list never sent
    with pytest.raises(RemoteProtocolError, match="trailing"):
        XattrListDecoder().decode(b"\x00\x01\x01\x00" + b"a", 0)  # name without its NUL


def test_receiver_view_and_diff() -> None:
    sent = make_list([(b"security.x", b"1"), (b"user.a", b"2"), (b"user.rsync.%stat", b"3")])
    assert [x.name for x in receiver_view(sent, am_root=False, fake_super=False, xx=False)] == [
        b"user.a"
    ]
    view = receiver_view(sent, am_root=False, fake_super=True, xx=True)
    assert [x.name for x in view] == [b"user.a", b"user.rsync.%stat", b"user.rsync.security.x"]
    assert [x.num for x in view] == [2, 3, 1]
    long_list = make_list([(b"user.a", LONG), (b"user.b", b"same")])
    assert xattr_diff(long_list, make_list([(b"user.b", b"same")])) == (True, [1])
    assert xattr_diff(long_list, long_list) == (False, [])
    assert xattr_diff(long_list[1:], long_list) == (True, [])  # an extra one here
    assert encode_request([1, 3]) == b"\x01\x02\x00"


def test_flist_carries_xattrs() -> None:
    session = Session(protocol=31)
    opts = TransferOptions(preserve_xattrs=1)
    items = make_list([(b"user.k", b"val")])
    entries = [
        FileEntry(name=b"a", mode=0o100644, size=1, xattrs=items),
        FileEntry(name=b"b", mode=0o100644, size=1, xattrs=items),
        FileEntry(name=b"c", mode=0o100644, size=1, xattrs=()),
    ]
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    for e in entries:
        enc.encode_into(buf, e)
    dec = FileListDecoder(session, opts)
    pos = 0
    got = []
    for _ in entries:
        item, pos = dec.decode(buf, pos)
        assert isinstance(item, FileEntry)
        got.append((item.xattrs, item.xattr_ndx))
    assert got == [(items, 0), (items, 0), ((), 1)]
    assert pos == len(buf)
