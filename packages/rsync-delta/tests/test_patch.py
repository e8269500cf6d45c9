from __future__ import annotations

import io
import os

import pytest

from rsync_delta.errors import PatchError
from rsync_delta.hashes import ChecksumRule
from rsync_delta.ops import BlockMatch, LiteralData, Op
from rsync_delta.patch import Patcher, apply_patch, patch


def test_patch_from_bytes_and_files(tmp_path: os.PathLike[str]) -> None:
    basis = bytes(range(256)) * 10  # 10 blocks of 256
    ops: list[Op] = [BlockMatch(9), LiteralData(b"--"), BlockMatch(0, 2), BlockMatch(9)]
    expected = basis[2304:] + b"--" + basis[:512] + basis[2304:]
    out = io.BytesIO()
    assert patch(basis, ops, out, block_length=256) == len(expected)
    assert out.getvalue() == expected
    path = os.path.join(tmp_path, "basis")
    with open(path, "wb") as f:
        f.write(basis)
    with open(path, "rb") as f:
        out = io.BytesIO()
        patch(f, ops, out, block_length=256)
    assert out.getvalue() == expected
    out = io.BytesIO()
    patch(io.BytesIO(basis), ops, out, block_length=256)  # seekable, no file descriptor
    assert out.getvalue() == expected
    assert apply_patch is patch


def test_short_last_block_and_hasher() -> None:
    basis = b"0123456789"
    out = io.BytesIO()
    hasher = ChecksumRule.plain("md5").file_hasher()
    patch(basis, [BlockMatch(2), BlockMatch(0, 3)], out, block_length=4, hasher=hasher)
    assert out.getvalue() == b"89" + basis
    expected = ChecksumRule.plain("md5").file_hasher()
    expected.update(b"89" + basis)
    assert hasher.digest() == expected.digest()


def test_large_copies_are_chunked(tmp_path: os.PathLike[str]) -> None:
    basis = os.urandom((9 << 20) + 3)
    path = os.path.join(tmp_path, "basis")
    with open(path, "wb") as f:
        f.write(basis)
    with open(path, "rb") as f:
        patcher = Patcher(f, block_length=1 << 20)
        assert patcher.block_count == 10
        assert patcher.basis_length == len(basis)
        pieces = [bytes(p) for p in patcher.expand(BlockMatch(0, 10))]
    assert len(pieces) == 3
    assert b"".join(pieces) == basis


@pytest.mark.parametrize("op", [BlockMatch(10), BlockMatch(8, 3)])
def test_index_out_of_range(op: BlockMatch) -> None:
    with pytest.raises(PatchError, match="out of range"):
        patch(bytes(1000), [op], io.BytesIO(), block_length=100)


def test_basis_that_shrank(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "basis")
    with open(path, "wb") as f:
        f.write(bytes(1000))
    with open(path, "rb") as f:
        patcher = Patcher(f, block_length=100)
        os.truncate(path, 450)
        with pytest.raises(PatchError, match="ended"):
            list(patcher.expand(BlockMatch(3, 2)))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="block_length"):
        Patcher(b"", block_length=-1)
    empty = Patcher(b"abc", block_length=0)  # rsync's "no basis" header: literals only
    assert empty.block_count == 0
    with pytest.raises(PatchError, match="out of range"):
        list(empty.expand(BlockMatch(0)))

    class NoSeek(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(ValueError, match="seekable"):
        Patcher(NoSeek(), block_length=1)
    assert list(Patcher(b"", block_length=1).expand(LiteralData(b""))) == []


def basis_file(tmp_path: os.PathLike[str], data: bytes) -> str:
    path = os.path.join(tmp_path, "basis")
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_file_to_file_overlaps_reads_and_writes(tmp_path: os.PathLike[str]) -> None:
    basis = os.urandom((9 << 20) + 5)
    ops: list[Op] = [BlockMatch(0, 3), LiteralData(b"x" * 1000), BlockMatch(5, 5), BlockMatch(1)]
    blen = 1 << 20
    expected = basis[: 3 * blen] + b"x" * 1000 + basis[5 * blen :] + basis[blen : 2 * blen]
    out_path = os.path.join(tmp_path, "out")
    hasher = ChecksumRule.plain("xxh128").file_hasher()
    with open(basis_file(tmp_path, basis), "rb") as f, open(out_path, "wb") as out:
        assert patch(f, ops, out, block_length=blen, hasher=hasher) == len(expected)
    with open(out_path, "rb") as f:
        assert f.read() == expected
    check = ChecksumRule.plain("xxh128").file_hasher()
    check.update(expected)
    assert hasher.digest() == check.digest()


def test_overlapped_errors_stop_the_writer(tmp_path: os.PathLike[str]) -> None:
    path = basis_file(tmp_path, bytes(5 << 20))
    out_path = os.path.join(tmp_path, "out")
    ops: list[Op] = [BlockMatch(0, 4), BlockMatch(7)]
    with (
        open(path, "rb") as f,
        open(out_path, "wb") as out,
        pytest.raises(PatchError, match="out of range"),
    ):
        patch(f, ops, out, block_length=1 << 20)
    ops = [BlockMatch(0, 5)] * 3
    with (
        open(path, "rb") as f,
        open(out_path, "rb") as out,  # writes fail: read-only
        pytest.raises(OSError, match="write"),
    ):
        patch(f, ops, out, block_length=1 << 20)
