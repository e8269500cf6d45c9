from __future__ import annotations

import random
import struct
import tracemalloc
import zlib

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsync_wire.errors import LocalProtocolError, RemoteProtocolError, UnsupportedError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.tokens import (
    COMPRESSIONS,
    MAX_EVENT_DATA,
    MAX_PLAIN_LITERAL,
    BlockRef,
    EndOfFile,
    Literal,
    TokenDecoder,
    TokenEncoder,
    TokenEvent,
)

PROTOCOLS = range(27, 33)
METHODS = COMPRESSIONS


def rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def _i32(v: int) -> bytes:
    return struct.pack("<i", v)


def decode_all(
    dec: TokenDecoder,
    data: bytes,
    blocks: list[bytes] | None = None,
    *,
    count: int | None = None,
    pos: int = 0,
) -> tuple[list[TokenEvent], int]:
    """Decode one file; feeds see_block() with the referenced blocks."""
    dec.begin_file(block_count=len(blocks or []) if count is None else count)
    events: list[TokenEvent] = []
    while True:
        ev, pos = dec.decode(data, pos)
        events.append(ev)
        if isinstance(ev, BlockRef) and blocks is not None:
            for i in range(ev.index, ev.index + ev.count):
                dec.see_block(blocks[i])
        if isinstance(ev, EndOfFile):
            return events, pos


def rebuild(events: list[TokenEvent], blocks: list[bytes]) -> bytes:
    out = bytearray()
    for ev in events:
        if isinstance(ev, Literal):
            out += ev.data
        elif isinstance(ev, BlockRef):
            for i in range(ev.index, ev.index + ev.count):
                out += blocks[i]
    return bytes(out)


def normalized(events: list[TokenEvent]) -> list[tuple[str, object]]:
    """Literal data merged, runs expanded: what a receiver does with the events."""
    out: list[tuple[str, object]] = []
    for ev in events:
        if isinstance(ev, Literal):
            if not ev.data:
                continue
            if out and out[-1][0] == "L":
                prev = out[-1][1]
                assert isinstance(prev, bytes)
                out[-1] = ("L", prev + ev.data)
            else:
                out.append(("L", ev.data))
        elif isinstance(ev, BlockRef):
            out.extend(("B", i) for i in range(ev.index, ev.index + ev.count))
        else:
            out.append(("E", None))
    return out


# -- plain stream vectors (docs/protocol.md §10.6) -------------------------------------------------


def test_plain_hello_capture() -> None:
    # §10.6 / Appendix B: new 6-byte file "hello\n".
    wire = bytes.fromhex("06000000") + b"hello\n" + bytes.fromhex("00000000")
    enc = TokenEncoder(None, protocol=32)
    buf = bytearray()
    enc.begin_file()
    enc.literal_into(buf, b"hello\n")
    enc.end_into(buf)
    assert bytes(buf) == wire
    events, pos = decode_all(TokenDecoder(None, protocol=32), wire)
    assert events == [Literal(b"hello\n"), EndOfFile()]
    assert pos == len(wire)


def test_plain_chunks_and_blocks() -> None:
    data = bytes(range(256)) * 274  # 70 144 bytes -> 32768 + 32768 + 4608
    enc = TokenEncoder("none", protocol=30)
    buf = bytearray()
    enc.begin_file()
    enc.block_into(buf, 0)
    enc.literal_into(buf, memoryview(data))
    enc.block_into(buf, 5, b"ignored")
    enc.block_into(buf, 5)
    enc.end_into(buf)
    expected = (
        bytes.fromhex("ffffffff")
        + _i32(32768)
        + data[:32768]
        + _i32(32768)
        + data[32768:65536]
        + _i32(4608)
        + data[65536:]
        + bytes.fromhex("fafffffffaffffff00000000")
    )
    assert bytes(buf) == expected
    events, _ = decode_all(TokenDecoder(None, protocol=30), expected, count=6)
    assert events == [
        BlockRef(0),
        Literal(data[:32768]),
        Literal(data[32768:65536]),
        Literal(data[65536:]),
        BlockRef(5),
        BlockRef(5),
        EndOfFile(),
    ]


