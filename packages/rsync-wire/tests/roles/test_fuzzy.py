"""roles/fuzzy.py: rsync's fuzzy distance and suffix rules, and the search."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from rsync_wire.fs_write import DestTree
from rsync_wire.roles.fuzzy import FuzzyFinder, find_filename_suffix, fuzzy_distance

if TYPE_CHECKING:
    from pathlib import Path

# (name, suffix) as rsync 3.5's find_filename_suffix() (util1.c, compiled) gives them
SUFFIXES = [
    (b"foo.tar.gz", b".gz"),
    (b"foo.bak", b""),
    (b"foo.txt~", b".txt"),
    (b"foo.12", b".12"),
    (b"a.b.12", b".b"),
    (b"x.bak.old", b".bak"),
    (b"foo.bak~", b".bak"),
    (b"foo.~12~", b".~12"),
    (b".hidden", b""),
    (b"a.b.c.orig", b".c"),
    (b"data-1.tar.bak", b".tar"),
]

# (s1, s2, upper limit, distance) as rsync 3.5's fuzzy_distance() gives them
DISTANCES = [
    (b"abc", b"abd", 9_999_999, 65537),
    (b"", b"ab", 9_999_999, 131267),
    (b"a", b"abcdefg", 5 << 16, 4294901761),
    (b"data-1.tar", b"data-2.tar", 25 << 16, 65537),
    (b"\xc3\xa9", b"a", 99_999_999, 131144),
    (b"", b"\xc3\xa9", 99_999_999, 130924),
]


@pytest.mark.parametrize(("name", "suffix"), SUFFIXES)
def test_suffix_as_rsync(name: bytes, suffix: bytes) -> None:
    assert find_filename_suffix(name) == suffix


@pytest.mark.parametrize(("s1", "s2", "limit", "distance"), DISTANCES)
def test_distance_as_rsync(s1: bytes, s2: bytes, limit: int, distance: int) -> None:
    assert fuzzy_distance(s1, s2, limit) == distance


def test_finder_prefers_size_and_time_then_the_closest_name(tmp_path: Path) -> None:
    for name, size, mtime in (
        (b"data-1.tar", 100, 10),
        (b"data-1.tar.bak", 90, 10),
        (b"other.bin", 55, 77),
        (b"empty", 0, 77),
        (b"zz-unrelated-name-far-away", 10, 10),
    ):
        path = tmp_path / os.fsdecode(name)
        path.write_bytes(b"x" * size)
        os.utime(path, (mtime, mtime))
    tree = DestTree(tmp_path)
    try:
        finder = FuzzyFinder([tree])
        assert finder.find(b"renamed", 55, 77) == (0, b"other.bin")
        assert finder.find(b"data-2.tar", 1, 1) == (0, b"data-1.tar")
        assert finder.find(b"qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", 1, 1) is None
        finder.changing(b"data-1.tar")  # being updated: no basis for later files
        assert finder.find(b"data-2.tar", 1, 1) == (0, b"data-1.tar.bak")
    finally:
        tree.close()
