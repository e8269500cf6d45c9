"""The operations a delta is made of: copy blocks of the basis, or insert literal bytes.

A delta is an iterable of `Op`, in the order of the new file. rsync's token stream
(docs/protocol.md §10.6) has one token per block; `BlockMatch` carries a run count so that
a long unchanged stretch is one object, and a wire encoder expands it into `count`
tokens. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = ["MAX_LITERAL", "BlockMatch", "LiteralData", "Op"]

MAX_LITERAL: Final = 32768
"""Longest literal run in one op (rsync's CHUNK_SIZE). rsync 3.4.3 rejects longer tokens.

rsync: rsync.h CHUNK_SIZE, token.c simple_recv_token()
"""


@dataclass(frozen=True, slots=True)
class BlockMatch:
    """Copy `count` consecutive basis blocks, starting with block `index`.

    Block k covers basis bytes ``[k * block_length, k * block_length + len)``, where len
    is the block length, or the signature's remainder for the last block when it is short.

    Attributes:
        index: Index of the first block (0-based).
        count: Number of consecutive blocks (at least 1).

    rsync: match.c matched() (a token -(k+1) per block)
    """

    index: int
    count: int = 1

    def __post_init__(self) -> None:
        if self.index < 0 or self.count < 1:
            msg = f"BlockMatch needs index >= 0 and count >= 1, got {self.index}, {self.count}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class LiteralData:
    """Insert these bytes. Generated literals are never longer than `MAX_LITERAL`.

    Attributes:
        data: The bytes to write (non-empty when produced by a `DeltaGenerator`).
    """

    data: bytes


Op: TypeAlias = BlockMatch | LiteralData
"""One delta operation."""
