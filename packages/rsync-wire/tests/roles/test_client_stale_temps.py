"""A temporary file a killed run left is removed when the same file is received again."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_sender import FakeSender, encode_list, run_against, session_for

from rsync_wire.fs_write import DestTree, is_temp_name_of, temp_name_for
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions

DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644


def entry(name: bytes, mode: int, **kw: object) -> FileEntry:
    return FileEntry(name=name, mode=mode, mtime=1_600_000_000, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [b"f", b".hidden", b"a.b.c", b"x" * 300])
def test_temp_names_are_recognised(name: bytes) -> None:
    name = name[:255]
    tmp = temp_name_for(name)
    assert is_temp_name_of(tmp, name)
    assert not is_temp_name_of(tmp + b"x", name)
    assert not is_temp_name_of(tmp[:-1] + b"-", name)
    assert not is_temp_name_of(b"." + name + b".notours", name)


@pytest.mark.parametrize("partial", [False, True])
def test_stale_temp_removed_by_the_next_run_of_the_same_file(tmp_path: Path, partial: bool) -> None:
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / "sub" / "file").write_bytes(b"old")
    stale = dest / "sub" / ".file.Ab3dE9"
    stale.write_bytes(b"half of a killed transfer")
    keep = [
        dest / "sub" / ".file.notours",  # not our pattern
        dest / "sub" / ".other.Ab3dE9",  # another file's temporary file
        dest / ".file.Ab3dE9",  # another directory
    ]
    for path in keep:
        path.write_bytes(b"not ours to remove")
    os.symlink("/nonexistent", dest / "sub" / ".file.Zz9Zz9")  # not a regular file
    session = session_for()
    o = TransferOptions(sender=True, recursive=True, partial=partial)
    flist = encode_list(
        session,
        o,
        [entry(b".", DIR), entry(b"sub", DIR), entry(b"sub/file", REG, size=3)],
    )
    sender = FakeSender(
        session,
        o,
        flist,
        sorted_names=[b".", b"sub", b"sub/file"],
        content={b"sub/file": b"new"},
    )
    anyio.run(run_against, sender, os.fsencode(dest), o)
    assert (dest / "sub" / "file").read_bytes() == b"new"
    assert stale.exists() is partial
    for path in keep:
        assert path.read_bytes() == b"not ours to remove"
    assert (dest / "sub" / ".file.Zz9Zz9").is_symlink()


def test_each_directory_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / ".a.AAAAAA").write_bytes(b"")
    (tmp_path / ".b.BBBBBB").write_bytes(b"")
    with DestTree(tmp_path) as tree:
        assert tree.remove_stale_temps(b"a") == [b".a.AAAAAA"]
        (tmp_path / ".b.CCCCCC").write_bytes(b"")  # made after the listing: a live one
        assert tree.remove_stale_temps(b"b") == [b".b.BBBBBB"]
        assert tree.remove_stale_temps(b"a") == []
    assert (tmp_path / ".b.CCCCCC").exists()


def test_a_directory_the_tree_made_is_not_listed(tmp_path: Path) -> None:
    with DestTree(tmp_path) as tree:
        tree.mkdir(b"new", 0o755)
        # a name like a temporary file's, made after the directory: this run's, not stale
        (tmp_path / "new" / ".a.AAAAAA").write_bytes(b"")
        assert tree.remove_stale_temps(b"new/a") == []
    assert (tmp_path / "new" / ".a.AAAAAA").exists()
