"""Checks of hostile file lists (docs/protocol.md §9.19): every refusal is a RemoteProtocolError."""

from __future__ import annotations

import struct

import pytest

from rsync_wire.errors import LocalProtocolError, RemoteProtocolError, UnsupportedError
from rsync_wire.proto.codec import encode_varint_into, encode_varlong_into
from rsync_wire.proto.constants import CF
from rsync_wire.proto.flist import EndOfList, FileEntry, FileListDecoder, FileListEncoder
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

VARINT = int(CF.VARINT_FLIST_FLAGS)
P32 = Session(protocol=32, compat_flags=VARINT)
P31_BYTES = Session(protocol=31)
P29 = Session(protocol=29, checksum="md4")
NONE = TransferOptions()
REG = 0o100644


def _entry32(
    flags: int,
    name: bytes,
    *,
    l1: int | None = None,
    size: int = 0,
    mtime: int = 1,
    nsec: int | None = None,
    mode: int | None = REG,
    tail: bytes = b"",
    long_name: bool = False,
) -> bytes:
    """One varint-mode entry with the fields a session without -o/-g/-l/-D reads."""
    buf = bytearray()
    if l1 is not None:
        flags |= 0x20
    if long_name:
        flags |= 0x40
    if mode is None:
        flags |= 0x02
    if nsec is not None:
        flags |= 0x2000
    encode_varint_into(buf, flags or 0x04)
    if l1 is not None:
        buf.append(l1)
    if long_name:
        encode_varint_into(buf, len(name))
    else:
        buf.append(len(name))
    buf += name
    encode_varlong_into(buf, size, 3)
    encode_varlong_into(buf, mtime, 4)
    if nsec is not None:
        encode_varint_into(buf, nsec)
    if mode is not None:
        buf += struct.pack("<I", mode)
    return bytes(buf + tail)


def _decode_all(dec: FileListDecoder, data: bytes) -> None:
    pos = 0
    while True:
        item, pos = dec.decode(data, pos)
        assert not isinstance(item, EndOfList), "the whole list was accepted"


def _refused(
    data: bytes, *, session: Session = P32, options: TransferOptions = NONE, match: str = "."
) -> None:
    dec = FileListDecoder(session, options)
    with pytest.raises(RemoteProtocolError, match=match):
        _decode_all(dec, data)
    with pytest.raises(LocalProtocolError):
        dec.decode(data, 0)


def _accepted(
    data: bytes, *, session: Session = P32, options: TransferOptions = NONE
) -> list[FileEntry]:
    dec = FileListDecoder(session, options)
    out, pos = [], 0
    while pos < len(data):
        item, pos = dec.decode(data, pos)
        assert isinstance(item, FileEntry)
        out.append(item)
    return out


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [b"..", b"../x", b"a/..", b"a/../b", b"/etc/passwd", b"a//b", b"a/", b"./a", b"a/./b", b"//"],
)
def test_unsafe_names(name: bytes) -> None:
    _refused(_entry32(0, name), match="unsafe pathname from sender")


@pytest.mark.parametrize("name", [b"...", b"..a", b"a..", b".hidden", b"a/.b/..c", b"\xff\xfe"])
def test_odd_but_safe_names(name: bytes) -> None:
    assert _accepted(_entry32(0, name))[0].name == name


def test_absolute_names_only_with_relative() -> None:
    data = _entry32(0, b"/etc/passwd")
    _refused(data, match="absolute")
    got = _accepted(data, options=TransferOptions(relative=True))
    assert got[0].name == b"/etc/passwd"
    _refused(_entry32(0, b"/../x"), options=TransferOptions(relative=True), match=r"'\.\.'")


def test_nul_in_name() -> None:
    _refused(_entry32(0, b"a\x00b"), match="NUL")


def test_empty_name() -> None:
    _refused(_entry32(0, b""), match="empty")


