"""File-list byte vectors from docs/protocol.md (§9.6, §9.10, §9.13, §9.14, §9.20)."""

from __future__ import annotations

import msgspec
import pytest

from rsync_wire.errors import LocalProtocolError, UnsupportedError
from rsync_wire.proto.codec import NdxDecoder, NdxEncoder
from rsync_wire.proto.constants import CF
from rsync_wire.proto.flist import (
    EndOfList,
    FileEntry,
    FileListDecoder,
    FileListEncoder,
    IdLists,
    flist_csum_len,
)
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

ALL_CF = (
    int(CF.INC_RECURSE | CF.SYMLINK_TIMES | CF.SYMLINK_ICONV | CF.SAFE_FLIST)
    | int(
        CF.AVOID_XATTR_OPTIM | CF.CHKSUM_SEED_FIX | CF.INPLACE_PARTIAL_DIR | CF.VARINT_FLIST_FLAGS
    )
    | int(CF.ID0_NAMES)
)  # 0x1FF
NO_INC_CF = ALL_CF & ~int(CF.INC_RECURSE)  # 0x1FE

# -a: -rlptgoD
ARCHIVE = TransferOptions(
    recursive=True,
    preserve_links=True,
    preserve_perms=True,
    preserve_times=True,
    preserve_gid=True,
    preserve_uid=True,
    preserve_devices=True,
    preserve_specials=True,
)
ARCHIVE_H = msgspec.structs.replace(ARCHIVE, preserve_hard_links=1)


def _encode_all(enc: FileListEncoder, entries: list[FileEntry]) -> bytearray:
    buf = bytearray()
    for e in entries:
        enc.encode_into(buf, e)
    return buf


def _decode_list(dec: FileListDecoder, data: bytes, pos: int) -> tuple[list[FileEntry], int, int]:
    out: list[FileEntry] = []
    while True:
        item, pos = dec.decode(data, pos)
        if isinstance(item, EndOfList):
            return out, item.io_error, pos
        out.append(item)


# -- §9.20: P 32, varint flags, incremental recursion ------------------------------------------

NSEC = 0x02C5E840
MTIME = 0x6B08D454
ROOT = b"root"

P32_TREE_INITIAL = [
    FileEntry(
        name=b".",
        mode=0o40755,
        size=4096,
        mtime=MTIME,
        mtime_nsec=NSEC,
        user_name=ROOT,
        group_name=ROOT,
        top_dir=True,
    ),
    FileEntry(
        name=b"link",
        mode=0o120777,
        size=5,
        mtime=MTIME,
        mtime_nsec=NSEC,
        user_name=ROOT,
        group_name=ROOT,
        link_target=b"a.txt",
    ),
    FileEntry(
        name=b"sub",
        mode=0o40755,
        size=4096,
        mtime=MTIME,
        mtime_nsec=NSEC,
        user_name=ROOT,
        group_name=ROOT,
    ),
    FileEntry(
        name=b"a.txt",
        mode=0o100644,
        size=6,
        mtime=MTIME,
        mtime_nsec=NSEC,
        user_name=ROOT,
        group_name=ROOT,
    ),
]
P32_TREE_SUB = [
    FileEntry(
        name=b"sub/b.txt",
        mode=0o100644,
        size=6,
        mtime=MTIME,
        mtime_nsec=NSEC,
        user_name=ROOT,
        group_name=ROOT,
    ),
]

NSEC_HEX = "e2 40 e8 c5"
P32_HEX = f"""
ac 01  01 2e  00 00 10  6b 54 d4 08  {NSEC_HEX}  ed 41 00 00  00 04 72 6f 6f 74  00 04 72 6f 6f 74
a0 98  04 6c 69 6e 6b  00 05 00  {NSEC_HEX}  ff a1 00 00  05 61 2e 74 78 74
a0 98  03 73 75 62  00 00 10  {NSEC_HEX}  ed 41 00 00
a0 98  05 61 2e 74 78 74  00 06 00  {NSEC_HEX}  a4 81 00 00
00 00
ff 65
a0 9a  09 73 75 62 2f 62 2e 74 78 74  00 06 00  {NSEC_HEX}
00 00
ff fe 80 02 00 00
"""


