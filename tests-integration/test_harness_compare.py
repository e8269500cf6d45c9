"""The harness's own tests: trees are deterministic, and assert_trees_equal catches changes."""

from __future__ import annotations

import os
import shutil
import stat
from typing import TYPE_CHECKING

import pytest

from harness.compare import allocated_bytes, assert_trees_equal, diff_trees, first_difference
from harness.trees import (
    BLOCK_SIZES,
    DEVICES,
    HUGE_SPARSE,
    HUGE_SPARSE_SIZE,
    MiB,
    Tree,
    update_tree,
)

if TYPE_CHECKING:
    from pathlib import Path

    from harness.trees import TreeFactory

ROOT = os.geteuid() == 0


def assert_identical(a: Tree, b: Tree) -> None:
    """Equal in everything the comparison knows, to the nanosecond."""
    __tracebackhide__ = True
    assert_trees_equal(
        a, b, owners=True, hardlinks=True, dir_times=True, symlink_times=True, time_precision_ns=1
    )


@pytest.fixture
def twins(tree_factory: TreeFactory) -> tuple[Tree, Tree]:
    return tree_factory("a"), tree_factory("b")


def test_same_seed_same_tree(twins: tuple[Tree, Tree]) -> None:
    a, b = twins
    assert_identical(a, b)


def test_other_seed_other_contents(tree_factory: TreeFactory) -> None:
    a, b = tree_factory("a", seed=0), tree_factory("b", seed=1)
    differences = diff_trees(a, b)
    assert any(line.startswith("sizes/0000700.bin: content differs") for line in differences)


def test_tree_holds_every_kind(tree_factory: TreeFactory) -> None:
    tree = tree_factory()
    kinds = {
        stat.S_IFMT(os.lstat(os.path.join(dirpath, name)).st_mode)
        for dirpath, dirnames, filenames in os.walk(tree)
        for name in dirnames + filenames
    }
    expected = {stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFIFO, stat.S_IFSOCK}
    if tree.devices:
        expected |= {stat.S_IFCHR, stat.S_IFBLK}
    assert kinds == expected
    for size in BLOCK_SIZES:
        assert (tree / f"sizes/{size:07d}.bin").stat().st_size == size
    assert os.lstat(tree / "times/pre-1970.txt").st_mtime_ns < 0
    assert os.lstat(tree / "times/post-2038.txt").st_mtime_ns > 2**31 * 10**9
    assert os.lstat(tree / "times/nanos.txt").st_mtime_ns % 10**9 == 123_456_789
    assert os.lstat(tree / "hard/a").st_nlink == 3
    assert stat.S_IMODE(os.lstat(tree / "modes/setgid-dir").st_mode) == 0o2775
    assert os.readlink(tree / "links/dangling") == "does/not/exist"
    assert os.path.lexists(os.fsdecode(os.fsencode(tree.root) + b"/names/latin1-\xe9.txt"))
    assert not os.path.lexists(tree / HUGE_SPARSE)


@pytest.mark.privileged
def test_root_tree_has_devices_and_owners(tree_factory: TreeFactory) -> None:
    if not ROOT:
        pytest.skip("needs root")
    tree = tree_factory()
    assert tree.devices, "root could not create device nodes"
    for rel, (kind, major, minor) in DEVICES.items():
        st = os.lstat(tree / rel)
        assert stat.S_IFMT(st.st_mode) == kind
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)
    st = os.lstat(tree / "owners/uid-1234")
    assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_update_tree_is_deterministic(twins: tuple[Tree, Tree]) -> None:
    a, b = twins
    update_tree(a)
    update_tree(b)
    assert_identical(a, b)


