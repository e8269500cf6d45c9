"""Apply a delta: rebuild the new file from the basis and a stream of ops.

`Patcher` expands one op at a time into data pieces (for callers that write and hash
through their own I/O, like a protocol receiver); `patch()` (alias `apply_patch`) writes
a whole op stream to a binary file object. The basis is bytes or a seekable binary file,
read with ``pread`` when it has a file descriptor; block copies are read in pieces of at
most 4 MiB, so memory stays bounded. From a basis file to an output file, `patch()` hands
its writes to a short-lived thread so that reading overlaps with writing; the call is
still synchronous and leaves no thread behind.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from typing import IO, TYPE_CHECKING, Final

from rsync_delta._io import Source, is_bytes_like, regular_fileno
from rsync_delta.errors import PatchError
from rsync_delta.ops import BlockMatch, LiteralData

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from rsync_delta._types import Buffer, Hasher
    from rsync_delta.ops import Op

__all__ = ["Patcher", "apply_patch", "patch", "patch_stream"]

_COPY_CHUNK: Final = 4 << 20
_BUFFERS: Final = 3


class Patcher:
    """Expands ops against a basis into the bytes of the new file.

    Args:
        basis: Bytes, or a seekable binary file object (block k is at byte
            ``k * block_length`` from the start of the file).
        block_length: The block length of the signature the delta was made from (0 for
            an empty signature: then only literal ops are valid).

    Raises:
        ValueError: A negative block length, or a basis that is neither bytes nor a
            seekable file.

    rsync: receiver.c receive_data()
    """

    def __init__(self, basis: Source, *, block_length: int) -> None:
        if block_length < 0:
            msg = f"block_length must be >= 0, got {block_length}"
            raise ValueError(msg)
        self._blen = block_length
        self._view: memoryview | None = None
        self._file: IO[bytes] | None = None
        self._fd: int | None = None
        if is_bytes_like(basis):
            self._view = memoryview(basis).cast("B")  # type: ignore[arg-type]  # checked
            self._length = self._view.nbytes
        else:
            f: IO[bytes] = basis  # type: ignore[assignment]  # not bytes-like: a file
            if not f.seekable():
                msg = "the basis must be seekable"
                raise ValueError(msg)
            self._file = f
            self._fd = regular_fileno(f)
            self._length = os.fstat(self._fd).st_size if self._fd is not None else _size(f)
        # Block length 0 is rsync's "no basis" sum header: literal data only.
        self._count = -(-self._length // block_length) if block_length else 0
        self._buf: bytearray | None = None

    @property
    def basis_length(self) -> int:
        """Length of the basis in bytes."""
        return self._length

    @property
    def block_count(self) -> int:
        """Number of blocks in the basis."""
        return self._count

    def expand(self, op: Op) -> Iterator[Buffer]:
        """Yield the new file's bytes for `op`, in pieces (each valid until the next).

        Raises:
            PatchError: A block index out of range, or a basis that ended early.
        """
        if isinstance(op, LiteralData):
            if op.data:
                yield op.data
            return
        start, stop = self._byte_range(op)
        if self._view is not None:
            yield self._view[start:stop]
            return
        if self._buf is None:
            self._buf = bytearray(max(1, min(_COPY_CHUNK, self._length)))
        with memoryview(self._buf) as buf:
            while start < stop:
                got = self._read_exactly(buf[: min(stop - start, buf.nbytes)], start, stop)
                yield buf[:got]
                start += got

    def _byte_range(self, op: BlockMatch) -> tuple[int, int]:
        """Return the basis bytes [start, stop) a block match copies, after a range check."""
        if op.index + op.count > self._count:
            msg = (
                f"block {op.index + op.count - 1} out of range: the basis has "
                f"{self._count} blocks of {self._blen} bytes"
            )
            raise PatchError(msg)
        start = op.index * self._blen
        return start, min((op.index + op.count) * self._blen, self._length)

    def _read_exactly(self, into: memoryview, offset: int, stop: int) -> int:
        got = self._read_at(into, offset)
        if got < into.nbytes:
            msg = f"the basis ended at byte {offset + got}, expected {stop} bytes"
            raise PatchError(msg)
        return got

    def _read_at(self, into: memoryview, offset: int) -> int:
        got = 0
        size = into.nbytes
        while got < size:
            if self._fd is not None:
                n = os.preadv(self._fd, [into[got:]], offset + got)
            else:
                assert self._file is not None  # noqa: S101  (set for every non-bytes basis)
                self._file.seek(offset + got)
                n = self._file.readinto(into[got:])  # type: ignore[attr-defined]
            if not n:
                break
            got += n
        return got


def _size(f: IO[bytes]) -> int:
    pos = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(pos)
    return end


def _write_all(out: IO[bytes], data: Buffer) -> None:
    view = memoryview(data)
    while view.nbytes:
        n = out.write(view)
        if n >= view.nbytes:
            return
        view = view[n:]


def patch(
    basis: Source,
    ops: Iterable[Op],
    out: IO[bytes],
    *,
    block_length: int,
    hasher: Hasher | None = None,
) -> int:
    """Write the new file rebuilt from `basis` and `ops` to `out`.

    Args:
        basis: Bytes, or a seekable binary file object.
        ops: The delta, in file order.
        out: Binary file object to write to.
        block_length: The block length of the signature the delta was made from.
        hasher: Optional; every byte written is also fed to it (e.g. the rule's
            `file_hasher()`, to compare with the sender's whole-file sum).

    Returns:
        The number of bytes written.

    Raises:
        PatchError: A block index out of range, or a basis that ended early.
        OSError: Reading or writing failed.

    rsync: receiver.c receive_data()
    """
    patcher = Patcher(basis, block_length=block_length)
    if patcher._view is None and _has_fileno(out):
        return _patch_overlapped(patcher, ops, out, hasher)
    written = 0
    for op in ops:
        for piece in patcher.expand(op):
            if hasher is not None:
                hasher.update(piece)
            _write_all(out, piece)
            written += memoryview(piece).nbytes
    return written


_STOP: Final = None


def _has_fileno(f: object) -> bool:
    """Whether `f` writes to an OS file (whose writes release the GIL)."""
    try:
        getattr(f, "fileno")()  # noqa: B009  (any object with a working fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return True


def patch_stream(
    basis: Source,
    items: Iterable[BlockMatch | int],
    read_literal: Callable[[memoryview], None],
    out: IO[bytes],
    *,
    block_length: int,
    hasher: Hasher | None = None,
) -> int:
    """`patch` for a delta still being parsed: literals are read straight into place.

    Args:
        basis: Bytes, or a seekable binary file object.
        items: `BlockMatch` ops, and ints for literal runs of that many bytes that the
            caller's stream holds next.
        read_literal: Fills the given view with the next literal bytes of the stream,
            exactly (raising `PatchError` when the stream ends early).
        out: Binary file object to write to.
        block_length: The block length of the signature the delta was made from.
        hasher: Optional; every byte written is also fed to it.

    Returns:
        The number of bytes written.

    Raises:
        PatchError: A block index out of range, a basis that ended early, or whatever
            `read_literal` raises.
        OSError: Reading or writing failed.
    """
    patcher = Patcher(basis, block_length=block_length)
    if patcher._view is None and _has_fileno(out):
        return _patch_overlapped(patcher, items, out, hasher, read_literal)

    def as_ops() -> Iterator[Op]:
        for item in items:
            if isinstance(item, int):
                data = bytearray(item)
                with memoryview(data) as view:
                    read_literal(view)
                yield LiteralData(bytes(data))
            else:
                yield item

    written = 0
    for op in as_ops():
        for piece in patcher.expand(op):
            if hasher is not None:
                hasher.update(piece)
            _write_all(out, piece)
            written += memoryview(piece).nbytes
    return written


def _patch_overlapped(
    patcher: Patcher,
    ops: Iterable[Op | int],
    out: IO[bytes],
    hasher: Hasher | None,
    read_literal: Callable[[memoryview], None] | None = None,
) -> int:
    """`patch` from a basis file to an output file, reading while a thread writes.

    Writing into a new file costs the kernel about four times what reading the basis
    does (page allocation and copying); a writer thread takes the writes, so that the
    reads and the hashing of the next pieces overlap with them. The output is assembled
    in a few 4 MiB buffers (block copies are read straight into them, literals copied
    in), each handed to the writer once full: few large writes and few hand-overs, and
    at most `_BUFFERS` buffers of memory. The caller still sees one synchronous call;
    an exception on either side stops both and is raised here.

    An int in `ops` is a literal of that many bytes still in the caller's stream:
    `read_literal` fills a buffer slice with them (no intermediate bytes object).
    """
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(_BUFFERS):
        free.put(bytearray(_COPY_CHUNK))
    work: queue.SimpleQueue[tuple[memoryview, bytearray] | None] = queue.SimpleQueue()
    failed: list[BaseException] = []
    cancel = threading.Event()

    def writer() -> None:
        while (item := work.get()) is not _STOP:
            view, buf = item
            if not failed and not cancel.is_set():
                try:
                    _write_all(out, view)
                except BaseException as exc:  # noqa: BLE001  (re-raised by the caller)
                    failed.append(exc)
            view.release()
            free.put(buf)

    thread = threading.Thread(target=writer, name="rsync-delta-patch-writer", daemon=True)
    thread.start()
    written = 0
    cur = free.get()
    fill = 0

    def ship(*, last: bool = False) -> None:
        nonlocal cur, fill
        view = memoryview(cur)[:fill]
        if hasher is not None:
            hasher.update(view)
        work.put((view, cur))
        if not last:
            cur = free.get()
            fill = 0

    try:
        for op in ops:
            if failed:
                break
            if isinstance(op, int):
                assert read_literal is not None  # noqa: S101  (ints only come with it)
                written += op
                left = op
                while left:
                    n = min(left, _COPY_CHUNK - fill)
                    with memoryview(cur) as view:
                        read_literal(view[fill : fill + n])
                    fill += n
                    left -= n
                    if fill == _COPY_CHUNK:
                        ship()
                continue
            if isinstance(op, LiteralData):
                size = len(op.data)
                written += size
                if fill + size < _COPY_CHUNK:  # the usual case: it fits
                    cur[fill : fill + size] = op.data
                    fill += size
                    continue
                with memoryview(op.data) as data:
                    pos = 0
                    while pos < size:
                        n = min(size - pos, _COPY_CHUNK - fill)
                        cur[fill : fill + n] = data[pos : pos + n]
                        fill += n
                        pos += n
                        if fill == _COPY_CHUNK:
                            ship()
                continue
            start, stop = patcher._byte_range(op)
            written += stop - start
            while start < stop:
                n = min(stop - start, _COPY_CHUNK - fill)
                with memoryview(cur) as view:
                    got = patcher._read_exactly(view[fill : fill + n], start, stop)
                fill += got
                start += got
                if fill == _COPY_CHUNK:
                    ship()
        if fill and not failed:
            ship(last=True)
    except BaseException:
        cancel.set()
        raise
    finally:
        work.put(_STOP)
        thread.join()
    if failed:
        raise failed[0]
    return written


apply_patch = patch
"""Alias of `patch` (the name the style guide's module map uses)."""
