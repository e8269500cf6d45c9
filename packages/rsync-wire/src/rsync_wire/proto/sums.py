"""The sum header and the block-checksum table of one file (no I/O).

The generator describes its basis file with a :class:`SumHead` (block count, block
length, strong-sum length, remainder) followed by one ``(sum1, sum2)`` pair per block;
the sender echoes the header, without the table, in front of the file's token stream.

This module encodes and decodes those bytes and validates the header the way rsync
3.5.0 does. It does not compute checksums (that is :mod:`rsync_delta`) and does not
choose block sizes.

The table is decoded in one step: a single slice of the input viewed through a numpy
structured dtype ``[('sum1', '<u4'), ('sum2', 'V<s2length>')]``, so 100 000 blocks cost
two array copies rather than 100 000 Python iterations.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

import msgspec

from rsync_wire.errors import AllocationLimitError, RemoteProtocolError, UnsupportedError
from rsync_wire.proto.codec import NeedMoreData

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "MAX_BLOCK_SIZE",
    "OLD_MAX_BLOCK_SIZE",
    "SUM_BUF_SIZE",
    "SumHead",
    "check_sum_alloc",
    "decode_block_sums",
    "decode_sum_head",
    "encode_block_sums_into",
]

Buf = bytes | bytearray | memoryview

MAX_BLOCK_SIZE: Final = 1 << 17  # MAX_BLOCK_SIZE, protocol >= 30
OLD_MAX_BLOCK_SIZE: Final = 1 << 29  # OLD_MAX_BLOCK_SIZE, protocol < 30

SUM_BUF_SIZE: Final = 24  # sizeof(struct sum_buf) on a 64-bit host: rsync's --max-alloc unit
_HEAD: Final = struct.Struct("<iiii")
_I32: Final = struct.Struct("<i")


class SumHead(msgspec.Struct, frozen=True):
    """The sum header of one file.

    All four fields zero (:meth:`empty`) means "no basis": the sender sends the whole
    file as literal data.

    Attributes:
        count: number of blocks (``ceil(size / block_length)``).
        block_length: length of every block but possibly the last.
        strong_length: bytes of strong checksum sent per block (``s2length``).
        remainder: length of the last block when it is short, else 0.

    rsync: rsync.h struct sum_struct.
    """

    count: int
    block_length: int
    strong_length: int
    remainder: int

    @classmethod
    def empty(cls) -> SumHead:
        """The all-zero header that asks for a whole-file transfer."""
        return cls(0, 0, 0, 0)

    @property
    def table_size(self) -> int:
        """Bytes of block checksums that follow this header in a generator request."""
        return self.count * (4 + self.strong_length)

    def block_size(self, index: int) -> int:
        """Length of block ``index`` (``remainder`` for the last block when it is non-zero)."""
        if index == self.count - 1 and self.remainder:
            return self.remainder
        return self.block_length

    def within(self, size: int) -> tuple[SumHead, int]:
        """The part of this table that can serve a file of ``size`` bytes, and the rest.

        A table never needs to describe more than the file it is matched against plus one
        block: matches are found in the new file, so blocks past ``size + block_length``
        of basis data add nothing a bounded receiver could not do without. Keeping them
        would let a peer size our memory with ``count`` alone.

        Returns:
            ``(head, skipped)``: the header of the first blocks (all full-length when cut,
            so the remainder becomes 0), and how many table bytes follow them that the
            caller must read and discard. ``(self, 0)`` when the table fits.
        """
        if self.count == 0 or self.block_length == 0:
            return self, 0
        keep = size // self.block_length + 1
        if self.count <= keep:
            return self, 0
        head = SumHead(keep, self.block_length, self.strong_length, 0)
        return head, (self.count - keep) * (4 + self.strong_length)

    def encode_into(self, buf: bytearray, *, protocol: int) -> None:
        """Append the header (four ``i32``).

        Args:
            buf: the output buffer.
            protocol: the negotiated protocol; ``s2length`` is on the wire from 27 on.

        Raises:
            UnsupportedError: ``protocol`` is below 27, which we do not speak.

        rsync: io.c write_sum_head().
        """
        _check_protocol(protocol)
        buf += _HEAD.pack(self.count, self.block_length, self.strong_length, self.remainder)


def _check_protocol(protocol: int) -> None:
    if protocol < 27:
        msg = f"protocol {protocol} has no s2length field; we speak 27 and later"
        raise UnsupportedError(msg)


def check_sum_alloc(count: int, *, digest_size: int, max_alloc: int, who: str = "sender") -> None:
    """Refuse a block table larger than ``--max-alloc``, as rsync's allocator does.

    rsync allocates ``count`` ``struct sum_buf`` (24 bytes) and ``count * digest_size``
    bytes of strong sums for a table; either reaching ``--max-alloc`` (1 GiB by default)
    ends the session.

    Raises:
        AllocationLimitError: with rsync's message
            (``[sender] exceeded --max-alloc=1073741824 setting (file=sender.c)``).

    rsync: sender.c receive_sums() and util2.c my_alloc().
    """
    if count >= max_alloc // SUM_BUF_SIZE or count * max(digest_size, 1) >= max_alloc:
        msg = f"[{who}] exceeded --max-alloc={max_alloc} setting (file=sender.c)"
        raise AllocationLimitError(msg)


def _where(who: str, pos: int) -> str:
    return f"[{who}] (sum header at offset {pos})"


def decode_sum_head(
    buf: Buf,
    pos: int,
    *,
    protocol: int,
    digest_size: int,
    max_alloc: int | None = None,
    who: str = "sender",
) -> tuple[SumHead, int]:
    """Decode and validate a sum header.

    Validation follows rsync 3.5.0: ``count >= 0``; ``0 <= block_length <= 2**29``
    (protocol < 30) or ``2**17`` (30 and later); ``block_length > 0`` when ``count > 0``;
    ``0 <= strong_length <= digest_size``; ``0 <= remainder <= block_length``.

    Args:
        buf: the input buffer.
        pos: where the header starts.
        protocol: the negotiated protocol.
        digest_size: the length of the transfer checksum's digest (16 for md4, md5 and
            xxh128, 8 for xxh64 and xxh3, 20 for sha1): the cap on ``strong_length``.
        max_alloc: when given (a sender, which will store the table), a ``count`` whose
            table would exceed it is refused as soon as the count is read.
        who: the role that reads it, for the messages (rsync's ``[sender]`` or
            ``[receiver]``).

    Returns:
        The header and the position after it.

    Raises:
        NeedMoreData: fewer than 16 bytes are available (a field that is already
            complete and invalid is reported first).
        RemoteProtocolError: a field is out of range.
        AllocationLimitError: the table would exceed ``max_alloc``.
        UnsupportedError: ``protocol`` is below 27.

    rsync: io.c read_sum_head().
    """
    _check_protocol(protocol)
    max_blength = OLD_MAX_BLOCK_SIZE if protocol < 30 else MAX_BLOCK_SIZE
    avail = len(buf) - pos
    if avail >= 16:
        count, blength, s2length, remainder = _HEAD.unpack_from(buf, pos)
    else:
        # Validate what is already there, so garbage fails before we wait for more.
        fields = [_I32.unpack_from(buf, pos + 4 * i)[0] for i in range(max(avail, 0) // 4)]
        fields += [0] * (4 - len(fields))
        count, blength, s2length, remainder = fields
    # rsync's words (the test suite and people's scripts look for them), then where (made
    # only for a message: once per file, it was half of this function's time)
    if count < 0:
        msg = f"Invalid checksum count {count} {_where(who, pos)}"
        raise RemoteProtocolError(msg)
    if max_alloc is not None and avail >= 4:
        check_sum_alloc(count, digest_size=digest_size, max_alloc=max_alloc)
    if avail >= 8:
        if blength < 0 or blength > max_blength:
            msg = f"Invalid block length {blength} {_where(who, pos)} (expected 0..{max_blength})"
            raise RemoteProtocolError(msg)
        if count and blength == 0:
            msg = f"Invalid zero block length {_where(who, pos)} (for {count} blocks)"
            raise RemoteProtocolError(msg)
    if avail >= 12 and (s2length < 0 or s2length > digest_size):
        msg = f"Invalid checksum length {s2length} {_where(who, pos)} (expected 0..{digest_size})"
        raise RemoteProtocolError(msg)
    if avail < 16:
        raise NeedMoreData
    if remainder < 0 or remainder > blength:
        msg = f"Invalid remainder length {remainder} {_where(who, pos)} (expected 0..{blength})"
        raise RemoteProtocolError(msg)
    return SumHead(count, blength, s2length, remainder), pos + 16


def _table_dtype(strong_length: int) -> np.dtype[np.void]:
    import numpy as np

    return np.dtype([("sum1", "<u4"), ("sum2", f"V{strong_length}")])


def decode_block_sums(
    buf: Buf, pos: int, head: SumHead
) -> tuple[npt.NDArray[np.uint32], bytes, int]:
    """Decode the block-checksum table that follows a generator's sum header.

    Args:
        buf: the input buffer.
        pos: where the table starts (just after the header).
        head: the decoded header (gives the count and the strong-sum length).

    Returns:
        ``(sum1, sum2, new_pos)``: ``sum1`` is a native ``uint32`` array of the rolling
        checksums, ``sum2`` the strong checksums concatenated (block ``i`` at
        ``sum2[i * s2length:(i + 1) * s2length]``).

    Raises:
        NeedMoreData: the whole table (:attr:`SumHead.table_size` bytes) is not there yet.

    rsync: sender.c receive_sums().
    """
    import numpy as np

    n = head.count
    end = pos + head.table_size
    if end > len(buf):
        raise NeedMoreData
    if head.strong_length == 0:
        sum1 = np.frombuffer(buf, dtype="<u4", count=n, offset=pos).astype(np.uint32)
        return sum1, b"", end
    table = np.frombuffer(buf, dtype=_table_dtype(head.strong_length), count=n, offset=pos)
    sum1 = table["sum1"].astype(np.uint32)  # copies: the result owns its memory
    sum2 = table["sum2"].tobytes()
    return sum1, sum2, end


def encode_block_sums_into(
    buf: bytearray,
    head: SumHead,
    sum1: npt.ArrayLike,
    sum2: Buf,
) -> None:
    """Append a block-checksum table (the generator's side of :func:`decode_block_sums`).

    Args:
        buf: the output buffer.
        head: the header the table belongs to (count and strong-sum length).
        sum1: ``head.count`` rolling checksums (any integer array-like; taken modulo
            2**32, so signed values are fine).
        sum2: ``head.count * head.strong_length`` bytes: each block's strong checksum,
            already truncated to ``strong_length``, concatenated.

    Raises:
        ValueError: the sizes do not match the header.

    rsync: generator.c generate_and_send_sums().
    """
    import numpy as np

    n = head.count
    s2 = head.strong_length
    weak = np.asarray(sum1)
    if weak.shape != (n,):
        msg = f"expected {n} rolling checksums, got shape {weak.shape}"
        raise ValueError(msg)
    strong = memoryview(sum2).cast("B")
    if len(strong) != n * s2:
        msg = f"expected {n * s2} bytes of strong checksums, got {len(strong)}"
        raise ValueError(msg)
    if s2 == 0:
        buf += weak.astype("<u4").tobytes()
        return
    table = np.empty(n, dtype=_table_dtype(s2))
    table["sum1"] = weak.astype(np.int64) & 0xFFFFFFFF
    table["sum2"] = np.frombuffer(strong, dtype=f"V{s2}", count=n)
    buf += table.data
