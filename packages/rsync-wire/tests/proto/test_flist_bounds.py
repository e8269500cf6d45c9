"""A sender that streams file-list entries without end meets --max-alloc."""

from __future__ import annotations

import pytest

from rsync_wire.errors import AllocationLimitError, ExitCode, LocalProtocolError
from rsync_wire.proto.constants import CF
from rsync_wire.proto.flist import FileEntry, FileListDecoder, FileListEncoder
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions


def _entries(n: int) -> bytes:
    session = Session(protocol=31, compat_flags=int(CF.VARINT_FLIST_FLAGS))
    enc = FileListEncoder(session, TransferOptions())
    buf = bytearray()
    for i in range(n):
        enc.encode_into(buf, FileEntry(name=b"d/f%07d" % i, mode=0o100644, size=i, mtime=1))
    return bytes(buf)


def _decode_all(data: bytes, options: TransferOptions) -> int:
    session = Session(protocol=31, compat_flags=int(CF.VARINT_FLIST_FLAGS))
    dec = FileListDecoder(session, options)
    pos = 0
    count = 0
    while pos < len(data):
        _, pos = dec.decode(data, pos)
        count += 1
    return count


def test_entries_past_max_alloc_are_refused() -> None:
    data = _entries(6000)
    with pytest.raises(AllocationLimitError, match=r"exceeded --max-alloc=1048576") as info:
        _decode_all(data, TransferOptions(alloc_limit=1 << 20))
    assert info.value.exit_code == ExitCode.MALLOC


def test_the_same_list_within_the_limit_decodes() -> None:
    assert _decode_all(_entries(6000), TransferOptions(alloc_limit=4 << 20)) == 6000


def test_the_decoder_stays_failed() -> None:
    session = Session(protocol=31, compat_flags=int(CF.VARINT_FLIST_FLAGS))
    dec = FileListDecoder(session, TransferOptions(alloc_limit=1 << 20))
    data = _entries(6000)
    pos = 0

    def decode_all() -> None:
        nonlocal pos
        while True:
            _, pos = dec.decode(data, pos)

    with pytest.raises(AllocationLimitError):
        decode_all()
    with pytest.raises(LocalProtocolError):
        dec.decode(data, pos)
