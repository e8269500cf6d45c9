# ruff: noqa: S311  (seeded test data, not cryptography)
from __future__ import annotations

import random

import pytest

from rsync_delta.blocks import (
    BLOCK_SIZE,
    MAX_BLOCK_SIZE,
    OLD_MAX_BLOCK_SIZE,
    block_length_for,
    max_block_length,
    strong_length_for,
)


def bitwise_block_length(length: int, protocol: int) -> int:
    """generator.c sum_sizes_sqroot(): the root found bit by bit, as rsync does it."""
    if length <= BLOCK_SIZE * BLOCK_SIZE:
        return BLOCK_SIZE
    limit = OLD_MAX_BLOCK_SIZE if protocol < 30 else MAX_BLOCK_SIZE
    top = 1
    rest = length >> 2
    while rest:
        top <<= 1
        rest >>= 2
    if top >= limit:
        return limit
    blength = 0
    bit = top
    while bit >= 8:
        blength |= bit
        if length < blength * blength:
            blength &= ~bit
        bit >>= 1
    return max(blength, BLOCK_SIZE)


# Examples from docs/protocol.md §11.2 and §11.3.
@pytest.mark.parametrize(
    ("length", "blength", "s2length"),
    [
        (0, 700, 2),
        (1, 700, 2),
        (490_000, 700, 2),
        (490_001, 700, 2),
        (600_000, 768, 2),
        (10_000_000, 3160, 2),
        (1 << 30, 32768, 3),
        (16 << 30, 131072, 4),
        (1 << 40, 131072, 6),
    ],
)
def test_notes_examples(length: int, blength: int, s2length: int) -> None:
    assert block_length_for(length, protocol=31) == blength
    assert strong_length_for(length, blength, protocol=31, digest_size=16) == s2length


def test_closed_form_matches_bitwise_root() -> None:
    rng = random.Random(2024)
    lengths = [rng.randrange(1 << rng.randrange(1, 62)) for _ in range(20_000)]
    lengths += [n * n + d for n in range(690, 720) for d in (-1, 0, 1)]
    lengths += [(1 << 34) - 1, 1 << 34, (1 << 58) - 1, 1 << 58, (1 << 62) + 5]
    for length in lengths:
        for protocol in (29, 31):
            assert block_length_for(length, protocol=protocol) == bitwise_block_length(
                length, protocol
            ), (length, protocol)


def test_protocol_limits() -> None:
    assert max_block_length(29) == 1 << 29
    assert max_block_length(30) == 1 << 17
    assert block_length_for(1 << 40, protocol=29) == 1 << 20
    assert block_length_for(1 << 40, protocol=30) == 1 << 17


def test_explicit_block_size() -> None:
    assert block_length_for(10, protocol=31, block_size=8) == 8
    assert block_length_for(1 << 30, protocol=31, block_size=MAX_BLOCK_SIZE) == MAX_BLOCK_SIZE
    with pytest.raises(ValueError, match="out of range"):
        block_length_for(10, protocol=31, block_size=MAX_BLOCK_SIZE + 1)
    assert block_length_for(10, protocol=29, block_size=MAX_BLOCK_SIZE + 1) == MAX_BLOCK_SIZE + 1
    with pytest.raises(ValueError, match="file_length"):
        block_length_for(-1, protocol=31)


def test_strong_length_caps_at_digest_size() -> None:
    # 1 TiB would want 6 bytes; an 8-byte digest still allows that, a 4-byte one not.
    assert strong_length_for(1 << 40, 131072, protocol=31, digest_size=8) == 6
    assert strong_length_for(1 << 40, 131072, protocol=31, digest_size=4) == 4
    # The redo pass sends full sums: 16 bytes, but never more than the digest has.
    assert strong_length_for(1000, 700, protocol=31, digest_size=16, redo=True) == 16
    assert strong_length_for(1000, 700, protocol=31, digest_size=8, redo=True) == 8
    assert strong_length_for(1000, 700, protocol=31, digest_size=20, redo=True) == 16


def test_strong_length_small_blocks_and_old_protocols() -> None:
    # A tiny block on a big file: b = 10 + 2*30 - 0 = 70 -> (70-24)//8 = 5.
    assert strong_length_for(1 << 30, 1, protocol=31, digest_size=16) == 5
    assert strong_length_for(1 << 30, 1, protocol=27, digest_size=16) == 5
    assert strong_length_for(1 << 30, 1, protocol=26, digest_size=16) == 2
    assert strong_length_for(1 << 30, 1, protocol=26, digest_size=16, redo=True) == 16
