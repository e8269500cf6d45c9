from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_wire.errors import RemoteProtocolError, UnsupportedError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.sums import (
    MAX_BLOCK_SIZE,
    OLD_MAX_BLOCK_SIZE,
    SumHead,
    decode_block_sums,
    decode_sum_head,
    encode_block_sums_into,
)

if TYPE_CHECKING:
    import random

# (head, protocol, hex) — docs/protocol.md §10.4 and §10.12 (600 000-byte basis, xxh128).
HEAD_VECTORS = [
    (SumHead(0, 0, 0, 0), 32, "00000000" * 4),
    (SumHead(782, 768, 2, 192), 32, "0e0300000003000002000000c0000000"),
    (SumHead(3, 100000, 2, 0), 27, "03000000a08601000200000000000000"),
]


@pytest.mark.parametrize(("head", "protocol", "hexstr"), HEAD_VECTORS)
def test_sum_head_vectors(head: SumHead, protocol: int, hexstr: str) -> None:
    buf = bytearray(b"x")
    head.encode_into(buf, protocol=protocol)
    assert buf[1:].hex() == hexstr
    got, pos = decode_sum_head(bytes(buf), 1, protocol=protocol, digest_size=16)
    assert (got, pos) == (head, 17)


def test_empty_head_and_helpers() -> None:
    assert SumHead.empty() == SumHead(0, 0, 0, 0)
    h = SumHead(782, 768, 2, 192)
    assert h.table_size == 782 * 6
    assert h.block_size(0) == 768
    assert h.block_size(781) == 192
    assert SumHead(2, 700, 2, 0).block_size(1) == 700


def test_protocol_below_27_is_unsupported() -> None:
    with pytest.raises(UnsupportedError):
        SumHead(0, 0, 0, 0).encode_into(bytearray(), protocol=26)
    with pytest.raises(UnsupportedError):
        decode_sum_head(bytes(16), 0, protocol=26, digest_size=16)


def _head(count: int, blength: int, s2: int, rem: int) -> bytes:
    return struct.pack("<iiii", count, blength, s2, rem)


# (fields, protocol, digest_size, ok) — rsync 3.5.0 io.c read_sum_head() rules.
VALIDATION = [
    ((-1, 700, 2, 0), 32, 16, False),  # negative count
    ((1, -1, 2, 0), 32, 16, False),  # negative block length
    ((1, MAX_BLOCK_SIZE, 2, 0), 30, 16, True),
    ((1, MAX_BLOCK_SIZE + 1, 2, 0), 30, 16, False),  # 2**17 cap from protocol 30
    ((1, MAX_BLOCK_SIZE + 1, 2, 0), 29, 16, True),  # 2**29 below 30
    ((1, OLD_MAX_BLOCK_SIZE, 2, 0), 27, 16, True),
    ((1, OLD_MAX_BLOCK_SIZE + 1, 2, 0), 29, 16, False),
    ((1, 0, 2, 0), 32, 16, False),  # blocks of length zero
    ((0, 0, 0, 0), 32, 16, True),
    ((0, 700, 0, 0), 32, 16, True),
    ((1, 700, -1, 0), 32, 16, False),  # negative s2length
    ((1, 700, 16, 0), 32, 16, True),
    ((1, 700, 9, 0), 32, 8, False),  # longer than an 8-byte digest (CVE-2024-12085)
    ((1, 700, 8, 0), 32, 8, True),
    ((1, 700, 2, -1), 32, 16, False),  # negative remainder
    ((1, 700, 2, 700), 32, 16, True),  # remainder == blength is accepted
    ((1, 700, 2, 701), 32, 16, False),
]


@pytest.mark.parametrize(("fields", "protocol", "digest", "ok"), VALIDATION)
def test_sum_head_validation(
    fields: tuple[int, int, int, int], protocol: int, digest: int, ok: bool
) -> None:
    data = _head(*fields)
    if ok:
        head, pos = decode_sum_head(data, 0, protocol=protocol, digest_size=digest)
        assert (head.count, head.block_length, head.strong_length, head.remainder) == fields
        assert pos == 16
    else:
        with pytest.raises(RemoteProtocolError):
            decode_sum_head(data, 0, protocol=protocol, digest_size=digest)


def test_sum_head_need_more_data_and_early_rejection() -> None:
    data = _head(3, 700, 2, 5)
    for cut in range(16):
        with pytest.raises(NeedMoreData):
            decode_sum_head(data[:cut], 0, protocol=31, digest_size=16)
    # A bad count is reported before the rest of the header arrives.
    with pytest.raises(RemoteProtocolError):
        decode_sum_head(struct.pack("<i", -5), 0, protocol=31, digest_size=16)


