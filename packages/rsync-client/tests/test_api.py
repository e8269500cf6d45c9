"""The Python API on real local copies: statistics, errors and their output."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio
import pytest

from rsync_client import Stats, SyncError, async_sync, sync

if TYPE_CHECKING:
    from pathlib import Path

T = 1_600_000_000  # one fixed time for every file of the trees


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a" * 1000)
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (root / "link").symlink_to("a.txt")
    for path in (root / "a.txt", root / "sub" / "b.bin", root / "sub", root):
        os.utime(path, (T, T))


def test_sync_returns_the_public_stats(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    stats = sync(f"{src}/", dst, archive=True)
    assert type(stats) is Stats
    assert (dst / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert os.readlink(dst / "link") == "a.txt"
    assert (stats.files, stats.dirs, stats.symlinks, stats.regular_files) == (5, 2, 1, 2)
    assert stats.transferred_files == 2
    assert stats.total_size == 1000 + 10240 + len("a.txt")
    assert stats.literal_data == 11240
    assert stats.matched_data == 0
    assert stats.created_files == 5  # the new destination's "." too, as rsync counts
    assert stats.bytes_sent > 0
    assert stats.bytes_received > 0
    # the second run finds everything up to date
    again = sync([f"{src}/"], str(dst), archive=True, delete=True)
    assert again.transferred_files == 0
    assert again.literal_data == 0
    assert again.deleted_files == 0


def test_async_sync_deletes_and_counts(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    sync(f"{src}/", dst, archive=True)
    (dst / "extra").write_bytes(b"x")

    async def main() -> Stats:
        return await async_sync(f"{src}/", dst, recursive=True, delete=True, times=True)

    stats = anyio.run(main)
    assert stats.deleted_files == 1
    assert not (dst / "extra").exists()


def test_sync_error_carries_code_message_stats_and_output(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    with pytest.raises(SyncError) as info:
        sync([f"{src}/a.txt", f"{src}/missing"], tmp_path / "dst", archive=True, verbose=True)
    exc = info.value
    assert exc.code == 23
    assert exc.exit_code == 23
    assert exc.message == str(exc)
    assert "rsync error: some files/attrs were not transferred" in exc.message
    assert 'link_stat "' in exc.output
    assert "missing" in exc.output
    assert "a.txt" in exc.output  # the -v line of the file that was copied
    assert exc.output.rstrip("\n").endswith(exc.message.splitlines()[-1])
    assert exc.stats is not None
    assert exc.stats.transferred_files == 1
    assert (tmp_path / "dst").read_bytes() == b"a" * 1000  # one file arrived: dst is it


def test_failure_before_any_transfer_has_no_stats(tmp_path: Path) -> None:
    with pytest.raises(SyncError) as info:
        sync(f"rsync://127.0.0.1:{_closed_port()}/mod/", tmp_path / "d")
    assert info.value.code == 10
    assert info.value.stats is None
    assert "Connection refused" in info.value.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
