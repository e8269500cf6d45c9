"""The receiving side (generator + receiver) against our own SenderRole, in one process.

``run_local_copy`` wires the two over an in-memory stream pair; every protocol from 27 to
32 and the main options are exercised on a small tree built here.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from rsync_wire.proto.constants import Item
from rsync_wire.proto.filters import FilterList
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.local import run_local_copy
from rsync_wire.roles.receiving import NullReporter, ReceiveConfig, ReceiveStats

if TYPE_CHECKING:
    from pathlib import Path

T0 = 1_600_000_000_123_456_789


class Recorder(NullReporter):
    def __init__(self) -> None:
        self.items: list[tuple[bytes, int, bytes | None]] = []
        self.deletes: list[bytes] = []
        self.messages: list[bytes] = []
        self.listed: list[bytes] = []

    def item(self, entry: object, name: bytes, iflags: int, xname: bytes | None) -> None:
        self.items.append((name, iflags, xname))

    def deleted(self, name: bytes, mode: int) -> None:
        self.deletes.append(name)

    def message(self, code: int, text: bytes) -> None:
        self.messages.append(text)

    def list_entry(self, entry: object, name: bytes) -> None:
        self.listed.append(name)


def make_tree(root: Path) -> None:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * 4000)
    (root / "sub" / "b.txt").write_bytes(b"world\n")
    (root / "sub" / "deep" / "c.txt").write_bytes(b"x" * 5000)
    (root / "exec.sh").write_bytes(b"#!/bin/sh\n")
    (root / "exec.sh").chmod(0o750)
    os.symlink("a.txt", root / "link")
    os.link(root / "a.txt", root / "hard")
    os.mkfifo(root / "fifo")
    for path in [*root.rglob("*"), root]:
        os.utime(path, ns=(T0, T0), follow_symlinks=False)


def copy(
    src: Path,
    dest: Path,
    *,
    protocol: int = 32,
    config: ReceiveConfig | None = None,
    reporter: Recorder | None = None,
    **opts: object,
) -> ReceiveStats:
    o = TransferOptions(sender=True, **opts)  # type: ignore[arg-type]
    return anyio.run(
        lambda: run_local_copy(
            [os.fsencode(src) + b"/"],
            os.fsencode(dest),
            o,
            config or ReceiveConfig(),
            reporter,
            protocol=protocol,
        )
    )


ARCHIVE: dict[str, Any] = {
    "recursive": True,
    "preserve_links": True,
    "preserve_perms": True,
    "preserve_times": True,
    "preserve_uid": True,
    "preserve_gid": True,
    "preserve_devices": True,
    "preserve_specials": True,
}


def assert_same(a: Path, b: Path, *, nsec: bool = True) -> None:
    names_a = sorted(str(p.relative_to(a)) for p in a.rglob("*"))
    names_b = sorted(str(p.relative_to(b)) for p in b.rglob("*"))
    assert names_a == names_b
    for rel in names_a:
        sa, sb = (a / rel).lstat(), (b / rel).lstat()
        assert stat.S_IFMT(sa.st_mode) == stat.S_IFMT(sb.st_mode), rel
        if not stat.S_ISLNK(sa.st_mode):
            assert sa.st_mode == sb.st_mode, rel
        if stat.S_ISREG(sa.st_mode):
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        if stat.S_ISLNK(sa.st_mode):
            assert os.readlink(a / rel) == os.readlink(b / rel)
        want = sa.st_mtime_ns if nsec else sa.st_mtime_ns // 10**9 * 10**9
        assert sb.st_mtime_ns == want, rel


@pytest.mark.parametrize("protocol", [27, 28, 29, 30, 31, 32])
def test_copy_update_and_delete_at_every_protocol(tmp_path: Path, protocol: int) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, protocol=protocol, **ARCHIVE)
    assert_same(src, dest, nsec=protocol >= 31)
    # change the middle of a big file, add, delete
    data = bytearray((src / "big.bin").read_bytes())
    data[500_000:500_010] = b"CHANGED!!!"
    (src / "big.bin").write_bytes(bytes(data))
    (src / "sub" / "b.txt").unlink()
    (src / "new.txt").write_bytes(b"new\n")
    (dest / "extra").write_bytes(b"extra")
    for path in (src / "big.bin", src / "new.txt", src / "sub", src):
        os.utime(path, ns=(T0 + 10**10, T0 + 10**10))
    rec = Recorder()
    stats = copy(src, dest, protocol=protocol, reporter=rec, delete_mode="", **ARCHIVE)
    assert_same(src, dest, nsec=protocol >= 31)
    assert stats.matched_data > 900_000
    assert stats.literal_data < 10_000
    assert sorted(rec.deletes) == [b"extra", b"sub/b.txt"]


def test_hard_links(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, preserve_hard_links=1, **ARCHIVE)
    assert (dest / "a.txt").stat().st_ino == (dest / "hard").stat().st_ino


def test_itemized_records_of_a_first_copy(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    rec = Recorder()
    copy(src, dest, reporter=rec, config=ReceiveConfig(itemize=1), **ARCHIVE)
    flags = {name: iflags for name, iflags, _ in rec.items}
    assert flags[b"a.txt"] & Item.TRANSFER
    assert flags[b"a.txt"] & Item.IS_NEW
    assert flags[b"link"] & Item.LOCAL_CHANGE
    assert flags[b"sub"] == Item.LOCAL_CHANGE | Item.IS_NEW
    rec = Recorder()
    copy(src, dest, reporter=rec, config=ReceiveConfig(itemize=1), **ARCHIVE)
    assert rec.items == []  # nothing changed, nothing to say


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    rec = Recorder()
    copy(src, dest, reporter=rec, dry_run=True, **ARCHIVE)
    assert not dest.exists()
    assert any(name == b"big.bin" for name, _, _ in rec.items)
    dest.mkdir()
    (dest / "extra").write_bytes(b"x")
    rec = Recorder()
    copy(src, dest, reporter=rec, dry_run=True, delete_mode="", **ARCHIVE)
    assert sorted(p.name for p in dest.iterdir()) == ["extra"]
    assert rec.deletes == [b"extra"]


@pytest.mark.parametrize("mode", ["before", "during", "after", "delay"])
def test_delete_modes_and_protection(tmp_path: Path, mode: str) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, **ARCHIVE)
    (dest / "gone").mkdir()
    (dest / "gone" / "f").write_bytes(b"f")
    (dest / "keep.tmp").write_bytes(b"k")
    filters = FilterList()
    filters.add_exclude(b"*.tmp")
    rec = Recorder()
    stats = copy(
        src, dest, reporter=rec, delete_mode=mode, config=ReceiveConfig(filters=filters), **ARCHIVE
    )
    assert (dest / "keep.tmp").exists()
    assert not (dest / "gone").exists()
    assert rec.deletes == [b"gone/f", b"gone"]
    assert stats.deleted_files == 2
    assert stats.deleted_dirs == 1


def test_max_delete(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, **ARCHIVE)
    for i in range(3):
        (dest / f"x{i}").write_bytes(b"x")
    stats = copy(src, dest, delete_mode="", config=ReceiveConfig(max_delete=1), **ARCHIVE)
    assert stats.deleted_files == 1
    assert stats.skipped_deletes == 2
    assert int(stats.exit_code()) == 25


def test_quick_check_variants(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, **ARCHIVE)
    # same size and mtime, other content: only -c (or -I) notices
    (dest / "a.txt").write_bytes(b"HELLO\n")
    os.utime(dest / "a.txt", ns=(T0, T0))
    copy(src, dest, **ARCHIVE)
    assert (dest / "a.txt").read_bytes() == b"HELLO\n"
    copy(src, dest, always_checksum=True, **ARCHIVE)
    assert (dest / "a.txt").read_bytes() == b"hello\n"
    (dest / "a.txt").write_bytes(b"HELLO\n")
    os.utime(dest / "a.txt", ns=(T0, T0))
    copy(src, dest, ignore_times=True, **ARCHIVE)
    assert (dest / "a.txt").read_bytes() == b"hello\n"
    # --size-only ignores a changed mtime; -u keeps a newer destination file
    os.utime(dest / "a.txt", ns=(T0 + 10**12, T0 + 10**12))
    (dest / "a.txt").write_bytes(b"newer\n")
    os.utime(dest / "a.txt", ns=(T0 + 10**12, T0 + 10**12))
    copy(src, dest, update_only=True, **ARCHIVE)
    assert (dest / "a.txt").read_bytes() == b"newer\n"
    copy(src, dest, size_only=True, **ARCHIVE)
    assert (dest / "a.txt").read_bytes() == b"newer\n"
    # ... but --size-only fixed the mtime, as rsync does for a file it considers current
    assert (dest / "a.txt").stat().st_mtime_ns == T0


def test_size_limits(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, max_size=4000, min_size=7, **ARCHIVE)
    assert not (dest / "big.bin").exists()
    assert not (dest / "a.txt").exists()
    assert (dest / "exec.sh").exists()


def test_permissions_without_p(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    opts = {**ARCHIVE, "preserve_perms": False}
    copy(src, dest, config=ReceiveConfig(umask=0o077), **opts)
    assert stat.S_IMODE((dest / "exec.sh").stat().st_mode) == 0o700
    assert stat.S_IMODE((dest / "a.txt").stat().st_mode) == 0o600
    # an existing file keeps its permissions
    (dest / "a.txt").chmod(0o640)
    (src / "a.txt").write_bytes(b"changed\n")
    copy(src, dest, config=ReceiveConfig(umask=0o077), **opts)
    assert stat.S_IMODE((dest / "a.txt").stat().st_mode) == 0o640


def test_whole_file_and_list_only(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, **ARCHIVE)
    (src / "big.bin").write_bytes((src / "big.bin").read_bytes()[:-10] + b"0123456789")
    stats = copy(src, dest, config=ReceiveConfig(whole_file=True), **ARCHIVE)
    assert stats.matched_data == 0
    assert stats.literal_data >= 1_000_000
    rec = Recorder()
    o = TransferOptions(sender=True, recursive=True, list_only=True)
    anyio.run(
        lambda: run_local_copy(
            [os.fsencode(src) + b"/"], None, o, ReceiveConfig(list_only=True), rec
        )
    )
    assert b"sub/deep/c.txt" in rec.listed


def test_single_file_under_another_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    target = tmp_path / "renamed.bin"
    o = TransferOptions(sender=True, preserve_times=True)
    anyio.run(
        lambda: run_local_copy(
            [os.fsencode(src / "big.bin")], os.fsencode(target), o, ReceiveConfig()
        )
    )
    assert target.read_bytes() == (src / "big.bin").read_bytes()


def test_directory_in_the_way_of_a_file_and_back(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    make_tree(src)
    copy(src, dest, **ARCHIVE)
    (src / "empty").rmdir()
    (src / "empty").write_bytes(b"now a file")
    (src / "sub" / "b.txt").unlink()
    (src / "sub" / "b.txt").mkdir()
    copy(src, dest, delete_mode="", **ARCHIVE)
    assert (dest / "empty").read_bytes() == b"now a file"
    assert (dest / "sub" / "b.txt").is_dir()