@given(st.binary(min_size=0, max_size=40))
def test_sum_head_random_bytes(data: bytes) -> None:
    try:
        head, pos = decode_sum_head(data, 0, protocol=31, digest_size=16)
    except (NeedMoreData, RemoteProtocolError):
        return
    assert pos == 16
    assert head.count >= 0
    assert 0 <= head.block_length <= MAX_BLOCK_SIZE
    assert 0 <= head.strong_length <= 16
    assert 0 <= head.remainder <= head.block_length


def test_block_sums_vector() -> None:
    # §10.12: block 0 is c5 f9 ca a6 (sum1 0xA6CAF9C5) then the 2-byte strong sum b7 06.
    head = SumHead(2, 768, 2, 0)
    wire = bytes.fromhex("c5f9caa6b70601000000ffff")
    sum1, sum2, pos = decode_block_sums(wire, 0, head)
    assert sum1.dtype == np.uint32
    assert sum1.tolist() == [0xA6CAF9C5, 1]
    assert sum2 == bytes.fromhex("b706ffff")
    assert pos == 12
    out = bytearray()
    encode_block_sums_into(out, head, sum1, sum2)
    assert bytes(out) == wire
    # signed sum1 values are taken modulo 2**32
    out = bytearray()
    encode_block_sums_into(out, head, [0xA6CAF9C5 - 2**32, 1], sum2)
    assert bytes(out) == wire


def test_block_sums_need_more_data_and_sizes() -> None:
    head = SumHead(3, 700, 4, 0)
    wire = bytes(24)
    with pytest.raises(NeedMoreData):
        decode_block_sums(wire[:-1], 0, head)
    with pytest.raises(ValueError, match="rolling"):
        encode_block_sums_into(bytearray(), head, [1, 2], bytes(12))
    with pytest.raises(ValueError, match="strong"):
        encode_block_sums_into(bytearray(), head, [1, 2, 3], bytes(11))


def test_block_sums_zero_strong_length() -> None:
    head = SumHead(2, 700, 0, 0)
    out = bytearray()
    encode_block_sums_into(out, head, np.array([7, 0xFFFFFFFF], dtype=np.uint32), b"")
    assert out.hex() == "07000000ffffffff"
    sum1, sum2, pos = decode_block_sums(bytes(out), 0, head)
    assert sum1.tolist() == [7, 0xFFFFFFFF]
    assert (sum2, pos) == (b"", 8)


@given(
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=0, max_value=20),
    st.randoms(use_true_random=False),
)
def test_block_sums_round_trip(count: int, s2: int, rnd: random.Random) -> None:
    head = SumHead(count, 700, s2, 0)
    weak = [rnd.getrandbits(32) for _ in range(count)]
    strong = rnd.randbytes(count * s2)
    buf = bytearray(b"prefix")
    encode_block_sums_into(buf, head, weak, strong)
    assert len(buf) == 6 + head.table_size
    sum1, sum2, pos = decode_block_sums(memoryview(buf), 6, head)
    assert sum1.tolist() == weak
    assert sum2 == strong
    assert pos == len(buf)


def test_block_sums_large_table() -> None:
    # 200 000 blocks decode through one numpy view (no per-block Python work).
    n, s2 = 200_000, 16
    rng = np.random.default_rng(1)
    weak = rng.integers(0, 2**32, size=n, dtype=np.uint32)
    strong = rng.bytes(n * s2)
    head = SumHead(n, 131072, s2, 0)
    buf = bytearray()
    encode_block_sums_into(buf, head, weak, strong)
    sum1, sum2, pos = decode_block_sums(buf, 0, head)
    assert np.array_equal(sum1, weak)
    assert sum2 == strong
    assert pos == n * 20
    # The result owns its memory: the input buffer may be reused.
    buf[:4] = b"\0\0\0\0"
    assert sum1[0] == weak[0]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ((-1, 0, 0, 0), "Invalid checksum count -1 [receiver]"),
        ((1, 0, 16, 0), "Invalid zero block length [receiver]"),
        ((1, -3, 16, 0), "Invalid block length -3 [receiver]"),
        ((1, 700, 99, 0), "Invalid checksum length 99 [receiver]"),
        ((1, 700, 16, 701), "Invalid remainder length 701 [receiver]"),
    ],
)
def test_a_bad_sum_header_is_refused_in_rsyncs_words(
    fields: tuple[int, int, int, int], words: str
) -> None:
    """rsync: io.c read_sum_head(); its test suite looks for these words."""
    data = struct.pack("<4i", *fields)
    with pytest.raises(RemoteProtocolError) as info:
        decode_sum_head(data, 0, protocol=31, digest_size=16, who="receiver")
    assert str(info.value).startswith(words)
