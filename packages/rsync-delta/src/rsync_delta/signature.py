"""Block sums of a basis file: the `Signature` record and the `signature()` function.

A signature is what rsync's generator sends: block length, strong bytes per block,
remainder, and for every block its weak sum and the first `strong_length` bytes of its
strong sum. They are stored as parallel arrays (a numpy uint32 array and one bytes
object), never as one object per block. `signature()` reads its input in large chunks,
so memory stays bounded whatever the file size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from rsync_delta._io import Source, iter_chunks, remaining_length
from rsync_delta.blocks import block_length_for, strong_length_for
from rsync_delta.errors import SignatureError
from rsync_delta.rolling import block_weak_sums

if TYPE_CHECKING:
    from rsync_delta._types import Buffer
    from rsync_delta.hashes import ChecksumRule

__all__ = ["MAX_STRONG_LENGTH", "Signature", "signature"]

MAX_STRONG_LENGTH: Final = 64
"""Largest strong length a `Signature` accepts (no supported digest is longer)."""
_MAX_COUNT: Final = (1 << 31) - 1
_READ_CHUNK: Final = 8 << 20


def _as_weak_array(weak: npt.ArrayLike) -> npt.NDArray[np.uint32]:
    arr = np.asarray(weak)
    if arr.dtype == np.uint32:
        return np.ascontiguousarray(arr).reshape(-1)
    if arr.dtype == np.int32:
        return np.ascontiguousarray(arr).reshape(-1).view(np.uint32)
    if arr.size == 0:
        return np.empty(0, dtype=np.uint32)
    if arr.dtype.kind not in "iu":
        msg = f"weak sums must be integers, got {arr.dtype}"
        raise SignatureError(msg)
    wide = arr.astype(np.int64).reshape(-1)
    if wide.min() < -(1 << 31) or wide.max() >= 1 << 32:
        msg = "a weak sum does not fit in 32 bits"
        raise SignatureError(msg)
    return (wide & 0xFFFFFFFF).astype(np.uint32)


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """The block sums of a basis file.

    Attributes:
        block_length: Bytes per block (0 only for an empty signature).
        strong_length: Strong-sum bytes kept per block (rsync's s2length).
        remainder: Length of the last block when it is short, else 0.
        weak: Weak sums, one uint32 per block (read-only view).
        strong: The truncated strong sums, ``count * strong_length`` bytes, block by block.

    Raises:
        SignatureError: On construction, when the fields are inconsistent (the checks
            rsync 3.5.0 makes on a received sum header, plus the array sizes).

    rsync: rsync.h struct sum_struct; io.c read_sum_head()
    """

    block_length: int
    strong_length: int
    remainder: int
    weak: npt.NDArray[np.uint32]
    strong: bytes

    def __post_init__(self) -> None:
        weak = _as_weak_array(self.weak).view()
        weak.flags.writeable = False  # a read-only view; the caller's array is untouched
        object.__setattr__(self, "weak", weak)
        object.__setattr__(self, "strong", bytes(self.strong))
        count = weak.size
        if count > _MAX_COUNT:
            msg = f"block count {count} exceeds {_MAX_COUNT}"
            raise SignatureError(msg)
        if self.block_length < 0 or (count and self.block_length == 0):
            msg = f"invalid block length {self.block_length} for {count} blocks"
            raise SignatureError(msg)
        if not 0 <= self.strong_length <= MAX_STRONG_LENGTH:
            msg = f"invalid strong length {self.strong_length} (0..{MAX_STRONG_LENGTH})"
            raise SignatureError(msg)
        if not 0 <= self.remainder <= self.block_length or (not count and self.remainder):
            msg = f"invalid remainder {self.remainder} for block length {self.block_length}"
            raise SignatureError(msg)
        if len(self.strong) != count * self.strong_length:
            msg = (
                f"strong sums hold {len(self.strong)} bytes, expected "
                f"{count} blocks * {self.strong_length} = {count * self.strong_length}"
            )
            raise SignatureError(msg)

    @classmethod
    def from_sums(
        cls,
        *,
        block_length: int,
        strong_length: int,
        remainder: int,
        weak: npt.ArrayLike,
        strong: Buffer,
    ) -> Signature:
        """Build a signature from block sums, e.g. as received off the wire.

        Args:
            block_length: The sum header's block length.
            strong_length: The sum header's s2length.
            remainder: The sum header's remainder.
            weak: The sum1 values: a numpy array (uint32, or int32 as read off the wire)
                or a sequence of ints (negative values are taken as int32 bit patterns).
            strong: The concatenated strong sums, ``count * strong_length`` bytes.

        Returns:
            The signature.

        Raises:
            SignatureError: Inconsistent fields.
        """
        return cls(block_length, strong_length, remainder, _as_weak_array(weak), bytes(strong))

    @classmethod
    def from_packed(
        cls, data: Buffer, *, block_length: int, strong_length: int, remainder: int
    ) -> Signature:
        """Build a signature from rsync's interleaved wire layout of block sums.

        Args:
            data: count records of ``int32 LE sum1`` followed by `strong_length` bytes.
            block_length: The sum header's block length.
            strong_length: The sum header's s2length.
            remainder: The sum header's remainder.

        Returns:
            The signature.

        Raises:
            SignatureError: If `data` is not a whole number of records, or fields clash.

        rsync: sender.c receive_sums()
        """
        view = memoryview(data).cast("B")
        record = 4 + strong_length
        if view.nbytes % record:
            msg = f"{view.nbytes} bytes of block sums is not a multiple of {record}"
            raise SignatureError(msg)
        count = view.nbytes // record
        table = np.frombuffer(view, dtype=np.uint8).reshape(count, record)
        weak = table[:, :4].copy().view("<u4").reshape(-1).astype(np.uint32)
        strong = table[:, 4:].tobytes()
        return cls(block_length, strong_length, remainder, weak, strong)

    def packed(self) -> bytes:
        """Return the block sums in rsync's interleaved wire layout (see `from_packed`).

        rsync: generator.c generate_and_send_sums()
        """
        count = self.count
        table = np.empty((count, 4 + self.strong_length), dtype=np.uint8)
        table[:, :4] = self.weak.astype("<u4").view(np.uint8).reshape(count, 4)
        table[:, 4:] = np.frombuffer(self.strong, dtype=np.uint8).reshape(count, self.strong_length)
        return table.tobytes()

    @property
    def count(self) -> int:
        """Number of blocks."""
        return int(self.weak.size)

    @property
    def last_length(self) -> int:
        """Length of the last block (the remainder if it is short), 0 without blocks."""
        if not self.count:
            return 0
        return self.remainder or self.block_length

    @property
    def file_length(self) -> int:
        """Length of the basis file these sums describe."""
        if not self.count:
            return 0
        return (self.count - 1) * self.block_length + self.last_length

    def block_strong(self, index: int) -> bytes:
        """Return the truncated strong sum of block `index`."""
        n = self.strong_length
        return self.strong[index * n : index * n + n]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signature):
            return NotImplemented
        return (
            self.block_length == other.block_length
            and self.strong_length == other.strong_length
            and self.remainder == other.remainder
            and self.strong == other.strong
            and np.array_equal(self.weak, other.weak)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking array field: unhashable

    def __repr__(self) -> str:
        return (
            f"Signature(block_length={self.block_length}, strong_length={self.strong_length}, "
            f"remainder={self.remainder}, count={self.count}, file_length={self.file_length})"
        )


def signature(
    basis: Source,
    *,
    rule: ChecksumRule,
    block_length: int | None = None,
    strong_length: int | None = None,
    protocol: int = 31,
) -> Signature:
    """Compute the signature of `basis`, reading it in large chunks.

    Args:
        basis: Bytes, or a binary file object read from its current position to EOF.
        rule: The checksum rule (strong hash and seed).
        block_length: Block length; default: rsync's rule for the basis length.
        strong_length: Strong bytes per block; default: rsync's rule, capped at the
            digest size.
        protocol: Protocol version whose block-length limits and rules apply.

    Returns:
        The signature.

    Raises:
        ValueError: An unseekable file object without both `block_length` and
            `strong_length` (the defaults need the file length), or lengths out of range.
        OSError: Reading failed.

    rsync: generator.c generate_and_send_sums(), sum_sizes_sqroot()
    """
    length = remaining_length(basis)
    if length is None and (block_length is None or strong_length is None):
        msg = "an unseekable basis needs an explicit block_length and strong_length"
        raise ValueError(msg)
    blen = block_length_for(length or 0, protocol=protocol, block_size=block_length)
    if strong_length is None:
        slen = strong_length_for(length or 0, blen, protocol=protocol, digest_size=rule.digest_size)
    else:
        slen = strong_length
    if not 0 <= slen <= rule.digest_size:
        msg = f"strong length {slen} out of range 0..{rule.digest_size} for {rule.name}"
        raise ValueError(msg)

    block_fn = rule._block_fn  # same package: one call less per block
    per_chunk = max(1, _READ_CHUNK // blen) * blen
    weak_parts: list[npt.NDArray[np.uint32]] = []
    strong_parts: list[bytes] = []
    total = 0
    for chunk in iter_chunks(basis, per_chunk, size_hint=length):
        total += len(chunk)
        weak_parts.append(block_weak_sums(chunk, blen))
        strong_parts.append(
            b"".join([block_fn(chunk[o : o + blen])[:slen] for o in range(0, len(chunk), blen)])
        )
    weak = np.concatenate(weak_parts) if weak_parts else np.empty(0, dtype=np.uint32)
    return Signature(blen, slen, total % blen, weak, b"".join(strong_parts))