def test_p32_incremental_capture_encode() -> None:
    session = Session(protocol=32, compat_flags=ALL_CF, checksum="xxh128")
    enc = FileListEncoder(session, ARCHIVE)
    ndx = NdxEncoder(protocol=32)
    buf = _encode_all(enc, P32_TREE_INITIAL)
    assert enc.encode_end_into(buf) is True
    ndx.encode_into(buf, -101 - 1)  # sub-list for directory 1 ("sub")
    assert enc.list_start == 6  # 1 + 4 + 1
    for e in P32_TREE_SUB:
        enc.encode_into(buf, e)
    enc.encode_end_into(buf)
    ndx.encode_into(buf, -2)  # NDX_FLIST_EOF
    assert bytes(buf) == bytes.fromhex(P32_HEX)


def test_p32_incremental_capture_decode() -> None:
    session = Session(protocol=32, compat_flags=ALL_CF, checksum="xxh128")
    dec = FileListDecoder(session, ARCHIVE)
    data = bytes.fromhex(P32_HEX)
    first, io_error, pos = _decode_list(dec, data, 0)
    assert io_error == 0
    assert first == P32_TREE_INITIAL
    assert dec.uid_names == {0: ROOT}
    assert dec.gid_names == {0: ROOT}
    nd = NdxDecoder(protocol=32)
    d, pos = nd.decode(data, pos)
    assert d == -102
    assert dec.list_start == 6
    sub, _, pos = _decode_list(dec, data, pos)
    assert sub == P32_TREE_SUB
    assert nd.decode(data, pos) == (-2, len(data))
    # No id lists in incremental mode: the calls consume nothing.
    assert dec.decode_id_lists(data, pos) == (IdLists(), pos)
    assert dec.decode_io_error(data, pos) == (0, pos)


# -- §9.20: the same tree at P 29 (byte flags, no incremental recursion) ----------------------

P29_HEX = """
01 01 2e  00 10 00 00  54 d4 08 6b  ed 41 00 00  00 00 00 00  00 00 00 00
98 04 6c 69 6e 6b  05 00 00 00  ff a1 00 00  05 00 00 00 61 2e 74 78 74
98 03 73 75 62  00 10 00 00  ed 41 00 00
98 05 61 2e 74 78 74  06 00 00 00  a4 81 00 00
9a 09 73 75 62 2f 62 2e 74 78 74  06 00 00 00
00
00 00 00 00
00 00 00 00
00 00 00 00
"""


def _p29_entries() -> list[FileEntry]:
    return [
        FileEntry(
            name=e.name,
            mode=e.mode,
            size=e.size,
            mtime=MTIME,
            link_target=e.link_target,
            top_dir=e.top_dir,
            user_name=ROOT,
            group_name=ROOT,
        )
        for e in P32_TREE_INITIAL + P32_TREE_SUB
    ]


def test_p29_capture_encode() -> None:
    session = Session(protocol=29, checksum="md4")
    enc = FileListEncoder(session, ARCHIVE)
    buf = _encode_all(enc, _p29_entries())
    assert enc.encode_end_into(buf) is True
    enc.encode_id_lists_into(buf)
    enc.encode_io_error_into(buf, 0)
    assert bytes(buf) == bytes.fromhex(P29_HEX)


def test_p29_capture_decode() -> None:
    session = Session(protocol=29, checksum="md4")
    dec = FileListDecoder(session, ARCHIVE)
    data = bytes.fromhex(P29_HEX)
    entries, io_error, pos = _decode_list(dec, data, 0)
    assert io_error == 0
    # Names only travel in the id lists below 30, and root is never listed there.
    assert entries == [
        FileEntry(
            name=e.name,
            mode=e.mode,
            size=e.size,
            mtime=e.mtime,
            link_target=e.link_target,
            top_dir=e.top_dir,
        )
        for e in _p29_entries()
    ]
    ids, pos = dec.decode_id_lists(data, pos)
    assert ids == IdLists()
    assert dec.decode_io_error(data, pos) == (0, len(data))


# -- §9.6: devices ----------------------------------------------------------------------------


def _devices() -> list[FileEntry]:
    return [
        FileEntry(name=b".", mode=0o40755, size=4096, mtime=MTIME, top_dir=True),
        FileEntry(name=b"chr", mode=0o20644, mtime=MTIME, rdev_major=4, rdev_minor=200),
        FileEntry(name=b"blk", mode=0o60644, mtime=MTIME, rdev_major=300, rdev_minor=70000),
        FileEntry(name=b"fifo", mode=0o10644, mtime=MTIME),
    ]


