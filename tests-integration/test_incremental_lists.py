"""Incremental recursion where several source arguments hold directories of the same name.

rsync's sender sends one sub-list for all the directories of one name, under the first one's
number (the receiver keeps only the first of equal names and refuses a list for the
others). pyrsync's sender does the same, so a local copy, a push to rsync's daemon and a
push to pyrsyncd all merge the sources as rsync does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import normalize_output, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _sources(base: Path) -> list[str]:
    for n, files in enumerate((["a", "sub/x"], ["b", "sub2/y", "other/o"], ["c"]), start=1):
        for rel in files:
            path = base / f"from{n}" / "dd" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{n} {rel}\n")
        (base / f"from{n}" / f"top{n}").write_text(f"top {n}\n")
    return [f"{base}/from{n}/" for n in (1, 2, 3)]


def _names(out: str) -> list[str]:
    return [
        line
        for line in normalize_output(out).splitlines()
        if line and not line.startswith(("sent ", "total size", "created directory"))
    ]


def test_local_copy_merges_like_rsync(real_rsync: RealRsync, tmp_path: Path) -> None:
    sources = _sources(tmp_path / "src")
    theirs = run(real_rsync.argv("-av", *sources, str(tmp_path / "theirs")), timeout=60)
    ours = run(pyrsync_argv("-av", *sources, tmp_path / "ours"), timeout=60)
    assert ours.returncode == theirs.returncode == 0, ours.describe()
    assert _names(ours.stdout) == _names(theirs.stdout)
    assert_trees_equal(tmp_path / "theirs", tmp_path / "ours")


@pytest.mark.parametrize("daemon_kind", ["rsync", "pyrsyncd"])
def test_push_merges_like_rsync(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    daemon_kind: str,
) -> None:
    sources = _sources(tmp_path / "src")
    up = tmp_path / "up"
    up.mkdir()
    factory = real_daemon if daemon_kind == "rsync" else our_daemon
    daemon = factory([DaemonModule("up", up, read_only=False)])
    result = run(pyrsync_argv("-a", *sources, daemon.url("up")), timeout=60)
    assert result.returncode == 0, result.describe()
    expected = tmp_path / "expected"
    run(real_rsync.argv("-a", *sources, str(expected)), timeout=60).check()
    assert_trees_equal(expected, up)
