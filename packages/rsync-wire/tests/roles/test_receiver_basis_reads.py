"""Matched blocks are read from the basis in pieces small enough to stay in the heap."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio

from rsync_wire.roles import receiver
from rsync_wire.stream_malloc import _MMAP_AT

if TYPE_CHECKING:
    from pathlib import Path


class _Collect:
    """A hasher that keeps every piece it is given."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self.pieces.append(bytes(data))

    def digest(self) -> bytes:
        return b""


def _read(fd: int, offset: int, length: int) -> list[bytes]:
    seen = _Collect()
    sink = receiver._Sink(-1, seen)
    anyio.run(receiver.ReceiverRole._read_basis, sink, fd, offset, length)
    return seen.pieces


def test_a_long_run_of_blocks_is_read_whole_in_small_pieces(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = tmp_path / "basis"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        pieces = _read(fd, 7, len(data) - 9)
    finally:
        os.close(fd)
    assert b"".join(pieces) == data[7:-2]
    # each below glibc's mmap threshold as rsync_wire.stream_malloc sets it: no fresh
    # mapping (and a page fault per 4 KiB) per read
    assert max(len(p) for p in pieces) < _MMAP_AT


def test_a_basis_shorter_than_the_blocks_ends_the_run(tmp_path: Path) -> None:
    path = tmp_path / "basis"
    path.write_bytes(b"x" * 1000)
    fd = os.open(path, os.O_RDONLY)
    try:
        pieces = _read(fd, 0, 4000)
    finally:
        os.close(fd)
    assert b"".join(pieces) == b"x" * 1000
