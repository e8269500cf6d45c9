"""The public API's types, checked by mypy (``hatch run types``, and test_typing.py runs
mypy on this file) and run as a test."""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_type

import anyio
import pytest

import rsync_client
from rsync_client import (
    ClientOptions,
    OptionError,
    Stats,
    SyncError,
    SyncOptionError,
    SyncOptions,
    async_sync,
    sync,
)

if TYPE_CHECKING:
    from pathlib import Path


def test_public_api_types(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    options: SyncOptions = {"archive": True, "exclude": ["*.tmp"], "bwlimit": 1000}
    assert_type(sync(f"{src}/", tmp_path / "first", **options), Stats)
    stats = sync(
        f"{src}/",
        tmp_path / "dst",
        archive=True,
        delete=True,
        verbose=1,
        bwlimit="10M",
        max_size=1 << 20,
        exclude_from=[],
        chmod="u+rw",
    )
    assert_type(stats, Stats)
    assert_type(stats.transferred_files, int)
    assert_type(stats.bytes_sent, int)
    assert_type(stats.elapsed, float)
    assert_type(stats.file_list_generation_time, float | None)
    assert_type(stats.regular_files, int)
    assert stats.transferred_files == 1
    with pytest.raises(SyncError) as info:
        sync(str(tmp_path / "missing"), tmp_path / "dst", print_output=False)
    assert_type(info.value.code, int)
    assert_type(info.value.output, str)
    assert_type(info.value.stats, Stats | None)
    assert info.value.code == 23
    assert issubclass(SyncOptionError, TypeError)
    assert issubclass(SyncOptionError, OptionError)

    async def pull() -> Stats:
        return await async_sync(f"{src}/", tmp_path / "async", archive=True, checksum=True)

    assert anyio.run(pull).transferred_files == 1
    assert rsync_client.sync is sync
    assert ClientOptions().verbose == 0
