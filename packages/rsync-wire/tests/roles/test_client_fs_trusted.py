"""open_trusted(): paths the user named follow only root's and our own symlinks."""

from __future__ import annotations

import errno
import os
import pwd
from typing import TYPE_CHECKING

import pytest

from rsync_wire.fs import UntrustedSymlinkError, open_trusted

if TYPE_CHECKING:
    from pathlib import Path


def _name(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_plain_and_own_symlinks_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real" / "d").mkdir(parents=True)
    os.symlink(tmp_path / "real", tmp_path / "abs")
    os.symlink("real/d", tmp_path / "rel")
    os.symlink("../d", tmp_path / "real" / "d" / "up")
    for path, want in [
        (tmp_path / "real", tmp_path / "real"),
        (tmp_path / "abs" / "d", tmp_path / "real" / "d"),
        (tmp_path / "rel", tmp_path / "real" / "d"),
        (tmp_path / "rel" / "up" / "up/", tmp_path / "real" / "d"),
    ]:
        assert _name(open_trusted(os.fsencode(path), os.O_PATH)) == str(want)


def test_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path)
    assert _name(open_trusted(b"a/", os.O_RDONLY | os.O_DIRECTORY)) == str(tmp_path / "a")
    assert _name(open_trusted(b".", os.O_PATH)) == str(tmp_path)


def test_missing_and_loops(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_trusted(os.fsencode(tmp_path / "nope" / "x"), os.O_PATH)
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(OSError, match="symbolic links") as info:
        open_trusted(os.fsencode(tmp_path / "loop"), os.O_PATH)
    assert info.value.errno == errno.ELOOP
    assert not isinstance(info.value, UntrustedSymlinkError)
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        open_trusted(os.fsencode(tmp_path / "f" / "x"), os.O_PATH)


def test_another_users_symlink_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a symlink to another user")
    uid = pwd.getpwnam("nobody").pw_uid
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "planted")
    os.lchown(tmp_path / "planted", uid, uid)
    for path in (tmp_path / "planted", tmp_path / "planted" / "x"):
        with pytest.raises(UntrustedSymlinkError) as info:
            open_trusted(os.fsencode(path), os.O_PATH | os.O_CREAT)
        assert info.value.errno == errno.ELOOP
    assert list((tmp_path / "outside").iterdir()) == []
