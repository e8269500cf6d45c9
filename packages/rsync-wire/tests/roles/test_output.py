"""roles/output.py: temporary files in a temp dir, and sparse writing."""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest

from rsync_wire.fs_write import DestTree, is_temp_name_of, temp_name_for
from rsync_wire.roles.output import Output, SparseWriter

if TYPE_CHECKING:
    from pathlib import Path


def _data_ranges(path: Path) -> list[tuple[int, int]]:
    """Where the file has data (SEEK_DATA/SEEK_HOLE)."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end))
            pos = end
    finally:
        os.close(fd)
    return out


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(data):
        n = rng.randrange(1, 70_000)
        out.append(data[pos : pos + n])
        pos += n
    return out


def test_sparse_writer_leaves_holes_whatever_the_chunking(tmp_path: Path) -> None:
    rng = random.Random(3)  # noqa: S311 - test data
    data = rng.randbytes(5000) + bytes(200_000) + rng.randbytes(100) + bytes(300) + bytes(90_000)
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        writer = SparseWriter(fd)
        writer.write(_chunks(data, rng))
        writer.finish()
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    ranges = _data_ranges(path)
    # the long run inside and the run at the end are holes (at block granularity)
    assert ranges
    assert ranges[0][0] == 0
    assert ranges[0][1] < 5000 + 200_000
    assert ranges[-1][1] < len(data)


def test_sparse_writer_only_zeros(tmp_path: Path) -> None:
    path = tmp_path / "z"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        writer = SparseWriter(fd)
        writer.write([bytes(100_000), bytes(23)])
        writer.finish()
    finally:
        os.close(fd)
    assert path.stat().st_size == 100_023
    assert path.stat().st_blocks == 0


def test_sparse_writer_punches_holes_in_old_data(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_bytes(b"\xff" * 300_000)
    new = b"a" * 4096 + bytes(250_000) + b"b" * 4096
    fd = os.open(path, os.O_RDWR)
    try:
        writer = SparseWriter(fd, punch_below=300_000)
        writer.write([new])
        writer.finish()
        os.ftruncate(fd, len(new))
    finally:
        os.close(fd)
    assert path.read_bytes() == new
    assert len(_data_ranges(path)) == 2


def test_output_temp_dir_names_and_renames(tmp_path: Path) -> None:
    (tmp_path / "dest" / "sub").mkdir(parents=True)
    (tmp_path / "tmp").mkdir()
    tree = DestTree(tmp_path / "dest")
    temp = DestTree(tmp_path / "tmp")
    out = Output(tree, temp_tree=temp, temp_shown=b"../tmp")
    try:
        fd, tmp = out.create_temp(b"sub/file")
        os.write(fd, b"content")
        os.close(fd)
        assert tmp.startswith(b"file.")  # no leading dot in a temp dir
        assert not is_temp_name_of(tmp, b"file")
        assert temp_name_for(b".file", dot=False).startswith(b".file.")
        assert out.shown_temp(b"sub/file", tmp) == b"../tmp/" + tmp
        assert out.shown_temp(b"sub/file") == b"../tmp/file.XXXXXX"
        out.rename_temp(b"sub/file", tmp)
        assert (tmp_path / "dest" / "sub" / "file").read_bytes() == b"content"
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        out.close()
        tree.close()


def test_output_failing_temp_dir() -> None:
    err = OSError(22, "Invalid argument")
    out = Output(DestTree("."), temp_shown=b"../x", temp_error=err)
    try:
        with pytest.raises(OSError, match="Invalid argument"):
            out.create_temp(b"f")
        assert out.in_temp_dir
    finally:
        out.tree.close()


def test_delay_updates_keeps_the_receiver_from_incremental_recursion() -> None:
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.flists import receiver_can_inc_recurse

    assert receiver_can_inc_recurse(TransferOptions(recursive=True))
    assert not receiver_can_inc_recurse(TransferOptions(recursive=True, delay_updates=True))


def test_hard_links_keep_the_receiver_incremental() -> None:
    """rsync 3.5's receiver recurses incrementally with -H (compat.c set_allow_inc_recurse())."""
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.flists import receiver_can_inc_recurse

    assert receiver_can_inc_recurse(TransferOptions(recursive=True, preserve_hard_links=1))
