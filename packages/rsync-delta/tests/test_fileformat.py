from __future__ import annotations

import io
import struct
import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest

from rsync_delta.delta import delta
from rsync_delta.errors import PatchError, SignatureError
from rsync_delta.fileformat import (
    CHECKSUM_IDS,
    DELTA_MAGIC,
    SIGNATURE_MAGIC,
    DeltaReader,
    DeltaWriter,
    read_signature,
    write_signature,
)
from rsync_delta.hashes import ChecksumRule
from rsync_delta.ops import BlockMatch, LiteralData, Op
from rsync_delta.signature import signature

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DATA = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()


def sig_bytes(checksum: str = "xxh128", data: bytes = DATA) -> bytes:
    rule = ChecksumRule.plain(checksum)
    sig = signature(data, rule=rule, strong_length=rule.digest_size)
    out = io.BytesIO()
    write_signature(out, sig, checksum=checksum)
    return out.getvalue()


@pytest.mark.parametrize("checksum", sorted(CHECKSUM_IDS))
def test_signature_roundtrip(checksum: str) -> None:
    raw = sig_bytes(checksum)
    sig, rule = read_signature(io.BytesIO(raw))
    assert rule == ChecksumRule.plain(checksum)
    assert sig == signature(DATA, rule=rule, strong_length=rule.digest_size)


def test_signature_layout() -> None:
    raw = sig_bytes()
    assert raw[:4] == SIGNATURE_MAGIC
    assert raw[4:8] == bytes([1, CHECKSUM_IDS["xxh128"], 0, 0])
    assert struct.unpack_from("<IIQ", raw, 8) == (700, 16, 5000)
    assert len(raw) == 24 + 8 * (4 + 16) + 8
    empty = sig_bytes(data=b"")
    assert len(empty) == 24 + 8
    assert read_signature(io.BytesIO(empty))[0].count == 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "bad magic"),
        (lambda b: DELTA_MAGIC + b[4:], "this is a delta file"),
        (lambda b: b[:4] + b"\x02" + b[5:], "version 2"),
        (lambda b: b[:5] + b"\x63" + b[6:], "checksum id 99"),
        (lambda b: b[:6] + b"\x01" + b[7:], "reserved"),
        (lambda b: b[:8] + b"\0\0\0\0" + b[12:], "block length 0"),
        (lambda b: b[:12] + b"\x11" + b[13:], "exceeds"),
        (lambda b: b[:10], "truncated signature header"),
        (lambda b: b[:100], "truncated"),
        (lambda b: b[:-1], "truncated signature checksum"),
        (lambda b: b + b"\0", "trailing"),
        (lambda b: b[:50] + bytes([b[50] ^ 1]) + b[51:], "integrity"),
    ],
)
def test_bad_signature_files(mutate: Callable[[bytes], bytes], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        read_signature(io.BytesIO(mutate(sig_bytes())))


def delta_bytes(ops: list[Op], length: int = 7, digest: bytes = bytes(16)) -> bytes:
    out = io.BytesIO()
    writer = DeltaWriter(out, checksum="xxh128", block_length=700, basis_length=5000)
    writer.write(ops)
    writer.finish(length, digest)
    return out.getvalue()


def test_delta_roundtrip_and_layout() -> None:
    ops: list[Op] = [LiteralData(b"abc"), BlockMatch(2, 3), LiteralData(b"d" * 32768)]
    raw = delta_bytes(ops, 99, b"\x01" * 16)
    assert raw[:4] == DELTA_MAGIC
    assert struct.unpack_from("<IQ", raw, 8) == (700, 5000)
    assert raw[20:28] == b"\x01\x03\x00\x00\x00abc"
    reader = DeltaReader(io.BytesIO(raw))
    assert (reader.checksum, reader.block_length, reader.basis_length) == ("xxh128", 700, 5000)
    assert list(reader.ops()) == ops
    assert (reader.new_length, reader.digest) == (99, b"\x01" * 16)


def test_delta_writer_batches_large_output() -> None:
    rule = ChecksumRule.plain("xxh128")
    new = np.random.default_rng(2).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    sig = signature(b"", rule=rule)
    ops = list(delta(sig, new, rule))
    raw = delta_bytes(ops)
    assert list(DeltaReader(io.BytesIO(raw)).ops()) == ops


def test_delta_writer_rejects_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="unknown checksum"):
        DeltaWriter(io.BytesIO(), checksum="crc", block_length=1, basis_length=0)
    with pytest.raises(ValueError, match="block length"):
        DeltaWriter(io.BytesIO(), checksum="md5", block_length=0, basis_length=0)
    writer = DeltaWriter(io.BytesIO(), checksum="md5", block_length=1, basis_length=0)
    with pytest.raises(ValueError, match="literal of 32769"):
        writer.write([LiteralData(bytes(32769))])
    with pytest.raises(ValueError, match="literal of 0"):
        writer.write([LiteralData(b"")])
    with pytest.raises(ValueError, match="whole-file sum"):
        writer.finish(0, b"short")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"RSDX" + b[4:], "bad magic"),
        (lambda b: SIGNATURE_MAGIC + b[4:], "this is a signature file"),
        (lambda b: b[:4] + b"\x09" + b[5:], "version 9"),
        (lambda b: b[:5] + b"\x00" + b[6:], "checksum id 0"),
        (lambda b: b[:8] + b"\0\0\0\0" + b[12:], "block length 0"),
        (lambda b: b[:19], "truncated delta header"),
        (lambda b: b[:20], "no end record"),
        (lambda b: b[:22], "truncated literal length"),
        (lambda b: b[:25], "truncated literal data"),
        (lambda b: b[:20] + b"\x07" + b[21:], "unknown op tag 0x07"),
        (lambda b: b[:20] + b"\x01\x01\x80\x00\x00" + b[25:], "invalid literal length 32769"),
        (lambda b: b[:20] + b"\x01\x00\x00\x00\x00" + b[25:], "invalid literal length 0"),
        (lambda b: b[:-3], "truncated whole-file sum"),
        (lambda b: b + b"!", "trailing"),
    ],
)
def test_bad_delta_files(mutate: Callable[[bytes], bytes], message: str) -> None:
    raw = mutate(delta_bytes([LiteralData(b"hello"), BlockMatch(1)]))

    def read_all() -> None:
        list(DeltaReader(io.BytesIO(raw)).ops())

    with pytest.raises(PatchError, match=message):
        read_all()


