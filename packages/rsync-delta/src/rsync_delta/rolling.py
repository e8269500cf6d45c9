"""rsync's weak rolling checksum ("sum1"), scalar and vectorised.

For a window x[0..L) of bytes taken as *signed* chars (rsync's CHAR_OFFSET is 0)::

    s1 = x[0] + ... + x[L-1]
    s2 = L*x[0] + (L-1)*x[1] + ... + 1*x[L-1]
    sum1 = (s1 mod 2**16) | (s2 mod 2**16) << 16

Only the low 16 bits of s1 and s2 survive, so the vectorised code works modulo 2**16
(or in wrapping int64, whose low bits are the same): no per-byte Python loop anywhere.

How the vectorised forms work:

* Weak sums of consecutive aligned blocks (`block_weak_sums`): with t = R*h + l inside
  a block, ``sum t*x[t] = R * sum_h h*rowsum[h] + sum_l l*colsum[l]``, where the block is
  viewed as an (H, R) matrix; the row and column sums are cheap numpy reductions, and
  ``s2 = L*s1 - sum t*x[t]``.
* Weak sums of the window at every offset (`weak_sums_at_every_offset`): with prefix
  sums c1 of x and c2 of c1, the window starting at a has ``s1 = c1[a+L] - c1[a]`` and
  ``s2 = c2[a+L] - c2[a] - L*c1[a]``; two cumulative sums and a few differences.

No I/O here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from rsync_delta._types import Buffer

__all__ = [
    "RollingChecksum",
    "WindowSums",
    "block_weak_sums",
    "weak_sum",
    "weak_sums_at_every_offset",
]

_M16: Final = 0xFFFF
# Offsets handled per pass by the every-offset routine: large enough to amortise numpy's
# per-call cost, small enough for its int64 temporaries to stay in the CPU caches.
_EVERY_OFFSET_STEP: Final = 1 << 18
_BLOCKS_AT: Final = 1 << 20  # block_weak_sums(): bytes of whole blocks summed at a time


def _int8(data: Buffer) -> npt.NDArray[np.int8]:
    return np.frombuffer(memoryview(data), dtype=np.int8)


def _sums16(
    x: npt.NDArray[np.int8], count: int, length: int
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    """Return (s1, s2) modulo 2**16 for `count` consecutive blocks of `length` bytes."""
    if length <= 128:
        width = length
    elif length < 1024:
        width = 64
    elif length < 8192:
        width = 256
    else:
        width = 1024
    rows = -(-length // width)
    padded = rows * width
    mat = x[: count * length].reshape(count, length)
    if padded != length:
        # Zero bytes at the end of a block change neither s1 nor sum(t * x[t]).
        tmp = np.zeros((count, padded), dtype=np.int8)
        tmp[:, :length] = mat
        mat = tmp
    cube = mat.reshape(count, rows, width)
    row_sums = cube.sum(axis=2, dtype=np.int16).view(np.uint16)
    col_sums = cube.sum(axis=1, dtype=np.int16).view(np.uint16)
    s1 = row_sums.sum(axis=1, dtype=np.uint16)
    row_w = (np.arange(rows, dtype=np.int64) & _M16).astype(np.uint16)
    col_w = np.arange(width, dtype=np.uint16)
    moment = (row_sums * row_w).sum(axis=1, dtype=np.uint16) * np.uint16(width)
    moment += (col_sums * col_w).sum(axis=1, dtype=np.uint16)
    s2 = s1 * np.uint16(length & _M16) - moment
    return s1, s2


def _combine(s1: npt.NDArray[np.uint16], s2: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint32]:
    out = s2.astype(np.uint32)
    out <<= 16
    out |= s1
    return out


def weak_sum(data: Buffer) -> int:
    """Return rsync's weak checksum of `data` (bytes taken as signed chars).

    Args:
        data: The block; any length, including 0 (whose sum is 0).

    Returns:
        The 32-bit sum1, as rsync sends it (an unsigned int here).

    rsync: checksum.c get_checksum1()
    """
    return _weak_sum(_int8(data))


def _weak_sum(x: npt.NDArray[np.int8]) -> int:
    n = x.size
    s1 = 0
    s2 = 0
    step = 1 << 20
    # Whole-buffer sum built from pieces: appending a piece P of length p to a prefix with
    # sums (s1, s2) gives (s1 + s1P, s2 + p*s1 + s2P), all modulo 2**16.
    for start in range(0, n, step):
        piece = x[start : start + step]
        p1, p2 = _sums16(piece, 1, piece.size)
        s2 = (s2 + piece.size * s1 + int(p2[0])) & _M16
        s1 = (s1 + int(p1[0])) & _M16
    return s1 | (s2 << 16)


def block_weak_sums(data: Buffer, block_length: int) -> npt.NDArray[np.uint32]:
    """Return the weak sums of consecutive blocks of `data`, the last one possibly short.

    Args:
        data: Bytes to cut into blocks of `block_length` (the final block holds the rest).
        block_length: Block length, at least 1.

    Returns:
        uint32 array with ``ceil(len(data) / block_length)`` sums.

    rsync: generator.c generate_and_send_sums() (sum1 of each block)
    """
    if block_length < 1:
        msg = f"block_length must be >= 1, got {block_length}"
        raise ValueError(msg)
    x = _int8(data)
    full, rest = divmod(x.size, block_length)
    out = np.empty(full + (rest > 0), dtype=np.uint32)
    # A megabyte of whole blocks at a time: the temporaries of a larger piece (a quarter
    # of its size) are above glibc's mmap threshold, fresh pages faulted in on every
    # call; these stay in the heap (8 MiB pieces: half the speed, 16,000 faults a 256 MiB).
    step = max(1, _BLOCKS_AT // block_length)
    for first in range(0, full, step):
        n = min(step, full - first)
        piece = x[first * block_length : (first + n) * block_length]
        out[first : first + n] = _combine(*_sums16(piece, n, block_length))
    if rest:
        out[full] = _weak_sum(x[full * block_length :])
    return out


class WindowSums:
    """Computes the weak sum at every offset, reusing its scratch arrays between calls.

    Fresh multi-megabyte temporaries on every call would cost more in page faults than
    the arithmetic itself; one instance keeps them (about 50 bytes per offset of
    `max_offsets` plus the window length) for its lifetime. Not thread-safe.

    Args:
        block_length: Window length, at least 1.
        max_offsets: Most offsets one `compute` call handles.

    rsync: match.c hash_search() (the rolling update of s1 and s2)
    """

    def __init__(self, block_length: int, max_offsets: int = _EVERY_OFFSET_STEP) -> None:
        if block_length < 1 or max_offsets < 1:
            msg = f"block_length and max_offsets must be >= 1, got {block_length}, {max_offsets}"
            raise ValueError(msg)
        self.block_length = block_length
        self.max_offsets = max_offsets
        n = max_offsets + block_length - 1
        self._c1 = np.empty(n + 1, dtype=np.int64)
        self._c2 = np.empty(n + 1, dtype=np.int64)
        self._a = np.empty(max_offsets, dtype=np.int64)
        self._b = np.empty(max_offsets, dtype=np.int64)
        self._keys = np.empty(max_offsets, dtype=np.uint32)

    def compute(self, x: npt.NDArray[np.int8]) -> npt.NDArray[np.uint32]:
        """Return the weak sums of x[a : a + block_length] for every whole window.

        The result is a view into scratch space, valid until the next call.
        """
        length = self.block_length
        n = x.size
        m = n - length + 1
        if m <= 0:
            return self._keys[:0]
        if m > self.max_offsets:
            msg = f"{m} offsets exceed this instance's maximum of {self.max_offsets}"
            raise ValueError(msg)
        c1 = self._c1[: n + 1]
        c2 = self._c2[: n + 1]
        s1 = self._a[:m]
        s2 = self._b[:m]
        # c1 = prefix sums of x, c2 = prefix sums of c1; the window at a then has
        # s1 = c1[a+L] - c1[a] and s2 = c2[a+L] - c2[a] - L*c1[a]. Widening into c1 and
        # summing natively beats a casting cumsum; int64 wraps, and only the low 16 bits
        # of s1 and s2 are kept.
        c1[0] = 0
        tail = c1[1:]
        np.copyto(tail, x)
        np.cumsum(tail, out=tail)
        np.cumsum(c1, out=c2)
        np.subtract(c2[length:], c2[:m], out=s2)
        np.multiply(c1[:m], length, out=s1)
        s2 -= s1
        s2 <<= 16
        np.subtract(c1[length:], c1[:m], out=s1)
        s1 &= _M16
        s2 |= s1
        keys = self._keys[:m]
        np.copyto(keys, s2, casting="unsafe")
        return keys


def weak_sums_at_every_offset(data: Buffer, block_length: int) -> npt.NDArray[np.uint32]:
    """Return the weak sum of the full window starting at every offset of `data`.

    Element a is ``weak_sum(data[a : a + block_length])``, for every a with a whole
    window, so the result has ``max(0, len(data) - block_length + 1)`` elements.

    Args:
        data: The bytes to scan.
        block_length: Window length, at least 1.

    Returns:
        uint32 array of weak sums.

    rsync: match.c hash_search() (the rolling update of s1 and s2)
    """
    if block_length < 1:
        msg = f"block_length must be >= 1, got {block_length}"
        raise ValueError(msg)
    x = _int8(data)
    m = x.size - block_length + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint32)
    out = np.empty(m, dtype=np.uint32)
    sums = WindowSums(block_length, min(m, _EVERY_OFFSET_STEP))
    for start in range(0, m, sums.max_offsets):
        stop = min(m, start + sums.max_offsets)
        out[start:stop] = sums.compute(x[start : stop + block_length - 1])
    return out


def _signed(byte: int) -> int:
    return byte - ((byte & 0x80) << 1)


class RollingChecksum:
    """rsync's weak checksum over a window that slides one byte at a time.

    The window starts as `data`; `roll` slides it right by one byte, `rollout` drops its
    first byte (the shrinking tail at the end of a file), and `rollin` appends a byte.
    Bytes are ints 0..255 as produced by indexing `bytes`; they are taken as signed.

    This is the scalar form, for tests and for callers that move a few bytes; scanning a
    buffer is `weak_sums_at_every_offset`'s job.

    rsync: match.c hash_search() (s1/s2 updates), checksum.c get_checksum1()
    """

    __slots__ = ("_count", "_s1", "_s2")

    def __init__(self, data: Buffer = b"") -> None:
        value = weak_sum(data)
        self._s1 = value & _M16
        self._s2 = value >> 16
        self._count = _int8(data).size

    @property
    def value(self) -> int:
        """The current 32-bit weak sum."""
        return (self._s1 & _M16) | ((self._s2 & _M16) << 16)

    @property
    def count(self) -> int:
        """The current window length."""
        return self._count

    def roll(self, out_byte: int, in_byte: int) -> None:
        """Slide the window right: drop `out_byte` (its first byte), append `in_byte`."""
        out = _signed(out_byte)
        self._s1 = (self._s1 - out + _signed(in_byte)) & _M16
        self._s2 = (self._s2 - self._count * out + self._s1) & _M16

    def rollout(self, out_byte: int) -> None:
        """Drop the first byte of the window (which must be `out_byte`); it shrinks by one."""
        if self._count <= 0:
            msg = "rollout on an empty window"
            raise ValueError(msg)
        out = _signed(out_byte)
        self._s1 = (self._s1 - out) & _M16
        self._s2 = (self._s2 - self._count * out) & _M16
        self._count -= 1

    def rollin(self, in_byte: int) -> None:
        """Append `in_byte` to the window; it grows by one."""
        self._s1 = (self._s1 + _signed(in_byte)) & _M16
        self._s2 = (self._s2 + self._s1) & _M16
        self._count += 1