def test_update_tree_changes(tree_factory: TreeFactory) -> None:
    old, new = tree_factory("old"), tree_factory("new")
    update_tree(new)
    differences = "\n".join(diff_trees(old, new, hardlinks=True))
    for expected in (
        "sizes/1048583.bin: content differs at byte 500000",
        "sizes/0065537.bin: content differs at byte 30000",
        "sizes/0004096.bin: size 4096 != 7096",
        "sizes/0001400.bin: mtime",
        "sizes/0000699.bin: missing",
        "added: unexpected (directory",
        "added/new.bin: unexpected (file",
        "links/relative: symlink target '../nested/a/file-a.txt' != '../sizes/0000700.bin'",
        "empty-dir: type directory != file",
        "modes/0600.txt: mode 0600 != 0640",
        "hard/y: missing",
        "hard/z: unexpected",
    ):
        assert expected in differences


class TestNegative:
    """Each kind of change is reported, in a readable line."""

    def test_changed_mode(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        (b / "modes/0600.txt").chmod(0o644)
        with pytest.raises(AssertionError, match=r"modes/0600\.txt: mode 0600 != 0644"):
            assert_trees_equal(a, b)
        assert_trees_equal(a, b, perms=False)

    def test_changed_mtime(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        st = os.lstat(b / "sizes/0000700.bin")
        os.utime(b / "sizes/0000700.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
        with pytest.raises(AssertionError, match=r"sizes/0000700\.bin: mtime \d+\.\d{9} != "):
            assert_trees_equal(a, b)
        assert_trees_equal(a, b, times=False)

    def test_time_precision(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        target = b / "times/nanos.txt"
        st = os.lstat(target)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))  # same second
        assert_trees_equal(a, b)
        with pytest.raises(AssertionError, match=r"times/nanos\.txt: mtime"):
            assert_trees_equal(a, b, time_precision_ns=1)

    def test_symlink_and_dir_times_are_separate(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        os.utime(b / "links/relative", ns=(0, 10**9), follow_symlinks=False)
        os.utime(b / "nested", ns=(0, 10**9))
        assert_trees_equal(a, b, symlink_times=False)
        differences = diff_trees(a, b, symlink_times=True, dir_times=True)
        assert [d.split(":")[0] for d in differences] == ["links/relative", "nested"]

    def test_changed_content_same_size_and_time(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        path = b / "sizes/1048583.bin"
        st = os.lstat(path)
        with path.open("r+b") as f:
            f.seek(MiB)
            byte = f.read(1)
            f.seek(MiB)
            f.write(bytes([byte[0] ^ 1]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        with pytest.raises(AssertionError, match=rf"content differs at byte {MiB} "):
            assert_trees_equal(a, b)

    def test_missing_and_unexpected(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        (b / "nested/a/file-a.txt").unlink()
        shutil.rmtree(b / "sizes")
        (b / "extra.txt").write_bytes(b"extra")
        with pytest.raises(AssertionError) as info:
            assert_trees_equal(a, b, dir_times=False)
        message = str(info.value)
        assert "nested/a/file-a.txt: missing (file only in" in message
        assert "sizes: missing (directory only in" in message
        assert "sizes/0000700.bin: missing" in message
        assert "extra.txt: unexpected (file only in" in message

    def test_all_differences_in_one_message(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        (b / "modes/0600.txt").chmod(0o644)
        (b / "nested/top.txt").write_bytes(b"changed")
        (b / "empty-file").unlink()
        with pytest.raises(AssertionError) as info:
            assert_trees_equal(a, b)
        message = str(info.value)
        assert message.startswith("4 difference(s) between ")
        for needle in ("empty-file: missing", "modes/0600.txt: mode", "nested/top.txt: size"):
            assert needle in message

    def test_symlink_target_and_type(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        (b / "links/dangling").unlink()
        (b / "links/dangling").symlink_to("elsewhere")
        (b / "links/absolute").unlink()
        (b / "links/absolute").write_bytes(b"")
        differences = diff_trees(a, b, times=False)
        assert "links/dangling: symlink target 'does/not/exist' != 'elsewhere'" in differences
        assert "links/absolute: type symlink != file" in differences

    def test_odd_names_are_shown_readably(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        (b / "names/new\nline.txt").unlink()
        os.unlink(os.fsencode(b.root) + b"/names/latin1-\xe9.txt")
        differences = diff_trees(a, b)
        assert "'names/new\\nline.txt': missing (file only in " + str(a) + ")" in differences
        assert any(d.startswith("'names/latin1-\\udce9.txt': missing") for d in differences)

    def test_hardlink_grouping(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        copy = (b / "hard/b").read_bytes()
        (b / "hard/b").unlink()
        (b / "hard/b").write_bytes(copy)
        shutil.copystat(a / "hard/b", b / "hard/b")
        assert_trees_equal(a, b)
        with pytest.raises(AssertionError, match=r"hard links \[hard/a, hard/b, nested/hard-c\]"):
            assert_trees_equal(a, b, hardlinks=True)

    @pytest.mark.privileged
    def test_owner_and_device(self, twins: tuple[Tree, Tree]) -> None:
        if not ROOT:
            pytest.skip("needs root")
        a, b = twins
        os.chown(b / "nested/top.txt", 4242, 4343)
        os.unlink(b / "dev/char-1-3")
        os.mknod(b / "dev/char-1-3", 0o640 | stat.S_IFCHR, os.makedev(1, 5))
        shutil.copystat(a / "dev/char-1-3", b / "dev/char-1-3", follow_symlinks=False)
        differences = diff_trees(a, b, owners=True)
        assert "nested/top.txt: owner 0:0 != 4242:4343" in differences
        assert "dev/char-1-3: device 1,3 != 1,5" in differences
        assert diff_trees(a, b, devices=False) == []

    def test_exclude(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        shutil.rmtree(b / "names")
        (b / "sizes/0000700.bin").unlink()
        assert_trees_equal(a, b, exclude=["names", "sizes/*.bin"], dir_times=False)

    def test_missing_root(self, tmp_path: Path, tree_factory: TreeFactory) -> None:
        tree = tree_factory()
        with pytest.raises(AssertionError, match="nowhere: does not exist"):
            assert_trees_equal(tree, tmp_path / "nowhere")


class TestSparse:
    """Contents compare only where data is: holes are zeros, whatever the layout."""

    SIZE = 64 * MiB

    def _sparse(self, path: Path, chunks: dict[int, bytes]) -> Path:
        with path.open("wb") as f:
            for offset, data in chunks.items():
                f.seek(offset)
                f.write(data)
            f.truncate(self.SIZE)
        return path

    def test_equal_despite_layout(self, tmp_path: Path) -> None:
        a = self._sparse(tmp_path / "a", {0: b"x" * 10, 40 * MiB: b"y"})
        b = self._sparse(tmp_path / "b", {0: b"x" * 10, 20 * MiB: bytes(MiB), 40 * MiB: b"y"})
        assert allocated_bytes(a) < allocated_bytes(b)
        assert first_difference(a, b) is None

    def test_byte_in_a_hole(self, tmp_path: Path) -> None:
        a = self._sparse(tmp_path / "a", {0: b"x"})
        b = self._sparse(tmp_path / "b", {0: b"x", 30 * MiB + 7: b"!"})
        assert first_difference(a, b) == 30 * MiB + 7
        assert first_difference(b, a) == 30 * MiB + 7

    def test_different_sizes(self, tmp_path: Path) -> None:
        a = self._sparse(tmp_path / "a", {0: b"x"})
        b = tmp_path / "b"
        shutil.copyfile(a, b)
        with b.open("ab") as f:
            f.write(b"more")
        assert first_difference(a, b) == self.SIZE

    def test_huge_sparse_tree_compares_quickly(self, twins: tuple[Tree, Tree]) -> None:
        a, b = twins
        for tree in twins:
            with (tree / HUGE_SPARSE).open("wb") as f:
                f.write(b"start")
                f.truncate(HUGE_SPARSE_SIZE)
        assert_trees_equal(a, b, times=False, dir_times=False)
        with (b / HUGE_SPARSE).open("r+b") as f:
            f.seek(HUGE_SPARSE_SIZE - 1)
            f.write(b"!")
        with pytest.raises(AssertionError, match=f"content differs at byte {HUGE_SPARSE_SIZE - 1}"):
            assert_trees_equal(a, b, times=False)
