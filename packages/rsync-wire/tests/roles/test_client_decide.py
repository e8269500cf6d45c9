"""The receiving side's pure decisions: quick check, itemize flags, permissions without -p."""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace
from typing import Any

import pytest

from rsync_wire.proto.constants import Item
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.decide import (
    ITEM,
    SIGNIFICANT_ITEM_FLAGS,
    dest_mode,
    itemize_flags,
    quick_check_ok,
    same_time,
    unchanged_attrs,
)

REG = stat.S_IFREG | 0o644


def st(**kw: int) -> SimpleNamespace:
    base = {
        "st_mode": REG,
        "st_size": 10,
        "st_mtime_ns": 1000 * 10**9 + 5,
        "st_uid": 0,
        "st_gid": 0,
        "st_rdev": 0,
    }
    return SimpleNamespace(**{**base, **kw})


def entry(**kw: object) -> FileEntry:
    base: dict[str, object] = {
        "name": b"f",
        "mode": REG,
        "size": 10,
        "mtime": 1000,
        "mtime_nsec": 5,
    }
    return FileEntry(**{**base, **kw})  # type: ignore[arg-type]


def test_item_constants_match_the_flags() -> None:
    for name in ("TRANSFER", "IS_NEW", "LOCAL_CHANGE", "XNAME_FOLLOWS", "REPORT_TIME"):
        assert getattr(ITEM, name) == int(getattr(Item, name))
    assert SIGNIFICANT_ITEM_FLAGS & Item.LOCAL_CHANGE == 0
    assert SIGNIFICANT_ITEM_FLAGS & Item.TRANSFER


def test_same_time_windows() -> None:
    assert same_time(10, 1, 10, 2)
    assert not same_time(10, 1, 10, 2, modify_window=-1)
    assert same_time(10, 0, 12, 0, modify_window=2)
    assert not same_time(10, 0, 13, 0, modify_window=2)


@pytest.mark.parametrize(
    ("opts", "stat_kw", "checksum", "expected"),
    [
        ({}, {}, None, True),
        ({}, {"st_size": 11}, None, False),
        ({}, {"st_mtime_ns": 999 * 10**9}, None, False),
        ({"size_only": True}, {"st_mtime_ns": 999 * 10**9}, None, True),
        ({"ignore_times": True}, {}, None, False),
        ({"always_checksum": True}, {}, b"sum", True),
        ({"always_checksum": True}, {}, b"other", False),
        ({}, {"st_mtime_ns": 1000 * 10**9 + 999}, None, True),  # nanoseconds do not count
    ],
)
def test_quick_check(
    opts: dict[str, Any], stat_kw: dict[str, int], checksum: bytes | None, expected: bool
) -> None:
    e = entry(checksum=b"sum")
    assert quick_check_ok(e, st(**stat_kw), TransferOptions(**opts), checksum=checksum) is expected


def test_quick_check_of_links_and_devices() -> None:
    link = entry(mode=stat.S_IFLNK | 0o777, link_target=b"t")
    assert quick_check_ok(link, st(), TransferOptions(), link_target=b"t")
    assert not quick_check_ok(link, st(), TransferOptions(), link_target=b"u")
    dev = entry(mode=stat.S_IFCHR | 0o600, rdev_major=1, rdev_minor=3)
    assert quick_check_ok(
        dev, st(st_mode=stat.S_IFCHR | 0o600, st_rdev=os.makedev(1, 3)), TransferOptions()
    )
    assert not quick_check_ok(
        dev, st(st_mode=stat.S_IFBLK | 0o600, st_rdev=os.makedev(1, 3)), TransferOptions()
    )


def test_itemize_flags() -> None:
    a = TransferOptions(
        preserve_times=True, preserve_perms=True, preserve_uid=True, preserve_gid=True
    )
    e = entry()
    assert (
        itemize_flags(e, REG, 0, 0, None, a, ITEM.TRANSFER, am_root=True, skip_group=False)
        == ITEM.TRANSFER | ITEM.IS_NEW
    )
    flags = itemize_flags(
        e,
        REG | 0o100,
        5,
        6,
        st(st_size=3, st_mtime_ns=0),
        a,
        ITEM.TRANSFER,
        am_root=True,
        skip_group=False,
    )
    for bit in ("REPORT_SIZE", "REPORT_TIME", "REPORT_PERMS", "REPORT_OWNER", "REPORT_GROUP"):
        assert flags & getattr(ITEM, bit), bit
    # not root: no owner report; skipped group: no group report
    flags = itemize_flags(e, REG, 5, 6, st(), a, 0, am_root=False, skip_group=True)
    assert flags == 0
    # without -t a transferred file reports "T" (time will be the transfer time)
    flags = itemize_flags(
        e, REG, 0, 0, st(), TransferOptions(), ITEM.TRANSFER, am_root=False, skip_group=True
    )
    assert flags & ITEM.REPORT_TIME


def test_unchanged_attrs() -> None:
    a = TransferOptions(preserve_times=True, preserve_perms=True)
    assert unchanged_attrs(entry(), REG, 0, 0, st(), a, am_root=False, skip_group=True)
    assert not unchanged_attrs(entry(), REG | 0o1, 0, 0, st(), a, am_root=False, skip_group=True)


def test_dest_mode() -> None:
    F = stat.S_IFREG  # noqa: N806
    # a new file: the sender's bits, masked by the default permissions, no set-id bits
    assert dest_mode(F | 0o4755, None, 0o755, preserve_executability=False) == F | 0o755
    assert dest_mode(F | 0o777, None, 0o022 ^ 0o777, preserve_executability=False) == F | 0o755
    # an existing file keeps its own bits ...
    assert dest_mode(F | 0o777, F | 0o600, 0o755, preserve_executability=False) == F | 0o600
    # ... but -E turns on execute where it can read, or off
    assert dest_mode(F | 0o755, F | 0o640, 0o755, preserve_executability=True) == F | 0o750
    assert dest_mode(F | 0o644, F | 0o750, 0o755, preserve_executability=True) == F | 0o640
