# ruff: noqa: S311  (seeded test data, not cryptography)
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_delta.rolling import (
    RollingChecksum,
    WindowSums,
    block_weak_sums,
    weak_sum,
    weak_sums_at_every_offset,
)


def slow_weak_sum(data: bytes) -> int:
    """checksum.c get_checksum1(), one signed byte at a time, 32-bit wrapping."""
    s1 = s2 = 0
    for byte in data:
        signed = byte - 256 if byte >= 128 else byte
        s1 = (s1 + signed) & 0xFFFFFFFF
        s2 = (s2 + s1) & 0xFFFFFFFF
    return ((s1 & 0xFFFF) + (s2 << 16)) & 0xFFFFFFFF


def rsync_block(seed: int, n: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


def test_weak_sum_matches_real_rsync() -> None:
    # sum1 values printed by rsync 3.5.0 (--debug=deltasum3, "chunk[k] ... sum1=") for
    # this 2000-byte file with --block-size 700 (bytes >= 0x80 included).
    data = bytearray(rsync_block(42, 2000))
    data[1000:1010] = b"X" * 10
    assert weak_sum(data[0:700]) == 0xA503F9A5
    assert weak_sum(data[700:1400]) == 0xD20F07E2
    assert weak_sum(data[1400:2000]) == 0xD6340283
    assert list(block_weak_sums(bytes(data), 700)) == [0xA503F9A5, 0xD20F07E2, 0xD6340283]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"\x01", 0x0001_0001),
        (b"\x01\x02", 0x0004_0003),  # s1 = 3, s2 = 2*1 + 1*2
        (b"\xff", 0xFFFF_FFFF),  # -1: signed chars
        (b"\x80\x80", 0xFE80_FF00),  # s1 = -256, s2 = -384
        (b"\x7f" * 4, 0x04F6_01FC),  # s1 = 508, s2 = 1270
    ],
)
def test_weak_sum_vectors(data: bytes, expected: int) -> None:
    assert weak_sum(data) == expected
    assert slow_weak_sum(data) == expected


@given(st.binary(max_size=3000))
def test_weak_sum_matches_slow_reference(data: bytes) -> None:
    assert weak_sum(data) == slow_weak_sum(data)


def test_weak_sum_of_large_buffer_uses_pieces() -> None:
    data = np.random.default_rng(3).integers(0, 256, (1 << 20) + 12345, dtype=np.uint8).tobytes()
    # Reference via the concatenation rule on two halves computed independently.
    head, tail = data[:700_000], data[700_000:]
    a, b = slow_weak_sum(head[:1000]), slow_weak_sum(tail[-1000:])
    assert weak_sum(head[:1000]) == a
    assert weak_sum(tail[-1000:]) == b
    s1h, s2h = weak_sum(head) & 0xFFFF, weak_sum(head) >> 16
    s1t, s2t = weak_sum(tail) & 0xFFFF, weak_sum(tail) >> 16
    s1 = (s1h + s1t) & 0xFFFF
    s2 = (s2h + len(tail) * s1h + s2t) & 0xFFFF
    assert weak_sum(data) == s1 | (s2 << 16)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 100, 128, 129, 700, 1024, 1500, 8192, 9001])
def test_block_weak_sums(block: int) -> None:
    data = rsync_block(block, block * 3 + block // 2 + 1)
    expected = [slow_weak_sum(data[i : i + block]) for i in range(0, len(data), block)]
    assert block_weak_sums(data, block).tolist() == expected


@pytest.mark.parametrize("block", [1000, 4096, 1 << 20, (1 << 20) + 3])
def test_block_weak_sums_over_several_pieces(block: int) -> None:
    # more than one megabyte of whole blocks: summed a piece at a time
    data = np.random.default_rng(block).integers(0, 256, 3 * (1 << 20) + 777, np.uint8).tobytes()
    expected = [weak_sum(data[i : i + block]) for i in range(0, len(data), block)]
    assert block_weak_sums(data, block).tolist() == expected


def test_block_weak_sums_edge_cases() -> None:
    assert block_weak_sums(b"", 700).size == 0
    assert block_weak_sums(b"abc", 700).tolist() == [slow_weak_sum(b"abc")]
    assert block_weak_sums(b"abc", 700).dtype == np.uint32
    with pytest.raises(ValueError, match="block_length"):
        block_weak_sums(b"abc", 0)


@given(st.binary(max_size=600), st.integers(min_value=1, max_value=70))
def test_every_offset_matches_reference(data: bytes, block: int) -> None:
    got = weak_sums_at_every_offset(data, block)
    expected = [slow_weak_sum(data[a : a + block]) for a in range(len(data) - block + 1)]
    assert got.dtype == np.uint32
    assert got.tolist() == expected


def test_every_offset_long_buffer_in_steps() -> None:
    data = rsync_block(5, 300_000)
    got = weak_sums_at_every_offset(data, 700)
    assert got.size == 300_000 - 700 + 1
    for a in (0, 1, 4096, 262_143, 262_144, 262_145, got.size - 1):
        assert int(got[a]) == slow_weak_sum(data[a : a + 700])


def test_window_sums_reuses_and_checks_capacity() -> None:
    sums = WindowSums(8, max_offsets=16)
    x = np.frombuffer(rsync_block(1, 23), dtype=np.int8)
    assert sums.compute(x).tolist() == weak_sums_at_every_offset(x.tobytes(), 8).tolist()
    assert sums.compute(x[:7]).size == 0
    with pytest.raises(ValueError, match="exceed"):
        sums.compute(np.zeros(30, dtype=np.int8))


def test_rolling_checksum_roll_and_rollout() -> None:
    data = rsync_block(9, 2000)
    window = 100
    roll = RollingChecksum(data[:window])
    assert roll.value == slow_weak_sum(data[:window])
    assert roll.count == window
    for a in range(1, len(data) - window + 1):
        roll.roll(data[a - 1], data[a + window - 1])
        assert roll.value == slow_weak_sum(data[a : a + window])
    start = len(data) - window
    for a in range(start + 1, len(data) + 1):
        roll.rollout(data[a - 1])
        assert roll.value == slow_weak_sum(data[a:])
    assert roll.count == 0
    with pytest.raises(ValueError, match="empty"):
        roll.rollout(0)


def test_rolling_checksum_rollin_grows() -> None:
    data = rsync_block(11, 300)
    roll = RollingChecksum()
    for i, byte in enumerate(data):
        roll.rollin(byte)
        assert roll.value == slow_weak_sum(data[: i + 1])
