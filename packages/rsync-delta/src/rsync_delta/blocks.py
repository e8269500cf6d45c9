"""rsync's choice of block length and of strong-checksum bytes per block.

Pure arithmetic, no I/O. Protocols before 27 are not supported by this package (rsync 3.x
peers talk 27 and later here); `strong_length_for` still answers for them, with the fixed
lengths those versions used, because that costs nothing.
"""

from __future__ import annotations

from math import isqrt
from typing import Final

__all__ = [
    "BLOCKSUM_BIAS",
    "BLOCK_SIZE",
    "MAX_BLOCK_SIZE",
    "OLD_MAX_BLOCK_SIZE",
    "SHORT_SUM_LENGTH",
    "SUM_LENGTH",
    "block_length_for",
    "max_block_length",
    "strong_length_for",
]

BLOCK_SIZE: Final = 700
"""Smallest automatic block length, and the block length of files up to 700*700 bytes."""
MAX_BLOCK_SIZE: Final = 1 << 17
"""Largest block length from protocol 30 on."""
OLD_MAX_BLOCK_SIZE: Final = 1 << 29
"""Largest block length before protocol 30."""
SUM_LENGTH: Final = 16
"""Upper bound of the strong bytes per block (before the digest-size cap)."""
SHORT_SUM_LENGTH: Final = 2
"""Lower bound of the strong bytes per block in the first pass."""
BLOCKSUM_BIAS: Final = 10
"""Bias in the strong-length formula (rsync.h)."""


def max_block_length(protocol: int) -> int:
    """Return the largest block length a peer of this protocol accepts.

    rsync: io.c read_sum_head() (max_blength)
    """
    return OLD_MAX_BLOCK_SIZE if protocol < 30 else MAX_BLOCK_SIZE


def block_length_for(file_length: int, *, protocol: int, block_size: int | None = None) -> int:
    """Return the block length rsync's generator picks for a basis of `file_length` bytes.

    700 up to 490,000 bytes; above, the square root of the length rounded down to a
    multiple of 8, capped at 2**17 (protocol >= 30) or 2**29. rsync computes the root bit
    by bit from the top down to the bit of value 8; that is the same as ``isqrt(L) & ~7``
    (checked in the tests against a bitwise version on many lengths).

    Args:
        file_length: Length of the basis file, >= 0.
        protocol: Protocol version of the session.
        block_size: An explicit ``--block-size``; returned as is after a range check.

    Returns:
        The block length.

    Raises:
        ValueError: A negative length, or a block size outside 1..max for the protocol.

    rsync: generator.c sum_sizes_sqroot()
    """
    if file_length < 0:
        msg = f"file_length must be >= 0, got {file_length}"
        raise ValueError(msg)
    limit = max_block_length(protocol)
    if block_size:
        if not 0 < block_size <= limit:
            msg = f"block size {block_size} out of range 1..{limit} for protocol {protocol}"
            raise ValueError(msg)
        return block_size
    if file_length <= BLOCK_SIZE * BLOCK_SIZE:
        return BLOCK_SIZE
    return min(limit, max(BLOCK_SIZE, isqrt(file_length) & ~7))


def strong_length_for(
    file_length: int, block_length: int, *, protocol: int, digest_size: int, redo: bool = False
) -> int:
    """Return how many bytes of each block's strong sum rsync's generator sends (s2length).

    ``b = 10 + 2*floor(log2 L) - floor(log2 B)`` (not below 0), then
    ``(b - 24) / 8`` truncated, at least 2, at most ``min(16, digest_size)``; the redo pass
    uses ``min(16, digest_size)``. rsync before 3.5.0 capped at 16 only, which with an
    8-byte digest (xxh64, xxh3) asked for bytes that do not exist; 3.5.0 caps at the digest
    size and so does this function.

    Args:
        file_length: Length of the basis file.
        block_length: The block length in use.
        protocol: Protocol version; below 27 the fixed 2 (first pass) or 16 (redo) apply.
        digest_size: Digest length of the transfer checksum.
        redo: True in the redo phase (phase 2), which sends full-length sums.

    Returns:
        The strong bytes per block.

    rsync: generator.c sum_sizes_sqroot()
    """
    if protocol < 27:
        return SUM_LENGTH if redo else SHORT_SUM_LENGTH
    cap = min(SUM_LENGTH, digest_size)
    if redo:
        return cap
    bits = BLOCKSUM_BIAS + 2 * (file_length.bit_length() - 1 if file_length > 0 else 0)
    bits = max(0, bits - (block_length.bit_length() - 1 if block_length > 0 else 0))
    # C's integer division truncates toward zero; below 24 the result is raised to 2 anyway.
    length = (bits - 24) // 8 if bits >= 24 else 0
    return min(cap, max(SHORT_SUM_LENGTH, length))
