"""The harness against real tools only: real rsync pulling from and pushing to its daemon."""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

import pytest

from harness.compare import allocated_bytes, assert_trees_equal
from harness.daemon import DaemonModule, list_modules, start_real_daemon
from harness.proc import Service, port_accepts, run
from harness.trees import HUGE_SPARSE, HUGE_SPARSE_SIZE, MiB

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0


def assert_copied(
    src: os.PathLike[str], dest: os.PathLike[str], *, exclude: Sequence[str] = ()
) -> None:
    """Everything ``rsync -aH`` keeps: also owners when root, and directory times."""
    __tracebackhide__ = True
    assert_trees_equal(
        src,
        dest,
        owners=ROOT,
        hardlinks=True,
        symlink_times=True,
        dir_times=True,
        exclude=exclude,
    )


def test_real_rsync_version(real_rsync: RealRsync) -> None:
    assert real_rsync.path.is_absolute()
    assert real_rsync.protocol >= 27
    assert real_rsync.info.version_info >= (2, 6)


def test_module_list(real_daemon: RealDaemonFactory, tmp_path: Path) -> None:
    daemon = real_daemon(
        [
            DaemonModule("pub", tmp_path, comment="public files"),
            DaemonModule("hidden", tmp_path, options={"list": "no"}),
        ]
    )
    assert [line.split() for line in list_modules(daemon.host, daemon.port)] == [
        ["pub", "public", "files"]
    ]


@pytest.mark.parametrize("flags", ["-aH", "-aHS"])
def test_pull_full_tree(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
    flags: str,
) -> None:
    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    run(real_rsync.argv(flags, daemon.url("src"), dest), check=True)
    assert_copied(tree, dest)
    if tree.devices:
        assert stat.S_ISBLK(os.lstat(dest / "dev/block-7-0").st_mode)
    assert "rsync on src/ from" in daemon.log()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pull_huge_sparse_file(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory(huge_sparse=True, odd_names=False)
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    run(real_rsync.argv("-aHS", daemon.url("src"), dest), timeout=240, check=True)
    assert (dest / HUGE_SPARSE).stat().st_size == HUGE_SPARSE_SIZE
    assert allocated_bytes(dest / HUGE_SPARSE) < MiB, "-S should leave the holes as holes"
    assert_copied(tree, dest)


def test_push_to_writable_module(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory()
    upload = tmp_path / "upload"
    upload.mkdir()
    daemon = real_daemon([DaemonModule("up", upload, read_only=False)])
    run(real_rsync.argv("-aH", tree.slash, daemon.url("up")), check=True)
    # Without chroot the daemon sanitizes symlinks it receives: no leading slash, no escape.
    assert_copied(tree, upload, exclude=["links/absolute"])
    assert os.readlink(upload / "links/absolute") == "etc/passwd"


def test_read_only_module_refuses_push(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    module = tmp_path / "ro"
    module.mkdir()
    (tmp_path / "file").write_bytes(b"x")
    daemon = real_daemon({"ro": module})
    result = run(real_rsync.argv(tmp_path / "file", daemon.url("ro")))
    assert result.returncode != 0
    assert "read only" in result.stderr
    assert list(module.iterdir()) == []


def test_daemon_is_stopped_with_its_children(
    real_rsync: RealRsync, tmp_path: Path, tree_factory: TreeFactory
) -> None:
    tree = tree_factory(odd_names=False)
    workdir = tmp_path / "daemon"
    workdir.mkdir()
    daemon = start_real_daemon(real_rsync, {"src": tree.root}, workdir=workdir)
    config = daemon.config_path.read_text()
    assert "use chroot = no" in config
    assert ("uid = root" in config) == ROOT
    # A slow transfer keeps a per-connection child of the daemon busy.
    client = Service(
        real_rsync.argv("-a", "--bwlimit=1", daemon.url("src"), tmp_path / "dest"),
        output=tmp_path / "client.out",
    )
    try:
        client.wait_until(lambda: "rsync on src/" in daemon.log(), what="transferring")
    finally:
        daemon.stop()
        client.stop()
    assert not port_accepts(daemon.host, daemon.port)
    assert group_gone(daemon.service.pid), "a process of the daemon's group survived"


def group_gone(pgid: int, timeout: float = 5.0) -> bool:
    """Wait for the process group to vanish (killed children are reaped by init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