def test_plain_decoder_accepts_long_literals_in_pieces() -> None:
    # rsync 3.5.0 accepts literal tokens above 32 KiB (gokrazy sends 256 KiB): we hand
    # them out in 32 KiB pieces.
    data = rng(3).randbytes(256 * 1024 + 5)
    wire = _i32(len(data)) + data + _i32(0)
    events, pos = decode_all(TokenDecoder(None, protocol=31), wire)
    assert pos == len(wire)
    assert [len(e.data) for e in events if isinstance(e, Literal)] == [32768] * 8 + [5]
    assert rebuild(events, []) == data


@pytest.mark.parametrize(
    ("wire", "count", "match"),
    [
        (_i32(MAX_PLAIN_LITERAL + 1), 0, "longer than"),
        (_i32(-1), 0, "beyond"),  # block 0 of a whole-file transfer
        (_i32(-4), 3, "beyond"),  # block 3 of 3
        (_i32(-(2**31)), 10, "beyond"),
    ],
)
def test_plain_decoder_rejects(wire: bytes, count: int, match: str) -> None:
    dec = TokenDecoder(None, protocol=31)
    dec.begin_file(block_count=count)
    with pytest.raises(RemoteProtocolError, match=match):
        dec.decode(wire + bytes(MAX_PLAIN_LITERAL + 8), 0)
    with pytest.raises(LocalProtocolError):
        dec.decode(wire, 0)


def test_plain_max_literal_is_configurable() -> None:
    data = bytes(2 * MAX_PLAIN_LITERAL)
    wire = _i32(len(data)) + data + _i32(0)
    events, _ = decode_all(TokenDecoder(None, protocol=31, max_literal=2 * MAX_PLAIN_LITERAL), wire)
    assert rebuild(events, []) == data


# -- compressed framing vectors (§12.2) ---------------------------------------------------------


def _tokens_only(method: str, indexes: list[int]) -> bytes:
    enc = TokenEncoder(method, protocol=31)
    buf = bytearray()
    enc.begin_file()
    for i in indexes:
        enc.block_into(buf, i, bytes(10))
    enc.end_into(buf)
    return bytes(buf)


@pytest.mark.parametrize("method", ["zlib", "zlibx", "zstd", "lz4"])
@pytest.mark.parametrize(
    ("indexes", "hexstr"),
    [
        ([], "00"),
        ([0], "8000"),
        ([5], "8500"),
        ([63], "bf00"),
        ([64], "204000000000"),  # distance 64 needs the long form
        ([0, 1, 2], "c0020000"),  # run 0..2
        ([3, 3], "838000"),  # repeated index: distance 0
        ([10, 5], "8a200500000000"),  # backwards: long form
        ([10, 11, 5, 6], "ca01002105000000010000"),
        ([2, 3, 4, 70, 72], "c2020020460000008200"),
    ],
)
def test_compressed_token_vectors(method: str, indexes: list[int], hexstr: str) -> None:
    wire = _tokens_only(method, indexes)
    assert wire.hex() == hexstr
    events, pos = decode_all(TokenDecoder(method, protocol=31), wire, count=100)
    assert pos == len(wire)
    assert normalized(events) == [("B", i) for i in indexes] + [("E", None)]


def test_longest_run_is_65536_blocks() -> None:
    wire = _tokens_only("zstd", list(range(65538)))
    # blocks 0..65535 (run 65535), then 65536..65537 relative to 65535.
    assert wire.hex() == "c0ffffc1010000"
    events, _ = decode_all(TokenDecoder("zstd", protocol=31), wire, count=65538)
    assert events == [BlockRef(0, 65536), BlockRef(65536, 2), EndOfFile()]


def _capture_stream(method: str, level: int | None = None) -> tuple[bytes, bytes, list[bytes]]:
    """The delta of §10.12/§12.6: 782 blocks of 768 bytes, block 390 changed."""
    rnd = rng(1)
    literal = rnd.randbytes(768)
    blocks = [rnd.randbytes(768) for _ in range(782)]
    enc = TokenEncoder(method, protocol=32, level=level)
    buf = bytearray()
    enc.begin_file()
    for i in range(390):
        enc.block_into(buf, i, blocks[i])
    enc.literal_into(buf, literal)
    for i in range(391, 782):
        enc.block_into(buf, i, blocks[i])
    enc.end_into(buf)
    return bytes(buf), literal, blocks


