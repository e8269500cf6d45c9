"""The writable-path probe: in-process on plain directories, in children for mounts and users."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from rsync_sandbox import SandboxViolation, check_writable, find_writable, refuse_writable
from rsync_sandbox.writeprobe import _unescape_mountinfo, mountinfo_read_only

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import RunChild


def test_own_directory_is_writable_and_the_probe_leaves_no_trace(tmp_path: Path) -> None:
    os.utime(tmp_path, ns=(1_000_000_000, 2_000_000_000))
    check = check_writable(str(tmp_path))
    assert check.writable
    assert check.access
    assert check.probe is True
    assert not check.read_only_mount
    assert os.listdir(tmp_path) == []
    assert os.stat(tmp_path).st_mtime_ns == 2_000_000_000


def test_regular_file_is_probed_without_changing_it(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"content")
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))
    assert find_writable([str(path)]) == [str(path)]
    assert path.read_bytes() == b"content"
    assert os.stat(path).st_mtime_ns == 2_000_000_000


def test_probe_false_relies_on_access(tmp_path: Path) -> None:
    check = check_writable(str(tmp_path), probe=False)
    assert check.probe is None
    assert check.writable is check.access


def test_mountinfo_knows_the_root_mount() -> None:
    assert mountinfo_read_only("/") is (bool(os.statvfs("/").f_flag & os.ST_RDONLY))


def test_mountinfo_escapes() -> None:
    assert _unescape_mountinfo(r"/mnt/with\040space\011tab") == "/mnt/with space\ttab"
    assert _unescape_mountinfo("/plain") == "/plain"


def test_refusal_names_module_and_path(tmp_path: Path) -> None:
    with pytest.raises(SandboxViolation) as info:
        refuse_writable({"data": str(tmp_path)})
    message = str(info.value)
    assert "module 'data'" in message
    assert repr(str(tmp_path)) in message
    assert "refusing to start" in message


@pytest.mark.privileged
@pytest.mark.usefixtures("need_namespaces")
def test_finds_a_writable_directory_but_not_a_read_only_bind(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    child = run_child(
        """
        namespaces.enter_mount_namespace()
        namespaces.bind_mount(ARGS["ro"], ARGS["outside"], read_only=True)
        check = writeprobe.check_writable(ARGS["outside"])
        emit(
            writable=writeprobe.find_writable([ARGS["rw"], ARGS["outside"]]),
            ro_mount=check.read_only_mount,
            mountinfo=writeprobe.mountinfo_read_only(ARGS["outside"]),
            statvfs=bool(os.statvfs(ARGS["outside"]).f_flag & os.ST_RDONLY),
        )
        """,
        **tree,
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {
        "writable": [tree["rw"]],
        "ro_mount": True,
        "mountinfo": True,
        "statvfs": True,
    }


@pytest.mark.privileged
def test_as_nobody_only_the_directory_nobody_owns_is_writable(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    child = run_child(
        """
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        check = writeprobe.check_writable(ARGS["ro"])
        emit(
            writable=writeprobe.find_writable([ARGS["ro"], ARGS["rw"], ARGS["outside"]]),
            ro=[check.access, check.probe],
        )
        """,
        **tree,
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {"writable": [tree["rw"]], "ro": [False, False]}


@pytest.mark.privileged
def test_apply_refuses_a_writable_read_only_module(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    child = run_child(
        """
        try:
            apply(SandboxPolicy(read_only={"docs": ARGS["rw"]}, mode="off"))
        except SandboxViolation as exc:
            emit(error=str(exc))
        """,
        **tree,
    )
    assert child.returncode == 0, child.stderr
    assert "module 'docs'" in child.data["error"]
    assert repr(tree["rw"]) in child.data["error"]