def test_zero_block_copy_is_rejected() -> None:
    raw = delta_bytes([BlockMatch(1)])
    raw = raw[:25] + b"\0\0\0\0" + raw[29:]
    with pytest.raises(PatchError, match="copy of 0 blocks"):
        list(DeltaReader(io.BytesIO(raw)).ops())


@pytest.mark.parametrize("to_file", [False, True])
@pytest.mark.parametrize("chunk", [1000, 4 << 20])
def test_reader_patches_with_literals_read_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to_file: bool, chunk: int
) -> None:
    # Small output buffers make literals and copies straddle buffer boundaries.
    monkeypatch.setattr(sys.modules["rsync_delta.patch"], "_COPY_CHUNK", chunk)
    rule = ChecksumRule.plain("xxh128")
    basis = np.random.default_rng(3).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    new = basis[:5000] + bytes(range(256)) * 30 + basis[9000:] + b"end"
    sig = signature(basis, rule=rule, block_length=700, strong_length=16)
    raw = io.BytesIO()
    writer = DeltaWriter(raw, checksum="xxh128", block_length=700, basis_length=len(basis))
    writer.write(delta(sig, new, rule))
    whole = rule.file_hasher()
    whole.update(new)
    writer.finish(len(new), whole.digest())
    basis_path = tmp_path / "basis"
    basis_path.write_bytes(basis)
    reader = DeltaReader(io.BytesIO(raw.getvalue()))
    hasher = rule.file_hasher()
    with basis_path.open("rb") as b:
        if to_file:
            with (tmp_path / "out").open("wb") as out:
                written = reader.patch(b, out, hasher=hasher)
            result = (tmp_path / "out").read_bytes()
        else:
            buf = io.BytesIO()
            written = reader.patch(b, buf, hasher=hasher)
            result = buf.getvalue()
    assert result == new
    assert written == reader.new_length == len(new)
    assert hasher.digest() == reader.digest == whole.digest()


def test_reader_patch_reports_truncated_literals(tmp_path: Path) -> None:
    raw = delta_bytes([LiteralData(b"x" * 5000)])[:3000]
    (tmp_path / "basis").write_bytes(b"")
    with (tmp_path / "basis").open("rb") as b, (tmp_path / "out").open("wb") as out:
        reader = DeltaReader(io.BytesIO(raw))
        with pytest.raises(PatchError, match="truncated literal data"):
            reader.patch(b, out)