def test_zstd_capture_framing() -> None:
    # §10.12: c0 85 01 (blocks 0..389), 43 09 <777 bytes> (zstd frame starts here),
    # c2 86 01 (blocks 391..781), 00.
    wire, literal, blocks = _capture_stream("zstd")
    assert wire[:3].hex() == "c08501"
    assert wire[3] == 0x43
    n = ((wire[3] & 0x3F) << 8) | wire[4]
    assert n == 777  # the same size as rsync's own output for this delta
    assert wire[5:9] == bytes.fromhex("28b52ffd")  # zstd frame magic, once per session
    assert wire[5 + n :].hex() == "c2860100"
    events, _ = decode_all(TokenDecoder("zstd", protocol=32), wire, blocks)
    assert events == [BlockRef(0, 390), Literal(literal), BlockRef(391, 391), EndOfFile()]


@pytest.mark.parametrize("level", [0, None])
def test_zlib_capture_bytes(level: int | None) -> None:
    # §12.6: the DEFLATED_DATA is a stored block 00 | 00 03 | ff fc | 768 bytes, then the
    # 00 of the sync flush's empty stored block whose 00 00 ff ff is stripped.
    wire, literal, _ = _capture_stream("zlib", level)
    expected = bytes.fromhex("c085014306000003fffc") + literal + bytes.fromhex("00c2860100")
    assert wire == expected


@pytest.mark.parametrize("method", ["zlib", "zlibx"])
def test_zlib_capture_decodes(method: str) -> None:
    rnd = rng(7)
    literal = rnd.randbytes(768)
    blocks = [rnd.randbytes(768) for _ in range(782)]
    wire = bytes.fromhex("c085014306000003fffc") + literal + bytes.fromhex("00c2860100")
    events, pos = decode_all(TokenDecoder(method, protocol=32), wire, blocks)
    assert pos == len(wire)
    assert events == [BlockRef(0, 390), Literal(literal), BlockRef(391, 391), EndOfFile()]
    # The 774 bytes plus the restored 00 00 ff ff inflate to exactly the 768 bytes.
    assert zlib.decompressobj(-15).decompress(wire[5:779] + b"\x00\x00\xff\xff") == literal


def test_deflated_data_pieces_are_full() -> None:
    # Literal bytes are accumulated: DEFLATED_DATA pieces are 16 383 bytes but the last.
    data = rng(2).randbytes(100_000)
    for method in ("zlib", "zlibx", "zstd", "lz4"):
        enc = TokenEncoder(method, protocol=31)
        buf = bytearray()
        enc.begin_file()
        for i in range(0, len(data), 1000):
            enc.literal_into(buf, data[i : i + 1000])
        enc.end_into(buf)
        sizes = []
        pos = 0
        while buf[pos] != 0:
            assert buf[pos] & 0xC0 == 0x40
            n = ((buf[pos] & 0x3F) << 8) | buf[pos + 1]
            sizes.append(n)
            pos += 2 + n
        assert pos == len(buf) - 1
        assert all(0 < n <= 16383 for n in sizes)
        if method != "lz4":  # lz4 halves pieces of incompressible input
            assert all(n == 16383 for n in sizes[:-1]), method
        events, _ = decode_all(TokenDecoder(method, protocol=31), bytes(buf))
        assert rebuild(events, []) == data


def test_lz4_halves_incompressible_input() -> None:
    data = rng(4).randbytes(16383)
    enc = TokenEncoder("lz4", protocol=31)
    buf = bytearray()
    enc.begin_file()
    enc.literal_into(buf, data)
    enc.end_into(buf)
    # 16 383 random bytes compress to more than 16 383: sent as 8191 + 8192 input bytes.
    events, _ = decode_all(TokenDecoder("lz4", protocol=31), bytes(buf))
    assert [len(e.data) for e in events if isinstance(e, Literal)] == [8191, 8192]