P32_DEV_HEX = """
01  01 2e  00 00 10  6b 54 d4 08  ed 41 00 00  00  00
80 98  03 63 68 72  00 00 00  a4 21 00 00  04 80 c8
80 98  03 62 6c 6b  00 00 00  a4 61 00 00  81 2c c1 70 11
80 98  04 66 69 66 6f  00 00 00  a4 11 00 00
00 00
"""

P29_DEV_HEX = """
01 01 2e  00 10 00 00  54 d4 08 6b  ed 41 00 00  00 00 00 00  00 00 00 00
9c 08  03 63 68 72  00 00 00 00  a4 21 00 00  04 00 00 00  c8
98  03 62 6c 6b  00 00 00 00  a4 61 00 00  2c 01 00 00  70 11 01 00
9c 09  04 66 69 66 6f  00 00 00 00  a4 11 00 00  00
00
"""


@pytest.mark.parametrize(
    ("protocol", "compat", "hexstr"),
    [(32, NO_INC_CF, P32_DEV_HEX), (29, 0, P29_DEV_HEX)],
)
def test_device_captures(protocol: int, compat: int, hexstr: str) -> None:
    """char 4,200 and block 300,70000 as in §9.6; a fifo (P 29: major copied, minor 0)."""
    session = Session(protocol=protocol, compat_flags=compat)
    entries = [
        FileEntry(
            name=e.name,
            mode=e.mode,
            size=e.size,
            mtime=e.mtime,
            rdev_major=e.rdev_major,
            rdev_minor=e.rdev_minor,
            top_dir=e.top_dir,
            user_name=ROOT,
            group_name=ROOT,
        )
        for e in _devices()
    ]
    enc = FileListEncoder(session, ARCHIVE)
    buf = _encode_all(enc, entries)
    enc.encode_end_into(buf)
    assert buf.hex(" ") == bytes.fromhex(hexstr).hex(" ")
    dec = FileListDecoder(session, ARCHIVE)
    got, _, _ = _decode_list(dec, bytes(buf), 0)
    assert [(e.name, e.rdev_major, e.rdev_minor, e.size) for e in got] == [
        (e.name, e.rdev_major, e.rdev_minor, 0 if e.name != b"." else 4096) for e in entries
    ]


def test_p27_raw_dev_t() -> None:
    """Below 28 the rdev is the sender's raw dev_t (Linux packing), SAME_RDEV_pre28 applies."""
    session = Session(protocol=27, checksum="md4")
    entries = [
        FileEntry(name=b"c1", mode=0o20600, rdev_major=4, rdev_minor=200),
        FileEntry(name=b"c2", mode=0o20600, rdev_major=4, rdev_minor=200),
        FileEntry(name=b"fifo", mode=0o10600),
        FileEntry(name=b"b", mode=0o60600, rdev_major=300, rdev_minor=70000),
    ]
    enc = FileListEncoder(session, TransferOptions(preserve_devices=True, preserve_specials=True))
    buf = _encode_all(enc, entries)
    enc.encode_end_into(buf)
    assert buf.hex(" ") == bytes.fromhex(
        # c1: SAME_TIME|SAME_UID|SAME_GID; length i32, mode, rdev = makedev(4, 200) = 0x4c8
        "98 02 63 31  00 00 00 00  80 21 00 00  c8 04 00 00"
        # c2: + SAME_RDEV_pre28 | SAME_MODE | SAME_NAME (l1 = 1)
        " be 01 01 32  00 00 00 00"
        # fifo: SAME_RDEV_pre28 always, nothing sent (the previous rdev stays)
        " 9c 04 66 69 66 6f  00 00 00 00  80 11 00 00"
        # b: raw dev_t of 300,70000 = 0x11112c70 (glibc packing, low 32 bits)
        " 98 01 62  00 00 00 00  80 61 00 00  70 2c 11 11"
        " 00"
    ).hex(" ")
    dec = FileListDecoder(session, TransferOptions(preserve_devices=True, preserve_specials=True))
    got, _, _ = _decode_list(dec, bytes(buf), 0)
    assert [(e.rdev_major, e.rdev_minor) for e in got] == [(4, 200), (4, 200), (0, 0), (300, 70000)]


# -- §9.10: hard links at P 32 -----------------------------------------------------------------


