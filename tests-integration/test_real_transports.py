"""The harness against real tools only: real rsync over sshd and over the -e shim, and a
delta re-sync over every transport."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.proc import run
from harness.shim import shim_log
from harness.stats import parse_stats
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.sshd import Sshd
    from harness.tools import RealRsync
    from harness.trees import Tree, TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0


def assert_copied(src: os.PathLike[str], dest: os.PathLike[str]) -> None:
    __tracebackhide__ = True
    assert_trees_equal(src, dest, owners=ROOT, hardlinks=True, symlink_times=True, dir_times=True)


def test_ssh_login(sshd: Sshd) -> None:
    result = run(sshd.ssh_argv("id", "-un"), check=True)
    assert result.stdout.strip() == sshd.user


def test_pull_over_ssh(
    real_rsync: RealRsync, sshd: Sshd, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    dest = tmp_path / "dest"
    run(
        real_rsync.argv(
            "-aH", "-e", sshd.rsh, f"--rsync-path={real_rsync.path}", sshd.remote(tree.slash), dest
        ),
        check=True,
    )
    assert_copied(tree, dest)


def test_push_over_ssh(
    real_rsync: RealRsync, sshd: Sshd, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    dest = tmp_path / "dest"
    run(
        real_rsync.argv(
            "-aH", "-e", sshd.rsh, f"--rsync-path={real_rsync.path}", tree.slash, sshd.remote(dest)
        ),
        check=True,
    )
    assert_copied(tree, dest)


def test_pull_through_shim(
    real_rsync: RealRsync, rsh_shim: Path, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    dest = tmp_path / "dest"
    source = f"someone@nowhere:{tree.slash}"
    run(real_rsync.argv("-aH", "-e", rsh_shim, source, dest), check=True)
    assert_copied(tree, dest)
    (line,) = shim_log(rsh_shim).read_text().splitlines()
    assert line.startswith("rsync --server --sender ")  # the program on PATH
    assert line.endswith(f" . {tree.slash}")


def test_shim_replaces_the_remote_program(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    shim = rsh_shim_factory([real_rsync.path], name="as-real-rsync")
    dest = tmp_path / "dest with space"
    run(
        real_rsync.argv(
            "-aH", "-e", shim, "--rsync-path=/no/such/program", tree.slash, f"host:{dest}"
        ),
        check=True,
    )
    assert_copied(tree, dest)
    (line,) = shim_log(shim).read_text().splitlines()
    assert line.startswith("/no/such/program --server ")


@dataclass(frozen=True)
class Remote:
    """How real rsync reaches a tree: extra options and the source argument."""

    options: tuple[str, ...]
    source: str


@pytest.fixture(params=["daemon", "ssh", "shim"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def reach(transport: str, tree: Tree, request: pytest.FixtureRequest) -> Remote:
    """Serve ``tree`` over ``transport`` (fixtures are fetched only for the one used).

    Over ssh and the shim, the remote side runs the same rsync binary as the client.
    """
    real_rsync: RealRsync = request.getfixturevalue("real_rsync")
    rsync_path = f"--rsync-path={real_rsync.path}"
    if transport == "daemon":
        real_daemon: RealDaemonFactory = request.getfixturevalue("real_daemon")
        daemon = real_daemon({"src": tree.root})
        return Remote((), daemon.url("src"))
    if transport == "ssh":
        sshd: Sshd = request.getfixturevalue("sshd")
        return Remote(("-e", sshd.rsh, rsync_path), sshd.remote(tree.slash))
    shim: Path = request.getfixturevalue("rsh_shim")
    return Remote(("-e", str(shim), rsync_path), f"localhost:{tree.slash}")


def test_delta_resync(
    real_rsync: RealRsync,
    tree_factory: TreeFactory,
    tmp_path: Path,
    transport: str,
    request: pytest.FixtureRequest,
) -> None:
    tree = tree_factory()
    remote = reach(transport, tree, request)
    dest = tmp_path / "dest"
    run(real_rsync.argv("-aH", *remote.options, remote.source, dest), check=True)
    assert_copied(tree, dest)

    update_tree(tree)
    result = run(
        real_rsync.argv("-aH", "--delete", "--stats", *remote.options, remote.source, dest),
        check=True,
    )
    assert_copied(tree, dest)
    stats = parse_stats(result.stdout)
    assert stats["Matched data"] > 1_000_000, result.stdout
    assert stats["Literal data"] < 200_000, result.stdout
    assert stats["Number of deleted files"] >= 3, result.stdout