# -- zlib dictionary insert and the protocol < 31 duplicate bug (§12.3) ---------------------------


def _history_delta(protocol: int) -> tuple[bytes, list[bytes], bytes]:
    # One 100 000-byte block, then literal bytes that only the zlib history can match:
    # block[85000:95000] is in the last 32 KiB when blocks are inserted as they are
    # (P >= 31), block[20000:30000] when every 65 535-byte piece restarts at the block's
    # start (P < 31: history ends with block[:65535] + block[:34465]).
    rnd = rng(9)
    block = rnd.randbytes(100_000)
    literal = block[85000:95000] + block[20000:30000]
    enc = TokenEncoder("zlib", protocol=protocol)
    buf = bytearray()
    enc.begin_file()
    enc.block_into(buf, 0, block)
    enc.literal_into(buf, literal)
    enc.end_into(buf)
    return bytes(buf), [block], literal


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_zlib_history_insert_follows_protocol(protocol: int) -> None:
    wire, blocks, literal = _history_delta(protocol)
    # Half of the literal is found in the history, so it compresses to ~10 KB.
    assert len(wire) < 12_000
    events, _ = decode_all(TokenDecoder("zlib", protocol=protocol), wire, blocks)
    assert rebuild(events, blocks) == blocks[0] + literal
    # The other insert rule gives a different history: the literal decodes wrong.
    other = 31 if protocol < 31 else 30
    events, _ = decode_all(TokenDecoder("zlib", protocol=other), wire, blocks)
    assert rebuild(events, blocks) != blocks[0] + literal


def test_zlibx_has_no_history_insert() -> None:
    block = rng(9).randbytes(50_000)
    literal = block[-20000:]
    enc = TokenEncoder("zlibx", protocol=31)
    buf = bytearray()
    enc.begin_file()
    enc.block_into(buf, 0)
    enc.literal_into(buf, literal)
    enc.end_into(buf)
    assert len(buf) > 20_000  # nothing to refer back to
    dec = TokenDecoder("zlibx", protocol=31)
    events, _ = decode_all(dec, bytes(buf), [block])  # see_block() is a no-op here
    assert rebuild(events, [block]) == block + literal


# -- round trips ---------------------------------------------------------------------------


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[bytes], list[list[tuple[str, object]]]]:
    """Basis blocks and, per file, a list of ("L", bytes) / ("B", index) operations."""
    seed = draw(st.integers(0, 2**32 - 1))
    rnd = rng(seed)
    blength = draw(st.sampled_from([1, 700, 4096, 70_000]))  # > 65 535: duplicate bug
    nblocks = draw(st.integers(0, 6))
    blocks = [rnd.randbytes(blength) for _ in range(nblocks)]
    short_last = draw(st.booleans())
    if blocks and short_last:
        blocks[-1] = blocks[-1][: rnd.randint(1, blength)]  # a short last block
    files = []
    for _ in range(draw(st.integers(1, 3))):
        ops: list[tuple[str, object]] = []
        for _ in range(draw(st.integers(0, 12))):
            kind = draw(st.sampled_from(["random", "zeros", "basis", "block", "run"]))
            size = draw(st.sampled_from([1, 5, 100, 16383, 16384, 32768, 32769, 70_000]))
            if kind == "random":
                ops.append(("L", rnd.randbytes(size)))
            elif kind == "zeros":
                ops.append(("L", bytes(size)))
            elif kind == "basis" and blocks:
                whole = b"".join(blocks)
                start = rnd.randrange(len(whole))
                ops.append(("L", whole[start : start + size]))
            elif kind == "block" and blocks:
                ops.append(("B", rnd.randrange(nblocks)))
            elif kind == "run" and blocks:
                start = rnd.randrange(nblocks)
                ops.extend(("B", i) for i in range(start, rnd.randint(start, nblocks - 1) + 1))
        files.append(ops)
    return blocks, files