def test_hardlink_capture_p32() -> None:
    """f1link is first (flags 92 18), f1 and dir/f1b are abbreviated followers with index 01."""
    session = Session(protocol=32, compat_flags=NO_INC_CF, checksum="xxh128")
    reg = 0o100644
    link = {"hl_dev": 2049, "hl_ino": 77, "nlink": 3, "mode": reg, "size": 3, "mtime": 1000}
    entries = [
        FileEntry(name=b".", mode=0o40755, size=4096, mtime=900, top_dir=True, user_name=ROOT),
        FileEntry(name=b"f1link", **link),  # type: ignore[arg-type]
        FileEntry(name=b"chr", mode=0o20644, mtime=950, rdev_major=1, rdev_minor=3),
        FileEntry(name=b"f1", **link),  # type: ignore[arg-type]
        FileEntry(name=b"dir", mode=0o40755, size=4096, mtime=960),
        FileEntry(name=b"dir/o", mode=reg, size=1, mtime=970, uid=1234, gid=5678),
        FileEntry(name=b"dir/f1b", **link),  # type: ignore[arg-type]
    ]
    enc = FileListEncoder(session, ARCHIVE_H)
    chunks = []
    for e in entries:
        buf = bytearray()
        enc.encode_into(buf, e)
        chunks.append(bytes(buf))
    assert chunks[1].startswith(bytes.fromhex("92 18 06") + b"f1link")
    assert chunks[3] == bytes.fromhex("82 18 02") + b"f1" + bytes.fromhex("01")
    assert chunks[6] == bytes.fromhex("82 22 04 03") + b"f1b" + bytes.fromhex("01")
    end = bytearray()
    enc.encode_end_into(end)
    # §9.14: ids 0 and 1234/5678 without names: only the id-0 terminators with names.
    enc.encode_id_lists_into(end, uid0_name=ROOT, gid0_name=ROOT)
    assert end == bytes.fromhex("00 00  00 04") + ROOT + bytes.fromhex("00 04") + ROOT

    dec = FileListDecoder(session, ARCHIVE_H)
    data = b"".join(chunks) + bytes(end)
    got, _, pos = _decode_list(dec, data, 0)
    assert [e.hlink_group for e in got] == [None, 1, None, 1, None, None, 1]
    assert [e.hlink_first for e in got] == [False, True, False, False, False, False, False]
    assert got[3].size == 3
    assert (got[6].mtime, got[6].mode) == (1000, reg)
    ids, pos = dec.decode_id_lists(data, pos)
    assert ids == IdLists({0: ROOT}, {0: ROOT})
    assert pos == len(data)


def test_hardlink_p29_dev_inode() -> None:
    """P 28-29: dev+1 (unless SAME_DEV_pre30) and inode as longints, every member complete."""
    session = Session(protocol=29, checksum="md4")
    opts = TransferOptions(preserve_hard_links=1)
    a = FileEntry(name=b"a", mode=0o100644, size=1, hl_dev=5, hl_ino=9, nlink=2)
    b = FileEntry(name=b"b", mode=0o100644, size=1, hl_dev=5, hl_ino=9, nlink=2)
    c = FileEntry(name=b"c", mode=0o100644, size=1)
    enc = FileListEncoder(session, opts)
    buf = _encode_all(enc, [a, b, c])
    enc.encode_end_into(buf)
    assert buf.hex(" ") == bytes.fromhex(
        # a: HLINKED -> extended; dev+1 = 6, ino 9
        "9c 02 01 61  01 00 00 00  a4 81 00 00  06 00 00 00  09 00 00 00"
        # b: SAME_MODE, SAME_DEV_pre30
        " 9e 06 01 62  01 00 00 00  09 00 00 00"
        # c: no hard-link data
        " 9a 01 63  01 00 00 00"
        " 00"
    ).hex(" ")
    dec = FileListDecoder(session, opts)
    got, _, _ = _decode_list(dec, bytes(buf), 0)
    assert [(e.hl_dev, e.hl_ino, e.hlink_group, e.nlink) for e in got] == [
        (5, 9, 0, 2),
        (5, 9, 0, 2),
        (None, None, None, 1),
    ]