def test_dot_must_be_a_directory() -> None:
    _refused(_entry32(0, b"."), match="non-directory transfer-root")
    _refused(_entry32(0, b"x/."), match="non-directory transfer-root")
    assert _accepted(_entry32(0, b".", mode=0o40755))[0].is_dir
    assert _accepted(_entry32(0, b"x/.", mode=0o40755))[0].name == b"x/."


def test_prefix_longer_than_previous_name() -> None:
    data = _entry32(0, b"ab") + _entry32(0, b"c", l1=3, mode=None)
    _refused(data, match="overflow")


def test_name_length_limit() -> None:
    ok = b"d/" + b"x" * 4093  # 4095 bytes
    assert _accepted(_entry32(0, ok, long_name=True))[0].name == ok
    _refused(_entry32(0, ok + b"y", long_name=True), match="overflow")
    data = _entry32(0, b"a" * 255, long_name=True) + _entry32(
        0, b"b" * 3841, l1=255, long_name=True, mode=None
    )
    _refused(data, match="overflow")  # l1 + l2 == 4096


def test_long_name_length_negative_p29() -> None:
    data = bytes([0x40 | 0x18]) + struct.pack("<i", -1) + b"x"
    _refused(data, session=P29, match="overflow")


# -- lengths, times, modes ----------------------------------------------------------------------


def test_negative_size() -> None:
    _refused(_entry32(0, b"f", size=-5), match="negative file length")
    data = bytes([0x18, 1]) + b"f" + b"\xff\xff\xff\xff" + struct.pack("<q", -5)
    _refused(data, session=P29, match="negative file length")


def test_nanoseconds_bound() -> None:
    session = Session(protocol=31, compat_flags=VARINT)
    assert _accepted(_entry32(0, b"f", nsec=999_999_999), session=session)[0].mtime_nsec == (
        999_999_999
    )
    _refused(_entry32(0, b"f", nsec=1_000_000_000), session=session, match="nanoseconds")
    _refused(_entry32(0, b"f", nsec=-1), session=session, match="nanoseconds")


@pytest.mark.parametrize("mode", [0o170644, 0o070644, 0x10000 | REG])
def test_invalid_modes(mode: int) -> None:
    _refused(_entry32(0, b"f", mode=mode), match="invalid file mode")


def test_mode_zero_only_for_missing_args() -> None:
    _refused(_entry32(0, b"f", mode=0), match="invalid file mode")
    got = _accepted(_entry32(0, b"f", mode=0), options=TransferOptions(delete_missing_args=True))
    assert got[0].is_missing
    # The state starts at 0: SAME_MODE on the first entry means mode 0.
    _refused(_entry32(0, b"f", mode=None), match="invalid file mode")


# -- flags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "session", "options"),
    [
        (0x8000, P32, NONE),  # unused bit
        (0x10000, P32, NONE),  # XMIT_RESERVED_16
        (0x40000, P32, NONE),
        (0x4000, P32, NONE),  # SAME_ATIME without --atimes
        (0x20000, P32, NONE),  # CRTIME_EQ_MTIME without --crtimes
        (0x2000, Session(protocol=30, compat_flags=VARINT), NONE),  # MOD_NSEC below 31
    ],
)
def test_unknown_flag_bits(flags: int, session: Session, options: TransferOptions) -> None:
    _refused(
        _entry32(flags, b"f"), session=session, options=options, match="unknown file-list flag"
    )


def test_unknown_flag_bits_byte_mode() -> None:
    # P 29, two flag bytes: HLINK_FIRST (bit 12) does not exist below 30.
    data = bytes([0x9C, 0x10, 1]) + b"f" + bytes(8)
    _refused(data, session=P29, match="unknown file-list flag")