def encode_session(
    method: str, protocol: int, blocks: list[bytes], files: list[list[tuple[str, object]]]
) -> list[bytes]:
    enc = TokenEncoder(method, protocol=protocol)
    out = []
    for ops in files:
        buf = bytearray()
        enc.begin_file()
        for kind, value in ops:
            if kind == "L":
                assert isinstance(value, bytes)
                enc.literal_into(buf, memoryview(value))
            else:
                assert isinstance(value, int)
                enc.block_into(buf, value, memoryview(blocks[value]))
        enc.end_into(buf)
        out.append(bytes(buf))
    return out


def expected_ops(ops: list[tuple[str, object]]) -> list[tuple[str, object]]:
    merged: list[tuple[str, object]] = []
    for kind, value in ops:
        if kind == "L":
            assert isinstance(value, bytes)
            if not value:
                continue
            if merged and merged[-1][0] == "L":
                prev = merged[-1][1]
                assert isinstance(prev, bytes)
                merged[-1] = ("L", prev + value)
                continue
        merged.append((kind, value))
    return [*merged, ("E", None)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sessions())
def test_round_trip(
    method: str,
    protocol: int,
    session: tuple[list[bytes], list[list[tuple[str, object]]]],
) -> None:
    blocks, files = session
    streams = encode_session(method, protocol, blocks, files)
    dec = TokenDecoder(method, protocol=protocol)
    for ops, wire in zip(files, streams, strict=True):
        events, pos = decode_all(dec, wire, blocks)
        assert pos == len(wire)
        assert normalized(events) == expected_ops(ops)
        assert all(len(e.data) <= MAX_EVENT_DATA for e in events if isinstance(e, Literal))
        if method == "none":
            assert all(len(e.data) <= 32768 for e in events if isinstance(e, Literal))
        else:
            assert all(e.count <= 65536 for e in events if isinstance(e, BlockRef))


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=40, deadline=None)
@given(session=sessions(), data=st.data())
def test_split_feeding_gives_the_same_events(
    method: str,
    session: tuple[list[bytes], list[list[tuple[str, object]]]],
    data: st.DataObject,
) -> None:
    blocks, files = session
    wire = b"".join(encode_session(method, 31, blocks, files))
    reference = TokenDecoder(method, protocol=31)
    expected: list[TokenEvent] = []
    pos = 0
    for _ in files:
        events, pos = decode_all(reference, wire, blocks, pos=pos)
        expected += events
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=30)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    dec = TokenDecoder(method, protocol=31)
    buf = bytearray()
    got: list[TokenEvent] = []
    pos = 0
    in_file = False
    while len(got) < len(expected):
        if not in_file:
            dec.begin_file(block_count=len(blocks))
            in_file = True
        try:
            ev, pos = dec.decode(buf, pos)
        except NeedMoreData:
            assert pieces, "decoder wants more than the whole stream"
            buf += pieces.pop(0)
            continue
        got.append(ev)
        if isinstance(ev, BlockRef):
            for i in range(ev.index, ev.index + ev.count):
                dec.see_block(blocks[i])
        elif isinstance(ev, EndOfFile):
            in_file = False
    assert got == expected
    assert pos == len(wire)


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), count=st.integers(0, 70), blength=st.integers(1, 300))
def test_random_bytes_only_raise_protocol_errors(
    method: str, data: bytes, count: int, blength: int
) -> None:
    dec = TokenDecoder(method, protocol=30)
    pos = 0
    try:
        while True:
            dec.begin_file(block_count=count)
            while True:
                ev, pos = dec.decode(data, pos)
                if isinstance(ev, BlockRef):
                    assert ev.index >= 0
                    assert ev.index + ev.count <= count
                    for _ in range(ev.count):
                        dec.see_block(bytes(blength))
                elif isinstance(ev, EndOfFile):
                    break
    except (NeedMoreData, RemoteProtocolError):
        pass


@pytest.mark.parametrize("method", ["zlib", "zlibx", "zstd", "lz4"])
@settings(max_examples=100, deadline=None)
@given(session=sessions(), data=st.data())
def test_corrupted_streams_only_raise_protocol_errors(
    method: str,
    session: tuple[list[bytes], list[list[tuple[str, object]]]],
    data: st.DataObject,
) -> None:
    blocks, files = session
    wire = bytearray(b"".join(encode_session(method, 30, blocks, files)))
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] ^= data.draw(st.integers(1, 255))
    dec = TokenDecoder(method, protocol=30)
    pos = 0
    try:
        for _ in files:
            _, pos = decode_all(dec, bytes(wire), blocks, pos=pos)
    except (NeedMoreData, RemoteProtocolError):
        pass