def test_hardlink_p27_every_regular_file() -> None:
    session = Session(protocol=27, checksum="md4")
    opts = TransferOptions(preserve_hard_links=1, preserve_links=True)
    entries = [
        FileEntry(name=b"a", mode=0o100644, hl_dev=1, hl_ino=2),
        FileEntry(name=b"l", mode=0o120777, size=1, link_target=b"a"),
        FileEntry(name=b"b", mode=0o100644, hl_dev=1, hl_ino=3),
    ]
    enc = FileListEncoder(session, opts)
    buf = _encode_all(enc, entries)
    enc.encode_end_into(buf)
    assert buf.hex(" ") == bytes.fromhex(
        # HLINKED is implied below 28 (bit 9 does not fit the one-byte flags)
        "98 01 61  00 00 00 00  a4 81 00 00  02 00 00 00  02 00 00 00"
        " 98 01 6c  01 00 00 00  ff a1 00 00  01 00 00 00 61"
        " 98 01 62  00 00 00 00  a4 81 00 00  02 00 00 00  03 00 00 00"
        " 00"
    ).hex(" ")
    dec = FileListDecoder(session, opts)
    got, _, _ = _decode_list(dec, bytes(buf), 0)
    assert [e.hlink_group for e in got] == [0, None, 1]
    with pytest.raises(LocalProtocolError):
        FileListEncoder(session, opts).encode_into(bytearray(), FileEntry(name=b"x", mode=0o100644))


# -- §9.3 flag-word zero avoidance, §9.13 end markers -------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "compat", "mode", "expected"),
    [
        (32, NO_INC_CF, 0o100644, "04 01 78"),  # varint: a zero word is sent as EXTENDED_FLAGS
        (29, 0, 0o100644, "01 01 78"),  # byte mode, non-dir: TOP_DIR filler
        (29, 0, 0o40755, "04 00 01 78"),  # byte mode, dir: EXTENDED_FLAGS, zero second byte
        (30, 0, 0o40755, "04 00 01 78"),
        (27, 0, 0o100644, "01 01 78"),
        (27, 0, 0o40755, "40 01 00 00 00 78"),  # P < 28, dir: LONG_NAME, 4-byte length
    ],
)
def test_zero_flag_word(protocol: int, compat: int, mode: int, expected: str) -> None:
    """A first entry that matches nothing of the (empty) previous state has flags 0."""
    session = Session(protocol=protocol, compat_flags=compat)
    opts = TransferOptions(preserve_uid=True, preserve_gid=True)
    entry = FileEntry(name=b"x", mode=mode, mtime=1)
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    enc.encode_into(buf, entry)
    assert buf[: len(bytes.fromhex(expected))].hex(" ") == expected
    got, pos = FileListDecoder(session, opts).decode(bytes(buf), 0)
    assert got == entry
    assert pos == len(buf)


@pytest.mark.parametrize(
    ("protocol", "compat", "io_error", "expected", "carried"),
    [
        (32, NO_INC_CF, 0, "00 00", True),
        (32, NO_INC_CF, 3, "00 03", True),
        (31, 0, 0, "00", True),
        (31, 0, 1, "04 10 01", True),  # byte mode, safe flist: EXTENDED|IO_ERROR_ENDLIST
        (30, int(CF.SAFE_FLIST), 2, "04 10 02", True),
        (30, 0, 2, "00", False),  # caller sends MSG_IO_ERROR
        (29, 0, 1, "00", False),  # caller writes the i32 after the id lists
    ],
)
def test_end_markers(
    protocol: int, compat: int, io_error: int, expected: str, carried: bool
) -> None:
    session = Session(protocol=protocol, compat_flags=compat)
    enc = FileListEncoder(session, TransferOptions())
    buf = bytearray()
    assert enc.encode_end_into(buf, io_error) is carried
    assert buf.hex(" ") == expected
    dec = FileListDecoder(session, TransferOptions())
    item, pos = dec.decode(bytes(buf), 0)
    assert item == EndOfList(io_error if carried else 0)
    assert pos == len(buf)


def test_p29_io_error_after_id_lists() -> None:
    session = Session(protocol=29)
    enc = FileListEncoder(session, TransferOptions(preserve_uid=True))
    buf = bytearray()
    enc.encode_into(buf, FileEntry(name=b"f", mode=0o100600, uid=5, user_name=b"bob"))
    enc.encode_end_into(buf, 1)
    enc.encode_id_lists_into(buf)
    enc.encode_io_error_into(buf, 1)
    assert buf.endswith(
        bytes.fromhex("00  05 00 00 00 03") + b"bob" + bytes.fromhex("00 00 00 00  01 00 00 00")
    )
    dec = FileListDecoder(session, TransferOptions(preserve_uid=True))
    entry, pos = dec.decode(bytes(buf), 0)
    assert entry == FileEntry(name=b"f", mode=0o100600, uid=5)
    end, pos = dec.decode(bytes(buf), pos)
    assert end == EndOfList(0)
    ids, pos = dec.decode_id_lists(bytes(buf), pos)
    assert ids.uid_names == {5: b"bob"}
    assert dec.decode_io_error(bytes(buf), pos) == (1, len(buf))