def test_io_error_end_marker_needs_safe_flist() -> None:
    _refused(bytes([0x04, 0x10, 0x01]), session=P29, match="invalid file-list flags")
    _refused(bytes([0x04, 0x10, 0x01]), session=Session(protocol=30), match="invalid")
    dec = FileListDecoder(P31_BYTES, NONE)
    assert dec.decode(bytes([0x04, 0x10, 0x01]), 0) == (EndOfList(1), 3)
    dec = FileListDecoder(Session(protocol=30, compat_flags=int(CF.SAFE_FLIST)), NONE)
    assert dec.decode(bytes([0x04, 0x10, 0x0F]), 0) == (EndOfList(0x7), 3)  # masked


def test_names_follow_without_ids() -> None:
    session = Session(protocol=31, compat_flags=VARINT | int(CF.INC_RECURSE))
    _refused(_entry32(0x400, b"f", tail=b"\x00\x01x"), session=session, match="user name")
    _refused(_entry32(0x800, b"f", tail=b"\x00\x01x"), session=session, match="group name")


def test_nul_in_user_name() -> None:
    session = Session(protocol=31, compat_flags=VARINT | int(CF.INC_RECURSE))
    opts = TransferOptions(preserve_uid=True)
    _refused(
        _entry32(0x400, b"f", tail=b"\x05\x03a\x00b"), session=session, options=opts, match="NUL"
    )


# -- symlinks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 4096, -1])
def test_symlink_target_length(length: int) -> None:
    tail = bytearray()
    encode_varint_into(tail, length)
    data = _entry32(0, b"l", mode=0o120777, tail=bytes(tail) + b"x" * max(length, 0))
    _refused(data, options=TransferOptions(preserve_links=True), match="symlink target")


def test_symlink_target_nul() -> None:
    data = _entry32(0, b"l", mode=0o120777, tail=b"\x03a\x00b")
    _refused(data, options=TransferOptions(preserve_links=True), match="NUL")
    ok = _accepted(
        _entry32(0, b"l", mode=0o120777, tail=b"\x03a/b"),
        options=TransferOptions(preserve_links=True),
    )
    assert ok[0].link_target == b"a/b"


# -- hard links -----------------------------------------------------------------------------------

HARD = TransferOptions(preserve_hard_links=1)


def test_hardlink_index_out_of_range() -> None:
    first = _entry32(0x1200, b"a")  # HLINKED | HLINK_FIRST
    _refused(first + bytes([0x82, 0x00, 1]) + b"b" + b"\x05", options=HARD, match="range")
    # The index of the entry itself (not yet in the list) is out of range too.
    _refused(first + bytes([0x82, 0x00, 1]) + b"b" + b"\x01", options=HARD, match="range")


def test_hardlink_index_must_name_a_first_member() -> None:
    plain = _entry32(0, b"a")
    follower = bytes([0x82, 0x00, 1]) + b"b" + b"\x00"  # HLINKED, index 0 (not HLINK_FIRST)
    _refused(plain + follower, options=HARD, match="first member")


def test_hardlink_follower_is_abbreviated() -> None:
    first = _entry32(0x1200, b"a", size=9)
    follower = bytes([0x82, 0x00, 1]) + b"b" + b"\x00"
    got = _accepted(first + follower, options=HARD)
    assert [(e.name, e.size, e.hlink_group, e.hlink_first) for e in got] == [
        (b"a", 9, 0, True),
        (b"b", 9, 0, False),
    ]


def test_hardlink_flags_need_h_and_a_non_directory() -> None:
    _refused(_entry32(0x1200, b"a"), match="without -H")
    _refused(_entry32(0x1200, b"d", mode=0o40755), options=HARD, match="directory")
    _refused(_entry32(0x1000, b"a"), options=HARD, match="hard-link-first flag without")