def _compressed(method: str) -> TokenDecoder:
    dec = TokenDecoder(method, protocol=31)
    dec.begin_file(block_count=10)
    return dec


@pytest.mark.parametrize(
    ("method", "wire", "match"),
    [
        ("zstd", b"\x01", "invalid flag"),
        ("zstd", b"\x3f", "invalid flag"),
        ("lz4", b"\x20\xff\xff\xff\xff", "negative"),
        ("zlib", b"\xc0\x00\x00", "empty token run"),
        ("zlib", b"\x21\x00\x00\x00\x00\x00\x00", "empty token run"),
        ("zlibx", b"\x8a", "beyond"),  # block 10 of 10
        ("zlibx", b"\xc5\x05\x00", "beyond"),  # blocks 5..10 of 10
        ("zlib", b"\x20\x0a\x00\x00\x00", "beyond"),
        ("zlib", b"\x40\x00", "empty DEFLATED_DATA"),
        ("lz4", b"\x40\x00", "empty DEFLATED_DATA"),
        ("zlib", b"\x40\x03\xff\xff\xff", "corrupt zlib"),
        ("zstd", b"\x40\x04garb", "corrupt zstd"),
        ("lz4", b"\x40\x02\xff\xff", "corrupt lz4"),
    ],
)
def test_compressed_decoder_rejects(method: str, wire: bytes, match: str) -> None:
    dec = _compressed(method)
    with pytest.raises(RemoteProtocolError, match=match):  # noqa: PT012 - until it fails
        for _ in range(5):
            dec.decode(wire, 0)
    with pytest.raises(LocalProtocolError, match="after a protocol error"):
        dec.decode(wire, 0)


def test_zlib_final_block_and_missing_sync_are_rejected() -> None:
    # A deflate stream that ends (BFINAL) inside the token stream.
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    final = comp.compress(b"abc") + comp.flush(zlib.Z_FINISH)
    dec = _compressed("zlib")
    with pytest.raises(RemoteProtocolError, match="final block"):
        dec.decode(bytes((0x40, len(final))) + final, 0)
    # Data not ended by a sync flush: the restored 00 00 ff ff does not fit.
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    partial = comp.compress(b"abc" * 100) + comp.flush(zlib.Z_FULL_FLUSH)
    partial += comp.compress(b"xyz" * 50) + comp.flush(zlib.Z_PARTIAL_FLUSH)
    wire = bytes((0x40, len(partial))) + partial + b"\x00"
    dec = _compressed("zlib")
    with pytest.raises(RemoteProtocolError):  # noqa: PT012 - decode until it fails
        pos = 0
        for _ in range(10):
            _, pos = dec.decode(wire, pos)


def test_usage_errors() -> None:
    with pytest.raises(UnsupportedError):
        TokenEncoder("brotli", protocol=31)
    with pytest.raises(UnsupportedError):
        TokenDecoder("gzip", protocol=31)
    enc = TokenEncoder("zlib", protocol=31)
    with pytest.raises(LocalProtocolError):
        enc.literal_into(bytearray(), b"x")
    with pytest.raises(LocalProtocolError):
        enc.end_into(bytearray())
    enc.begin_file()
    with pytest.raises(LocalProtocolError):
        enc.begin_file()
    with pytest.raises(LocalProtocolError, match="matched block"):
        enc.block_into(bytearray(), 0)
    with pytest.raises(LocalProtocolError, match="out of range"):
        enc.block_into(bytearray(), -1, b"")
    dec = TokenDecoder("zlib", protocol=31)
    with pytest.raises(LocalProtocolError):
        dec.decode(b"\x00", 0)
    with pytest.raises(LocalProtocolError):
        dec.see_block(b"x")
    with pytest.raises(LocalProtocolError):
        dec.begin_file(block_count=-1)
    dec.begin_file(block_count=0)
    with pytest.raises(LocalProtocolError):
        dec.begin_file(block_count=0)
    assert dec.decode(b"\x00", 0) == (EndOfFile(), 1)
    assert TokenEncoder(None, protocol=30).compression == "none"
    assert TokenDecoder("lz4", protocol=30).compression == "lz4"
    assert TokenEncoder("zlib", protocol=30).level == 6
    assert TokenEncoder("zlib", protocol=30, level=0).level == 0
    assert TokenEncoder("zstd", protocol=30).level == 3


