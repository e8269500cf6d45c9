"""The ACL codec: the wire form after file-list entries, the kernel's xattr form, fake-super's.

The kernel vectors were read with getxattr from files setfacl(1) made; the fake-super one
was written by rsync 3.5.0 (``rsync -rA -M--fake-super``); the last test decodes the file
list of a real ``rsync -A --only-write-batch``.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
from typing import TYPE_CHECKING

import pytest

from rsync_wire.errors import ExitCode, RemoteProtocolError
from rsync_wire.proto.acls import (
    EMPTY,
    NAME_IS_USER,
    NO_ENTRY,
    AclFormatError,
    AclListDecoder,
    AclListEncoder,
    IdAccess,
    RsyncAcl,
    default_perms,
    equal_enough,
    fake_perms,
    format_fake,
    format_xattr,
    parse_fake,
    parse_xattr,
    strip_perms,
    with_mode,
)
from rsync_wire.proto.codec import NdxDecoder, NeedMoreData, decode_varint
from rsync_wire.proto.flist import EndOfList, FileEntry, FileListDecoder, FileListEncoder
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from pathlib import Path

# user::rw-, user:4325:rw-, group::r--, mask::rw-, other::--- (setfacl -m u:4325:rw, 0640)
KERNEL = bytes.fromhex(
    "0200000001000600ffffffff02000600e510000004000400ffffffff10000600ffffffff20000000ffffffff"
)
U4325 = IdAccess(4325, 6 | NAME_IS_USER)
# rsync 3.5.0's %aacl for a file with u:1:rwx, g:2:r (condensed: no user/other entries)
FAKE = base64.b64decode("gAAAAAQAAAAHAAAAgAAAAAEAAAAHAACAAgAAAAQAAAA=")


def test_kernel_format_round_trip() -> None:
    acl = parse_xattr(KERNEL)
    assert acl == RsyncAcl(6, 4, 6, 0, (U4325,))
    assert format_xattr(acl) == KERNEL
    # entries come back sorted by tag and id, whatever order they are given in
    mixed = RsyncAcl(7, 5, 7, 5, (IdAccess(9, 1 | NAME_IS_USER), IdAccess(3, 7)))
    again = parse_xattr(format_xattr(mixed))
    assert again.names == (IdAccess(9, 1 | NAME_IS_USER), IdAccess(3, 7))
    # an unknown tag is skipped; a bad length or version is an error
    odd = KERNEL + struct.pack("<HHI", 0x40, 7, 5)
    assert parse_xattr(odd) == acl
    for bad in (KERNEL[:-1], b"\x01\x00\x00\x00" + KERNEL[4:], b""):
        with pytest.raises(AclFormatError):
            parse_xattr(bad)


def test_condense_and_compare() -> None:
    full = parse_xattr(KERNEL)
    sent = strip_perms(full, 0o100660)  # mask == group bits: the mask is left out too
    assert sent == RsyncAcl(NO_ENTRY, 4, NO_ENTRY, NO_ENTRY, (U4325,))
    assert strip_perms(fake_perms(0o100644), 0o100644) == EMPTY
    # what the receiver puts back: the mask from the mode, the rest from the mode
    dec = AclListDecoder(strict=True)
    buf = bytearray()
    AclListEncoder().encode_into(
        buf, sent, default=False, uid_names=None, gid_names=None, inline_names=False
    )
    got, _ = dec.decode(buf, 0, default=False, mode=0o100660)
    assert got.acl.mask_obj == 6
    assert equal_enough(full, got.acl, 0o100660)
    assert not equal_enough(fake_perms(0o100660), got.acl, 0o100660)
    restored, mode = with_mode(got.acl, 0o100600, 0o100660)
    assert format_xattr(restored) == KERNEL
    assert mode == 0o100660
    # a file losing its set-uid bit gets no group/other access until the chmod
    assert with_mode(got.acl, 0o104660, 0o100660)[1] == 0o104600


def test_default_acl_mask_and_perms() -> None:
    default = RsyncAcl(7, 5, NO_ENTRY, 0, (IdAccess(4323, 5 | NAME_IS_USER),))
    buf = bytearray()
    AclListEncoder().encode_into(
        buf, default, default=True, uid_names=None, gid_names=None, inline_names=False
    )
    got, _ = AclListDecoder(strict=True).decode(buf, 0, default=True, mode=0)
    assert got.acl.mask_obj == 5  # the named entries' bits and the group entry's
    assert default_perms(got.acl) == 0o750
    assert default_perms(EMPTY) is None


def test_fake_super_record() -> None:
    acl = parse_fake(FAKE, 0o100674)
    # the absent owner and other entries come from the mode
    assert acl == RsyncAcl(6, 4, 7, 4, (IdAccess(1, 7 | NAME_IS_USER), IdAccess(2, 4)))
    stored = RsyncAcl(NO_ENTRY, 4, 7, NO_ENTRY, acl.names)
    assert format_fake(stored) == FAKE
    assert parse_fake(FAKE[:-1], 0) is None


def test_wire_reuse_and_names() -> None:
    acl = RsyncAcl(
        NO_ENTRY,
        NO_ENTRY,
        NO_ENTRY,
        NO_ENTRY,
        (U4325, IdAccess(0, 5)),
        (b"someone", b"root"),
    )
    enc = AclListEncoder()
    uids: dict[int, bytes | None] = {}
    gids: dict[int, bytes | None] = {0: b"root"}  # already named by an owner
    buf = bytearray()
    enc.encode_into(buf, acl, default=False, uid_names=uids, gid_names=gids, inline_names=True)
    first = len(buf)
    enc.encode_into(buf, acl, default=False, uid_names=uids, gid_names=gids, inline_names=True)
    assert bytes(buf[first:]) == b"\x01"  # the same ACL again: its index
    # the same ACL as a default ACL is new there (a list per kind)
    enc.encode_into(buf, acl, default=True, uid_names=uids, gid_names=gids, inline_names=True)
    assert uids == {4325: b"someone"}
    # index 0, flags XMIT_NAME_LIST, 2 entries; the user's name follows, the group's not
    assert bytes(buf[:first]) == (
        b"\x00\x10\x02" + b"\x90\xe5" + bytes([6 << 2 | 3, 7]) + b"someone" + b"\x00\x14"
    )
    dec = AclListDecoder(strict=True)
    got, pos = dec.decode(buf, 0, default=False, mode=0o100640)
    assert got.is_new
    assert got.names == ((True, 4325, b"someone"),)
    assert got.acl.names == acl.names
    assert got.acl.mask_obj == 4
    dec.commit(got, default=False)
    again, pos2 = dec.decode(buf, pos, default=False, mode=0o100640)
    assert (again.ndx, again.is_new, again.acl) == (0, False, got.acl)
    other, end = dec.decode(buf, pos2, default=True, mode=0)
    assert other.is_new
    assert end == len(buf)


def test_every_split_needs_more_data() -> None:
    acl = RsyncAcl(7, 5, 7, 1, (U4325,), (b"someone",))
    buf = bytearray()
    AclListEncoder().encode_into(
        buf, acl, default=False, uid_names={}, gid_names={}, inline_names=True
    )
    for cut in range(len(buf)):
        with pytest.raises(NeedMoreData):
            AclListDecoder(strict=True).decode(buf[:cut], 0, default=False, mode=0o100644)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x03", "ACL_TYPE_ACCESS ACL index 3 > 0"),
        (b"\x00\x20", "unknown ACL_TYPE_ACCESS flags 0x20"),
        (b"\x00\x10\xc1\x01\x00", "ACL count out of range: 65537"),
        (b"\x00\x10\xf0\xff\xff\xff\xff", "ACL count out of range: -1"),
        (b"\x00\x01\x08", "value out of range: 8"),
        (b"\x00\x10\x01\x05\x22", "value out of range: 8"),
        (b"\x00\x10\x01\x05\x03\x02a\x00", "holds a NUL"),
    ],
)
def test_hostile_input(data: bytes, what: str) -> None:
    with pytest.raises(RemoteProtocolError, match=what) as info:
        AclListDecoder(strict=True).decode(data, 0, default=False, mode=0o100644)
    assert info.value.exit_code in (ExitCode.STREAMIO, ExitCode.PROTOCOL)


def test_fake_super_receiver_takes_any_bits() -> None:
    got, _ = AclListDecoder(strict=False).decode(b"\x00\x01\x08", 0, default=False, mode=0)
    assert got.acl.user_obj == 8


def test_flist_carries_acls_and_id_lists() -> None:
    session = Session(protocol=31)  # no incremental recursion: names in the id lists
    opts = TransferOptions(preserve_acls=True)
    named = RsyncAcl(NO_ENTRY, NO_ENTRY, NO_ENTRY, NO_ENTRY, (U4325,), (b"someone",))
    entries = [
        FileEntry(name=b"d", mode=0o40755, acl=EMPTY, def_acl=named),
        FileEntry(name=b"d/f", mode=0o100640, size=1, acl=named),
        FileEntry(name=b"d/l", mode=0o120777, size=1, acl=named),  # a symlink: none
        FileEntry(name=b"d/g", mode=0o100640, size=1, acl=named),
    ]
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    for e in entries:
        enc.encode_into(buf, e)
    enc.encode_end_into(buf)
    enc.encode_id_lists_into(buf)
    dec = FileListDecoder(session, opts)
    pos = 0
    got = []
    while True:
        item, pos = dec.decode(buf, pos)
        if isinstance(item, EndOfList):
            break
        got.append(item)
    ids, pos = dec.decode_id_lists(buf, pos)
    assert pos == len(buf)
    assert ids.uid_names == {4325: b"someone"}
    assert [e.acl is not None for e in got] == [True, True, False, True]
    assert got[0].def_acl is not None
    assert got[0].def_acl.names == (U4325,)
    assert got[1].acl is got[3].acl  # sent once, then by index


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("setfacl") is None, reason="setfacl (package acl) missing")
@pytest.mark.parametrize("inc", [True, False])
def test_rsync_batch_file_list(tmp_path: Path, inc: bool) -> None:
    """Decode the ACLs in a file list rsync 3.5.0 wrote (``--only-write-batch``)."""
    rsync = shutil.which("rsync")
    if rsync is None:
        pytest.skip("rsync missing")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "f").write_bytes(b"x")
    (src / "d" / "g").write_bytes(b"y")
    os.chmod(src / "f", 0o640)
    subprocess.run(["setfacl", "-m", "u:4325:rw", src / "f"], check=True)
    subprocess.run(["setfacl", "-m", "u:4325:rw", src / "d" / "g"], check=True)
    subprocess.run(["setfacl", "-m", "d:u:0:rx,g:4326:x", src / "d"], check=True)
    batch = tmp_path / "batch"
    extra = [] if inc else ["--no-inc-recursive"]
    subprocess.run(
        [
            *(rsync, "-rA", *extra, "--protocol=31", f"--only-write-batch={batch}"),
            *(f"{src}/", f"{tmp_path}/dst/"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = batch.read_bytes()
    flags, protocol = struct.unpack_from("<ii", data)
    assert flags >> 10 & 1  # the stream flags' preserve_acls bit
    compat, pos = decode_varint(data, 8)
    pos += 4
    session = Session(protocol=protocol, compat_flags=compat, checksum="md5")
    opts = TransferOptions(recursive=True, preserve_acls=True, preserve_perms=True)
    dec = FileListDecoder(session, opts)
    seen: dict[bytes, FileEntry] = {}
    lists = 0
    ndx = NdxDecoder(protocol=protocol)
    while lists < (2 if inc else 1):  # inc: the top list, then d's
        item, pos = dec.decode(data, pos)
        if isinstance(item, EndOfList):
            lists += 1
            if inc and lists == 1:
                value, pos = ndx.decode(data, pos)  # d's list is announced
                assert value <= -101
            continue
        seen[item.name] = item
    assert seen[b"f"].acl is not None
    assert seen[b"f"].acl.names == (U4325,)
    assert seen[b"f"].acl.mask_obj == 6
    d = seen[b"d"]
    assert d.acl is not None
    assert d.acl.names == (IdAccess(4326, 1),)
    assert d.def_acl is not None
    assert d.def_acl.names == (IdAccess(0, 5 | NAME_IS_USER),)
    if not inc:
        ids, _ = dec.decode_id_lists(data, pos)
        assert 4326 not in ids.gid_names  # an id without a name is not listed