def test_id_lists_order_and_id0_names() -> None:
    """rsync prepends to its id list: the most recently first-seen id goes out first."""
    session = Session(protocol=31, compat_flags=NO_INC_CF)
    opts = TransferOptions(preserve_uid=True, preserve_gid=True)
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    for i, (uid, name) in enumerate([(0, b"root"), (7, b"seven"), (9, None), (8, b"eight")]):
        enc.encode_into(
            buf,
            FileEntry(
                name=b"f%d" % i,
                mode=0o100600,
                uid=uid,
                user_name=name,
                gid=100,
                group_name=b"users",
            ),
        )
    enc.encode_end_into(buf)
    lists = bytearray()
    enc.encode_id_lists_into(lists)
    assert lists == (
        b"\x08\x05eight\x07\x05seven" + b"\x00\x04root" + b"\x64\x05users" + b"\x00\x00"
    )
    dec = FileListDecoder(session, opts)
    data = bytes(buf + lists)
    pos = 0
    while not isinstance((r := dec.decode(data, pos))[0], EndOfList):
        pos = r[1]
    ids, pos = dec.decode_id_lists(data, r[1])
    assert ids == IdLists({8: b"eight", 7: b"seven", 0: b"root"}, {100: b"users", 0: None})
    assert pos == len(data)


def test_inline_names_only_once_per_id() -> None:
    session = Session(protocol=30, compat_flags=int(CF.INC_RECURSE | CF.VARINT_FLIST_FLAGS))
    opts = TransferOptions(preserve_uid=True)
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    enc.encode_into(buf, FileEntry(name=b"a", mode=0o100600, uid=1, user_name=b"x"))
    enc.encode_into(buf, FileEntry(name=b"b", mode=0o100600, uid=2, user_name=None))
    enc.encode_into(buf, FileEntry(name=b"c", mode=0o100600, uid=1, user_name=b"x"))
    assert buf.hex(" ") == (
        "84 90 01 61 00 00 00 80 81 00 00 01 01 78"  # USER_NAME_FOLLOWS, uid 1 "x"
        " 80 92 01 62 00 00 00 02"  # SAME_MODE, uid 2 without a name
        " 80 92 01 63 00 00 00 01"  # uid 1 again: its name was sent already
    )
    with_numeric = FileListEncoder(session, TransferOptions(preserve_uid=True, numeric_ids=True))
    buf.clear()
    with_numeric.encode_into(buf, FileEntry(name=b"a", mode=0o100600, uid=1, user_name=b"x"))
    assert buf.hex(" ") == "80 90 01 61 00 00 00 80 81 00 00 01"


# -- checksums ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "length"),
    [("md4", 16), ("md5", 16), ("xxh128", 16), ("xxh64", 8), ("xxh3", 8), ("sha1", 20)],
)
def test_checksum_lengths(name: str, length: int) -> None:
    assert flist_csum_len(name) == length
    session = Session(protocol=31, compat_flags=NO_INC_CF, checksum=name)
    opts = TransferOptions(always_checksum=True)
    sum_ = bytes(range(length))
    entries = [
        FileEntry(name=b"d", mode=0o40755),
        FileEntry(name=b"f", mode=0o100644, size=1, checksum=sum_),
    ]
    enc = FileListEncoder(session, opts)
    buf = _encode_all(enc, entries)
    assert buf.endswith(sum_)
    dec = FileListDecoder(session, opts)
    got, pos = dec.decode(bytes(buf), 0)
    assert got == entries[0]
    assert dec.decode(bytes(buf), pos) == (entries[1], len(buf))
    with pytest.raises(LocalProtocolError):
        enc.encode_into(bytearray(), FileEntry(name=b"g", mode=0o100644))
    with pytest.raises(UnsupportedError):
        flist_csum_len("crc32")


def test_p27_checksum_zeros_for_non_regular() -> None:
    session = Session(protocol=27, checksum="md4")
    opts = TransferOptions(always_checksum=True)
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    enc.encode_into(buf, FileEntry(name=b"d", mode=0o40755))
    assert buf.endswith(bytes(16))
    assert len(buf) == 1 + 1 + 1 + 4 + 4 + 16  # flags, l2, name, length, mode, zero sum
    assert FileListDecoder(session, opts).decode(bytes(buf), 0)[0] == FileEntry(
        name=b"d", mode=0o40755
    )