def test_need_more_data_consumes_nothing() -> None:
    blocks = [bytes([i]) * 100 for i in range(4)]
    for method in METHODS:
        wire = encode_session(
            method,
            31,
            blocks,
            [[("B", 0), ("B", 1), ("L", b"hello" * 300), ("B", 3), ("B", 2)]],
        )[0]
        dec = TokenDecoder(method, protocol=31)
        dec.begin_file(block_count=4)
        pos = 0
        seen: list[TokenEvent] = []
        for end in range(len(wire) + 1):
            while not seen or not isinstance(seen[-1], EndOfFile):
                try:
                    ev, pos = dec.decode(wire[:end], pos)
                except NeedMoreData:
                    break
                seen.append(ev)
                if isinstance(ev, BlockRef):
                    for i in range(ev.index, ev.index + ev.count):
                        dec.see_block(blocks[i])
        assert isinstance(seen[-1], EndOfFile)
        assert (
            rebuild(seen, blocks) == blocks[0] + blocks[1] + b"hello" * 300 + blocks[3] + blocks[2]
        )


# -- output bounds (a decompression bomb is streamed, not refused) -----------------------------


@pytest.mark.parametrize("method", ["zlib", "zstd"])
def test_highly_compressed_data_is_streamed(method: str) -> None:
    size = 48 << 20
    enc = TokenEncoder(method, protocol=31)
    wire = bytearray()
    enc.begin_file()
    enc.literal_into(wire, bytes(size))
    enc.end_into(wire)
    assert len(wire) < size // 500
    dec = TokenDecoder(method, protocol=31)
    dec.begin_file(block_count=0)
    tracemalloc.start()
    try:
        total = 0
        pos = 0
        while True:
            ev, pos = dec.decode(wire, pos)
            if isinstance(ev, EndOfFile):
                break
            assert isinstance(ev, Literal)
            assert len(ev.data) <= MAX_EVENT_DATA
            total += len(ev.data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 40 << 20  # zstd: <= 32 KiB of output per compressed byte fed, 1 KiB at a time


def test_zstd_context_lives_for_the_session() -> None:
    enc = TokenEncoder("zstd", protocol=32)
    text = b"the same sentence again and again. " * 200
    streams = []
    for _ in range(2):
        buf = bytearray()
        enc.begin_file()
        enc.literal_into(buf, text)
        enc.end_into(buf)
        streams.append(bytes(buf))
    assert streams[0][2:6] == bytes.fromhex("28b52ffd")
    assert bytes.fromhex("28b52ffd") not in streams[1]  # no second frame header
    assert len(streams[1]) < len(streams[0])  # refers back into the first file
    # A fresh decoder cannot read the second file alone; the session's decoder can.
    dec = TokenDecoder("zstd", protocol=32)
    for wire in streams:
        events, _ = decode_all(dec, wire)
        assert rebuild(events, []) == text
    with pytest.raises(RemoteProtocolError):
        decode_all(TokenDecoder("zstd", protocol=32), streams[1])


def test_zstd_decoder_reads_across_frames() -> None:
    # Another implementation might end frames; rsync's decompressor reads on.
    parts = [b"first file " * 10, b"second file " * 10]
    wire = bytearray()
    for part in parts:
        frame = zstandard.ZstdCompressor().compress(part)
        wire += bytes((0x40 | (len(frame) >> 8), len(frame) & 0xFF)) + frame
    wire.append(0)
    events, _ = decode_all(TokenDecoder("zstd", protocol=31), bytes(wire))
    assert rebuild(events, []) == b"".join(parts)
