"""Type aliases shared by the modules of this package (typing only, no runtime cost)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from typing_extensions import Buffer as Buffer

__all__ = ["Hasher"]


class Hasher(Protocol):
    """An incremental digest: feed bytes with `update`, read the result with `digest`."""

    def update(self, data: Buffer, /) -> None:
        """Feed more bytes."""

    def digest(self) -> bytes:
        """Return the digest of everything fed so far (rsync's byte order)."""
