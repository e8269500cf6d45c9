"""pyrsync against the real rsync: daemon at every protocol, ssh, local copies; trees compared."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run
from harness.stats import parse_stats
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.sshd import Sshd
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0


# Protocols below 30 carry 32-bit unsigned mtimes: these two cannot survive (nor with rsync).
OLD_PROTOCOL_TIMES = ("times/post-2106.txt", "times/pre-1970.txt")


def assert_copied(
    src: os.PathLike[str],
    dest: os.PathLike[str],
    *,
    hardlinks: bool = True,
    protocol: int = 32,
    exclude: tuple[str, ...] = (),
) -> None:
    __tracebackhide__ = True
    if protocol < 30:
        exclude = (*exclude, *OLD_PROTOCOL_TIMES)
    assert_trees_equal(src, dest, owners=ROOT, hardlinks=hardlinks, symlink_times=True,
                       dir_times=True, exclude=exclude)


@pytest.mark.parametrize("protocol", [27, 28, 29, 30, 31, 32])
def test_daemon_pull_then_delta(
    protocol: int, real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    proto = [] if protocol == 32 else [f"--protocol={protocol}"]
    run(pyrsync_argv("-aH", *proto, daemon.url("src"), dest), check=True)
    assert_copied(tree, dest, protocol=protocol)

    update_tree(tree)
    result = run(pyrsync_argv("-aH", "--delete", "--stats", *proto, daemon.url("src"), dest),
                 check=True)
    assert_copied(tree, dest, protocol=protocol)
    stats = parse_stats(result.stdout)
    assert stats["Matched data"] > 1_000_000, result.stdout
    assert stats["Literal data"] < 200_000, result.stdout
    if protocol >= 31:
        assert stats["Number of deleted files"] >= 3, result.stdout
