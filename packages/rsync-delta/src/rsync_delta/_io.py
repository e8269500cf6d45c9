"""Chunked reading shared by signature, delta and patch (private).

A source is either a bytes-like object (sliced without copying) or a binary file
object (read with ``readinto`` into one reused buffer, so a chunk is only valid until
the next one is requested).
"""

from __future__ import annotations

import io
import os
import stat
from typing import IO, TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rsync_delta._types import Buffer

__all__ = ["Source", "is_bytes_like", "iter_chunks", "regular_fileno", "remaining_length"]

Source: TypeAlias = "IO[bytes] | io.RawIOBase | io.BufferedIOBase | Buffer"
"""What the streaming functions read: bytes-like objects or binary file objects."""


def is_bytes_like(src: object) -> bool:
    """Return True for bytes, bytearray, memoryview and other objects with a buffer."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return True
    try:
        memoryview(src)  # type: ignore[arg-type]  # probing the buffer protocol
    except TypeError:
        return False
    return True


def remaining_length(src: Source) -> int | None:
    """Return how many bytes are left to read in `src`, or None if it cannot be known."""
    if is_bytes_like(src):
        return memoryview(src).nbytes  # type: ignore[arg-type]  # checked just above
    f: IO[bytes] = src  # type: ignore[assignment]  # not bytes-like: a file object
    try:
        if not f.seekable():
            return None
        pos = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(pos)
    except (OSError, ValueError, AttributeError):
        return None
    return max(0, end - pos)


def _readinto_full(f: IO[bytes], view: memoryview) -> int:
    """Fill `view` from `f` until it is full or the file ends; return the byte count."""
    got = 0
    size = view.nbytes
    readinto = getattr(f, "readinto", None)
    while got < size:
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = f.read(size - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def iter_chunks(
    src: Source, chunk_size: int, *, size_hint: int | None = None
) -> Iterator[memoryview]:
    """Yield `src` in chunks of exactly `chunk_size` bytes (the last may be shorter).

    Chunks of a file object share one buffer: each is valid until the next is requested.
    Nothing is yielded for an empty source. `size_hint` (the expected length) only keeps
    the buffer small for small files; a file longer than the hint is still read whole.
    """
    if is_bytes_like(src):
        view = memoryview(src).cast("B")  # type: ignore[arg-type]  # checked just above
        for start in range(0, view.nbytes, chunk_size):
            yield view[start : start + chunk_size]
        return
    f: IO[bytes] = src  # type: ignore[assignment]  # not bytes-like: a file object
    size = chunk_size if size_hint is None else max(1, min(chunk_size, size_hint + 1))
    buf = bytearray(size)
    got = 0
    while True:
        with memoryview(buf) as view:
            got += _readinto_full(f, view[got:])
        if got == len(buf) < chunk_size:
            # Longer than hinted: grow to a whole chunk before yielding anything.
            buf.extend(bytes(chunk_size - len(buf)))
            continue
        if got:
            with memoryview(buf) as view:
                yield view[:got]
        if got < chunk_size:
            return
        got = 0


def regular_fileno(f: object) -> int | None:
    """Return the OS file descriptor of `f` if it is an open regular file, else None."""
    fileno = getattr(f, "fileno", None)
    if fileno is None:
        return None
    try:
        fd: int = fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError):
        return None