def test_hardlink_reference_into_an_earlier_list() -> None:
    """Incremental recursion: a follower of a group first seen in an earlier list is complete."""
    session = Session(protocol=32, compat_flags=VARINT | int(CF.INC_RECURSE))
    first = _entry32(0x1200, b"a", size=4)
    end = b"\x00\x00"
    tail = bytearray()
    encode_varint_into(tail, 1)  # index 1: "a", first list starts at 1
    later = bytearray()
    encode_varint_into(later, 0x202)  # HLINKED | SAME_MODE
    later += b"\x05" + b"dir/b" + bytes(tail)
    encode_varlong_into(later, 4, 3)
    encode_varlong_into(later, 1, 4)
    dec = FileListDecoder(session, HARD)
    data = first + end + bytes(later)
    a, pos = dec.decode(data, 0)
    assert dec.decode(data, pos)[0] == EndOfList(0)
    assert dec.list_start == 3
    b, pos = dec.decode(data, pos + 2)
    assert pos == len(data)
    assert isinstance(a, FileEntry)
    assert isinstance(b, FileEntry)
    assert (a.hlink_group, b.hlink_group, b.size, b.hlink_first) == (1, 1, 4, False)


# -- id lists -------------------------------------------------------------------------------------


def test_id_list_name_with_nul() -> None:
    session = Session(protocol=32, compat_flags=VARINT)
    dec = FileListDecoder(session, TransferOptions(preserve_uid=True))
    with pytest.raises(RemoteProtocolError, match="NUL"):
        dec.decode_id_lists(b"\x05\x02a\x00\x00", 0)


# -- encoder refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        FileEntry(name=b"", mode=REG),
        FileEntry(name=b"a\x00", mode=REG),
        FileEntry(name=b"x" * 4096, mode=REG),
        FileEntry(name=b"l", mode=0o120777),  # no target under -l
        FileEntry(name=b"f", mode=REG, mtime_nsec=10**9, mtime=5),
    ],
)
def test_encoder_refuses(entry: FileEntry) -> None:
    enc = FileListEncoder(Session(protocol=31), TransferOptions(preserve_links=True))
    with pytest.raises(LocalProtocolError):
        enc.encode_into(bytearray(), entry)


def test_unsupported_options() -> None:
    with pytest.raises(UnsupportedError):  # -A needs protocol 30
        FileListDecoder(Session(protocol=29), TransferOptions(preserve_acls=True))
    with pytest.raises(UnsupportedError):  # -X needs protocol 30
        FileListDecoder(Session(protocol=29), TransferOptions(preserve_xattrs=1))
    with pytest.raises(UnsupportedError):
        FileListDecoder(Session(protocol=31), TransferOptions(preserve_crtimes=True))
    with pytest.raises(LocalProtocolError):
        FileListEncoder(Session(protocol=31), TransferOptions(preserve_crtimes=True))
    with pytest.raises(LocalProtocolError):
        FileListEncoder(Session(protocol=27), TransferOptions(preserve_atimes=1))
    with pytest.raises(UnsupportedError):
        FileListEncoder(Session(protocol=26), NONE)


def test_hard_link_back_reference_never_declared_first() -> None:
    """A follower naming an earlier list's index that was never a group's first member.

    rsync: hlink.c match_gnums() ("hard-link gnum %d precedes flist start %d").
    """
    session = Session(protocol=32, compat_flags=VARINT | int(CF.INC_RECURSE))
    dec = FileListDecoder(session, TransferOptions(preserve_hard_links=True))
    follower = bytearray()
    encode_varint_into(follower, 1)  # the reference: index 1, an ordinary file
    data = _entry32(0x0200, b"d/h", tail=b"")  # XMIT_HLINKED without XMIT_HLINK_FIRST
    # the reference comes right after the flags and the name, before the size
    flags = bytearray()
    encode_varint_into(flags, 0x0200)
    name_end = len(flags) + 1 + len(b"d/h")
    data = data[:name_end] + bytes(follower) + data[name_end:]
    with pytest.raises(RemoteProtocolError, match="hard-link gnum 1 precedes flist start 5"):
        dec.decode(data, 0, ndx_start=5)
